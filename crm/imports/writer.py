"""Writing an import's plan: bulk inserts and updates with history, in short transactions.

Everything slow (reading, converting, linking, validating) happened before, outside any
transaction (``crm.imports.plan``). What is left is a few statements per model, written in
dependency order (a child's foreign key is filled from its parent saved just before, by
Django's bulk_create), with the history rows django-simple-history would have written
(the importing user and the import as the change reason) and the many-to-many rows with
their history. On SQLite a write transaction locks out every other writer, so the write
is cut into transactions of at most ``CHUNK`` records; each one also writes down what it
wrote (``ImportedRecord``), which is how a failure in a later one takes the earlier ones
back (``crm.imports.runner``).
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

# Records per write transaction: a fraction of a second of SQLite's write lock on a quiet 2-core machine.
CHUNK = 500
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
    result = []
    for model in write_order():
        created, updated = list(plan.created[model].values()), list(plan.updated[model].values())
        model_steps = [Step(model, "create", created[i : i + CHUNK]) for i in range(0, len(created), CHUNK)]
        model_steps += [Step(model, "update", updated[i : i + CHUNK]) for i in range(0, len(updated), CHUNK)]
        has_m2m = any(type(obj) is model for obj, _targets in plan.m2m.values())
        if not model_steps and has_m2m:
            model_steps = [Step(model, "update", [])]
        if model_steps:
            model_steps[-1].last_of_model = True
        result.extend(model_steps)
    return result


def chunks(plan: WritePlan) -> list[list[Step]]:
    """Steps grouped into transactions of about ``CHUNK`` records each."""
    groups: list[list[Step]] = [[]]
    size = 0
    for step in steps(plan):
        if size and size + len(step.objects) > CHUNK:
            groups.append([])
            size = 0
        groups[-1].append(step)
        size += len(step.objects)
    return [group for group in groups if group]


class PlanWriter:
    def __init__(self, plan: WritePlan, *, user: Any, change_reason: str, progress: Progress, run: Any) -> None:
        self.plan = plan
        self.user = user
        self.reason = change_reason
        self.progress = progress
        self.run = run
        self.written: dict[type, int] = defaultdict(int)
        self.committed = 0

    def write(self, on_chunk: Any, table_totals: dict[type, list[tuple[str, int]]]) -> None:
        """Write every chunk, each in its own transaction; ``on_chunk(marks, last, written)`` runs inside each one.

        ``committed`` counts the chunks that are in the database, for the caller to take back
        if a later one fails. A plan that fits in one chunk is one transaction, as before.
        """
        groups = chunks(self.plan) or [[]]
        for number, group in enumerate(groups):
            if number and self.progress.cancelled():
                raise Cancelled
            with transaction.atomic():
                models_here = {step.model for step in group}
                marks = {model: model.history.aggregate(mark=Max("history_id"))["mark"] or 0 for model in models_here}
                written: dict[type, list[tuple[Any, bool]]] = defaultdict(list)
                for step in group:
                    self._step(step, marks[step.model])
                    written[step.model].extend((obj, step.kind == "create") for obj in step.objects)
                on_chunk(marks, number == len(groups) - 1, written)
            self.committed += 1
            if number < len(groups) - 1 and connection.vendor == "sqlite":
                time.sleep(CHUNK_PAUSE)
            for step in group:
                self.written[step.model] += len(step.objects)
                model_total = len(self.plan.created[step.model]) + len(self.plan.updated[step.model])
                for table, rows in table_totals.get(step.model, []):
                    done = rows if step.last_of_model else min(rows, self.written[step.model] * rows // model_total)
                    self.progress.update(table, WRITTEN, done, rows)

    def _step(self, step: Step, mark: int) -> None:
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
        if step.last_of_model:
            self._m2m(model, mark)

    def _m2m(self, model: type, mark: int) -> None:
        """Add the planned many-to-many rows of ``model``, then what its history keeps of them."""
        entries = [
            (obj, attribute, targets)
            for (key, attribute), (obj, targets) in self.plan.m2m.items()
            if type(obj) is model
        ]
        history = model.history.model
        tracked = list(getattr(history, "_history_m2m_fields", []))
        if not entries and not tracked:
            return
        through_rows: dict[str, dict[int, dict[int, int]]] = {}
        for m2m_field in model._meta.many_to_many:
            attribute = m2m_field.name
            mine = [(obj, targets) for obj, a, targets in entries if a == attribute]
            tracked_here = m2m_field in tracked
            if not mine and not tracked_here:
                continue
            through = m2m_field.remote_field.through
            source, target = m2m_field.m2m_field_name(), m2m_field.m2m_reverse_field_name()
            new_rows = [
                through(**{f"{source}_id": obj.pk, f"{target}_id": t.pk}) for obj, targets in mine for t in targets
            ]
            through.objects.bulk_create(new_rows, batch_size=BATCH)
            if not tracked_here:
                continue
            present = self.plan.m2m_present.get((model, attribute))
            if present is None and self.plan.updated[model]:
                present = self.plan._load_through(model, attribute)
            rows: dict[int, dict[int, int]] = defaultdict(dict)
            for pk, targets in (present or {}).items():
                rows[pk].update(targets)
            for row in new_rows:
                rows[getattr(row, f"{source}_id")][getattr(row, f"{target}_id")] = row.pk
            through_rows[attribute] = rows
        if not through_rows:
            return
        written = list(
            history.objects.filter(history_id__gt=mark, history_user=self.user).values_list("history_id", "id")
        )
        for m2m_field in tracked:
            rows = through_rows.get(m2m_field.name)
            if not rows:
                continue
            source, target = m2m_field.m2m_field_name(), m2m_field.m2m_reverse_field_name()
            history_m2m = HistoricalRecords.m2m_models[m2m_field]
            history_m2m.objects.bulk_create(
                [
                    history_m2m(
                        **{"history_id": history_id, "id": row_id, f"{source}_id": pk, f"{target}_id": target_pk}
                    )
                    for history_id, pk in written
                    for target_pk, row_id in rows.get(pk, {}).items()
                ],
                batch_size=BATCH,
            )
