"""The background side of imports: queueing a run's job, watching it, noticing when its worker died.

A run has at most one job at a time (``ImportRun.job``: a dry run, an import or an undo).
``enqueue`` claims the run for the job with one conditional UPDATE, so a reloaded preview
or a double-clicked button cannot queue a second one. The task (crm/imports/tasks.py) runs
the existing engine with a ``RunProgress``, which keeps the per-table figures on the run
and answers ``cancelled()`` from the run's flag.

Two things can go wrong that the pages must say plainly:

- **The worker is not running.** The job's queued task is still READY ``WORKER_MISSING_AFTER``
  after it was queued (a worker polls every second), so nobody is picking it up.
- **The worker died** (kill -9, the machine restarted). The job records the worker's host
  and process id when it starts and moves ``heartbeat_at`` every few seconds. On the same
  host a process id that no longer exists is proof at once; from another host, a heartbeat
  older than ``DEAD_AFTER`` is. ``recover_interrupted`` then marks the run failed after
  checking that the run left nothing behind (it ran in one transaction, which died with it).
  It runs on every import page and at the start of every job, so a restarted worker or the
  next look at the progress page settles it.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import logging
import os
import socket
import threading
import time
from typing import Any

from django.db import DatabaseError, connection
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from crm.imports.mapping import ImportOptions, TableMapping, complete, options_from_json, table_from_json
from crm.imports.mapping import MappingError as _MappingError
from crm.imports.progress import PHASES
from crm.imports.source import SourceError, SourceTable, parse_text
from crm.lib.export import neutralize
from crm.models import ImportedRecord, ImportJob, ImportRun, ImportStatus

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = 2.0  # seconds between writes of the progress figures and the heartbeat
DEAD_AFTER = datetime.timedelta(seconds=60)
WORKER_MISSING_AFTER = datetime.timedelta(seconds=10)
WORKER_COMMAND = "make run (or: python manage.py db_worker)"
# An undo of more records than this runs in the worker with a progress bar; smaller ones in the request.
UNDO_IN_BACKGROUND_ABOVE = 500
ROW_REPORT_MAX_LINES = 500_000


# --- the draft's file, mapping and options (shared by the wizard's views and its tasks) ------------


def draft_source(run: ImportRun) -> SourceTable:
    try:
        source = parse_text(run.source_text, run.file_name, encoding=run.encoding)
    except SourceError as exc:  # pragma: no cover - the text parsed at upload
        raise Http404(str(exc)) from None
    source.notices = list(run.notices)
    return source


def draft_options(run: ImportRun) -> ImportOptions:
    return options_from_json(run.mapping)


def draft_table(run: ImportRun, source: SourceTable) -> TableMapping:
    """The run's mapping, completed with suggestions for anything it does not say yet."""
    base = None
    tables = run.mapping.get("tables") or []
    if tables:
        try:
            base = table_from_json(tables[0])
        except _MappingError:
            base = None
    if base is not None and base.entity != run.entity:
        base = None
    table = complete(source, run.entity, base)
    table.name = run.file_name
    return table


# --- queueing -----------------------------------------------------------------------------------


def enqueue(run: ImportRun, kind: str, **kwargs: Any) -> bool:
    """Queue ``kind`` for ``run`` unless it has a job already; False when it had one (nothing queued).

    ``kwargs`` go to the task besides the run's and the user's ids.
    """
    from crm.imports import tasks

    claim = {
        "job": kind,
        "job_task_id": "",
        "enqueued_at": timezone.now(),
        "started_at": None,
        "job_finished_at": None,
        "heartbeat_at": None,
        "worker_host": "",
        "worker_pid": None,
        "progress": {},
        "cancel_requested": False,
    }
    if kind == ImportJob.IMPORT:
        # No longer a draft: the wizard's steps send the user to the progress page from now on.
        claim["status"] = ImportStatus.RUNNING
    idle = Q(job="") | Q(job_finished_at__isnull=False)
    if not ImportRun.objects.filter(idle, pk=run.pk).update(**claim):
        return False
    task = {ImportJob.DRY_RUN: tasks.dry_run, ImportJob.IMPORT: tasks.import_file, ImportJob.UNDO: tasks.undo}
    user_pk = kwargs.pop("user_pk")
    if kind == ImportJob.IMPORT and run.source == "command":
        result = tasks.import_base.enqueue(run.pk, user_pk, **kwargs)
    else:
        result = task[kind].enqueue(run.pk, user_pk, **kwargs)
    # The immediate backend (tests) has run the job by now: nothing to note.
    ImportRun.objects.filter(pk=run.pk, job=kind, job_finished_at__isnull=True).update(job_task_id=str(result.id))
    return True


def worker_missing(run: ImportRun) -> bool:
    """True when the run's job has waited in the queue long enough that no worker can be running."""
    if not is_active(run) or run.started_at or not run.enqueued_at:
        return False
    if timezone.now() - run.enqueued_at < WORKER_MISSING_AFTER:
        return False
    from django_tasks_db.models import DBTaskResult

    status = DBTaskResult.objects.filter(pk=run.job_task_id).values_list("status", flat=True).first()
    # No row: queued with another backend, or pruned; say nothing rather than something wrong.
    return status == "READY"


def cancel(run: ImportRun) -> None:
    """Ask the run's job to stop; a job the worker has not started yet is dropped here and now."""
    ImportRun.objects.filter(pk=run.pk, job_finished_at__isnull=True).exclude(job="").update(cancel_requested=True)
    dropped = {
        "cancel_requested": False,
        "job_finished_at": timezone.now(),
        "message": "Cancelled before it started. Nothing was changed.",
    }
    if run.job == ImportJob.IMPORT:
        dropped["status"] = ImportStatus.DRAFT
    # The task finds no job of its kind when the worker reaches it, and does nothing.
    ImportRun.objects.filter(pk=run.pk, job=run.job, started_at__isnull=True, job_finished_at__isnull=True).exclude(
        job=""
    ).update(**dropped)


# --- progress -------------------------------------------------------------------------------------


class RunProgress:
    """The runner's ``Progress``, kept on the ImportRun so the wizard's progress bar can poll it.

    ``update`` only records the figures in memory. Writing them, with the heartbeat, happens at
    most every ``HEARTBEAT_EVERY`` seconds and never from inside the runner's transaction
    (a dry run rolls back, and nobody else could see them before it commits): in the worker, a
    thread with its own database connection writes them; inside an outer transaction (the
    immediate backend in tests) they are written in line. ``cancelled`` answers from the run's
    ``cancel_requested`` flag as last read.
    """

    def __init__(self, run_pk: int, *, threaded: bool | None = None) -> None:
        self.run_pk = run_pk
        if threaded is None:
            # A second connection to an in-memory SQLite database (a test server's) shares its
            # cache, where locks are per table and ignore the busy timeout: write in line there.
            in_memory = connection.vendor == "sqlite" and connection.is_in_memory_db()
            threaded = not connection.in_atomic_block and not in_memory
        self.threaded = threaded
        self.figures: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()
        self._cancelled = False
        self._last_write = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # Progress
    def update(self, table: str, phase: str, done: int, total: int) -> None:
        with self._lock:
            figures = self.figures.setdefault(table, dict.fromkeys(PHASES, 0) | {"total": total})
            figures[phase] = max(figures.get(phase, 0), done)
            figures["total"] = total
        if not self.threaded:
            self._write_if_due()

    def cancelled(self) -> bool:
        if not self.threaded:
            self._write_if_due()
        return self._cancelled

    # writing
    def write(self) -> None:
        with self._lock:
            figures = {name: dict(values) for name, values in self.figures.items()}
        ImportRun.objects.filter(pk=self.run_pk).update(progress=figures, heartbeat_at=timezone.now())
        flag = ImportRun.objects.filter(pk=self.run_pk).values_list("cancel_requested", flat=True).first()
        self._cancelled = bool(flag)
        self._last_write = time.monotonic()

    def _write_if_due(self) -> None:
        if time.monotonic() - self._last_write >= HEARTBEAT_EVERY:
            self.write()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(HEARTBEAT_EVERY):
                try:
                    self.write()
                except DatabaseError:  # the import holds the write lock (SQLite); try again next beat
                    logger.info("Progress of import #%s not written this time", self.run_pk, exc_info=True)
        finally:
            connection.close()

    def __enter__(self) -> RunProgress:
        if self.threaded:
            self._thread = threading.Thread(target=self._beat, name=f"import-{self.run_pk}-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._thread is not None:
            self._stop.set()
            # A beat blocked on SQLite's write lock gives up after the busy timeout; do not wait that long.
            self._thread.join(timeout=5)


# --- a job's life ------------------------------------------------------------------------------------


_LOWERED = False
BATCH_NICENESS = 10


def lower_priority() -> None:
    """Give the CPU to the web server's requests first: an import is batch work.

    On a small server the import's planning would otherwise take a core from the people
    signing in and saving while it runs. Once per process, relative to where it started.
    """
    global _LOWERED
    if not _LOWERED:
        _LOWERED = True
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice here
            os.nice(BATCH_NICENESS)


def start(run_pk: int, kind: str) -> ImportRun | None:
    """Mark the job started by this process; None when the run has no such job (cancelled, discarded)."""
    lower_priority()
    recover_interrupted()
    now = timezone.now()
    claimed = ImportRun.objects.filter(
        pk=run_pk, job=kind, started_at__isnull=True, job_finished_at__isnull=True
    ).update(started_at=now, heartbeat_at=now, worker_host=socket.gethostname()[:255], worker_pid=os.getpid())
    if not claimed:
        return None
    return ImportRun.objects.get(pk=run_pk)


def finish(run_pk: int, progress: RunProgress | None, **fields: Any) -> None:
    done = {"job_finished_at": timezone.now(), "cancel_requested": False, **fields}
    if progress is not None:
        done["progress"] = progress.figures
    ImportRun.objects.filter(pk=run_pk).update(**done)


def is_active(run: ImportRun) -> bool:
    """The run's job is queued or running (``job`` stays set afterwards: it says what ran last)."""
    return bool(run.job) and run.job_finished_at is None


def bars(run: ImportRun) -> list[dict[str, Any]]:
    """The run's progress per table, as the progress bars show it."""
    rows = []
    for name, figures in (run.progress or {}).items():
        total = max(int(figures.get("total") or 0), 0)
        phase, done = "read", int(figures.get("read") or 0)
        for candidate in reversed(PHASES):
            if figures.get(candidate):
                phase, done = candidate, int(figures[candidate])
                break
        # Each phase is a third of the bar: reading, then validating, then writing.
        step = list(PHASES).index(phase)
        fraction = (step + (done / total if total else 1)) / len(PHASES) if done else step / len(PHASES)
        rows.append(
            {
                "name": name,
                "phase": phase,
                "done": done,
                "total": total,
                "read": int(figures.get("read") or 0),
                "validated": int(figures.get("validated") or 0),
                "written": int(figures.get("written") or 0),
                "percent": round(100 * min(fraction, 1.0)),
            }
        )
    return rows


# --- crash recovery ------------------------------------------------------------------------------


def _alive(host: str, pid: int | None) -> bool | None:
    """True/False when this host can tell; None when the process ran elsewhere (or is unknown)."""
    if not pid or host != socket.gethostname()[:255]:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


def _is_dead(run: ImportRun, now: datetime.datetime) -> bool:
    alive = _alive(run.worker_host, run.worker_pid)
    if alive is not None:
        return not alive
    last_sign = run.heartbeat_at or run.started_at or run.updated_at
    return now - last_sign > DEAD_AFTER


def nothing_kept(run: ImportRun) -> bool:
    """The run wrote no ImportedRecord and no history row names it (its transaction died with it)."""
    from crm.imports.runner import tracked_models

    if ImportedRecord.objects.filter(run=run).exists():
        return False
    reason = run.change_reason
    return not any(model.history.filter(history_change_reason=reason).exists() for model in tracked_models())


def _took_back(run: ImportRun) -> Any:
    """Undo's outcome for what an interrupted import's committed write transactions wrote; None if it failed."""
    from crm.imports.runner import take_back

    try:
        return take_back(run, run.user)
    except Exception:
        logger.exception("Taking back what interrupted import %s wrote failed", run.pk)
        return None


def recover_interrupted() -> int:
    """Mark failed every run whose job (or in-process import) lost its process; returns how many."""
    now = timezone.now()
    candidates = ImportRun.objects.filter(job_finished_at__isnull=True).exclude(job="").exclude(
        started_at__isnull=True
    ) | ImportRun.objects.filter(status=ImportStatus.RUNNING, job="")
    recovered = 0
    for run in candidates.defer("source_text", "report", "row_report"):
        if not _is_dead(run, now):
            continue
        fields: dict[str, Any] = {"job_finished_at": now, "cancel_requested": False}
        if run.job == ImportJob.DRY_RUN:
            fields["message"] = "The dry run was interrupted (its worker stopped). Run it again."
        elif run.job == ImportJob.UNDO:
            fields["message"] = "The undo was interrupted (its worker stopped). Nothing was undone; try again."
        elif nothing_kept(run):
            fields["status"] = ImportStatus.FAILED
            fields["message"] = (
                "The import was interrupted before it finished (its worker stopped). Nothing was imported: "
                "no record and no history entry from it exists."
            )
        elif (undone := _took_back(run)) is not None:
            # It died between two of its write transactions (crm.imports.writer): the ones that
            # committed are undone from its records.
            fields["status"] = ImportStatus.FAILED
            fields["message"] = (
                "The import was interrupted before it finished (its worker stopped). What it had written was "
                + (
                    "taken back: nothing was kept."
                    if undone.complete
                    else "taken back, except records changed since: see the undo report."
                )
            )
            recovered += ImportRun.objects.filter(pk=run.pk).update(**fields)
            _close_task_row(run, now)
            continue
        else:  # pragma: no cover - someone changed its records since; say so if it happens
            fields["status"] = ImportStatus.FAILED
            fields["message"] = (
                "The import was interrupted before it finished (its worker stopped), and some of what it wrote "
                "is still there. Undo is not possible; ask an admin to check its records."
            )
        still_open = ImportRun.objects.filter(pk=run.pk, job=run.job, status=run.status, job_finished_at__isnull=True)
        if still_open.update(**fields):
            recovered += 1
            _close_task_row(run, now)
    return recovered


def _close_task_row(run: ImportRun, now: datetime.datetime) -> None:
    """Mark the queue's own row failed too, so the admin's task results do not say "running" forever.

    The worker that claimed it died without writing its outcome; a live worker never picks up a
    RUNNING row again, so this is the only place that can end it.
    """
    if not run.job_task_id:
        return
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(pk=run.job_task_id, status="RUNNING").update(
        status="FAILED",
        finished_at=now,
        exception_class_path="crm.imports.jobs.WorkerDied",
        traceback=f"The worker running import #{run.pk} stopped before the task finished (found by recovery).",
    )


# --- the full row report ---------------------------------------------------------------------------


def row_report_csv(tables: list) -> str:
    """Every row of every table with its outcome and messages, one line per message (or per row).

    Kept on the run, replaced by each dry run. It grows with the file, which the import size
    limit bounds; past ``ROW_REPORT_MAX_LINES`` lines (far beyond a 10 MB file's rows) it stops
    and says how many lines it left out.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["table", "row", "action", "record", "level", "column", "message", "value"])
    lines = 0
    left_out = 0
    for table in tables:
        for row in sorted(table.rows, key=lambda r: r.number):
            messages = row.messages or [None]
            if lines >= ROW_REPORT_MAX_LINES:
                left_out += len(messages)
                continue
            lines += len(messages)
            for message in messages:
                writer.writerow(
                    [
                        table.name,
                        row.number or "",
                        row.action,
                        _safe(row.record[:200]),
                        message.level if message else "",
                        _safe(message.column) if message else "",
                        _safe(message.text) if message else "",
                        _safe(message.value[:200]) if message else "",
                    ]
                )
    if left_out:
        writer.writerow(["", "", "", "", "info", "", f"{left_out} more lines left out of this report", ""])
    return out.getvalue()


def rows_csv_from_report(report: dict) -> str:
    """The same CSV from a stored JSON report (older runs, kept before the full report existed)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["table", "row", "action", "record", "level", "column", "message", "value"])
    for table in report.get("tables", []):
        for row in table.get("rows", []):
            for message in row.get("m") or [{}]:
                writer.writerow(
                    [
                        table.get("name", ""),
                        row.get("n") or "",
                        row.get("a", ""),
                        _safe(row.get("r", "")),
                        message.get("l", ""),
                        _safe(message.get("c", "")),
                        _safe(message.get("t", "")),
                        _safe(message.get("v", "")),
                    ]
                )
    return out.getvalue()


def _safe(text: str) -> str:
    # The report quotes what the file said; a spreadsheet must not run it as a formula.
    return neutralize(text)
