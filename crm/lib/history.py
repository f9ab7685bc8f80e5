"""Turn django-simple-history records into "who, when, field: old → new" for History tabs."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from crm.models import CustomField

HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}
# Bookkeeping columns nobody needs to read about.
IGNORED_FIELDS = {"updated_at", "created_at", "position", "stage_changed_at"}


@dataclass
class Change:
    field: str
    old: str
    new: str


@dataclass
class HistoryEntry:
    when: datetime.datetime
    who: Any
    action: str
    reason: str
    changes: list[Change] = field(default_factory=list)


def _display(model: type[models.Model], field_name: str, value: Any, related: dict) -> str:
    if value is None or value == "":
        return "—"
    try:
        model_field = model._meta.get_field(field_name)
    except Exception:
        return str(value)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(model_field, models.ForeignKey):
        return str(related.get((model_field.related_model, value), f"#{value} (deleted)"))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):  # m2m: list of through-row dicts
        return ", ".join(str(related.get(("m2m", field_name, v), v)) for v in value) or "—"
    return str(value)


def _plain(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def names_including_deleted(model: type[models.Model], pks: set) -> dict:
    """{pk: object or "Name (deleted)"}: a record deleted since is named from its own history."""
    found: dict = {item.pk: item for item in model._base_manager.filter(pk__in=pks)}
    missing = set(pks) - set(found)
    history = getattr(model, "history", None)
    if missing and history is not None:
        # Newest version first per id; the first seen for each id wins.
        for record in history.filter(id__in=missing).order_by("id", "-history_date"):
            found.setdefault(record.id, f"{record.instance} (deleted)")
    return found


def raw_changes(record: Any, previous: Any, *, many_to_many: bool = True) -> list:
    """simple-history's field changes from ``previous`` to ``record``, bookkeeping left out.

    ``many_to_many=False`` leaves out tag-like fields, which cost two queries per record."""
    if previous is None or record.history_type != "~":
        return []
    excluded = [] if many_to_many else [f.name for f in type(record).instance_type._meta.many_to_many]
    delta = record.diff_against(previous, excluded_fields=excluded, foreign_keys_are_objs=False)
    return [change for change in delta.changes if change.field not in IGNORED_FIELDS]


def readable_changes(model: type[models.Model], pairs: list[tuple[Any, list]]) -> list[list[Change]]:
    """Each (history record, raw changes) pair's changes with readable values.

    Related names are resolved with one query per related model, not one per row.
    """
    # Resolve foreign keys named in any change: {model: {pk, ...}} → one query per model.
    wanted: dict[type[models.Model], set] = {}
    m2m_wanted: dict[str, tuple[type[models.Model], set]] = {}
    for _record, changes in pairs:
        for change in changes:
            if change.field == "custom_fields":
                continue
            model_field = model._meta.get_field(change.field)
            if isinstance(model_field, models.ForeignKey):
                wanted.setdefault(model_field.related_model, set()).update(
                    v for v in (change.old, change.new) if v is not None
                )
            elif model_field.many_to_many:
                target = model_field.related_model
                attr = f"{target._meta.model_name}"
                ids = m2m_wanted.setdefault(change.field, (target, set()))[1]
                for rows in (change.old or [], change.new or []):
                    ids.update(row.get(attr) for row in rows)
    related: dict = {}
    for related_model, pks in wanted.items():
        for pk, item in names_including_deleted(related_model, pks).items():
            related[(related_model, pk)] = item
    for field_name, (target, pks) in m2m_wanted.items():
        for pk, item in names_including_deleted(target, pks).items():
            related[("m2m", field_name, pk)] = item

    custom_names = {}
    if any(change.field == "custom_fields" for _record, changes in pairs for change in changes):
        entity = getattr(model, "CUSTOM_FIELD_ENTITY", "")
        custom_names = dict(CustomField.objects.filter(entity=entity).values_list("key", "name"))

    result = []
    for _record, changes in pairs:
        readable = []
        for change in changes:
            if change.field == "custom_fields":
                old, new = change.old or {}, change.new or {}
                for key in sorted(set(old) | set(new)):
                    if old.get(key) != new.get(key):
                        readable.append(Change(custom_names.get(key, key), _plain(old.get(key)), _plain(new.get(key))))
                continue
            model_field = model._meta.get_field(change.field)
            label = str(model_field.verbose_name).capitalize()
            if model_field.many_to_many:
                attr = model_field.related_model._meta.model_name
                old = [row.get(attr) for row in change.old or []]
                new = [row.get(attr) for row in change.new or []]
                readable.append(
                    Change(
                        label, _display(model, change.field, old, related), _display(model, change.field, new, related)
                    )
                )
            else:
                readable.append(
                    Change(
                        label,
                        _display(model, change.field, change.old, related),
                        _display(model, change.field, change.new, related),
                    )
                )
        result.append(readable)
    return result


def history_entries(obj: models.Model, limit: int = 50) -> list[HistoryEntry]:
    """The latest ``limit`` changes to ``obj``, newest first, with readable values."""
    records = list(obj.history.select_related("history_user").order_by("-history_date", "-history_id")[: limit + 1])
    pairs = [
        (record, raw_changes(record, records[index + 1] if index + 1 < len(records) else None))
        for index, record in enumerate(records[:limit])
    ]
    entries = []
    for (record, _raw), readable in zip(pairs, readable_changes(type(obj), pairs), strict=True):
        if record.history_type == "~" and not readable and not record.history_change_reason:
            continue  # only bookkeeping columns changed, and nobody said why
        entries.append(
            HistoryEntry(
                when=record.history_date,
                who=record.history_user,
                action=HISTORY_TYPES.get(record.history_type, record.history_type),
                reason=record.history_change_reason or "",
                changes=readable,
            )
        )
    return entries
