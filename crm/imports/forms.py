"""Forms of the import wizard: the upload, the choice of what the rows are, and the mapping editor."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.conf import settings
from django.http import QueryDict

from crm.imports import bundle
from crm.imports.context import UserIndex
from crm.imports.mapping import (
    CREATE_INACTIVE,
    MAX_DISTINCT_VALUES,
    ImportOptions,
    TableMapping,
    distinct_values,
    suggest_values,
)
from crm.imports.parsers import DATE_ORDERS, clean, split_list
from crm.imports.schema import ENTITY_CHOICES, IGNORE, NOTES, all_targets, choice_spec
from crm.imports.source import SourceError, SourceTable, check_size, describe_size, parse_text, read_bytes
from crm.imports.suggest import suggest_columns, suggest_value


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one ``<input type=file multiple>`` (Django's documented pattern)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list:
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class UploadForm(forms.Form):
    file = MultipleFileField(
        label="CSV file",
        required=False,
        help_text="A CSV exported from Airtable, Excel, Google Sheets or another CRM — or a whole Airtable base: "
        "choose all its CSV downloads at once, or one .zip of them.",
        widget=MultipleFileInput(attrs={"accept": ".csv,.txt,.tsv,.zip,text/csv,text/plain,application/zip"}),
    )
    pasted = forms.CharField(
        label="…or paste CSV text",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
        help_text="Paste rows copied from a spreadsheet, with the header row first.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        uploads = cleaned.get("file") or []
        pasted = cleaned.get("pasted") or ""
        self.base: list[SourceTable] = []  # several tables: a whole base (crm/imports/bundle.py)
        if uploads and pasted.strip():
            raise forms.ValidationError("Upload a file or paste text, not both.")
        if not uploads and not pasted.strip():
            raise forms.ValidationError("Choose a CSV file to upload, or paste CSV text.")
        try:
            if len(uploads) > 1 or (uploads and uploads[0].name.lower().endswith(".zip")):
                # Refuse an oversized upload before reading it into memory.
                check_size("The files", sum(upload.size for upload in uploads))
                self.base = bundle.read_uploads([(upload.name, upload.read()) for upload in uploads])
                self.source = self.base[0]
            elif uploads:
                upload = uploads[0]
                check_size(upload.name, upload.size)
                self.source = read_bytes(upload.read(), upload.name)
            else:
                check_size("The pasted text", len(pasted.encode("utf-8")))
                self.source = parse_text(pasted, "Pasted text")
        except SourceError as exc:
            self.add_error("file" if uploads else "pasted", str(exc))
        return cleaned

    @staticmethod
    def limit_text() -> str:
        return describe_size(settings.CRM_IMPORT_MAX_MB * 1024 * 1024)


class EntityForm(forms.Form):
    entity = forms.ChoiceField(label="The rows are", choices=ENTITY_CHOICES, widget=forms.RadioSelect)


# --- The mapping editor ----------------------------------------------------------------------

UNMAPPED, SKIP, CREATE, CREATE_LOST, VALUE = "", "!skip", "+", "-", "="


def encode_choice(choice: Any) -> str:
    if choice is None:
        return UNMAPPED
    if isinstance(choice, dict) and choice.get("skip"):
        return SKIP
    if isinstance(choice, dict) and "create" in choice:
        return (CREATE_LOST if choice.get("outcome") == "lost" else CREATE) + choice["create"]
    return VALUE + str(choice)


def decode_choice(text: str) -> Any:
    if not text:
        return None
    if text == SKIP:
        return {"skip": True}
    if text.startswith(CREATE) and text[1:].strip():
        return {"create": " ".join(text[1:].split())}
    if text.startswith(CREATE_LOST) and text[1:].strip():
        return {"create": " ".join(text[1:].split()), "outcome": "lost"}
    if text.startswith(VALUE):
        return text[1:]
    return None


@dataclass
class ColumnRow:
    index: int
    header: str
    target: str
    samples: list[str]
    reason: str


@dataclass
class ValueRow:
    index: int
    value: str
    count: int
    choice: str
    choices: list[tuple[str, str]]
    reason: str = ""


@dataclass
class ValueGroup:
    target: str
    label: str
    column: str
    rows: list[ValueRow] = field(default_factory=list)
    more: int = 0

    @property
    def unmapped(self) -> int:
        return sum(row.count for row in self.rows if not row.choice)


@dataclass
class TeamRow:
    """A name in an owner / collaborator column that is no user here, and what the person chose for it."""

    index: int
    name: str
    count: int
    choice: str  # "" nobody, NEW_USER, or VALUE + a username
    choices: list[tuple[str, str]]


NEW_USER = "+"


def encode_team_choice(choice: Any) -> str:
    if isinstance(choice, dict):
        return NEW_USER
    return VALUE + choice if isinstance(choice, str) and choice else UNMAPPED


def decode_team_choice(text: str) -> Any:
    if text == NEW_USER:
        return dict(CREATE_INACTIVE)
    if text.startswith(VALUE) and text[1:].strip():
        return text[1:].strip()
    return None


def time_zone_choices() -> list[tuple[str, str]]:
    zones = sorted(zoneinfo.available_timezones())
    default = settings.TIME_ZONE
    first = [(default, f"{default} (the server's)")]
    return first + [(zone, zone) for zone in zones if zone != default]


class MappingEditor:
    """The mapping step: one select per column, one per distinct value of a choice column, options."""

    def __init__(self, source: SourceTable, table: TableMapping, options: ImportOptions, *, user: Any):
        self.user = user  # whose funds the fund choices list
        self.source = source
        self.table = table
        self.options = options
        self.errors: list[str] = []
        self.entity = table.entity_def
        self.targets = all_targets(self.entity)

    # --- reading a post -----------------------------------------------------------------

    @classmethod
    def from_post(cls, post: QueryDict, source: SourceTable, base: TableMapping, options: ImportOptions, *, user: Any):
        valid = {t.key for t in all_targets(base.entity_def)} | {NOTES, IGNORE}
        columns = {}
        for index, header in enumerate(source.headers):
            target = post.get(f"col-{index}", base.columns.get(header, IGNORE))
            columns[header] = target if target in valid else IGNORE
        table = TableMapping(
            entity=base.entity,
            columns=columns,
            name=base.name,
            files=base.files,
            headers=list(source.headers),
            airtable_links=post.get("airtable_links") == "on",
            default_fund=post.get("default_fund", base.default_fund or ""),
        )
        posted: dict[str, dict[str, Any]] = {}
        for key, value in post.items():
            if key.startswith("src-"):
                target, _, index = key[4:].rpartition("-")
                posted.setdefault(target, {})[value] = decode_choice(post.get(f"val-{target}-{index}", ""))
        previous = TableMapping(entity=base.entity, columns=columns, values=posted)
        table.values = suggest_values(source, table, previous)
        time_zone = post.get("time_zone") or options.time_zone
        if time_zone not in zoneinfo.available_timezones():
            time_zone = options.time_zone
        date_order = post.get("date_order") if post.get("date_order") in DATE_ORDERS else options.date_order
        team = dict(options.team)
        for key, name in post.items():
            if key.startswith("team-src-"):
                team[name] = decode_team_choice(post.get(f"team-{key.removeprefix('team-src-')}", ""))
        chosen = ImportOptions(time_zone, date_order, team=team, team_default=options.team_default)
        return cls(source, table, chosen, user=user)

    # --- what the template shows --------------------------------------------------------

    def target_groups(self) -> list[tuple[str, list[tuple[str, str]]]]:
        standard = [(t.key, t.label) for t in self.entity.targets]
        custom = [(t.key, t.label) for t in self.targets if t.kind == "custom"]
        groups = [(f"{self.entity.label} fields", standard)]
        if custom:
            groups.append(("Custom fields", custom))
        groups.append(
            (
                "Other",
                [(NOTES, f"Add to the {self.notes_label} (as “Column: value”)"), (IGNORE, "Don't import this column")],
            )
        )
        return groups

    @property
    def notes_label(self) -> str:
        return self.entity.notes_label

    def columns(self) -> list[ColumnRow]:
        samples = {h: self.source.column_values(i) for i, h in enumerate(self.source.headers)}
        suggestions = suggest_columns(self.entity, self.source.headers, samples)
        rows = []
        for index, header in enumerate(self.source.headers):
            seen: list[str] = []
            for value in samples[header]:
                text = " ".join(value.split())
                if text and text not in seen:
                    seen.append(text[:60] + ("…" if len(text) > 60 else ""))
                if len(seen) == 3:
                    break
            target = self.table.columns.get(header, IGNORE)
            reason = suggestions[header].reason if suggestions[header].target == target else "your choice"
            rows.append(ColumnRow(index, header, target, seen, reason))
        return rows

    def value_groups(self) -> list[ValueGroup]:
        groups = []
        for target in self.targets:
            if target.key not in self.table.mapped_targets():
                continue
            spec = choice_spec(self.entity.key, target.key)
            if spec is None:
                continue
            headers = self.table.headers_for(target.key)
            group = ValueGroup(target.key, target.label, " / ".join(headers))
            chosen = self.table.values.get(target.key, {})
            all_values = [item for header in headers for item in distinct_values(self.source, header)]
            for index, (value, count) in enumerate(all_values[:MAX_DISTINCT_VALUES]):
                choices = [(UNMAPPED, "— choose —")]
                choices += [(VALUE + str(stored), label) for stored, label in spec.options]
                if spec.can_create:
                    choices.append((CREATE + value, f"New {spec.create_label.split()[-1]}: “{value}”"))
                    if spec.new_outcome is not None:
                        choices.append((CREATE_LOST + value, f"New lost stage: “{value}”"))
                current = encode_choice(chosen.get(value))
                if current[:1] in (CREATE, CREATE_LOST) and current not in {c for c, _label in choices}:
                    kind = "lost stage" if current.startswith(CREATE_LOST) else spec.create_label.split()[-1]
                    choices.append((current, f"New {kind}: “{current[1:]}”"))
                choices.append((SKIP, "Leave these rows out"))
                suggested, why = suggest_value(value, spec)
                reason = why if current == encode_choice(suggested) else ("your choice" if current else "")
                group.rows.append(ValueRow(index, value, count, current, choices, reason))
            group.more = max(0, len(all_values) - MAX_DISTINCT_VALUES)
            groups.append(group)
        return groups

    def team_rows(self) -> list[TeamRow]:
        """One row per name in the owner / collaborator columns that matches no user here (two queries, or none)."""
        from crm.models import User

        headers = [h for t in self.targets if t.kind in ("user", "users") for h in self.table.headers_for(t.key)]
        if not headers:
            return []
        several = {h for t in self.targets if t.kind == "users" for h in self.table.headers_for(t.key)}
        users = UserIndex()
        counts: dict[str, int] = {}
        for index, header in enumerate(self.source.headers):
            if header not in headers:
                continue
            for value in self.source.column_values(index):
                listed = header in several or self.table.airtable_links
                for name in split_list(value) if listed else [clean(value)]:
                    name = " ".join(name.split())
                    if name and users.find(name) is None:
                        counts[name] = counts.get(name, 0) + 1
        if not counts:
            return []
        people = [(VALUE + u.username, u.display_name) for u in User.objects.team()]
        rows = []
        for index, name in enumerate(sorted(counts)[:MAX_DISTINCT_VALUES]):
            choices = [(UNMAPPED, "Nobody (leave it empty)"), (NEW_USER, f"A new inactive user “{name}”"), *people]
            if name in self.options.team:
                current = encode_team_choice(self.options.team[name])
            else:
                current = NEW_USER if self.options.team_default == "create" else UNMAPPED
            rows.append(TeamRow(index, name, counts[name], current, choices))
        return rows

    def fund_choices(self) -> list[tuple[str, str]]:
        from lps.models import Fund

        if self.entity.key not in ("commitments", "opportunities"):
            return []
        funds = Fund.objects.visible_to(self.user)
        current = funds.current()
        label = f"The current fund ({current})" if current else "The current fund"
        return [("", label)] + [(f.name, f.name) for f in funds.order_by("-vintage_year", "name")]

    def time_zones(self) -> list[tuple[str, str]]:
        return time_zone_choices()

    def date_orders(self) -> list[tuple[str, str]]:
        return list(DATE_ORDERS.items())
