"""Undoing an import: delete what it created, restore what it changed, leave alone what changed since.

Every record an import touched is listed in ``ImportedRecord`` with the newest history row
it wrote. A record whose history has moved on since (someone edited it) is kept as it is,
and so is any created record that something added later depends on (a communication logged
on an imported contact, a contact tagged with an imported tag). The undo says which and why.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.db.models import Max
from django.db.models.deletion import Collector, ProtectedError, RestrictedError
from django.utils import timezone
from django.utils.formats import date_format
from simple_history.utils import get_m2m_field_name

from crm.imports.progress import WRITTEN, Cancelled, NoProgress, Progress
from crm.imports.runner import tracked_models
from crm.models import ImportedRecord, ImportedRecordAction, ImportRun, ImportStatus
from crm.permissions import GuardedModel, require_write


@dataclass
class Kept:
    label: str
    kind: str
    reason: str


@dataclass
class UndoOutcome:
    deleted: int = 0
    restored: int = 0
    already_gone: int = 0
    kept: list[Kept] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.kept

    def as_dict(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "restored": self.restored,
            "already_gone": self.already_gone,
            "kept": [{"label": k.label, "kind": k.kind, "reason": k.reason} for k in self.kept],
        }


class UndoError(Exception):
    pass


def _kind(model: type[models.Model]) -> str:
    return str(model._meta.verbose_name)


def _describe_change(history_row: Any) -> str:
    who = history_row.history_user.display_name if history_row.history_user else "someone"
    when = date_format(timezone.localtime(history_row.history_date), "DATETIME_FORMAT")
    if history_row.history_type == "-":
        return f"deleted by {who} on {when} after the import"
    return f"changed by {who} on {when} after the import"


def undo_run(run: ImportRun, user: Any, progress: Progress | None = None) -> UndoOutcome:
    """Undo ``run`` as far as it safely can, in one transaction; the outcome lists what was kept and why.

    ``progress`` hears one table per kind of record (phase “written”, as records are undone) and
    may cancel the undo between kinds, which then changes nothing (``Cancelled`` is raised).
    """
    progress = progress or NoProgress()
    if run.status != ImportStatus.IMPORTED:
        raise UndoError(
            f"Import #{run.pk} is {run.get_status_display().lower()}; only a finished import can be undone."
        )
    outcome = UndoOutcome()
    reason = f"Undo of import #{run.pk}"
    with transaction.atomic():
        run = ImportRun.objects.select_for_update().get(pk=run.pk)
        if run.status != ImportStatus.IMPORTED:
            raise UndoError(f"Import #{run.pk} was undone already.")
        by_model: dict[type, list[ImportedRecord]] = defaultdict(list)
        for record in run.records.select_related("content_type"):
            model = record.content_type.model_class()
            if model is not None:
                by_model[model].append(record)
        blocked: set[tuple[type, int]] = set()
        for model, records in by_model.items():
            _check_unchanged(model, records, outcome, blocked)
        totals = {model: len(records) for model, records in by_model.items()}
        done: dict[type, int] = defaultdict(int)
        for model, records in by_model.items():
            updated = [
                r for r in records if r.action == ImportedRecordAction.UPDATED and (model, r.object_id) not in blocked
            ]
            befores = _befores(model, updated)
            for record in updated:
                _restore(model, record, befores.get(record.before_history_id), user, reason, outcome)
            done[model] += len(records) - len([r for r in records if r.action == ImportedRecordAction.CREATED])
            progress.update(_kind_plural(model), WRITTEN, done[model], totals[model])
        for model in tracked_models():
            if progress.cancelled():
                raise Cancelled
            created = [
                r
                for r in by_model.get(model, [])
                if r.action == ImportedRecordAction.CREATED and (model, r.object_id) not in blocked
            ]
            found = list(model._base_manager.filter(pk__in=[r.object_id for r in created]))
            outcome.already_gone += len({r.object_id for r in created}) - len(found)
            _delete_all(model, found, user, reason, outcome, made_by=run.change_reason)
            if model in totals:
                progress.update(_kind_plural(model), WRITTEN, totals[model], totals[model])
        run.status = ImportStatus.UNDONE if outcome.complete else ImportStatus.PARTLY_UNDONE
        run.undone_at = timezone.now()
        run.undone_by = user
        run.undo_report = outcome.as_dict()
        run.save(update_fields=["status", "undone_at", "undone_by", "undo_report", "updated_at"])
    return outcome


def _check_unchanged(model: type, records: list[ImportedRecord], outcome: UndoOutcome, blocked: set) -> None:
    """Keep every record whose history moved on after the import (edited, or deleted, since)."""
    history = model.history.model
    newest = dict(
        history.objects.filter(id__in=[r.object_id for r in records])
        .values("id")
        .annotate(last=Max("history_id"))
        .values_list("id", "last")
    )
    moved = {r.object_id: r for r in records if newest.get(r.object_id, r.last_history_id) != r.last_history_id}
    if not moved:
        return
    latest_rows = history.objects.filter(history_id__in=[newest[pk] for pk in moved]).select_related("history_user")
    for row in latest_rows:
        record = moved[row.id]
        blocked.add((model, record.object_id))
        if row.history_type == "-" and record.action == ImportedRecordAction.CREATED:
            outcome.already_gone += 1  # someone deleted it since: nothing left to undo
            continue
        outcome.kept.append(Kept(record.label, _kind(model), _describe_change(row)))


def _kind_plural(model: type[models.Model]) -> str:
    return str(model._meta.verbose_name_plural).capitalize()


def _befores(model: type, records: list[ImportedRecord]) -> dict[int, Any]:
    """The history rows to restore, in one query per kind of record."""
    ids = [r.before_history_id for r in records if r.before_history_id]
    if not ids:
        return {}
    return {row.history_id: row for row in model.history.model.objects.filter(history_id__in=ids)}


def _restore(model: type, record: ImportedRecord, before: Any, user: Any, reason: str, outcome: UndoOutcome) -> None:
    history = model.history.model
    if before is None:
        outcome.kept.append(
            Kept(record.label, _kind(model), "it has no history from before the import, so there is nothing to restore")
        )
        return
    obj = before.instance
    obj._history_user = user
    obj._change_reason = reason
    obj.save()
    for m2m in getattr(history, "_history_m2m_fields", []):
        target = f"{m2m.m2m_reverse_field_name()}_id"
        wanted_ids = {getattr(row, target) for row in getattr(before, m2m.name).all()}
        manager = getattr(obj, m2m.name)
        if set(manager.values_list("pk", flat=True)) != wanted_ids:
            manager.set(list(wanted_ids))
    outcome.restored += 1


def _delete_all(
    model: type, objs: list[models.Model], user: Any, reason: str, outcome: UndoOutcome, *, made_by: str = ""
) -> None:
    """Delete ``objs`` together when nothing else links to any of them; else one by one, to say which.

    One collector for the whole kind instead of one per record: the deletes and the cleanup of
    their tags and links run as a few batched queries. Each object carries who and why, so
    simple-history's delete signal writes every history row naming them.
    """
    if not objs:
        return
    collector = Collector(using="default", origin=objs[0])
    try:
        collector.collect(objs)
    except (ProtectedError, RestrictedError):
        collector = None
    if collector is not None and not _outside_dependents(collector, model, {obj.pk for obj in objs}):
        _bulk_delete_with_history(model, objs, collector, user, reason)
        outcome.deleted += len(objs)
        return
    for obj in objs:
        _delete(obj, user, reason, outcome, made_by=made_by)


def _bulk_delete_with_history(model: type, objs: list, collector: Collector, user: Any, reason: str) -> None:
    """Delete ``objs`` (nothing else links to them) with their history, in a few queries.

    simple-history writes a deletion's history row (and its tags) with two queries per record
    from the delete signal; here they are written in bulk, the same rows, each naming who and
    why, and the records and their own tag links are deleted without the per-record signals.
    The write check the signal would make is made here, once for the batch.
    """
    if issubclass(model, GuardedModel):
        require_write(model, user, None)
    history = model.history.model
    now = timezone.now()
    rows = history.objects.bulk_create(
        [
            history(
                history_date=now,
                history_user=user,
                history_change_reason=reason,
                history_type="-",
                **{field.attname: getattr(obj, field.attname) for field in history.tracked_fields},
            )
            for obj in objs
        ],
        batch_size=500,
    )
    row_for = {row.id: row for row in rows}
    for m2m in getattr(history, "_history_m2m_fields", []):
        m2m_history = getattr(history, m2m.name).model
        through = m2m.remote_field.through
        own = get_m2m_field_name(m2m)
        names = [f.name for f in through._meta.fields]
        links = through.objects.filter(**{f"{own}__in": list(row_for)})
        m2m_history.objects.bulk_create(
            [
                m2m_history(history=row_for[getattr(link, f"{own}_id")], **{n: getattr(link, n) for n in names})
                for link in links.select_related(*[f.name for f in through._meta.fields if f.is_relation])
            ],
            batch_size=500,
        )
    for queryset in collector.fast_deletes:  # the records' own tag and attendee links
        queryset._raw_delete(queryset.db)
    for start in range(0, len(objs), 500):
        batch = [obj.pk for obj in objs[start : start + 500]]
        model._base_manager.filter(pk__in=batch)._raw_delete(model._base_manager.db)


def _outside_dependents(collector: Collector, model: type, pks: set) -> bool:
    """Whether deleting the batch would touch anything besides the batch and its own tag/attendee rows."""
    if any(m is not model for m, items in collector.data.items() if items):
        return True
    if any(qs for querysets in collector.field_updates.values() for qs in querysets):
        return True
    own_through = {m2m.remote_field.through for m2m in model._meta.many_to_many}
    for queryset in collector.fast_deletes:
        through = queryset.model
        if through in own_through:
            continue
        if not through._meta.auto_created:
            if queryset.exists():
                return True
            continue
        pointing = [f for f in through._meta.fields if f.is_relation and f.related_model is model]
        if pointing and queryset.exists():
            return True
    return False


def _made_by(obj: models.Model, reason: str) -> bool:
    """Whether every history row of ``obj`` was written by the import of that change reason:
    a record the import made along with one of its own (an LP profile's compliance check,
    written from the profile's flags), which goes with it."""
    history = getattr(type(obj), "history", None)
    if not reason or history is None:
        return False
    rows = history.filter(id=obj.pk)
    return rows.exists() and not rows.exclude(history_change_reason=reason).exists()


def _delete(obj: models.Model, user: Any, reason: str, outcome: UndoOutcome, *, made_by: str = "") -> None:
    label = str(obj)[:255]
    collector = Collector(using="default", origin=obj)
    try:
        collector.collect([obj])
    except (ProtectedError, RestrictedError) as exc:
        blockers = list(getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", None) or [])
        outcome.kept.append(Kept(label, _kind(type(obj)), _depends(blockers)))
        return
    dependents = [
        item
        for model, items in collector.data.items()
        for item in items
        if not (model is type(obj) and item.pk == obj.pk)
    ]
    for querysets in collector.field_updates.values():
        for queryset in querysets:
            dependents.extend(queryset)
    own_through = {m2m.remote_field.through for m2m in type(obj)._meta.many_to_many}
    for queryset in collector.fast_deletes:
        through = queryset.model
        if through in own_through:
            continue  # the record's own tags or attendees
        if not through._meta.auto_created:
            dependents.extend(queryset[:5])
            continue
        pointing = [f for f in through._meta.fields if f.is_relation and f.related_model is type(obj)]
        if not pointing:
            continue  # rows of a record deleted along with it (already counted as a dependent)
        # Another record points at this one (a contact tagged with this tag, an attendee).
        other = next(f for f in through._meta.fields if f.is_relation and f not in pointing)
        dependents.extend(getattr(row, other.name) for row in queryset.select_related(other.name)[:5])
    dependents = [item for item in dependents if not _made_by(item, made_by)]
    if dependents:
        outcome.kept.append(Kept(label, _kind(type(obj)), _depends(dependents)))
        return
    obj._history_user = user
    obj._change_reason = reason
    obj.delete()
    outcome.deleted += 1


def _depends(objects: list) -> str:
    first = objects[0]
    more = f" (and {len(objects) - 1} more)" if len(objects) > 1 else ""
    return f"{_kind(type(first))} “{str(first)[:80]}”{more} still links to it and was not made by this import"
