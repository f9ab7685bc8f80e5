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
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone
from simple_history.models import HistoricalRecords
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from crm.imports.plan import WritePlan, record_key
from crm.imports.progress import WRITTEN, Cancelled, Progress
from crm.lib.text import collapse_spaces, normalize_email

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


def write_order() -> list[type[models.Model]]:
    from contacts.models import Communication, Contact, Organization, Tag
    from lps.models import Commitment, Fund, LPProfile
    from pipeline.models import Opportunity, Stage

    return [Tag, Fund, Stage, Organization, Contact, LPProfile, Commitment, Opportunity, Communication]


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
    if original is not None and hasattr(instance, "updated_at"):
        instance.updated_at = now


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
                self._m2m_history(marks, written)
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
            bulk_create_with_history(
                step.objects, model, batch_size=BATCH, default_user=self.user, default_change_reason=self.reason
            )
        elif step.kind == "update" and step.objects:
            names: set[str] = set()
            for obj in step.objects:
                obj._prepare_related_fields_for_save(operation_name="bulk_update")
                original = self.plan.originals.get(record_key(obj), {})
                _prepare(obj, now, original)
                names.update(self.plan.changed_fields(obj))
            names.discard("id")
            bulk_update_with_history(
                step.objects,
                model,
                sorted(names),
                batch_size=BATCH,
                default_user=self.user,
                default_change_reason=self.reason,
            )
        self._through_rows(model, step.objects)

    def _through_rows(self, model: type, objects: list) -> None:
        """The many-to-many rows planned for ``objects`` (their targets were written before them)."""
        for m2m_field in model._meta.many_to_many:
            attribute = m2m_field.name
            through = m2m_field.remote_field.through
            source, target = m2m_field.m2m_field_name(), m2m_field.m2m_reverse_field_name()
            rows = [
                through(**{f"{source}_id": obj.pk, f"{target}_id": t.pk})
                for obj in objects
                for a, targets in self.m2m.get(record_key(obj), ())
                if a == attribute
                for t in targets
            ]
            if not rows:
                continue
            through.objects.bulk_create(rows, batch_size=BATCH)
            written = self.through.setdefault((model, attribute), defaultdict(dict))
            for row in rows:
                written[getattr(row, f"{source}_id")][getattr(row, f"{target}_id")] = row.pk

    def _m2m_history(self, marks: dict[type, int], written: dict[type, list[tuple[Any, bool]]]) -> None:
        """What each history row written in this transaction keeps of its record's many-to-many fields.

        As django-simple-history's own save does: every row of the record's through table,
        not only the ones this import added. One query per model for the history ids.
        """
        for model, items in written.items():
            tracked = list(getattr(model.history.model, "_history_m2m_fields", []))
            if not tracked or not items:
                continue
            history = model.history.model
            history_ids = dict(
                history.objects.filter(history_id__gt=marks[model], history_user=self.user).values_list(
                    "id", "history_id"
                )
            )
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
                rows = []
                for obj, created in items:
                    targets = dict(new.get(obj.pk, {}))
                    if not created and present:
                        targets = {**present.get(obj.pk, {}), **targets}
                    history_id = history_ids.get(obj.pk)
                    if history_id is None:
                        continue
                    rows.extend(
                        history_m2m(
                            **{"history_id": history_id, "id": row_id, f"{source}_id": obj.pk, f"{target}_id": pk}
                        )
                        for pk, row_id in targets.items()
                    )
                history_m2m.objects.bulk_create(rows, batch_size=BATCH)
