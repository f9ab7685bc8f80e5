"""What an import will write, worked out in memory before anything is written.

The resources read, convert, link and validate every row against in-memory records (the
CRM's records loaded once per run, plus the ones earlier rows of the run made); a row that
"saves" only tells the plan. Nothing is written until the whole run is planned, so a dry
run is the plan without the write, and the write itself (``crm.imports.writer``) is a few
bulk statements per model, short enough that the rest of the team never waits on it.

A row is all or nothing here too: what it changed in memory (the records it filled, the
records it made, the index entries that find them) is put back when it fails, as the
per-row savepoint used to do in the database.
"""

from __future__ import annotations

import copy
import itertools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import models

from crm.permissions import ANY_FIELD, GuardedModel, acting_user, require_write

_new_keys = itertools.count(1)


def record_key(instance: models.Model) -> tuple:
    """The same key for a record in every index and row of a run, saved yet or not."""
    key = instance.__dict__.get("_import_key")
    if key is None:
        if instance.pk is None:
            key = (instance._meta.label_lower, "new", next(_new_keys))
        else:
            key = (instance._meta.label_lower, instance.pk)
        instance.__dict__["_import_key"] = key
    return key


def original_values(instance: models.Model) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _state_copy(instance: models.Model) -> dict[str, Any]:
    values = dict(instance.__dict__)
    state = copy.copy(instance._state)
    state.fields_cache = dict(instance._state.fields_cache)
    values["_state"] = state
    return values


def check_write(instance: models.Model) -> None:
    """The guarded-model check a save would run (crm.permissions), for a write made in bulk later."""
    model = type(instance)
    if not issubclass(model, GuardedModel):
        return
    user = acting_user(instance)
    require_write(model, user, None if ANY_FIELD in model.WRITE_RULES else instance.guarded_changes())


class WritePlan:
    """Records to create, records to update (with their values as loaded) and many-to-many rows to add."""

    def __init__(self) -> None:
        self.created: dict[type, dict[tuple, models.Model]] = defaultdict(dict)
        self.updated: dict[type, dict[tuple, models.Model]] = defaultdict(dict)
        self.originals: dict[tuple, dict[str, Any]] = {}
        # (record key, attribute) → the record and the targets to add, in order.
        self.m2m: dict[tuple, tuple[models.Model, list[models.Model]]] = {}
        # Through rows already in the CRM: (model, attribute) → record pk → {target pk: through row id}.
        self.m2m_present: dict[tuple[type, str], dict[int, dict[int, int]]] = {}
        self._row_saved: list[tuple[str, models.Model]] = []
        self._row_before: dict[int, tuple[models.Model, dict[str, Any]]] = {}
        self._row_undo: list[Callable[[], None]] = []
        self._row_m2m: list[tuple[models.Model, str, list[models.Model]]] = []

    # --- loading ------------------------------------------------------------------------

    def loaded(self, instance: models.Model) -> models.Model:
        """A record read from the CRM: remember its values, to write only what changes."""
        key = record_key(instance)
        self.originals.setdefault(key, original_values(instance))
        return instance

    def is_planned_new(self, instance: models.Model) -> bool:
        return instance.pk is None and record_key(instance) in self.created[type(instance)]

    # --- one row ------------------------------------------------------------------------

    def begin_row(self) -> None:
        self._row_saved = []
        self._row_before = {}
        self._row_undo = []
        self._row_m2m = []

    def guard(self, instance: models.Model) -> models.Model:
        """Keep ``instance`` as it is now, to put it back if the row fails."""
        if id(instance) not in self._row_before:
            self._row_before[id(instance)] = (instance, _state_copy(instance))
        return instance

    def on_discard(self, undo: Callable[[], None]) -> None:
        """Something to take back (an index entry) if the row fails."""
        self._row_undo.append(undo)

    def save(self, instance: models.Model) -> None:
        """What ``instance.save()`` did: the guarded-model check now, the write later."""
        check_write(instance)
        self._row_saved.append(("save", instance))

    def add_m2m(self, instance: models.Model, attribute: str, targets: list[models.Model]) -> None:
        self._row_m2m.append((instance, attribute, targets))

    def end_row(self, ok: bool) -> None:
        if not ok:
            for instance, values in self._row_before.values():
                instance.__dict__.clear()
                instance.__dict__.update(values)
            for undo in reversed(self._row_undo):
                undo()
        else:
            for _kind, instance in self._row_saved:
                self._commit(instance)
            for instance, attribute, targets in self._row_m2m:
                key = (record_key(instance), attribute)
                entry = self.m2m.setdefault(key, (instance, []))
                for target in targets:
                    if all(target is not t for t in entry[1]):
                        entry[1].append(target)
        self.begin_row()

    def _commit(self, instance: models.Model) -> None:
        model = type(instance)
        key = record_key(instance)
        if key in self.created[model] or key in self.updated[model]:
            return
        if instance.pk is None:
            self.created[model][key] = instance
        else:
            self.updated[model][key] = instance

    # --- many-to-many -------------------------------------------------------------------

    def present_m2m(self, instance: models.Model, attribute: str) -> set:
        """The targets' keys ``instance`` has for ``attribute``: in the CRM and added by this run."""
        keys: set = set()
        if instance.pk is not None:
            through = self.m2m_present.get((type(instance), attribute))
            if through is None:
                through = self._load_through(type(instance), attribute)
            target_model = instance._meta.get_field(attribute).related_model
            keys = {(target_model._meta.label_lower, pk) for pk in through.get(instance.pk, {})}
        entry = self.m2m.get((record_key(instance), attribute))
        if entry:
            keys |= {record_key(t) for t in entry[1]}
        for pending, pending_attribute, targets in self._row_m2m:
            if pending is instance and pending_attribute == attribute:
                keys |= {record_key(t) for t in targets}
        return keys

    def _load_through(self, model: type, attribute: str) -> dict[int, dict[int, int]]:
        """Every through row of one many-to-many field, in one query (not one per record)."""
        field = model._meta.get_field(attribute)
        through = field.remote_field.through
        source, target = field.m2m_field_name(), field.m2m_reverse_field_name()
        rows: dict[int, dict[int, int]] = defaultdict(dict)
        for row_id, source_id, target_id in through.objects.values_list("id", f"{source}_id", f"{target}_id"):
            rows[source_id][target_id] = row_id
        self.m2m_present[(model, attribute)] = rows
        return rows

    # --- what the write will do ---------------------------------------------------------

    def changed_fields(self, instance: models.Model) -> list[str]:
        original = self.originals.get(record_key(instance), {})
        return [
            f.name
            for f in instance._meta.concrete_fields
            if not f.primary_key and getattr(instance, f.attname) != original.get(f.attname)
        ]

    def size(self) -> int:
        return sum(len(v) for v in self.created.values()) + sum(len(v) for v in self.updated.values())
