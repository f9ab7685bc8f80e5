"""Running an import: one file from the wizard or a whole base from the command, all or nothing.

Tables run in dependency order (organizations, contacts, commitments, opportunities,
communications) through each app's django-import-export resource, which plans the writes
in memory (``crm.imports.plan``) without any transaction. A dry run is that plan and its
per-row report, with nothing written, so it is exactly what the import would do. An import
with error rows writes nothing either, unless the user chose to leave those rows out. The
write is a few short transactions of bulk statements (``crm.imports.writer``); what each
created and changed is written down with it (``ImportedRecord``) from the history rows it
made, which is what undo works from, and what takes a failed import's earlier
transactions back, so that a failed import keeps nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import tablib
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.module_loading import import_string

from crm.imports.context import ImportContext, RowMessage, RowOutcome, TableOutcome
from crm.imports.inserts import insert_rows
from crm.imports.mapping import ImportOptions, TableMapping, check, value_decisions
from crm.imports.parsers import clean, is_formula_error
from crm.imports.plan import record_key
from crm.imports.progress import READ, VALIDATED, Cancelled, NoProgress, Progress
from crm.imports.resources import EXTRA_NOTES, PRIMARY, ROW
from crm.imports.schema import ENTITIES, IGNORE, NOTES, RECORD_METADATA, all_targets
from crm.imports.source import SourceTable
from crm.imports.writer import PlanWriter
from crm.models import ImportedRecord, ImportedRecordAction, ImportRun, ImportSource, ImportStatus

logger = logging.getLogger(__name__)

MAX_REPORTED_ROWS = 20_000
RECORD_FIELDS = ("run", "content_type", "object_id", "action", "label", "last_history_id", "before_history_id")


@dataclass
class TableInput:
    source: SourceTable
    mapping: TableMapping

    @property
    def entity(self):
        return ENTITIES[self.mapping.entity]


@dataclass
class RunOutcome:
    status: str  # imported, dry_run, blocked (errors, rolled back), failed (an exception), cancelled, invalid (mapping)
    tables: list[TableOutcome] = field(default_factory=list)
    fund_totals: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    message: str = ""
    run: ImportRun | None = None

    def total(self, attribute: str) -> int:
        return sum(getattr(table, attribute) for table in self.tables)

    @property
    def has_errors(self) -> bool:
        return self.total("errors") > 0

    @property
    def committed(self) -> bool:
        return self.status == "imported"

    def report(self, dry_run: bool) -> dict[str, Any]:
        tables = []
        budget = MAX_REPORTED_ROWS
        for table in self.tables:
            summary = table.summary()
            # Past the budget, problems are kept before rows without one, so that the preview of
            # a large file still lists every error (to the budget); the CSV has every row.
            ranked = sorted(table.rows, key=lambda r: (r.action != "error", not r.messages, r.number))
            rows = sorted(ranked[:budget], key=lambda r: r.number)
            summary["rows"] = [row.as_dict() for row in rows]
            summary["rows_truncated"] = len(ranked) - len(rows)
            budget -= len(rows)
            tables.append(summary)
        return {
            "dry_run": dry_run,
            "status": self.status,
            "message": self.message,
            "notices": self.notices,
            "tables": tables,
            "fund_totals": self.fund_totals,
            "totals": {key: self.total(key) for key in ("rows_read", "created", "updated", "skipped", "errors")},
        }


def tracked_models() -> list:
    from contacts.models import Communication, Contact, Organization, Tag
    from crm.models import User
    from lps.models import Commitment, Fund, K1Delivery, LPProfile
    from pipeline.models import Opportunity, Stage

    # Deletion order for undo: what links to others first (users an import created last).
    return [
        Communication,
        Opportunity,
        K1Delivery,
        Commitment,
        LPProfile,
        Contact,
        Organization,
        Tag,
        Stage,
        Fund,
        User,
    ]


def build_dataset(table: TableInput) -> tuple[tablib.Dataset, list[int]]:
    """Rows renamed to field keys, plus the “Header: value” lines of the columns sent to the notes.

    A row with nothing in any imported column is a blank record (Airtable exports one per
    table, with only computed columns filled) and is left out; a created time alone does not
    make a record (``RECORD_METADATA``).
    """
    source, mapping = table.source, table.mapping
    targets: list[str] = []
    positions: dict[str, int] = {}
    notes_columns: list[tuple[int, str]] = []
    for index, header in enumerate(source.headers):
        target = mapping.columns.get(header, IGNORE)
        if target == NOTES:
            notes_columns.append((index, header))
        elif target != IGNORE and target not in positions:
            positions[target] = index
            targets.append(target)
    # The primary field (Airtable's first column) rides along whatever it maps to: a row
    # without a fund column finds its fund in it (“Ada Byron – Fund II”).
    dataset = tablib.Dataset(headers=[ROW, *targets, EXTRA_NOTES, PRIMARY])
    blanks = []
    for row_index, row in enumerate(source.rows):
        number = source.row_number(row_index)
        values = [row[positions[target]] if positions[target] < len(row) else "" for target in targets]
        notes = []
        for column, header in notes_columns:
            cell = clean(row[column]) if column < len(row) else ""
            if cell and not is_formula_error(cell):
                notes.append(f"{header}: {cell}")
        facts = (v for target, v in zip(targets, values, strict=True) if target not in RECORD_METADATA)
        if not any(clean(v) and not is_formula_error(v) for v in facts) and not notes:
            blanks.append(number)
            continue
        dataset.append([number, *values, "\n".join(notes), row[0] if row else ""])
    return dataset, blanks


def history_marks(models: list) -> dict:
    return {model: model.history.aggregate(mark=Max("history_id"))["mark"] or 0 for model in models}


def _money(total: Any) -> str:
    # As the database's Sum reads back: two decimals, and "0" where nothing (or only zero) adds up.
    return str(total.quantize(Decimal("0.01"))) if total else "0"


def planned_fund_totals(ctx: ImportContext) -> list[dict[str, Any]]:
    """``fund_totals()`` as it will be once the plan is written: the database's commitments, changed as planned."""
    from lps.models import COMMITTED_STATUSES, Commitment, CommitmentStatus, Fund

    funds = {("lps.fund", fund.pk): fund for fund in Fund.objects.all()}
    for fund in ctx.plan.created[Fund].values():
        funds[record_key(fund)] = fund
    rows = {
        ("lps.commitment", pk): (("lps.fund", fund_id), status, amount, funded)
        for pk, fund_id, status, amount, funded in Commitment.objects.values_list(
            "pk", "fund_id", "status", "commitment_amount", "funded_amount"
        )
    }
    for planned in (ctx.plan.created[Commitment], ctx.plan.updated[Commitment]):
        for key, c in planned.items():
            rows[key] = (record_key(c.fund), c.status, c.commitment_amount, c.funded_amount or Decimal("0"))
    nulls_last = connection.features.nulls_order_largest
    ordered = sorted(
        funds.items(),
        key=lambda item: (
            (item[1].vintage_year is None) == nulls_last,
            item[1].vintage_year or 0,
            item[1].name,
        ),
    )
    totals = []
    for key, fund in ordered:
        mine = [row for row in rows.values() if row[0] == key]
        by_status = Counter(row[1] for row in mine)
        totals.append(
            {
                "fund": fund.name,
                "commitments": len(mine),
                "by_status": dict(by_status),
                "committed": _money(sum((r[2] for r in mine if r[1] in COMMITTED_STATUSES), Decimal("0"))),
                "soft_circled": _money(sum((r[2] for r in mine if r[1] == CommitmentStatus.SOFT_CIRCLE), Decimal("0"))),
                "funded": _money(sum((r[3] for r in mine if r[1] in COMMITTED_STATUSES), Decimal("0"))),
                "withdrawn": _money(sum((r[2] for r in mine if r[1] == CommitmentStatus.WITHDRAWN), Decimal("0"))),
            }
        )
    return totals


def fund_totals() -> list[dict[str, Any]]:
    """Per fund: rows, committed (hard circle and beyond), soft-circled, funded and withdrawn (which
    counts toward none of the others), from the database."""
    from lps.models import Commitment, Fund

    totals = []
    for fund in Fund.objects.order_by("vintage_year", "name"):
        commitments = Commitment.objects.filter(fund=fund)
        sums = commitments.totals()
        by_status = Counter(commitments.values_list("status", flat=True))
        totals.append(
            {
                "fund": fund.name,
                "commitments": sum(by_status.values()),
                "by_status": dict(by_status),
                "committed": str(sums["committed"]),
                "soft_circled": str(sums["soft_circled"]),
                "funded": str(sums["funded"]),
                "withdrawn": str(sums["withdrawn"]),
            }
        )
    return totals


def record_changes(
    run: ImportRun,
    marks: dict,
    user: Any,
    written: dict[type, list[tuple[Any, bool]]],
    *,
    history_ids: dict[type, dict[int, int]],
) -> None:
    """Write down every record one write transaction created or changed, with the history rows it wrote.

    ``written``: per model, (record, created) as the writer wrote them; ``history_ids``: per
    model, record pk → the history row the writer wrote for it (``PlanWriter.history_ids``,
    which both write paths fill). The labels come from the records in memory; for changed records, the
    history row before the import from one query per model. Written as multi-row INSERTs.
    """
    fields = [ImportedRecord._meta.get_field(name) for name in RECORD_FIELDS]
    rows = []
    for model, items in written.items():
        if not items:
            continue
        history = model.history.model
        last_id = history_ids.get(model, {})
        updated = [obj.pk for obj, created in items if not created]
        before = {}
        if updated:
            before = dict(
                history.objects.filter(id__in=updated, history_id__lte=marks[model])
                .values("id")
                .annotate(last=Max("history_id"))
                .values_list("id", "last")
            )
        content_type = ContentType.objects.get_for_model(model).pk
        for obj, created in items:
            rows.append(
                (
                    run.pk,
                    content_type,
                    obj.pk,
                    (ImportedRecordAction.CREATED if created else ImportedRecordAction.UPDATED).value,
                    str(obj)[:255],
                    last_id.get(obj.pk),
                    None if created else before.get(obj.pk),
                )
            )
    insert_rows(ImportedRecord, fields, rows)


def _column_reasons(mapping: TableMapping) -> list[list[str]]:
    """Each column the import uses: [header, what it fills, why it was suggested] (the dry run lists them)."""
    entity = ENTITIES[mapping.entity]
    labels = {t.key: t.label for t in all_targets(entity)}
    return [
        [
            header,
            f"the {entity.notes_label}" if target == NOTES else labels.get(target, target),
            mapping.reasons.get(header, "your choice"),
        ]
        for header, target in mapping.columns.items()
        if target and target != IGNORE
    ]


def _table_notices(
    ctx: ImportContext, table: TableInput, unknown_before: Counter, attachments_before: int
) -> list[str]:
    notices = []
    unknown = ctx.unknown_collaborators - unknown_before
    if unknown:
        names = ", ".join(f"{name} ({count} row{'s' if count != 1 else ''})" for name, count in sorted(unknown.items()))
        notices.append(
            f"Not team members here, so left empty: {names}. Nobody is invented: choose a user or a new "
            "inactive one for each in the mapping (“team”), or add them as users and import again."
        )
    for target, decided in value_decisions(table.mapping).items():
        listed = "; ".join(f"“{value}” → {became} ({why})" for value, became, why in decided)
        notices.append(
            f"{table.mapping.target_label(target)}: values with no equal here were decided for you (change any in "
            f"the mapping): {listed}."
        )
    rules = {rule: rows for rule, rows in ctx.fund_rules.get(table.mapping.name, {}).items() if rows}
    if rules:
        listed = "; ".join(f"{rows} row{'s' if rows != 1 else ''} by {rule}" for rule, rows in rules.items())
        if "fund" in table.mapping.mapped_targets():
            notices.append(f"Rows with an empty fund cell had their fund found: {listed}.")
        else:
            notices.append(f"No fund column, so each row's fund was found: {listed}.")
    attachments = ctx.attachment_rows - attachments_before
    if attachments:
        notices.append(
            f"{attachments} row{'s' if attachments != 1 else ''} list attached files. The file names are kept; "
            "the files are not copied (the old system's download links expire within hours). Download any you "
            "need from the old system."
        )
    return notices


def run_import(
    tables: list[TableInput],
    *,
    user: Any,
    options: ImportOptions,
    dry_run: bool,
    skip_errors: bool = False,
    run: ImportRun | None = None,
    file_name: str = "",
    source: str = ImportSource.WIZARD,
    progress: Progress | None = None,
) -> RunOutcome:
    """Import (or dry-run) the tables; returns what happened. Never leaves a partial import behind."""
    problems = [f"{t.source.name}: {p}" for t in tables for p in check(t.mapping)]
    if problems:
        return RunOutcome("invalid", message=" ".join(problems))
    tables = sorted(tables, key=lambda t: t.entity.order)
    progress = progress or NoProgress()
    if run is None and not dry_run:
        run = ImportRun.objects.create(
            user=user,
            source=source,
            file_name=file_name or ", ".join(t.source.name for t in tables),
            entity=tables[0].mapping.entity if len(tables) == 1 else "",
            status=ImportStatus.RUNNING,
        )
    elif run is not None and not dry_run:
        ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.RUNNING)
    outcome = RunOutcome("imported", run=run)
    for table in tables:
        outcome.notices.extend(table.source.notices)
    writer = None
    try:
        # Reading, converting, linking and validating: no transaction, nothing written.
        ctx = ImportContext(
            user=user,
            time_zone=options.time_zone,
            date_order=options.date_order,
            change_reason=run.change_reason if run and run.pk else "Import",
            team=options.team,
            team_default=options.team_default,
        )
        ctx.progress = progress
        for table in tables:
            table.mapping.name = table.mapping.name or table.source.name
            if progress.cancelled():
                raise Cancelled
            _import_table(ctx, table, outcome, progress)
        for name in ctx.created_links:
            outcome.notices.append(f"Created {name}, as the mapping (or its suggestion) says.")
        if ctx.new_users:
            names = ", ".join(f"{name} ({user.username})" for name, user in sorted(ctx.new_user_names.items()))
            outcome.notices.append(
                f"New inactive users for team members not found here: {names}. They cannot sign in until an admin "
                "activates them; choose an existing user or nobody for any of them in the mapping (“team”)."
            )
        if dry_run:
            outcome.status = "dry_run"
            outcome.fund_totals = planned_fund_totals(ctx)
        elif outcome.has_errors and not skip_errors:
            outcome.status = "blocked"
            outcome.message = (
                f"{outcome.total('errors')} row(s) have errors, so nothing was imported. Fix them (the mapping "
                "or the file), or choose to leave those rows out."
            )
            outcome.fund_totals = planned_fund_totals(ctx)
        else:
            if progress.cancelled():
                raise Cancelled
            writer = PlanWriter(ctx.plan, user=user, change_reason=ctx.change_reason, progress=progress, run=run)

            def on_chunk(marks: dict, last: bool, written: dict) -> None:
                record_changes(run, marks, user, written, history_ids=writer.history_ids)
                if last:
                    outcome.fund_totals = fund_totals()
                    _finish(run, outcome, options, tables)

            writer.write(on_chunk, _table_totals(tables))
    except Cancelled:
        outcome.status = "cancelled"
        outcome.message = "The import was cancelled. Nothing was imported."
        _take_back(run, user, writer, outcome)
    except Exception as exc:
        logger.exception("Import %s failed", run.pk if run else "(dry run)")
        outcome.status = "failed"
        outcome.message = f"The import stopped with an error ({type(exc).__name__}: {exc}). Nothing was imported."
        _take_back(run, user, writer, outcome)
    if run is not None:
        _save_run_state(run, outcome, dry_run, options, tables)
    return outcome


def _table_totals(tables: list[TableInput]) -> dict[type, list[tuple[str, int]]]:
    totals: dict[type, list[tuple[str, int]]] = {}
    for table in tables:
        model = import_string(table.entity.resource)._meta.model
        totals.setdefault(model, []).append((table.source.name, table.source.data_rows))
    return totals


def take_back(run: ImportRun, user: Any) -> Any:
    """Undo what the committed write transactions of an unfinished ``run`` wrote (its ImportedRecords).

    For a run that failed, was cancelled or lost its process after some of its write
    transactions had committed; returns undo's outcome (``kept`` lists what others changed since).
    """
    from crm.imports.undo import undo_run

    with transaction.atomic():
        # undo_run undoes finished imports; inside this transaction nobody sees the run so.
        ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.IMPORTED)
        run.status = ImportStatus.IMPORTED
        return undo_run(run, user)


def _take_back(run: ImportRun | None, user: Any, writer: PlanWriter | None, outcome: RunOutcome) -> None:
    """A failure after some write transactions committed: undo them through the run's records."""
    if run is None or writer is None or not writer.committed:
        return
    try:
        undone = take_back(run, user)
    except Exception:
        logger.exception("Taking back the written part of import %s failed", run.pk)
        outcome.message = outcome.message.replace(
            "Nothing was imported.", "Part of it was written and could not be taken back: see the import history."
        )
        return
    if undone.kept:
        outcome.message = outcome.message.replace(
            "Nothing was imported.",
            f"What it had written was taken back, except {len(undone.kept)} record(s) changed since by someone else.",
        )


def _import_table(ctx: ImportContext, table: TableInput, outcome: RunOutcome, progress: Progress) -> None:
    resource_class = import_string(table.entity.resource)
    name, total = table.source.name, table.source.data_rows
    dataset, blanks = build_dataset(table)
    progress.update(name, READ, total, total)
    unknown_before = Counter(ctx.unknown_collaborators)
    attachments_before = ctx.attachment_rows
    resource = resource_class(ctx, table.mapping)
    result = resource.import_data(dataset, dry_run=False, use_transactions=False, raise_errors=False)
    table_outcome = TableOutcome(table.source.name, table.mapping.entity, rows_read=table.source.data_rows)
    for number in blanks:
        table_outcome.blank += 1
        table_outcome.count(RowOutcome(number, "skip", "", [RowMessage("info", "blank row")]))
    for row_outcome in resource.outcomes:
        table_outcome.count(row_outcome)
    for error in result.base_errors:
        table_outcome.errors += 1
        table_outcome.rows.append(RowOutcome(0, "error", "", [RowMessage("error", f"{error.error}")]))
    table_outcome.notices = _table_notices(ctx, table, unknown_before, attachments_before)
    table_outcome.columns = _column_reasons(table.mapping)
    outcome.tables.append(table_outcome)
    progress.update(name, VALIDATED, total, total)
    if result.base_errors:
        raise RuntimeError(f"{table.source.name}: {result.base_errors[0].error}")


def _finish(run: ImportRun, outcome: RunOutcome, options: ImportOptions, tables: list[TableInput]) -> None:
    run.status = ImportStatus.IMPORTED
    run.finished_at = timezone.now()
    _apply_counts(run, outcome, options, tables)
    run.report = outcome.report(dry_run=False)
    run.source_text = ""  # the file's rows now live in the CRM; the draft copy is no longer needed
    run.save()


def _apply_counts(run: ImportRun, outcome: RunOutcome, options: ImportOptions, tables: list[TableInput]) -> None:
    from crm.imports.mapping import SKIP, MappingFile

    run.rows_read = outcome.total("rows_read")
    run.created_count = outcome.total("created")
    run.updated_count = outcome.total("updated")
    run.skipped_count = outcome.total("skipped")
    run.error_count = outcome.total("errors")
    run.tables = [table.summary() for table in outcome.tables]
    run.fund_totals = outcome.fund_totals
    run.notices = outcome.notices
    # The tables the person chose not to import stay in the mapping (else the next step would guess them again).
    skipped = [t for t in (run.mapping or {}).get("tables", []) if isinstance(t, dict) and t.get("entity") == SKIP]
    run.mapping = MappingFile(options, [t.mapping for t in tables]).to_json()
    run.mapping["tables"] += skipped
    run.message = outcome.message


def _save_run_state(run: ImportRun, outcome: RunOutcome, dry_run: bool, options, tables) -> None:
    """What the wizard shows after a dry run, a blocked import or a failure (outside the rolled-back work)."""
    if outcome.status == "imported":
        return
    run.refresh_from_db()
    _apply_counts(run, outcome, options, tables)
    run.report = outcome.report(dry_run=dry_run)
    if dry_run:
        run.previewed_at = timezone.now()
    if not dry_run:
        run.status = ImportStatus.FAILED
        run.finished_at = timezone.now()
    run.save()
