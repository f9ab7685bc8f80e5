"""The mapping: which field each column fills and what each of their values means, and its JSON file.

The same structure drives the wizard (one table), the saved mappings and the
``import_airtable --mapping FILE`` option (several tables). The file format is documented
in the README ("Migrating from Airtable").
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from crm.imports.parsers import DATE_ORDERS, fold
from crm.imports.schema import ENTITIES, IGNORE, NOTES, Entity, all_targets, choice_spec
from crm.imports.source import SourceTable
from crm.imports.suggest import looks_like_airtable, suggest_columns, suggest_value

FORMAT = "venture-crm-import-mapping"
VERSION = 1
MAX_DISTINCT_VALUES = 60  # more distinct values than this in a choice column means a wrong column


class MappingError(Exception):
    """A mapping (file or form) that cannot be used; the message says what to fix."""


# Our value, {"skip": True}, {"create": "Name"} (a stage also {"outcome": "lost"}) or None (not mapped yet).
ValueChoice = str | dict | None
STAGE_OUTCOMES = ("open", "won", "lost")


@dataclass
class TableMapping:
    entity: str
    columns: dict[str, str] = field(default_factory=dict)  # header → target key, NOTES, or "" (ignore)
    values: dict[str, dict[str, ValueChoice]] = field(default_factory=dict)  # target → their value → ours
    name: str = ""
    files: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    airtable_links: bool | None = None  # None: detect from the file
    default_fund: str = ""  # for commitments/opportunities without a fund column
    # Why each column was suggested (for the dry run); not part of the mapping file.
    reasons: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def entity_def(self) -> Entity:
        return ENTITIES[self.entity]

    def headers_for(self, target: str) -> list[str]:
        return [header for header, mapped in self.columns.items() if mapped == target]

    def target_label(self, target: str) -> str:
        headers = self.headers_for(target)
        return " / ".join(headers) if headers else target

    def mapped_targets(self) -> set[str]:
        return {target for target in self.columns.values() if target not in (IGNORE, NOTES)}

    def value_entry(self, target: str, raw: str) -> tuple[bool, ValueChoice]:
        """(present, choice) for one of their values: exact first, then ignoring case and spacing."""
        table = self.values.get(target, {})
        text = " ".join(raw.split())
        if text in table:
            return True, table[text]
        folded = text.casefold()
        for key, choice in table.items():
            if " ".join(key.split()).casefold() == folded:
                return True, choice
        return False, None

    def value_for(self, target: str, raw: str) -> tuple[bool, ValueChoice]:
        """(known, choice): known when the value is mapped to something (a value, skip or create)."""
        present, choice = self.value_entry(target, raw)
        return present and choice is not None, choice

    def matches_file(self, file_name: str, headers: list[str]) -> bool:
        if any(fnmatch.fnmatch(file_name.casefold(), pattern.casefold()) for pattern in self.files):
            return True
        return bool(self.headers) and [h.casefold() for h in self.headers] == [h.casefold() for h in headers]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"entity": self.entity}
        if self.name:
            data["name"] = self.name
        if self.files:
            data["files"] = self.files
        if self.headers:
            data["headers"] = self.headers
        if self.entity == SKIP:
            return data
        data["airtable_links"] = bool(self.airtable_links)
        if self.default_fund:
            data["default_fund"] = self.default_fund
        data["columns"] = {header: (target or None) for header, target in self.columns.items()}
        data["values"] = {target: dict(choices) for target, choices in self.values.items() if choices}
        return data


# A table's "entity" in the mapping file when the person chose not to import it.
SKIP = "skip"


# For a name in an owner / “logged by” / collaborator column that is no user here: an existing
# user's username or email, {"create": "inactive"} (a new inactive user made by the import) or
# None (nobody: the field is left empty).
TeamChoice = str | dict | None
CREATE_INACTIVE: dict[str, str] = {"create": "inactive"}
TEAM_DEFAULTS = ("create", "none")  # for names the mapping does not list


@dataclass
class ImportOptions:
    time_zone: str = ""
    date_order: str = "mdy"
    date_order_reason: str = field(default="", compare=False)  # set when the values chose the order
    team: dict[str, TeamChoice] = field(default_factory=dict)  # their name → TeamChoice
    team_default: str = "none"

    def __post_init__(self) -> None:
        self.time_zone = self.time_zone or settings.TIME_ZONE


@dataclass
class MappingFile:
    options: ImportOptions
    tables: list[TableMapping]
    date_order_given: bool = False  # the file says how to read 3/4/2021 (else the values decide)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "time_zone": self.options.time_zone,
            "date_order": self.options.date_order,
            "team": dict(self.options.team),
            "team_default": self.options.team_default,
            "tables": [table.to_json() for table in self.tables],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    def table_for(self, file_name: str, headers: list[str]) -> TableMapping | None:
        return next((table for table in self.tables if table.matches_file(file_name, headers)), None)


def _check_choice(where: str, value: Any) -> ValueChoice:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        if value.get("skip") is True and len(value) == 1:
            return {"skip": True}
        if isinstance(value.get("create"), str) and value["create"].strip():
            created = {"create": " ".join(value["create"].split())}
            if len(value) == 1:
                return created
            if len(value) == 2 and value.get("outcome") in STAGE_OUTCOMES:
                return {**created, "outcome": value["outcome"]}
    raise MappingError(
        f'{where}: use a value, null, {{"skip": true}} or {{"create": "Name"}} (for a stage, with "outcome": '
        f'"open", "won" or "lost"), not {json.dumps(value)}.'
    )


def table_from_json(data: Any, where: str = "table") -> TableMapping:
    if not isinstance(data, dict):
        raise MappingError(f"{where} must be an object.")
    entity = data.get("entity")
    files = data.get("files") or []
    if isinstance(files, str):
        files = [files]
    if entity == SKIP:
        # A table the person said not to import: only what finds its file again is kept.
        headers = data.get("headers") or []
        if not isinstance(headers, list) or not isinstance(files, list):
            raise MappingError(f"{where}: “files” and “headers” of a skipped table must be lists.")
        return TableMapping(
            entity=SKIP,
            name=str(data.get("name") or ""),
            files=[str(f) for f in files],
            headers=[str(h) for h in headers],
        )
    if entity not in ENTITIES:
        raise MappingError(
            f"{where}: “entity” must be one of {', '.join(ENTITIES)} or {SKIP}, not {json.dumps(entity)}."
        )
    valid = {t.key for t in ENTITIES[entity].targets} | {NOTES}
    columns: dict[str, str] = {}
    for header, target in (data.get("columns") or {}).items():
        if target in (None, ""):
            columns[str(header)] = IGNORE
        elif isinstance(target, str) and (target in valid or target.startswith("custom:")):
            columns[str(header)] = target
        else:
            raise MappingError(
                f"{where}: column “{header}” maps to {json.dumps(target)}, which is not a field of {entity}. "
                f"Fields: {', '.join(sorted(valid))} (or null to leave the column out)."
            )
    values: dict[str, dict[str, ValueChoice]] = {}
    for target, choices in (data.get("values") or {}).items():
        if not isinstance(choices, dict):
            raise MappingError(f"{where}: “values” → “{target}” must be an object of their value → ours.")
        values[target] = {str(k): _check_choice(f"{where}: {target} “{k}”", v) for k, v in choices.items()}
    return TableMapping(
        entity=entity,
        columns=columns,
        values=values,
        name=str(data.get("name") or ""),
        files=[str(f) for f in files],
        headers=[str(h) for h in data.get("headers") or []],
        airtable_links=None if data.get("airtable_links") is None else bool(data["airtable_links"]),
        default_fund=str(data.get("default_fund") or ""),
    )


def loads(text: str) -> MappingFile:
    """Parse a mapping file; every problem is a MappingError naming where it is."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingError(f"The mapping file is not valid JSON (line {exc.lineno}: {exc.msg}).") from None
    if not isinstance(data, dict):
        raise MappingError("The mapping file must be a JSON object with a “tables” list.")
    if data.get("format", FORMAT) != FORMAT:
        raise MappingError(f"This is not a Venture CRM mapping file (format {json.dumps(data.get('format'))}).")
    time_zone = data.get("time_zone") or ""
    if time_zone:
        check_time_zone(time_zone)
    order = data.get("date_order") or "mdy"
    if order not in DATE_ORDERS:
        raise MappingError(f"“date_order” must be one of {', '.join(DATE_ORDERS)}.")
    tables = data.get("tables")
    if not isinstance(tables, list):
        raise MappingError("The mapping file needs a “tables” list.")
    team_default = data.get("team_default") or "none"
    if team_default not in TEAM_DEFAULTS:
        raise MappingError(f"“team_default” must be one of {', '.join(TEAM_DEFAULTS)}, not {json.dumps(team_default)}.")
    return MappingFile(
        ImportOptions(time_zone, order, team=team_from_json(data.get("team")), team_default=team_default),
        [table_from_json(t, f"tables[{i}]") for i, t in enumerate(tables)],
        date_order_given=bool(data.get("date_order")),
    )


def team_from_json(data: Any) -> dict[str, TeamChoice]:
    """The “team” section: their name → a user's username or email, {"create": "inactive"} or null."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MappingError('“team” must be an object of their name → a username, {"create": "inactive"} or null.')
    team: dict[str, TeamChoice] = {}
    for name, choice in data.items():
        if choice is None or (isinstance(choice, str) and choice.strip()):
            team[str(name)] = choice.strip() if isinstance(choice, str) else None
        elif choice == CREATE_INACTIVE:
            team[str(name)] = dict(CREATE_INACTIVE)
        else:
            raise MappingError(
                f'team “{name}”: use a username or email, {{"create": "inactive"}} or null, not {json.dumps(choice)}.'
            )
    return team


def options_from_json(data: dict[str, Any]) -> ImportOptions:
    """A run's saved options (``MappingFile.to_json``) back."""
    return ImportOptions(
        data.get("time_zone", ""),
        data.get("date_order", "mdy"),
        team=team_from_json(data.get("team")),
        team_default=data.get("team_default") or "none",
    )


def check_time_zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError(f"“{name}” is not a time zone (use a name like America/Los_Angeles).") from None


# --- Building a complete mapping for one file --------------------------------------------


def distinct_values(source: SourceTable, header: str) -> list[tuple[str, int]]:
    """Their values in one column, most frequent first (trimmed, blanks left out)."""
    index = source.headers.index(header)
    counts = Counter(" ".join(row[index].split()) for row in source.rows if index < len(row) and row[index].strip())
    return sorted(counts.items(), key=lambda item: (-item[1], item[0].casefold()))


def complete(
    source: SourceTable, entity: str, base: TableMapping | None = None, links: dict[str, frozenset[str]] | None = None
) -> TableMapping:
    """Suggestions for every column and every choice value, overlaid with what ``base`` already says.

    ``links``: the primary-field names of the base's other tables (``primary_names``), so link
    columns are recognised by what they hold.
    """
    entity_def = ENTITIES[entity]
    samples = {h: source.column_values(i) for i, h in enumerate(source.headers)}
    suggestions = suggest_columns(entity_def, source.headers, samples, links)
    base_columns = {h.casefold(): t for h, t in (base.columns.items() if base else [])}
    columns = {}
    reasons = {}
    for header in source.headers:
        if header.casefold() in base_columns:
            columns[header] = base_columns[header.casefold()]
            # The suggestion's own reason where the mapping agrees with it, so a dry run (the
            # wizard's, whose stored mapping names every column) still says why.
            same = columns[header] == suggestions[header].target
            reasons[header] = suggestions[header].reason if same else "as the mapping file says"
        else:
            columns[header] = suggestions[header].target
            reasons[header] = suggestions[header].reason
    table = TableMapping(
        entity=entity,
        columns=columns,
        name=base.name if base else "",
        files=list(base.files) if base else [],
        headers=list(source.headers),
        airtable_links=(
            base.airtable_links
            if base and base.airtable_links is not None
            else looks_like_airtable(source.headers, source.rows)
        ),
        default_fund=base.default_fund if base else "",
        reasons=reasons,
    )
    table.values = suggest_values(source, table, base)
    return table


DATE_KINDS = frozenset({"date", "date_lenient", "datetime"})
_NUMERIC_DATE = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})\b")


def detect_date_order(tables: list[tuple[SourceTable, TableMapping]]) -> tuple[str, str]:
    """(“mdy” or “dmy”, the value that decided) from the date columns' values.

    Day first only when some date cannot be month first (14/3/2021) and none cannot be day
    first (3/14/2021); otherwise the US order, as before.
    """
    day_first, month_first = "", ""
    for source, table in tables:
        kinds = {t.key: t.kind for t in all_targets(table.entity_def)}
        for header, target in table.columns.items():
            if kinds.get(target) not in DATE_KINDS or header not in source.headers:
                continue
            for value in source.column_values(source.headers.index(header)):
                match = _NUMERIC_DATE.match(value.strip())
                if not match:
                    continue
                first, second = int(match.group(1)), int(match.group(2))
                if first > 12 >= second and not day_first:
                    day_first = f"“{value.strip()}” in “{header}”"
                elif second > 12 >= first and not month_first:
                    month_first = value
    if day_first and not month_first:
        return "dmy", day_first
    return "mdy", ""


def primary_names(sources: list[tuple[str, SourceTable]]) -> dict[str, frozenset[str]]:
    """Per entity, the folded values of its tables' primary field (the first column): what link cells show."""
    names: dict[str, set[str]] = {}
    for entity, source in sources:
        found = names.setdefault(entity, set())
        for value in source.column_values(0):
            text = " ".join(value.split())
            if text:
                found.add(fold(text))
    return {entity: frozenset(values) for entity, values in names.items()}


def suggest_values(source: SourceTable, table: TableMapping, base: TableMapping | None = None) -> dict:
    """Every value of every choice column with a decision (see ``suggest_value``), unless ``base`` has one."""
    values: dict[str, dict[str, ValueChoice]] = {}
    for target in sorted(table.mapped_targets()):
        spec = choice_spec(table.entity, target)
        if spec is None:
            continue
        chosen: dict[str, ValueChoice] = {}
        for header in table.headers_for(target):
            for value, _count in distinct_values(source, header)[:MAX_DISTINCT_VALUES]:
                if value in chosen:
                    continue
                present, choice = base.value_entry(target, value) if base else (False, None)
                chosen[value] = choice if present and choice is not None else suggest_value(value, spec)[0]
        values[target] = chosen
    return values


# The reasons of decisions made for a value with no equal here (suggest_value).
NEAR_REASONS = ("similar meaning", "similar spelling", "nothing like it here", "no stage like it here")


def value_decisions(table: TableMapping) -> dict[str, list[tuple[str, str, str]]]:
    """Per target, their values with no equal here that still have our suggestion: (value, what it became, why).

    Worked out again from the mapping, so a wizard's stored mapping and a mapping file list
    them alike; a value someone chose differently is theirs and not listed.
    """
    found: dict[str, list[tuple[str, str, str]]] = {}
    for target, choices in table.values.items():
        spec = choice_spec(table.entity, target)
        if spec is None:
            continue
        labels = dict(spec.options)
        for value, choice in choices.items():
            suggested, why = suggest_value(value, spec)
            if choice is None or suggested != choice or not why.startswith(NEAR_REASONS):
                continue
            if isinstance(choice, dict):
                became = f"a new {'lost ' if choice.get('outcome') == 'lost' else ''}stage “{choice['create']}”"
            else:
                became = f"“{labels.get(choice, choice)}”"
            found.setdefault(target, []).append((value, became, why))
    return found


def unmapped_values(source: SourceTable, table: TableMapping) -> dict[str, list[tuple[str, int]]]:
    """Their values that have no meaning yet, per target: each would be an error row."""
    missing: dict[str, list[tuple[str, int]]] = {}
    for target in table.mapped_targets():
        if choice_spec(table.entity, target) is None:
            continue
        for header in table.headers_for(target):
            for value, count in distinct_values(source, header):
                known, _choice = table.value_for(target, value)
                if not known:
                    missing.setdefault(target, []).append((value, count))
    return missing


def check(table: TableMapping) -> list[str]:
    """Problems that stop an import before it starts: a required field with no column, a field twice."""
    problems = []
    entity = table.entity_def
    valid = {t.key for t in all_targets(entity)} | {NOTES, IGNORE}
    counts = Counter(t for t in table.columns.values() if t not in (IGNORE, NOTES))
    for target, count in counts.items():
        if count > 1:
            problems.append(
                f"{count} columns ({', '.join(table.headers_for(target))}) fill “{_label(entity, target)}”; "
                "choose one, or send the others to the notes."
            )
    for header, target in table.columns.items():
        if target not in valid:
            problems.append(f"Column “{header}” maps to “{target}”, which is not a field of {entity.label.lower()}.")
    mapped = table.mapped_targets()
    for group in entity.required_any:
        if not mapped & set(group):
            names = " or ".join(f"“{_label(entity, key)}”" for key in group)
            problems.append(f"No column fills {names}; {entity.label.lower()} need it.")
    return problems


def _label(entity: Entity, key: str) -> str:
    target = next((t for t in all_targets(entity) if t.key == key), None)
    return target.label if target else key
