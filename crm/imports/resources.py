"""The django-import-export base every app's resource builds on, and the widgets for our parsing rules.

The runner renames each file's columns to our field keys (per the mapping) before handing
the rows to a resource, so resources and widgets only ever see field keys. Rules shared by
all of them:

- Each row runs in its own savepoint: a row that fails leaves nothing half-written.
- An empty cell never erases a value already in the CRM (an import adds and updates).
- A row that only repeats a record seen earlier in the same run (the duplicate people and
  firms of an Airtable base) fills that record's empty fields and changes nothing else.
- A row whose values equal the record's is skipped, so running an import twice creates and
  changes nothing the second time.
- Every save names the importing user and the import on the history row it writes.
- A value longer than its model field allows is a row error naming the column and the
  limit (``length_errors``), never cut short.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import models
from django.utils.text import capfirst
from import_export import fields, resources, widgets
from import_export.results import RowResult

from crm.imports import parsers
from crm.imports.context import ImportContext, RowMessage, RowOutcome
from crm.imports.mapping import TableMapping
from crm.imports.parsers import ParseError, check_fits, over_limit_message, show
from crm.imports.plan import record_key
from crm.imports.progress import VALIDATED
from crm.imports.schema import CUSTOM_PREFIX, Target, all_targets, choice_spec
from crm.lib.text import collapse_spaces, normalize_email

ROW = "__row__"
PROGRESS_EVERY = 500  # rows between two progress reports
EXTRA_NOTES = "__extra_notes__"
PRIMARY = "__primary__"
TEXT_KINDS = frozenset({"text", "longtext", "name"})
EMPTY = (None, "", [], False)


class SkipRow(Exception):
    """The mapping says rows with this value are left out."""


# --- Widgets ----------------------------------------------------------------------------


class CRMWidget(widgets.Widget):
    """A widget that knows its resource (for the run's context) and the column it reads."""

    def __init__(self, resource: CRMResource, target: Target):
        super().__init__()
        self.resource = resource
        self.target = target

    @property
    def ctx(self) -> ImportContext:
        return self.resource.ctx

    @property
    def column(self) -> str:
        return self.resource.table.target_label(self.target.key)

    def clean(self, value: Any, row: dict | None = None, **kwargs: Any) -> Any:
        try:
            return self.parse(parsers.clean(value) if isinstance(value, str) else value, row or {})
        except ParseError as exc:
            raise ValueError(f"{self.column}: {exc}") from None

    def parse(self, value: str, row: dict) -> Any:
        return value

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:  # pragma: no cover - imports only
        return "" if value is None else str(value)


class TextWidget(CRMWidget):
    def __init__(self, resource: CRMResource, target: Target, *, markup_check: bool = False):
        super().__init__(resource, target)
        self.markup_check = markup_check

    def parse(self, value: str, row: dict) -> str:
        value = collapse_spaces(value)
        if self.markup_check and parsers.has_markup(value):
            raise ParseError(parsers.markup_message(value))
        return value


class LongTextWidget(CRMWidget):
    def parse(self, value: str, row: dict) -> str:
        return value.replace("\r\n", "\n").replace("\r", "\n").strip()


class EmailWidget(CRMWidget):
    def parse(self, value: str, row: dict) -> str:
        email = normalize_email(value)
        if email:
            try:
                EmailValidator()(email)
            except ValidationError:
                raise ParseError(f"{show(value)} is not an e-mail address") from None
        return email


class UrlWidget(CRMWidget):
    def parse(self, value: str, row: dict) -> str:
        return parsers.normalize_url(value)


class MoneyWidget(CRMWidget):
    """An amount. Lenient columns (a hand-typed target check) keep text that is not an amount in the notes."""

    def __init__(self, resource: CRMResource, target: Target, *, lenient: bool = False):
        super().__init__(resource, target)
        self.lenient = lenient

    def parse(self, value: str, row: dict) -> Any:
        try:
            amount = parsers.parse_money(value)
        except ParseError as exc:
            if not self.lenient:
                raise
            self.ctx.warn(f"{exc}; kept as typed in the {self.resource.notes_label}", self.column, value)
            self.ctx.note(f"{self.column} (as typed): {value}")
            return None
        if amount is not None and amount < 0:
            raise ParseError(f"{show(value)} is negative")
        return amount


class PercentWidget(CRMWidget):
    def parse(self, value: str, row: dict) -> int | None:
        percent = parsers.parse_percent(value)
        return None if percent is None else int(percent.to_integral_value())


class IntegerWidget(CRMWidget):
    def parse(self, value: str, row: dict) -> int | None:
        number = parsers.parse_integer(value)
        if number is not None and number < 0:
            raise ParseError(f"{show(value)} is negative")
        return number


class DateWidget(CRMWidget):
    def __init__(self, resource: CRMResource, target: Target, *, lenient: bool = False):
        super().__init__(resource, target)
        self.lenient = lenient

    def parse(self, value: str, row: dict) -> Any:
        try:
            return parsers.parse_date(value, self.ctx.date_order)
        except ParseError as exc:
            if not self.lenient:
                raise
            self.ctx.warn(f"{exc}; kept as typed in the {self.resource.notes_label}", self.column, value)
            self.ctx.note(f"{self.column} (as typed): {value}")
            return None


class DateTimeWidget(CRMWidget):
    def parse(self, value: str, row: dict) -> Any:
        return parsers.parse_datetime(value, self.ctx.tz, self.ctx.date_order)


class BoolWidget(CRMWidget):
    def parse(self, value: str, row: dict) -> bool:
        return parsers.parse_bool(value)


class ChoiceWidget(CRMWidget):
    """One of our values for one of theirs, through the mapping's value table."""

    def parse(self, value: str, row: dict) -> Any:
        if not value:
            return None
        known, choice = self.resource.table.value_for(self.target.key, value)
        if not known:
            raise ParseError(
                f"{show(value)} has no matching {self.target.label.lower()} here; choose one for it in the mapping"
            )
        if isinstance(choice, dict) and choice.get("skip"):
            raise SkipRow(f"{self.column} {show(value)} is set to be left out")
        return self.resolve(choice, value)

    def resolve(self, choice: Any, value: str) -> Any:
        options = self.__dict__.get("_options")
        if options is None:  # built once per table, not once per row
            spec = choice_spec(self.resource.table.entity, self.target.key)
            options = {str(stored).casefold(): stored for stored, _label in spec.options}
            options.update({str(label).casefold(): stored for stored, label in spec.options})
            self._options = options
        stored = options.get(str(choice).casefold())
        if stored is None:
            raise ParseError(f"{show(value)} is mapped to {show(str(choice))}, which is not a choice here")
        return stored


class FundWidget(ChoiceWidget):
    def resolve(self, choice: Any, value: str) -> Any:
        fund = self.ctx.fund(choice)
        if fund is None:
            raise ParseError(f"{show(value)} is mapped to a fund that does not exist")
        return fund


class StageWidget(ChoiceWidget):
    def resolve(self, choice: Any, value: str) -> Any:
        stage = self.ctx.stage(choice)
        if stage is None:
            raise ParseError(f"{show(value)} is mapped to a stage that does not exist")
        return stage


class UserWidget(CRMWidget):
    def parse(self, value: str, row: dict) -> Any:
        names = parsers.split_list(value) if self.resource.table.airtable_links else [value]
        users = [user for name in names if (user := self.ctx.collaborator(name, self.column))]
        return users[0] if users else None


class UsersWidget(CRMWidget):
    def parse(self, value: str, row: dict) -> list:
        users = []
        for name in parsers.split_list(value):
            user = self.ctx.collaborator(name, self.column)
            if user and user not in users:
                users.append(user)
        return users


class TagsWidget(CRMWidget):
    def parse(self, value: str, row: dict) -> list:
        names = parsers.split_list(value)
        for name in names:
            if parsers.has_markup(name):
                raise ParseError(parsers.markup_message(name))
        return [self.ctx.tag(name) for name in names]


class AttachmentsWidget(CRMWidget):
    def parse(self, value: str, row: dict) -> list[str]:
        names = parsers.parse_attachments(value)
        if names:
            self.ctx.attachment_rows += 1
        return names


class OrganizationLinkWidget(CRMWidget):
    """A firm by name (normalised), created when the CRM has none by that name."""

    def parse(self, value: str, row: dict) -> Any:
        if not value:
            return None
        names = link_names(self.resource.table, value)
        if len(names) > 1:
            self.ctx.warn(
                f"links {len(names)} organizations; the first, {show(names[0])}, was used", self.column, value
            )
        return self.resource.find_or_create_organization(names[0], self.column) if names else None


def org_key(contact: Any) -> tuple | None:
    """The record key of a contact's organization (saved or planned), without a query."""
    org = contact._state.fields_cache.get("organization")
    if org is not None:
        return record_key(org)
    return ("contacts.organization", contact.organization_id) if contact.organization_id else None


def link_names(table: TableMapping, value: str) -> list[str]:
    """The names in a link cell: decoded as a CSV list for Airtable exports (or an inner-quoted cell)."""
    value = parsers.clean(value)
    if not value:
        return []
    if table.airtable_links or (value.startswith('"') and value.endswith('"')):
        return parsers.split_list(value)
    return [collapse_spaces(value)]


# --- Fields ---------------------------------------------------------------------------------


class CRMField(fields.Field):
    """A field whose value comes from one mapped column (the column named like the target key)."""

    def __init__(self, attribute: str | None, target: Target, widget: widgets.Widget):
        super().__init__(attribute=attribute, column_name=target.key, widget=widget)
        self.target = target


class ManyField(CRMField):
    """A many-to-many value (tags, attendees): added after the record is saved, never removed."""


class CustomValueField(CRMField):
    """A value for one of the admin-defined custom fields, stored in ``custom_fields``."""

    def __init__(self, target: Target, definition: Any, resource: CRMResource):
        super().__init__(None, target, CRMWidget(resource, target))
        self.definition = definition
        self.resource = resource

    def save(self, instance: Any, row: dict, is_m2m: bool = False, **kwargs: Any) -> None:
        from crm.models import CustomFieldType

        raw = parsers.clean(row.get(self.column_name))
        kind = self.definition.field_type
        column = self.resource.table.target_label(self.target.key)
        try:
            if kind in (CustomFieldType.NUMBER, CustomFieldType.CURRENCY):
                value: Any = (
                    parsers.parse_money(raw) if kind == CustomFieldType.CURRENCY else parsers.parse_decimal(raw)
                )
            elif kind == CustomFieldType.DATE:
                value = parsers.parse_date(raw, self.resource.ctx.date_order)
            elif kind == CustomFieldType.CHECKBOX:
                value = parsers.parse_bool(raw)
            elif kind == CustomFieldType.MULTI_SELECT:
                value = parsers.split_list(raw)
            elif kind == CustomFieldType.URL:
                value = parsers.normalize_url(raw)
            else:
                value = raw
            stored = self.definition.to_storage(value)
        except ParseError as exc:
            raise ValueError(f"{column}: {exc}") from None
        except ValidationError as exc:
            raise ValueError(f"{column}: {' '.join(exc.messages)} (value {show(raw)})") from None
        current = dict(instance.custom_fields or {})
        if self.definition.is_empty(stored):
            return  # an empty cell never erases
        if self.resource.fill_only and not self.definition.is_empty(current.get(self.definition.key)):
            return
        current[self.definition.key] = stored
        instance.custom_fields = current


# --- The base resource ----------------------------------------------------------------------

WIDGETS = {
    "text": TextWidget,
    "phone": TextWidget,
    "longtext": LongTextWidget,
    "email": EmailWidget,
    "url": UrlWidget,
    "money": MoneyWidget,
    "percent": PercentWidget,
    "integer": IntegerWidget,
    "date": DateWidget,
    "datetime": DateTimeWidget,
    "created": DateTimeWidget,
    "bool": BoolWidget,
    "choice": ChoiceWidget,
    "user": UserWidget,
    "users": UsersWidget,
    "tags": TagsWidget,
    "attachments": AttachmentsWidget,
    "org_link": OrganizationLinkWidget,
}


class CRMResource(resources.ModelResource):
    """Import-only ModelResource driven by a TableMapping and a shared ImportContext."""

    entity_key = ""
    notes_attribute = ""  # where “Add to notes” columns and kept-as-typed values go
    notes_label = "notes"
    m2m_attributes: tuple[str, ...] = ()  # set after the instance is saved, by adding (never removing)

    class Meta:
        skip_diff = True
        clean_model_instances = True
        use_transactions = False
        report_skipped = True
        store_instance = True
        fields = ()

    def __init__(self, ctx: ImportContext, table: TableMapping):
        super().__init__()
        self.ctx = ctx
        self.table = table
        self.fill_only = False
        self.outcomes: list[RowOutcome] = []
        self._snapshot: dict[str, Any] = {}
        self._m2m_pending: dict[str, list] = {}
        self._duplicate_of = ""
        self._current_row: dict = {}
        self.fields = OrderedDict()
        mapped = table.mapped_targets()
        definitions = {}
        if table.entity_def.custom_entity:
            from crm.models import CustomField

            definitions = {
                f"{CUSTOM_PREFIX}{cf.key}": cf for cf in CustomField.objects.for_entity(table.entity_def.custom_entity)
            }
        for target in all_targets(table.entity_def):
            if target.key not in mapped:
                continue
            if target.key in definitions:
                self.fields[target.key] = CustomValueField(target, definitions[target.key], self)
                continue
            field = self.build_field(target)
            if field is not None:
                self.fields[target.key] = field

    # --- building fields -----------------------------------------------------------------

    def widget_for(self, target: Target) -> widgets.Widget:
        if target.kind == "name":
            return TextWidget(self, target, markup_check=True)
        if target.kind == "money_lenient":
            return MoneyWidget(self, target, lenient=True)
        if target.kind == "date_lenient":
            return DateWidget(self, target, lenient=True)
        return WIDGETS.get(target.kind, CRMWidget)(self, target)

    def build_field(self, target: Target) -> fields.Field | None:
        """The field for one target; subclasses override for targets that are not one model attribute."""
        if target.kind.startswith("hint_") or target.kind in ("attachments",):
            return None  # read by other fields
        if target.kind in ("tags", "users"):
            return ManyField(target.key, target, self.widget_for(target))
        return CRMField(target.key, target, self.widget_for(target))

    # --- instances -------------------------------------------------------------------------

    def find_existing(self, row: dict) -> models.Model | None:
        raise NotImplementedError

    def get_instance(self, instance_loader: Any, row: dict) -> models.Model | None:
        return self.find_existing(row)

    def init_instance(self, row: dict | None = None) -> models.Model:
        instance = super().init_instance(row)
        if hasattr(instance, "created_by_id"):
            instance.created_by = self.ctx.user
        return instance

    def snapshot(self, instance: models.Model) -> dict[str, Any]:
        return {
            f.attname: getattr(instance, f.attname)
            for f in instance._meta.concrete_fields
            if f.attname not in ("updated_at", "created_at")
        }

    def after_init_instance(self, instance: models.Model, new: bool, row: dict, **kwargs: Any) -> None:
        first = None if new else self.ctx.first_touch(instance)
        self.fill_only = first is not None
        self._duplicate_of = ""
        if first is not None:
            table_name, number = first
            self._duplicate_of = f"row {number}" if table_name == self.ctx.table_name else f"{table_name}, row {number}"
        self._snapshot = {} if new else self.snapshot(instance)

    def import_field(
        self, field: fields.Field, instance: models.Model, row: dict, is_m2m: bool = False, **kwargs: Any
    ) -> None:
        if field.column_name not in row:
            return
        if isinstance(field, ManyField):
            self._m2m_pending[field.attribute] = field.clean(row, **kwargs)
        elif type(field) is CRMField:
            self.assign(instance, field.attribute, field.clean(row, **kwargs))
        else:
            field.save(instance, row, is_m2m, **kwargs)

    def assign(self, instance: models.Model, attribute: str, value: Any) -> None:
        """Set a value unless it is empty (never erase) or the record came earlier in this run (fill only)."""
        if value in EMPTY:
            return
        if attribute == "created_at":
            # The old system's created date, for a record this import makes (kept by the writer).
            if instance.pk is None and getattr(instance, "created_at", None) is None:
                instance.created_at = value
                instance._created_in_source = True
            return
        current = getattr(instance, attribute, None)
        if self.fill_only and current not in EMPTY:
            return
        setattr(instance, attribute, value)

    def import_instance(self, instance: models.Model, row: dict, **kwargs: Any) -> None:
        errors = {}
        for field in self.get_import_fields():
            try:
                self.import_field(field, instance, row, **kwargs)
            except ValueError as exc:
                errors[field.attribute or field.column_name] = ValidationError(str(exc), code="invalid")
        if errors:
            raise ValidationError(errors)
        self.import_extra(instance, row)
        self.compose_notes(instance, row)

    def import_extra(self, instance: models.Model, row: dict) -> None:
        """Values that are not one attribute each (many-to-many, derived fields)."""

    def compose_notes(self, instance: models.Model, row: dict) -> None:
        if not self.notes_attribute:
            return
        main_target = self.notes_target()
        main = ""
        if main_target and main_target in row:
            main = LongTextWidget(self, self.table.entity_def.target(main_target)).clean(row[main_target])
        extra = [line for line in (row.get(EXTRA_NOTES) or "").split("\n") if line.strip()] + self.ctx.row_notes
        text = "\n\n".join(part for part in (main, "\n".join(extra)) if part)
        current = getattr(instance, self.notes_attribute) or ""
        if not text or current.startswith(text):
            return  # nothing to add; or the record already starts with it (and may have more below)
        if self.fill_only:
            # A duplicate row's notes are added below the first row's, not dropped.
            if text not in current:
                setattr(instance, self.notes_attribute, f"{current}\n\n{text}" if current else text)
            return
        setattr(instance, self.notes_attribute, text)

    def notes_target(self) -> str:
        return self.notes_attribute

    def skip_row(self, instance: models.Model, original: Any, row: dict, import_validation_errors: Any = None) -> bool:
        if import_validation_errors or not self.ctx.is_record(instance):
            return False
        if self.snapshot(instance) != self._snapshot:
            return False
        return not self.m2m_would_change(instance)

    def m2m_would_change(self, instance: models.Model) -> bool:
        for attribute, wanted in self._m2m_pending.items():
            if {record_key(obj) for obj in wanted} - self.ctx.plan.present_m2m(instance, attribute):
                return True
        return False

    def validate_instance(
        self, instance: models.Model, import_validation_errors: dict | None = None, validate_unique: bool = True
    ) -> None:
        """full_clean without re-checking foreign keys: they hold records this run just found or made.

        Django checks each foreign key, and each uniqueness constraint, with a query per row;
        here the constraints are checked against the run's in-memory records instead
        (``unique_errors``), and the database still refuses a duplicate when the plan is written.
        """
        errors = dict(import_validation_errors or {})
        errors.update({name: error for name, error in self.length_errors(instance).items() if name not in errors})
        exclude = set(errors) | {f.name for f in instance._meta.concrete_fields if f.is_relation}
        try:
            instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        for name, error in self.unique_errors(instance).items():
            errors.setdefault(name, error)
        if errors:
            raise ValidationError(errors)

    def unique_errors(self, instance: models.Model) -> dict[str, ValidationError]:
        """A uniqueness constraint this row would break, found in memory (see validate_instance)."""
        return {}

    def length_errors(self, instance: models.Model) -> dict[str, ValidationError]:
        """Every text value longer than its model field's ``max_length``, whichever column it came from.

        One check for all resources and columns, on the values as they will be saved (notes
        composed from several columns included). A TextField's ``max_length`` binds only
        forms, and a CharField's own check would word it as Django does.
        """
        errors = {}
        mapped = self.table.mapped_targets()
        for field in instance._meta.concrete_fields:
            value = getattr(instance, field.attname, None)
            if field.max_length and isinstance(value, str) and len(value) > field.max_length:
                text = over_limit_message(field.max_length, len(value))
                # A mapped column is named beside the message; a composed value (notes) names its field.
                text = text if field.name in mapped else f"{capfirst(field.verbose_name)}: {text}"
                errors[field.name] = ValidationError(text, code="max_length")
        return errors

    def before_save_instance(self, instance: models.Model, row: dict, **kwargs: Any) -> None:
        self.ctx.stamp(instance)

    def do_instance_save(self, instance: models.Model, is_create: bool) -> None:
        # Planned, not written: crm.imports.writer writes the whole plan in bulk. A new
        # record's tags or attendees are written with it, under its one history row.
        self.ctx.save(instance)

    def save_m2m(self, instance: models.Model, row: dict, **kwargs: Any) -> None:
        for attribute, wanted in self._m2m_pending.items():
            if not wanted:
                continue
            present = self.ctx.plan.present_m2m(instance, attribute)
            missing = []
            for obj in wanted:
                if record_key(obj) not in present and all(obj is not m for m in missing):
                    missing.append(obj)
            if missing:
                self.ctx.plan.add_m2m(instance, attribute, missing)
        self._m2m_pending = {}

    def after_save_instance(self, instance: models.Model, row: dict, **kwargs: Any) -> None:
        self.ctx.touch(instance)

    def describe(self, instance: models.Model) -> str:
        return str(instance)

    @property
    def singular(self) -> str:
        return self.table.entity_def.singular

    # --- rows --------------------------------------------------------------------------------

    def prepare_row(self, row: dict) -> None:
        """Adjust a row before it is read (after the context has started the row)."""

    def skip_reason(self, row: dict) -> str:
        """A value the mapping says to leave out (e.g. a status mapped to “skip”)."""
        for key, field in self.fields.items():
            widget = getattr(field, "widget", None)
            if isinstance(widget, ChoiceWidget) and key in row:
                value = parsers.clean(row[key])
                known, choice = self.table.value_for(key, value) if value else (False, None)
                if known and isinstance(choice, dict) and choice.get("skip"):
                    return f"{self.table.target_label(key)} {show(value)} is set to be left out"
        return ""

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        self._rows_total = len(dataset)

    def after_import_row(self, row: dict, row_result: Any, **kwargs: Any) -> None:
        self._rows_done = getattr(self, "_rows_done", 0) + 1
        if self._rows_done % PROGRESS_EVERY == 0:
            self.ctx.progress.update(
                self.table.name, VALIDATED, self._rows_done, max(getattr(self, "_rows_total", 0), self._rows_done)
            )

    def import_row(self, row: dict, instance_loader: Any, **kwargs: Any) -> RowResult:
        number = int(row.get(ROW) or 0)
        self.ctx.begin_row(self.table.name, number)
        self._m2m_pending = {}
        self._current_row = row
        self._duplicate_of = ""
        self.fill_only = False
        self.prepare_row(row)
        reason = self.skip_reason(row)
        if reason:
            result = self.get_row_result_class()()
            result.import_type = RowResult.IMPORT_TYPE_SKIP
            self.ctx.info(reason)
            self.ctx.end_row(True)
            self._record(number, result, None)
            return result
        # A row that fails half-way leaves nothing behind in the plan, even when the user
        # chooses to import the rows without errors (see crm.imports.plan).
        result = super().import_row(row, instance_loader, **kwargs)
        self.ctx.end_row(result.import_type not in (RowResult.IMPORT_TYPE_ERROR, RowResult.IMPORT_TYPE_INVALID))
        instance = result.instance if self._meta.store_instance else None
        if self.ctx.is_record(instance) and result.import_type != RowResult.IMPORT_TYPE_ERROR:
            # Matched rows count as seen even when unchanged, so a duplicate later in the
            # file only fills blanks on this and every later run.
            self.ctx.touch(instance)
        self._record(number, result, instance)
        return result

    def _record(self, number: int, result: RowResult, instance: Any) -> None:
        messages = list(self.ctx.messages)
        action = {
            RowResult.IMPORT_TYPE_NEW: "create",
            RowResult.IMPORT_TYPE_UPDATE: "update",
            RowResult.IMPORT_TYPE_SKIP: "skip",
        }.get(result.import_type, "error")
        if result.import_type == RowResult.IMPORT_TYPE_INVALID and result.validation_error is not None:
            messages = [m for m in messages if m.level != "info"] + self.validation_messages(result.validation_error)
        elif result.import_type == RowResult.IMPORT_TYPE_ERROR:
            error = result.errors[-1].error if result.errors else Exception("unknown error")
            if isinstance(error, SkipRow):
                action = "skip"
                messages.append(RowMessage("info", str(error)))
            else:
                messages.append(RowMessage("error", f"{type(error).__name__}: {error}"))
        elif action == "skip" and self._duplicate_of:
            messages.append(
                RowMessage("info", f"duplicate of {self._duplicate_of} (the same {self.singular}); nothing new in it")
            )
        elif action == "update" and self._duplicate_of:
            messages.append(
                RowMessage("info", f"the same {self.singular} as {self._duplicate_of}: filled its empty fields")
            )
        elif action == "skip" and not messages:
            messages.append(RowMessage("info", "already in the CRM with these values"))
        record = ""
        if instance is not None and action != "error":
            record = self.describe(instance)
        self.outcomes.append(RowOutcome(number, action, record, messages))

    def validation_messages(self, error: ValidationError) -> list[RowMessage]:
        messages = []
        if hasattr(error, "error_dict"):
            for attribute, errors in error.error_dict.items():
                column = self.table.target_label(attribute) if attribute in self.table.mapped_targets() else ""
                raw = self._current_row.get(attribute) if attribute in self.table.mapped_targets() else ""
                value = parsers.clean(raw) if isinstance(raw, str) else ""
                for item in errors:
                    for text in item.messages:
                        # The column is shown beside the message, so the text does not repeat it.
                        for prefix in {column, self.table.target_label(attribute)}:
                            if prefix and text.startswith(f"{prefix}: "):
                                text = text[len(prefix) + 2 :]
                        messages.append(RowMessage("error", text, column, value))
        else:
            messages = [RowMessage("error", text) for text in error.messages]
        return messages

    def row_fund(self, row: dict) -> Any:
        """The fund of a commitment or deal: its fund column, else the mapping's default, else found in its text.

        Without either, the fund is the one the row's primary field names (“Ada Byron – Fund
        II”), else the one its other text names, when that is exactly one fund of the base;
        else the fund being raised. How each row's fund was found is counted for the report.
        """
        if "fund" in self.table.mapped_targets() and parsers.clean(row.get("fund")):
            return FundWidget(self, self.table.entity_def.target("fund")).clean(row["fund"])
        if self.table.default_fund:
            return self.ctx.fund(self.table.default_fund)
        fund, rule = self.fund_from_row_text(row)
        if fund is not None:
            self.ctx.count_fund_rule(rule)
        return fund

    def fund_from_row_text(self, row: dict) -> tuple[Any, str]:
        """(fund, rule) from the row's primary field and other text (``ImportContext.fund_from_text``)."""
        keys = self.__dict__.get("_text_keys")
        if keys is None:  # once per table, not once per row
            keys = self._text_keys = [t.key for t in self.table.entity_def.targets if t.kind in TEXT_KINDS]
        others = [str(row.get(key) or "") for key in keys]
        others.append(str(row.get(EXTRA_NOTES) or ""))
        return self.ctx.fund_from_text(str(row.get(PRIMARY) or ""), "\n".join(others))

    def find_or_create_organization(self, name: str, column: str) -> Any:
        from contacts.models import Organization

        name = collapse_spaces(name)
        if parsers.has_markup(name):
            raise ParseError(parsers.markup_message(name))
        org = self.ctx.orgs.find(name)
        if org is None:
            org = Organization(name=check_fits(Organization, "name", name), created_by=self.ctx.user)
            self.ctx.save(org)
            self.ctx.orgs.add(org)
            self.ctx.touch(org)
            self.ctx.info(f"organization {show(name)} was not in the CRM and is created", column, name)
        return org

    # --- links to people ------------------------------------------------------------------

    def resolve_people(self, row: dict, target: str = "contact") -> list[Any]:
        """The contacts a link cell names, told apart by the lookup e-mail and company columns.

        Link cells only show names, and names are not unique (two Alex Marchettis) or differ
        between duplicate records (Kasimir Dvořák / Kasimir Dvorak). The e-mail lookup picks
        the right person; without one, the company lookup does (an empty company lookup
        means the person without a firm). A name nobody has is created as a contact.
        """
        column = self.table.target_label(target)
        index = self.ctx.contacts
        names = link_names(self.table, row.get(target) or "")
        if len(names) == 1 and "," in names[0] and not index.named(names[0]):
            # Not quoted like Airtable, but “Bo Chen,Cara Diaz” names two people we know.
            parts = parsers.split_list(names[0])
            if len(parts) > 1 and all(index.named(part) for part in parts):
                names = parts
        for name in names:
            if parsers.has_markup(name):
                raise ParseError(parsers.markup_message(name))
        mapped = self.table.mapped_targets()
        emails = (
            [normalize_email(e) for e in parsers.split_lookup(row.get("contact_email") or "")]
            if "contact_email" in mapped
            else None
        )
        companies = link_names(self.table, row.get("contact_company") or "") if "contact_company" in mapped else None
        by_email = [index.by_email[e] for e in emails or [] if e in index.by_email]
        company_orgs = {record_key(org) for name in companies or [] if (org := self.ctx.orgs.find(name))}
        chosen: list[Any] = []
        for name in names:
            candidates = [c for c in index.named(name) if c not in chosen]
            matched = [c for c in by_email if c in candidates]
            if matched:
                chosen.append(matched[0])
                continue
            if len(candidates) > 1 and companies is not None:
                narrowed = [
                    c for c in candidates if (org_key(c) in company_orgs if company_orgs else org_key(c) is None)
                ]
                candidates = narrowed or candidates
            if len(candidates) == 1:
                chosen.append(candidates[0])
                continue
            if len(candidates) > 1:
                raise ParseError(
                    f"{len(candidates)} contacts are called {show(name)}; map an e-mail column to tell them apart"
                )
            named_elsewhere = {record_key(c) for n in names for c in index.named(n)}
            spare = [c for c in by_email if c not in chosen and record_key(c) not in named_elsewhere]
            if len(names) == 1 and len(spare) == 1:
                chosen.append(spare[0])
                self.ctx.info(f"{show(name)} was found by e-mail as {show(str(spare[0]))}", column, name)
                continue
            email = emails[0] if len(names) == 1 and emails and emails[0] not in index.by_email else ""
            chosen.append(self.create_contact(name, email, column))
        return chosen

    def create_contact(self, name: str, email: str, column: str) -> Any:
        from contacts.models import Contact

        prefix, first, last, suffix = parsers.split_person_name(name)
        contact = Contact(
            name_prefix=check_fits(Contact, "name_prefix", prefix),
            first_name=check_fits(Contact, "first_name", first),
            last_name=check_fits(Contact, "last_name", last),
            name_suffix=check_fits(Contact, "name_suffix", suffix),
            email=email,
            created_by=self.ctx.user,
        )
        # Its e-mail is one no contact has (resolve_people), so no uniqueness query is needed.
        contact.full_clean(
            exclude=["organization", "owner", "created_by"], validate_unique=False, validate_constraints=False
        )
        self.ctx.save(contact)
        self.ctx.contacts.add(contact, name)
        self.ctx.touch(contact)
        self.ctx.info(f"{show(name)} was not in the CRM and is created as a contact", column, name)
        return contact
