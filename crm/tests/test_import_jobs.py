"""Imports as background jobs: queueing once, progress, cancel, a worker that is missing or died.

Most tests queue with the database backend and no worker (what production does when the
worker is down), then run the queued task in this process with ``db_worker --batch`` or by
calling it; crm/tests/test_import_worker.py runs the same through a real worker process.
"""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from conftest import HX, CRMClient
from contacts.models import Contact
from crm.imports import jobs, tasks
from crm.models import ImportedRecord, ImportJob, ImportRun, ImportStatus

pytestmark = pytest.mark.django_db

PEOPLE = (
    "Full Name,E-mail,Job Title\n"
    "Ada Okafor,ada@atlas.example,CIO\n"
    'Bo Chen,bo@beacon.example,=HYPERLINK("x")\n'
    "Cara Diaz,not-an-email,Angel\n"
)


@pytest.fixture
def queue(settings):
    """The database backend, with no worker running: jobs wait in the queue."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def draft(client, text: str = PEOPLE) -> ImportRun:
    response = client.post(reverse("import_start"), {"pasted": text})
    client.post(response["Location"], {"entity": "contacts"})
    return ImportRun.objects.latest("pk")


def work_the_queue() -> None:
    """What the worker does, here: claim each queued task and run it with the worker's own code.

    Not ``call_command("db_worker", "--batch")``: its loop closes the connection between tasks,
    which on PostgreSQL would end the test's transaction.
    """
    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    )
    while (result := DBTaskResult.objects.ready().first()) is not None:
        result.claim(worker.worker_id)
        worker.run_task(result)


def test_the_dry_run_is_queued_and_the_progress_page_watches_it(manager_client, queue):
    run = draft(manager_client)
    response = manager_client.post(reverse("import_preview", args=[run.pk]))
    assert response["Location"] == reverse("import_progress", args=[run.pk])
    page = manager_client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert 'hx-trigger="every 1s"' in html and "waiting for the background worker" in html
    assert not Contact.objects.exists() and DBTaskResult.objects.get().status == "READY"
    work_the_queue()
    assert manager_client.get(response["Location"])["Location"] == reverse("import_preview", args=[run.pk])
    assert (
        "Dry run: what the import would do"
        in manager_client.get(reverse("import_preview", args=[run.pk])).content.decode()
    )


def test_reloading_the_preview_while_its_dry_run_waits_queues_no_second_one(manager_client, queue):
    run = draft(manager_client)
    for _ in range(3):
        response = manager_client.get(reverse("import_preview", args=[run.pk]))
        assert response["Location"] == reverse("import_progress", args=[run.pk])
    manager_client.post(reverse("import_preview", args=[run.pk]))
    assert DBTaskResult.objects.count() == 1


def test_the_progress_page_shows_a_bar_per_table_and_its_fragment_for_htmx(manager_client, queue):
    run = draft(manager_client)
    jobs.enqueue(run, ImportJob.DRY_RUN, user_pk=run.user_id)
    ImportRun.objects.filter(pk=run.pk).update(
        started_at=timezone.now(),
        progress={"people.csv": {"read": 3000, "validated": 1500, "written": 0, "total": 3000}},
        worker_host=socket.gethostname(),
        worker_pid=__import__("os").getpid(),
    )
    page = manager_client.get(reverse("import_progress", args=[run.pk])).content.decode()
    assert "3000 read · 1500 validated · 0 written of 3000" in page
    assert 'aria-valuenow="50"' in page and "progress-bar w-50" in page
    fragment = manager_client.get(reverse("import_progress", args=[run.pk]), headers=HX)
    assert fragment.content.decode().lstrip().startswith('<section id="job-progress"')
    assert "HX-Request" in fragment["Vary"]


def test_the_progress_page_says_when_no_worker_is_running(manager_client, queue):
    run = draft(manager_client)
    manager_client.post(reverse("import_preview", args=[run.pk]))
    url = reverse("import_progress", args=[run.pk])
    assert "background worker is not running" not in manager_client.get(url).content.decode()
    ImportRun.objects.filter(pk=run.pk).update(enqueued_at=timezone.now() - jobs.WORKER_MISSING_AFTER)
    page = manager_client.get(url).content.decode()
    assert "The background worker is not running, so this dry run is waiting. Start it with" in page


def test_a_job_cancelled_before_the_worker_reaches_it_never_runs(manager_client, manager_user, queue):
    run = draft(manager_client)
    manager_client.post(reverse("import_preview", args=[run.pk]))
    work_the_queue()
    manager_client.post(reverse("import_run", args=[run.pk]), {"skip_errors": "on"})
    assert ImportRun.objects.get(pk=run.pk).status == ImportStatus.RUNNING
    response = manager_client.post(reverse("import_cancel", args=[run.pk]))
    assert response["Location"] == reverse("import_progress", args=[run.pk])
    run.refresh_from_db()
    assert run.status == ImportStatus.DRAFT and not jobs.is_active(run)
    work_the_queue()  # the worker reaches the task: nothing to do
    assert not Contact.objects.exists()
    assert DBTaskResult.objects.order_by("-enqueued_at").first().return_value == "nothing to do"


def test_an_import_cancelled_while_it_runs_keeps_nothing(manager_client, manager_user, queue):
    run = draft(manager_client)
    manager_client.post(reverse("import_preview", args=[run.pk]))
    work_the_queue()
    manager_client.post(reverse("import_run", args=[run.pk]), {"skip_errors": "on"})
    # The Cancel button, pressed once the worker has begun (the flag the job's progress reads).
    ImportRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    assert tasks.import_file.call(run.pk, manager_user.pk, skip_errors=True) == "cancelled"
    run.refresh_from_db()
    assert run.status == ImportStatus.FAILED and "cancelled" in run.message
    assert not Contact.objects.exists() and not run.records.exists()


def test_members_cannot_cancel_an_import(manager_client, member_user, queue):
    run = draft(manager_client)
    manager_client.post(reverse("import_preview", args=[run.pk]))
    member = CRMClient()
    member.force_login(member_user)
    assert member.post(reverse("import_cancel", args=[run.pk])).status_code == 403
    assert jobs.is_active(ImportRun.objects.get(pk=run.pk))


def _dead_pid() -> int:
    process = subprocess.Popen(["sleep", "30"])
    process.kill()
    process.wait()
    return process.pid


def test_a_run_whose_worker_process_died_is_marked_failed_with_nothing_kept(manager_client, manager_user):
    run = ImportRun.objects.create(
        user=manager_user,
        file_name="big.csv",
        status=ImportStatus.RUNNING,
        job=ImportJob.IMPORT,
        enqueued_at=timezone.now(),
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),  # a fresh heartbeat: the dead process id alone decides
        worker_host=socket.gethostname(),
        worker_pid=_dead_pid(),
    )
    page = manager_client.get(reverse("import_history")).content.decode()
    run.refresh_from_db()
    assert run.status == ImportStatus.FAILED and not jobs.is_active(run)
    assert "interrupted" in run.message and "no record and no history entry from it exists" in run.message
    assert "big.csv" in page and "Failed" in page


def test_a_run_on_another_host_fails_a_minute_after_its_last_heartbeat_and_not_before(manager_user):
    def running(seconds_ago: int) -> ImportRun:
        return ImportRun.objects.create(
            user=manager_user,
            file_name=f"{seconds_ago}.csv",
            status=ImportStatus.RUNNING,
            job=ImportJob.IMPORT,
            started_at=timezone.now() - timezone.timedelta(seconds=300),
            heartbeat_at=timezone.now() - timezone.timedelta(seconds=seconds_ago),
            worker_host="another-machine",
            worker_pid=1,
        )

    alive, dead = running(30), running(61)
    assert jobs.recover_interrupted() == 1
    alive.refresh_from_db()
    dead.refresh_from_db()
    assert alive.status == ImportStatus.RUNNING and jobs.is_active(alive)
    assert dead.status == ImportStatus.FAILED and "interrupted" in dead.message


def test_a_dry_run_whose_worker_died_leaves_the_draft_to_run_again(manager_client, manager_user):
    run = draft(manager_client)
    ImportRun.objects.filter(pk=run.pk).update(
        job=ImportJob.DRY_RUN,
        started_at=timezone.now(),
        worker_host=socket.gethostname(),
        worker_pid=_dead_pid(),
    )
    response = manager_client.get(reverse("import_progress", args=[run.pk]))
    assert response["Location"] == reverse("import_mapping", args=[run.pk])
    run.refresh_from_db()
    assert run.status == ImportStatus.DRAFT and run.is_draft and "dry run was interrupted" in run.message


def test_the_full_row_report_downloads_as_csv_with_every_row_and_no_formulas(manager_client):
    run = draft(manager_client)
    manager_client.post(reverse("import_preview", args=[run.pk]))
    preview = manager_client.get(reverse("import_preview", args=[run.pk])).content.decode()
    assert reverse("import_row_report", args=[run.pk]) in preview
    response = manager_client.get(reverse("import_row_report", args=[run.pk]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {row["row"] for row in rows} == {"2", "3", "4"}
    assert {row["action"] for row in rows if row["row"] == "4"} == {"error"}
    assert not any(value.startswith("=") for row in rows for value in row.values())


def test_a_large_undo_runs_as_a_job_and_every_history_row_names_the_undoer(manager_client, manager_user, monkeypatch):
    run = draft(manager_client, "Full Name,E-mail\n" + "".join(f"P{n},p{n}@x.example\n" for n in range(12)))
    manager_client.post(reverse("import_preview", args=[run.pk]))
    manager_client.post(reverse("import_run", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == ImportStatus.IMPORTED and run.records.count() == 12
    monkeypatch.setattr(jobs, "UNDO_IN_BACKGROUND_ABOVE", 10)
    response = manager_client.post(reverse("import_undo", args=[run.pk]))
    assert response["Location"] == reverse("import_progress", args=[run.pk])
    response = manager_client.get(response["Location"])
    assert response["Location"] == reverse("import_detail", args=[run.pk])
    run.refresh_from_db()
    assert run.status == ImportStatus.UNDONE and run.job == ImportJob.UNDO and run.undone_by == manager_user
    assert run.progress == {"Contacts": {"read": 0, "validated": 0, "written": 12, "total": 12}}
    assert not Contact.objects.exists()
    deletions = Contact.history.filter(history_type="-")
    assert deletions.count() == 12
    assert set(deletions.values_list("history_user", "history_change_reason")) == {
        (manager_user.pk, f"Undo of import #{run.pk}")
    }
    assert ImportedRecord.objects.filter(run=run).count() == 12  # the record of what it did stays


def test_a_finished_import_says_how_long_it_took(manager_client):
    run = draft(manager_client)
    manager_client.post(reverse("import_preview", args=[run.pk]))
    manager_client.post(reverse("import_run", args=[run.pk]), {"skip_errors": "on"})
    run.refresh_from_db()
    assert run.status == ImportStatus.IMPORTED and run.duration is not None
    page = manager_client.get(reverse("import_detail", args=[run.pk])).content.decode()
    assert f"<dd data-duration>{run.duration_text}" in page
    assert f"took {run.duration_text}" in manager_client.get(reverse("import_history")).content.decode()


def test_the_history_page_lists_running_imports_with_their_progress(manager_client, queue):
    run = draft(manager_client)
    manager_client.post(reverse("import_preview", args=[run.pk]))
    work_the_queue()
    manager_client.post(reverse("import_run", args=[run.pk]), {"skip_errors": "on"})
    ImportRun.objects.filter(pk=run.pk).update(
        progress={"people.csv": {"read": 3, "validated": 3, "written": 1, "total": 3}}
    )
    page = manager_client.get(reverse("import_history")).content.decode()
    assert "Running now" in page and reverse("import_progress", args=[run.pk]) in page
    assert 'aria-valuenow="78"' in page  # two thirds done reading and validating, a third of the writing


def test_the_command_prints_a_progress_line_per_table_on_a_terminal_and_nothing_extra_otherwise(tmp_path, manager_user):
    (tmp_path / "People.csv").write_text(PEOPLE, encoding="utf-8")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Terminal(), io.StringIO()
    call_command("import_airtable", str(tmp_path), "--user", "mona", "--skip-errors", stdout=terminal)
    call_command("import_airtable", str(tmp_path), "--user", "mona", "--skip-errors", stdout=pipe)
    assert "\r  People" in terminal.getvalue() and "written" in terminal.getvalue()
    assert "\r" not in pipe.getvalue()
    assert "Took " in pipe.getvalue()
    run = ImportRun.objects.latest("pk")
    assert run.worker_pid and run.duration is not None and not jobs.is_active(run)


def test_the_command_in_the_background_queues_the_base_for_the_worker(tmp_path, manager_user, queue):
    (tmp_path / "People.csv").write_text(PEOPLE, encoding="utf-8")
    out = io.StringIO()
    call_command("import_airtable", str(tmp_path), "--user", "mona", "--skip-errors", "--background", stdout=out)
    run = ImportRun.objects.latest("pk")
    assert (
        f"Queued as import #{run.pk}" in out.getvalue() and reverse("import_progress", args=[run.pk]) in out.getvalue()
    )
    assert run.status == ImportStatus.RUNNING and not Contact.objects.exists()
    work_the_queue()
    run.refresh_from_db()
    assert run.status == ImportStatus.IMPORTED and run.created_count == 2 and not jobs.is_active(run)
    assert Contact.objects.count() == 2


def test_undo_writes_each_deletion_history_row_in_bulk_with_the_tags_the_record_had(manager_client, manager_user):
    from crm.imports.undo import undo_run

    run = draft(
        manager_client, 'Full Name,E-mail,Labels\nAda Okafor,ada@x.example,"LPAC,Re-up"\nBo Chen,bo@x.example,\n'
    )
    manager_client.post(reverse("import_preview", args=[run.pk]))
    manager_client.post(reverse("import_run", args=[run.pk]))
    run.refresh_from_db()
    ada = Contact.objects.get(email="ada@x.example")
    tag_ids = sorted(ada.tags.values_list("pk", flat=True))
    outcome = undo_run(run, manager_user)
    assert outcome.complete and not Contact.objects.exists()
    gone = Contact.history.get(id=ada.pk, history_type="-")
    assert (gone.history_user, gone.history_change_reason) == (manager_user, f"Undo of import #{run.pk}")
    assert len(tag_ids) == 2 and sorted(link.tag_id for link in gone.tags.all()) == tag_ids
    assert gone.first_name == "Ada" and gone.email == "ada@x.example"


def sixty_thousand_people() -> bytes:
    lines = ["Full Name,E-mail,Job Title"]
    lines += [f"Person {n:05d},p{n:05d}@fund.example,Partner" for n in range(60_000)]
    return ("\n".join(lines) + "\n").encode()


def test_a_sixty_thousand_row_file_is_queued_not_run_in_the_request_and_its_preview_pages(manager_client, queue):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from crm.imports.context import RowMessage, RowOutcome, TableOutcome
    from crm.imports.runner import MAX_REPORTED_ROWS, RunOutcome

    data = sixty_thousand_people()
    assert 2_200_000 < len(data) < 2_600_000
    response = manager_client.post(reverse("import_start"), {"file": SimpleUploadedFile("people.csv", data)})
    manager_client.post(response["Location"], {"entity": "contacts"})
    run = ImportRun.objects.latest("pk")
    response = manager_client.post(reverse("import_preview", args=[run.pk]))
    # The request only queues the dry run: no row was read, nothing waits on the import.
    assert response["Location"] == reverse("import_progress", args=[run.pk])
    assert DBTaskResult.objects.get().status == "READY" and not ImportRun.objects.get(pk=run.pk).report
    # What the worker stores for such a file (its engine is tested elsewhere): 5 errors, the rest created.
    table = TableOutcome("people.csv", "contacts", rows_read=60_000)
    for n in range(2, 60_002):
        bad = n <= 6
        table.count(
            RowOutcome(
                n,
                "error" if bad else "create",
                f"Person {n}",
                [RowMessage("error", "Not an e-mail address", "E-mail", "x")] if bad else [],
            )
        )
    outcome = RunOutcome("dry_run", tables=[table])
    ImportRun.objects.filter(pk=run.pk).update(report=outcome.report(dry_run=True), previewed_at=timezone.now())
    jobs.finish(run.pk, None, row_report=jobs.row_report_csv(outcome.tables))
    run.refresh_from_db()
    assert len(run.report["tables"][0]["rows"]) == MAX_REPORTED_ROWS  # the stored JSON report is bounded

    page = manager_client.get(reverse("import_preview", args=[run.pk])).content.decode()
    assert page.count('class="import-report-row') == 5  # the problems first
    assert ">59995</span>" in page and "Download the full row report (CSV)" in page
    page = manager_client.get(reverse("import_preview", args=[run.pk]) + "?show=create&page=3").content.decode()
    assert page.count('class="import-report-row') == 100 and ">207<" in page
    csv_text = manager_client.get(reverse("import_row_report", args=[run.pk])).content.decode("utf-8-sig")
    assert len(csv_text.splitlines()) == 60_001 and "\npeople.csv,60001,create,Person 60001," in csv_text


def test_a_job_lowers_its_process_cpu_priority_once_so_requests_come_first():
    script = (
        "import os, django; django.setup(); from crm.imports import jobs; before = os.nice(0); "
        "jobs.lower_priority(); jobs.lower_priority(); print(os.nice(0) - before)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crm.settings"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) == min(jobs.BATCH_NICENESS, 19 - os.nice(0))
