"""Writing an import's plan: bulk inserts and updates with history, in short transactions.

Everything slow (reading, converting, linking, validating) happened before, outside any
transaction (``crm.imports.plan``). What is left is a few statements per model, written in
dependency order (a child's foreign key is filled from its parent saved just before, by
Django's bulk_create), with the history rows django-simple-history would have written
(the importing user and the import as the change reason) and the many-to-many rows with
their history. On SQLite a write transaction locks out every other writer, so the write
is cut into transactions that commit once they have held the lock for ``LOCK_BUDGET``
seconds (or reached ``CHUNK`` records); each one also writes down what it wrote
(``ImportedRecord``), which is how a failure in a later one takes the earlier ones back
(``crm.imports.runner``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone
from simple_history.models import HistoricalRecords
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from crm.imports.inserts import insert_fields, insert_rows
from crm.imports.plan import WritePlan, record_key
from crm.imports.progress import WRITTEN, Cancelled, Progress
from crm.lib.text import collapse_spaces, normalize_email
from lps.models import climb_ladder

# Records per bulk statement group, and per write transaction at most.
SLICE = 50
CHUNK = 5000
# On SQLite a write transaction locks out every other writer: it commits once it has run this
# long (after the slice it is on), so nobody waits much longer, however loaded the machine.
LOCK_BUDGET = 0.25
BATCH = 500
# Between two transactions on SQLite, long enough for a writer waiting on the lock to get it:
# SQLite's busy handler retries at most every 100 ms, and the next chunk would start at once.
CHUNK_PAUSE = 0.12
# Records and history as multi-row INSERTs (crm.imports.inserts); False writes them through
# django-simple-history's bulk_create_with_history / bulk_update_with_history, the same rows
# several times slower (crm/tests/test_import_write.py compares the two).
FAST = True


def write_order() -> list[type[models.Model]]:
    from contacts.models import Communication, Contact, Organization, Tag
    from crm.models import User
    from lps.models import Commitment, Fund, K1Delivery, LPProfile
    from pipeline.models import Opportunity, Stage

    # Inactive users made for unmatched team members first: owners and attendees link to them.
    return [
        User,
        Tag,
        Fund,
        Stage,
        Organization,
        Contact,
        LPProfile,
        Commitment,
        K1Delivery,
        Opportunity,
        Communication,
    ]


def _prepare(instance: models.Model, now: Any, original: dict | None) -> None:
    """What the models' own save() methods do, which bulk writes do not call."""
    label = instance._meta.label_lower
    if label in ("contacts.tag", "contacts.organization"):
        instance.name = collapse_spaces(instance.name)
    if label in ("contacts.organization", "contacts.contact"):
        instance.email = normalize_email(instance.email)
    if label == "contacts.contact":
        for name in ("name_prefix", "first_name", "last_name", "name_suffix"):
            setattr(instance, name, collapse_spaces(getattr(instance, name)))
    if label == "pipeline.opportunity":
        if instance.probability is None and instance.stage is not None:
            instance.probability = instance.stage.default_probability
        if original is not None and original.get("stage_id") != instance.stage_id:
            instance.stage_changed_at = now
    if label == "lps.commitment":
        climb_ladder(instance, adding=original is None, today=timezone.localdate(now))
    if original is not None and hasattr(instance, "updated_at"):
        instance.updated_at = now


def _values_of(fields: list) -> Any:
    """A function of a record giving the tuple of its values for ``fields`` (at C speed)."""
    if len(fields) == 1:
        name = fields[0].attname
        return lambda obj: (getattr(obj, name),)
    return attrgetter(*(f.attname for f in fields))


def create_records(model: type[models.Model], objects: list[models.Model]) -> None:
    """``bulk_create`` for records without a primary key yet: one INSERT ... RETURNING id per batch."""
    fields = insert_fields(model)
    # Only fields with their own pre_save (auto_now, auto_now_add) need the field per record.
    saving = [f for f in fields if type(f).pre_save is not models.Field.pre_save]
    values_of = _values_of(fields)
    rows = []
    for obj in objects:
        if obj.pk is not None:
            raise ValueError(f"{model.__name__} to create already has a primary key")
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
        for field in saving:
            if field.attname == "created_at" and obj.__dict__.get("_created_in_source"):
                continue  # the created date the old system knew (crm.imports.resources)
            setattr(obj, field.attname, field.pre_save(obj, add=True))
        rows.append(values_of(obj))
    ids = insert_rows(model, fields, rows, returning=True)
    for obj, pk in zip(objects, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias


def history_rows(
    model: type[models.Model], objects: list[models.Model], history_type: str, *, user: Any, reason: str
) -> list[int]:
    """The history rows ``bulk_history_create`` writes for ``objects``, as tuples; returns their ids in order.

    Each record's values as they are now, the acting user (or the record's ``_history_user``),
    the change reason (or its ``_change_reason``), the time, and the type (``+`` or ``~``).
    """
    history = model.history.model
    tracked = {f.attname for f in history.tracked_fields}
    own = [f for f in insert_fields(history) if f.attname in tracked]
    special = ("history_date", "history_change_reason", "history_type", "history_user_id")
    extra = {f.attname for f in insert_fields(history)} - tracked
    if extra != set(special):
        raise ValueError(f"{history.__name__} has history fields this writer does not fill: {sorted(extra)}")
    fields = own + [history._meta.get_field(name.removesuffix("_id")) for name in special]
    values_of = _values_of(own)
    now = timezone.now()
    default_user = user.pk if user is not None else None
    rows = []
    for obj in objects:
        state = obj.__dict__
        history_user = state.get("_history_user")
        rows.append(
            (
                *values_of(obj),
                state.get("_history_date", now),
                state.get("_change_reason") or reason,
                history_type,
                history_user.pk if history_user is not None else default_user,
            )
        )
    return insert_rows(history, fields, rows, returning=True)


@dataclass
class Step:
    model: type
    kind: str  # create, update
    objects: list
    last_of_model: bool = False


def steps(plan: WritePlan) -> list[Step]:
    """The plan as bulk statements of at most ``SLICE`` records, in dependency order."""
    size = max(1, min(SLICE, CHUNK))
    result = []
    for model in write_order():
        created, updated = list(plan.created[model].values()), list(plan.updated[model].values())
        model_steps = [Step(model, "create", created[i : i + size]) for i in range(0, len(created), size)]
        model_steps += [Step(model, "update", updated[i : i + size]) for i in range(0, len(updated), size)]
        if model_steps:
            model_steps[-1].last_of_model = True
        result.extend(model_steps)
    return result


class PlanWriter:
    def __init__(self, plan: WritePlan, *, user: Any, change_reason: str, progress: Progress, run: Any) -> None:
        self.plan = plan
        self.user = user
        self.reason = change_reason
        self.progress = progress
        self.run = run
        self.written: dict[type, int] = defaultdict(int)
        self.committed = 0
        # record key → [(attribute, targets)]: the many-to-many rows to add for each record.
        self.m2m: dict[tuple, list[tuple[str, list]]] = defaultdict(list)
        for (key, attribute), (_obj, targets) in plan.m2m.items():
            self.m2m[key].append((attribute, targets))
        # (model, attribute) → record pk → {target pk: through row id}, as written.
        self.through: dict[tuple[type, str], dict[int, dict[int, int]]] = {}
        # model → record pk → the history row this transaction wrote for it (reset per transaction).
        self.history_ids: dict[type, dict[int, int]] = {}

    def write(self, on_chunk: Any, table_totals: dict[type, list[tuple[str, int]]]) -> None:
        """Write the plan in transactions; ``on_chunk(marks, last, written)`` runs inside each one.

        A transaction ends after ``CHUNK`` records, and on SQLite (one writer at a time) also
        once it has held the write lock for ``LOCK_BUDGET`` seconds, whatever the machine's
        speed. ``committed`` counts the transactions in the database, for the caller to take
        back if a later one fails. A small plan is one transaction.
        """
        todo = steps(self.plan)
        sqlite = connection.vendor == "sqlite"
        position = 0
        while True:
            if self.committed and self.progress.cancelled():
                raise Cancelled
            done: list[Step] = []
            with transaction.atomic():
                started = time.monotonic()
                marks: dict[type, int] = {}
                written: dict[type, list[tuple[Any, bool]]] = defaultdict(list)
                records = 0
                self.history_ids = {}
                while position < len(todo):
                    step = todo[position]
                    full = records + len(step.objects) > CHUNK
                    if records and (full or (sqlite and time.monotonic() - started > LOCK_BUDGET)):
                        break
                    if step.model not in marks:
                        marks[step.model] = step.model.history.aggregate(mark=Max("history_id"))["mark"] or 0
                    self._step(step)
                    written[step.model].extend((obj, step.kind == "create") for obj in step.objects)
                    records += len(step.objects)
                    done.append(step)
                    position += 1
                if not FAST:
                    self._history_ids_from_db(marks, written)
                self._m2m_history(written)
                last = position >= len(todo)
                on_chunk(marks, last, written)
            self.committed += 1
            self._report(done, table_totals)
            if last:
                return
            if sqlite:
                time.sleep(CHUNK_PAUSE)

    def _report(self, done: list[Step], table_totals: dict[type, list[tuple[str, int]]]) -> None:
        for step in done:
            self.written[step.model] += len(step.objects)
            model_total = len(self.plan.created[step.model]) + len(self.plan.updated[step.model])
            for table, rows in table_totals.get(step.model, []):
                done_rows = rows if step.last_of_model else min(rows, self.written[step.model] * rows // model_total)
                self.progress.update(table, WRITTEN, done_rows, rows)

    def _step(self, step: Step) -> None:
        model, now = step.model, timezone.now()
        if step.kind == "create" and step.objects:
            for obj in step.objects:
                _prepare(obj, now, None)
            if FAST:
                create_records(model, step.objects)
                self._history(model, step.objects, "+")
            else:
                self._create_with_library(model, step.objects)
        elif step.kind == "update" and step.objects:
            names: set[str] = set()
            for obj in step.objects:
                obj._prepare_related_fields_for_save(operation_name="bulk_update")
                original = self.plan.originals.get(record_key(obj), {})
                _prepare(obj, now, original)
                names.update(self.plan.changed_fields(obj))
            names.discard("id")
            if FAST:
                if names:
                    model._default_manager.bulk_update(step.objects, sorted(names), batch_size=BATCH)
                self._history(model, step.objects, "~")
            else:
                bulk_update_with_history(
                    step.objects,
                    model,
                    sorted(names),
                    batch_size=BATCH,
                    default_user=self.user,
                    default_change_reason=self.reason,
                )
        self._through_rows(model, step.objects)
        # What a model's save() would have done beyond its own row (an LP profile's flags
        # keep their compliance checks in step), done in bulk for the rows just written.
        after = getattr(model, "after_bulk_write", None)
        if after is not None and step.objects:
            after(step.objects, self.user, self.reason)

    def _create_with_library(self, model: type, objects: list) -> None:
        """``bulk_create_with_history``, keeping the created dates the old system knew.

        ``bulk_create`` gives every record "now" (``auto_now_add``) whatever it holds, so the
        records with a date from the source get it back before their history row copies them.
        """
        sourced = [(obj, obj.created_at) for obj in objects if obj.__dict__.get("_created_in_source")]
        if not sourced:
            bulk_create_with_history(
                objects, model, batch_size=BATCH, default_user=self.user, default_change_reason=self.reason
            )
            return
        manager = model._default_manager
        manager.bulk_create(objects, batch_size=BATCH)
        for obj, created_at in sourced:
            obj.created_at = created_at
        manager.bulk_update([obj for obj, _ in sourced], ["created_at"], batch_size=BATCH)
        model.history.bulk_history_create(
            objects, batch_size=BATCH, default_user=self.user, default_change_reason=self.reason
        )

    def _history(self, model: type, objects: list, history_type: str) -> None:
        """The history rows ``bulk_create_with_history`` / ``bulk_update_with_history`` would write."""
        ids = history_rows(model, objects, history_type, user=self.user, reason=self.reason)
        mine = self.history_ids.setdefault(model, {})
        for obj, history_id in zip(objects, ids, strict=True):
            mine[obj.pk] = history_id

    def _through_rows(self, model: type, objects: list) -> None:
        """The many-to-many rows planned for ``objects`` (their targets were written before them)."""
        for m2m_field in model._meta.many_to_many:
            attribute = m2m_field.name
            through = m2m_field.remote_field.through
            source, target = m2m_field.m2m_field_name(), m2m_field.m2m_reverse_field_name()
            pairs = [
                (obj.pk, t.pk)
                for obj in objects
                for a, targets in self.m2m.get(record_key(obj), ())
                if a == attribute
                for t in targets
            ]
            if not pairs:
                continue
            if FAST:
                ids = insert_rows(
                    through, [through._meta.get_field(source), through._meta.get_field(target)], pairs, returning=True
                )
            else:
                rows = [through(**{f"{source}_id": s, f"{target}_id": t}) for s, t in pairs]
                ids = [row.pk for row in through.objects.bulk_create(rows, batch_size=BATCH)]
            written = self.through.setdefault((model, attribute), defaultdict(dict))
            for (source_id, target_id), row_id in zip(pairs, ids, strict=True):
                written[source_id][target_id] = row_id

    def _history_ids_from_db(self, marks: dict[type, int], written: dict[type, list[tuple[Any, bool]]]) -> None:
        """The library path's history ids (it does not return them): one query per model."""
        for model in written:
            self.history_ids[model] = dict(
                model.history.model.objects.filter(history_id__gt=marks[model], history_user=self.user).values_list(
                    "id", "history_id"
                )
            )

    def _m2m_history(self, written: dict[type, list[tuple[Any, bool]]]) -> None:
        """What each history row written in this transaction keeps of its record's many-to-many fields.

        As django-simple-history's own save does: every row of the record's through table,
        not only the ones this import added.
        """
        for model, items in written.items():
            tracked = list(getattr(model.history.model, "_history_m2m_fields", []))
            if not tracked or not items:
                continue
            history_ids = self.history_ids.get(model, {})
            has_updates = any(not created for _obj, created in items)
            for m2m_field in tracked:
                attribute = m2m_field.name
                present = self.plan.m2m_present.get((model, attribute))
                if present is None and has_updates:
                    present = self.plan._load_through(model, attribute)
                new = self.through.get((model, attribute), {})
                if not present and not new:
                    continue
                source, target = m2m_field.m2m_field_name(), m2m_field.m2m_reverse_field_name()
                history_m2m = HistoricalRecords.m2m_models[m2m_field]
                rows: list[tuple] = []
                for obj, created in items:
                    targets = dict(new.get(obj.pk, {}))
                    if not created and present:
                        targets = {**present.get(obj.pk, {}), **targets}
                    history_id = history_ids.get(obj.pk)
                    if history_id is None:
                        continue
                    rows.extend((history_id, row_id, obj.pk, pk) for pk, row_id in targets.items())
                names = ("history", "id", source, target)
                if FAST:
                    insert_rows(history_m2m, [history_m2m._meta.get_field(name) for name in names], rows)
                else:
                    history_m2m.objects.bulk_create(
                        [
                            history_m2m(
                                **{
                                    f"{name}_id" if name != "id" else name: v
                                    for name, v in zip(names, row, strict=True)
                                }
                            )
                            for row in rows
                        ],
                        batch_size=BATCH,
                    )
