"""django-import-export resource for LP commitments (used by imports).

A commitment row names an investor (a contact); the contact's LP profile is created when
missing. The profile's own fields (investor type, qualified purchaser, accredited) come
from the same row.

Which commitment a row is: the CRM keeps one commitment per LP, fund and investing entity
(the trust, IRA or LLC the LP invests through; blank for an LP's ordinary commitment).

- A column mapped to “Investing entity” says it for every row.
- Without one, an LP's only row for a fund in the file is their commitment without an
  entity (or, if the CRM already holds exactly one commitment of theirs to that fund,
  that one). When the file has several rows for one LP in one fund (Airtable: an
  individual account and a trust), each row's investing entity is its investor category
  (“Individual”, “Trust / IRA”), so the rows stay separate commitments and a second run
  finds each again. Rows that nothing tells apart are errors that say so: they are never
  added together and never dropped.

Creating a profile for a commitment makes the contact an investor, as everywhere in the
CRM, except where the import has a better word: a contact whose type this run's file gave
explicitly (a “Relationship” column) keeps it, and a soft circle or a withdrawn commitment
does not make a prospect an investor (neither is money committed).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import fields

from contacts.models import ContactType
from crm.imports import parsers
from crm.imports.parsers import ParseError, fold, person_key_from_text, show
from crm.imports.plan import record_key
from crm.imports.resources import ROW, AttachmentsWidget, CRMField, CRMResource
from crm.imports.schema import Target
from crm.lib.money import money_exact
from crm.lib.text import collapse_spaces, normalize_email
from lps.models import COMMITTED_STATUSES, Commitment, Fund, K1Delivery, LPProfile, latest_tax_year

PROFILE_TARGETS = ("investor_type", "qualified_purchaser", "accredited")
ENTITY_LENGTH = Commitment._meta.get_field("investing_entity").max_length


class ProfileField(CRMField):
    """A value for the investor's LP profile rather than the commitment."""

    def save(self, instance: Any, row: dict, is_m2m: bool = False, **kwargs: Any) -> None:
        value = self.clean(row)
        if value not in (None, "", False):
            self.resource.profile_values[self.target.key] = value


class AttachmentNotesField(CRMField):
    """Attached files: the names go in the notes (the files' download links expire)."""

    def save(self, instance: Any, row: dict, is_m2m: bool = False, **kwargs: Any) -> None:
        names = self.clean(row)
        if names:
            self.resource.ctx.note(
                f"{self.resource.table.target_label('attachments')} (files not copied): " + "; ".join(names)
            )


class K1SentField(CRMField):
    """“K-1 sent”: a ticked cell records the latest tax year's K-1 as sent (lps 0012 turned the
    old tick into that delivery); an unticked one leaves any delivery alone."""

    def save(self, instance: Any, row: dict, is_m2m: bool = False, **kwargs: Any) -> None:
        self.resource.k1_sent = self.clean(row) is True


class CommitmentResource(CRMResource):
    entity_key = "commitments"
    notes_attribute = "notes"

    class Meta(CRMResource.Meta):
        model = Commitment

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.profile: LPProfile | None = None
        self.fund: Fund | None = None
        self.entity = ""
        self._row_number = 0
        self.profile_values: dict[str, Any] = {}
        self.k1_sent = False
        self._k1_year = latest_tax_year()
        self._k1_done: set[tuple] = set()  # commitments (record keys) with the year's K-1 recorded
        self._entities: dict[int, str] = {}  # row number → its investing entity
        self._clashes: dict[int, str] = {}  # row number → why it cannot be told apart from another row
        self._shared: set[int] = set()  # rows whose investor has other rows for the same fund in the file
        super().__init__(*args, **kwargs)

    def build_field(self, target: Target) -> fields.Field | None:
        if target.key in ("contact", "fund", "notes", "investing_entity"):
            return None  # resolved in find_existing, or composed with the notes
        if target.key in PROFILE_TARGETS:
            field = ProfileField(None, target, self.widget_for(target))
        elif target.key == "k1_sent":
            field = K1SentField(None, target, self.widget_for(target))
        elif target.key == "attachments":
            field = AttachmentNotesField(None, target, AttachmentsWidget(self, target))
        else:
            return super().build_field(target)
        field.resource = self
        return field

    # --- which commitment a row is ----------------------------------------------------------

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        """Give every row its investing entity, looking at all rows of the file at once."""
        super().before_import(dataset, **kwargs)
        if "k1_sent" in self.table.mapped_targets():
            recorded = K1Delivery.objects.filter(tax_year=self._k1_year).values_list("commitment_id", flat=True)
            self._k1_done = {("lps.commitment", pk) for pk in recorded}
        explicit = "investing_entity" in self.table.mapped_targets()
        groups: dict[tuple[str, str], list[dict]] = {}
        for values in dataset.dict:
            number = int(values[ROW])
            if explicit:
                self._entities[number] = collapse_spaces(values.get("investing_entity"))
            emails = parsers.split_lookup(values.get("contact_email") or "")
            who = normalize_email(emails[0]) if len(emails) == 1 else person_key_from_text(values.get("contact") or "")
            if who:
                groups.setdefault((who, self._fund_key(values)), []).append(values)
        for rows in groups.values():
            if len(rows) == 1:
                continue
            self._shared.update(int(values[ROW]) for values in rows)
            if not explicit:
                for values in rows:
                    self._entities[int(values[ROW])] = collapse_spaces(values.get("investor_type"))
            self._find_clashes(rows, explicit)

    def _fund_key(self, values: dict) -> str:
        """Which fund a row is for, as far as telling its investor's rows apart goes (see ``row_fund``)."""
        if parsers.clean(values.get("fund")) or self.table.default_fund:
            return fold(values.get("fund") or "")
        fund, _rule = self.fund_from_row_text(values)
        return fold(fund.name) if fund is not None else ""

    def _find_clashes(self, rows: list[dict], explicit: bool) -> None:
        """Rows of one investor and fund whose investing entities are the same (or all blank)."""
        numbers = [int(values[ROW]) for values in rows]
        keys = Counter(self._entities.get(n, "").casefold() for n in numbers)
        for number in numbers:
            entity = self._entities.get(number, "")
            if keys[entity.casefold()] < 2:
                continue
            others = ", ".join(
                str(n) for n in numbers if n != number and self._entities.get(n, "").casefold() == entity.casefold()
            )
            through = f"the investing entity {show(entity)}" if entity else "no investing entity"
            if explicit:
                fix = f"give each row its own {self.table.target_label('investing_entity')}"
            elif "investor_type" in self.table.mapped_targets():
                fix = "map a column to “Investing entity” (the trust, IRA or LLC each row is for)"
            else:
                fix = "map a column to “Investing entity”, or the investor category that tells them apart"
            self._clashes[number] = (
                f"the same investor and fund as row {others}, with {through}: the rows are not added together "
                f"and neither is dropped; {fix}"
            )

    def find_existing(self, row: dict) -> Commitment | None:
        self.profile_values = {}
        number = self._row_number = int(row.get(ROW) or 0)
        try:
            people = self.resolve_people(row)
        except ParseError as exc:
            raise ValidationError({"contact": f"{self.table.target_label('contact')}: {exc}"}) from None
        if not people:
            raise ValidationError({"contact": f"{self.table.target_label('contact')}: a commitment needs an investor"})
        if number in self._clashes:
            raise ValidationError({"investing_entity": self._clashes[number]})
        self.entity = self._entities.get(number, "")
        if len(self.entity) > ENTITY_LENGTH:
            raise ValidationError(
                {"investing_entity": f"{show(self.entity)} is too long for an investing entity ({ENTITY_LENGTH} max)"}
            )
        if parsers.has_markup(self.entity):
            raise ValidationError({"investing_entity": parsers.markup_message(self.entity)})
        try:
            self.fund = self.row_fund(row)
        except ValueError as exc:
            raise ValidationError({"fund": str(exc)}) from None
        if self.fund is None:
            raise ValidationError({"fund": "no fund: map a fund column, or choose a fund for rows without one"})
        contact = people[0]
        self.profile = self.ctx.profile_for(contact)
        if self.profile is None:
            # Saved with the commitment (before_save_instance), once the row's status is known.
            self.profile = LPProfile(contact=contact)
            return None
        return self._matching_commitment()

    def _matching_commitment(self) -> Commitment | None:
        existing = self.ctx.commitments_of(self.profile, self.fund)
        same = [c for c in existing if c.investing_entity.casefold() == self.entity.casefold()]
        if same:
            return self.ctx.edit(same[0])
        alone = self._row_number not in self._shared
        if not self.entity and alone and len(existing) == 1:
            return self.ctx.edit(existing[0])  # their one commitment to the fund, whatever its entity is called here
        if not self.entity and alone and existing:
            names = ", ".join(show(c.investing_entity or "(none)") for c in existing)
            raise ValidationError(
                {
                    "investing_entity": f"{self.profile} has {len(existing)} commitments to {self.fund} here "
                    f"(investing entities {names}) and this row names none: map a column to “Investing entity” "
                    "to say which it is"
                }
            )
        blank = [c for c in existing if not c.investing_entity]
        if blank:
            self.ctx.warn(
                f"{self.profile} already has a commitment to {self.fund} without an investing entity; this row "
                f"adds one through {show(self.entity)}. If it is the same money, edit them into one in the LP tracker"
            )
        return None

    def init_instance(self, row: dict | None = None) -> Commitment:
        instance = super().init_instance(row)
        instance.lp = self.profile
        instance.fund = self.fund
        instance.investing_entity = self.entity
        return instance

    def prepare_row(self, row: dict) -> None:
        self.profile = None
        self.k1_sent = False
        self.entity = ""

    def import_row(self, row: dict, instance_loader: Any, **kwargs: Any) -> Any:
        result = super().import_row(row, instance_loader, **kwargs)
        if self.ctx.is_record(self.profile):
            # The first row of an investor sets the profile, on every run alike.
            self.ctx.profiles_applied.add(record_key(self.profile))
        return result

    def import_extra(self, instance: Commitment, row: dict) -> None:
        if instance.pk is None and not parsers.clean(row.get("status")):
            self.ctx.warn("no status: saved as a soft circle", self.table.target_label("status"))

    def notes_target(self) -> str:
        return "notes"

    # --- the LP profile ------------------------------------------------------------------------

    def skip_row(self, instance: Commitment, original: Any, row: dict, import_validation_errors: Any = None) -> bool:
        return super().skip_row(instance, original, row, import_validation_errors) and not self._profile_changes()

    def _profile_changes(self) -> dict[str, Any]:
        """Profile values from this row: an investor's first row sets the type; any row may tick a checkbox.

        Airtable keeps “Qualified Purchaser” per commitment row; the CRM keeps it once per LP,
        so an LP ticked on any row is a qualified purchaser.
        """
        profile = self.profile
        first_row = not self.ctx.is_record(profile) or record_key(profile) not in self.ctx.profiles_applied
        return {
            key: value
            for key, value in self.profile_values.items()
            if getattr(profile, key) != value and (first_row or value is True)
        }

    def before_save_instance(self, instance: Commitment, row: dict, **kwargs: Any) -> None:
        super().before_save_instance(instance, row, **kwargs)
        profile = self.profile
        if self.ctx.is_record(profile):
            return
        # A new profile is saved once, with this row's values, and says whether the contact
        # becomes an investor (see the module docstring).
        for key, value in self._profile_changes().items():
            setattr(profile, key, value)
        contact = profile.contact
        typed = record_key(contact) in self.ctx.typed_contacts
        keep = typed or instance.status not in COMMITTED_STATUSES
        if keep and contact.contact_type != ContactType.INVESTOR:
            why = (
                "their type comes from the file"
                if typed
                else f"a {instance.get_status_display().lower()} is not money committed"
            )
            self.ctx.info(
                f"{contact} gets an LP profile but stays a {contact.get_contact_type_display().lower()}: {why}"
            )
        # What LPProfile.save(keep_contact_type=keep) does, planned: the contact becomes an investor.
        self.ctx.save(profile)
        if not keep and contact.contact_type != ContactType.INVESTOR:
            self.ctx.edit(contact).contact_type = ContactType.INVESTOR
            self.ctx.save(contact)
        self.ctx.add_profile(profile)
        instance.lp = profile

    def after_save_instance(self, instance: Commitment, row: dict, **kwargs: Any) -> None:
        super().after_save_instance(instance, row, **kwargs)
        if not any(c is instance for c in self.ctx.commitments_of(instance.lp, instance.fund)):
            self.ctx.add_commitment(instance)
        key = record_key(instance)
        if self.k1_sent and key not in self._k1_done:
            today = timezone.localdate()
            self.ctx.save(K1Delivery(commitment=instance, tax_year=self._k1_year, prepared_on=today, sent_on=today))
            self._k1_done.add(key)
            self.ctx.plan.on_discard(lambda: self._k1_done.discard(key))
        changes = self._profile_changes()
        if changes:
            profile = self.ctx.edit(self.profile)
            for key, value in changes.items():
                setattr(profile, key, value)
            # Changing a flag of an existing profile is no reason to change the contact's type.
            self.ctx.save(profile)

    def describe(self, instance: Commitment) -> str:
        return f"{instance}: {money_exact(instance.commitment_amount)}"
