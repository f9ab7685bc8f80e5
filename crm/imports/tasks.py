"""The import jobs the background worker runs: the wizard's dry run and import, a whole base, undo.

Each takes ids (the run's and the acting user's), never objects, because the queue stores
its arguments as JSON. Each does nothing when the run no longer has that job (it was
cancelled before the worker reached it, or the draft was discarded); otherwise it runs the
existing engine with a ``RunProgress`` and writes down how the job ended (crm/imports/jobs.py).
``django_tasks`` is the backport of Django 6's ``django.tasks``: on Django 6 the import
becomes ``from django.tasks import task`` and nothing else changes.
"""

from __future__ import annotations

from pathlib import Path

from django_tasks import task

from crm.imports import bundle, jobs
from crm.imports.progress import Cancelled
from crm.imports.runner import RunOutcome, TableInput, run_import
from crm.models import ImportJob, ImportStatus, User


def _user(user_pk: int) -> User:
    return User.objects.get(pk=user_pk)


def _ended(outcome: RunOutcome) -> dict:
    return {"row_report": jobs.row_report_csv(outcome.tables)}


def _run_draft(run_pk: int, user_pk: int, kind: str, *, skip_errors: bool = False) -> str:
    """The wizard's dry run or import of its file or whole base, with progress; a crash ends the job with a message."""
    dry_run = kind == ImportJob.DRY_RUN
    run = jobs.start(run_pk, kind)
    if run is None:
        return "nothing to do"
    progress = None
    try:
        if bundle.is_base(run):
            # A whole base: its tables, mapping and order exactly as import_airtable reads a folder.
            tables, options = bundle.tables(run)
        else:
            source = jobs.draft_source(run)
            tables, options = [TableInput(source, jobs.draft_table(run, source))], jobs.draft_options(run)
        with jobs.RunProgress(run.pk) as progress:
            outcome = run_import(
                tables,
                user=_user(user_pk),
                options=options,
                dry_run=dry_run,
                skip_errors=skip_errors,
                run=run,
                progress=progress,
            )
        fields = _ended(outcome)
        if dry_run and outcome.status == "invalid":
            fields["message"] = outcome.message
    except BaseException:
        if dry_run:
            jobs.finish(run_pk, progress, message="The dry run stopped with an error. Run it again.")
        else:
            jobs.finish(
                run_pk,
                progress,
                status=ImportStatus.FAILED,
                message="The import stopped with an error. Nothing was kept.",
            )
        raise
    jobs.finish(run_pk, progress, **fields)
    return outcome.status


@task()
def dry_run(run_pk: int, user_pk: int) -> str:
    return _run_draft(run_pk, user_pk, ImportJob.DRY_RUN)


@task()
def import_file(run_pk: int, user_pk: int, skip_errors: bool = False) -> str:
    return _run_draft(run_pk, user_pk, ImportJob.IMPORT, skip_errors=skip_errors)


@task()
def import_base(
    run_pk: int,
    user_pk: int,
    directory: str,
    mapping: str = "",
    time_zone: str = "",
    date_order: str = "",
    skip_errors: bool = False,
) -> str:
    """``import_airtable --background``: the command checked the folder; the worker reads it again."""
    from crm.management.commands.import_airtable import base_tables, import_options, read_mapping

    run = jobs.start(run_pk, ImportJob.IMPORT)
    if run is None:
        return "nothing to do"
    progress = None
    try:
        mapping_file = read_mapping(mapping or None)
        tables = base_tables(Path(directory), mapping_file)
        options = import_options(mapping_file, time_zone, date_order, tables)
        with jobs.RunProgress(run.pk) as progress:
            outcome = run_import(
                tables,
                user=_user(user_pk),
                options=options,
                dry_run=False,
                skip_errors=skip_errors,
                run=run,
                progress=progress,
            )
    except BaseException as exc:
        jobs.finish(
            run_pk,
            progress,
            status=ImportStatus.FAILED,
            message=f"The import stopped with an error ({exc}). Nothing was kept.",
        )
        raise
    jobs.finish(run_pk, progress, **_ended(outcome))
    return outcome.status


@task()
def undo(run_pk: int, user_pk: int) -> str:
    from crm.imports.undo import UndoError, undo_run

    run = jobs.start(run_pk, ImportJob.UNDO)
    if run is None:
        return "nothing to do"
    progress = None
    try:
        with jobs.RunProgress(run.pk) as progress:
            outcome = undo_run(run, _user(user_pk), progress=progress)
    except UndoError as exc:
        jobs.finish(run_pk, progress, message=str(exc))
        return "refused"
    except Cancelled:
        jobs.finish(run_pk, progress, message="The undo was cancelled. Nothing was undone.")
        return "cancelled"
    except BaseException:
        jobs.finish(run_pk, progress, message="The undo stopped with an error. Nothing was undone.")
        raise
    jobs.finish(run_pk, progress)
    return "undone" if outcome.complete else "partly undone"
