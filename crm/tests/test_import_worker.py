"""The wizard through the REAL background worker: gunicorn and ``manage.py db_worker`` as processes.

The test suite's own database lives in memory, where no other process can reach it, so these
tests run the whole install in subprocesses on a file database in a temporary data folder:
one gunicorn worker serves the pages, one ``db_worker`` runs the jobs, and the test walks the
wizard over HTTP and reads the database file to check what was written.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from conftest import PASSWORD
from crm.tests.importing import form_fields

PROJECT_ROOT = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent
CRM_VARIABLES = ("CRM_", "DJANGO_SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="runs its own SQLite install; the PostgreSQL run covers the same code through the immediate backend",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Install:
    """A migrated install in a temporary folder, with a manager, a web server and (maybe) a worker."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.environ = {k: v for k, v in os.environ.items() if not k.startswith(CRM_VARIABLES)}
        self.environ.update(
            DJANGO_SETTINGS_MODULE="crm.settings",
            CRM_DATA_DIR=str(data_dir),
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            # Static files from the source folder, so no collectstatic into the checkout.
            CRM_DEBUG="1",
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen] = []
        self.worker: subprocess.Popen | None = None
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
        self.jar = jar

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT_ROOT,
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start_server(self) -> None:
        log = open(self.data_dir / "gunicorn.log", "w")  # noqa: SIM115 - closed with the process
        self.processes.append(
            subprocess.Popen(
                [str(BIN / "gunicorn"), "crm.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "1"],
                cwd=PROJECT_ROOT,
                env=self.environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/health/", timeout=2)
                return
            except OSError:  # not listening yet, or still loading the app
                time.sleep(0.2)
        raise AssertionError("gunicorn did not start: " + (self.data_dir / "gunicorn.log").read_text())

    def start_worker(self) -> subprocess.Popen:
        log = open(self.data_dir / "worker.log", "a")  # noqa: SIM115 - closed with the process
        self.worker = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.2", "--no-startup-delay"],
            cwd=PROJECT_ROOT,
            env=self.environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(self.worker)
        return self.worker

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    # HTTP
    def get(self, path: str) -> tuple[int, str, str]:
        return self._send(urllib.request.Request(self.url + path))

    def post(self, path: str, fields: dict[str, str]) -> tuple[int, str, str]:
        token = next(c.value for c in self.jar if c.name == "csrftoken")
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.url + path, data=data, headers={"Referer": self.url + path})
        return self._send(request)

    def _send(self, request) -> tuple[int, str, str]:
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.headers.get("Location", ""), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", ""), error.read().decode()

    def sign_in(self, username: str) -> None:
        self.get("/login/")
        status, location, _ = self.post("/login/", {"username": username, "password": PASSWORD})
        assert status == 302 and location == "/", status

    def query(self, sql: str, *params) -> list[tuple]:
        with sqlite3.connect(self.data_dir / "crm.sqlite3", timeout=30) as db:
            return db.execute(sql, params).fetchall()

    def wait_for_redirect(self, path: str, seconds: float = 120) -> tuple[str, str]:
        """Poll the progress page until it moves on; returns where to, and the last page shown."""
        deadline = time.monotonic() + seconds
        page = ""
        while time.monotonic() < deadline:
            status, location, page = self.get(path)
            if status == 302:
                return location, page
            assert status == 200, status
            time.sleep(0.3)
        raise AssertionError(f"{path} never moved on; it said: {page[:2000]}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def install(tmp_path):
    install = Install(tmp_path)
    install.manage("migrate", "--noinput")
    install.manage(
        "shell",
        "-c",
        "from crm.models import Role, User; u = User(username='mona', role=Role.MANAGER, full_name='Mona Manager'); "
        f"u.set_password('{PASSWORD}'); u.save()",
    )
    install.start_server()
    yield install
    install.stop()


def people(count: int) -> str:
    lines = ["Full Name,E-mail,Job Title"]
    lines += [f"Person {n:05d},person{n}@example.com,Partner" for n in range(count)]
    return "\n".join(lines) + "\n"


def to_the_mapping(install: Install, text: str) -> int:
    install.sign_in("mona")
    install.get("/import/")
    status, location, _ = install.post("/import/", {"pasted": text})
    assert status == 302, status
    pk = int(re.search(r"/import/(\d+)/", location).group(1))
    status, location, _ = install.post(f"/import/{pk}/kind/", {"entity": "contacts"})
    assert location == f"/import/{pk}/mapping/"
    return pk


def dry_run(install: Install, pk: int) -> tuple[int, str]:
    _, _, page = install.get(f"/import/{pk}/mapping/")
    fields = form_fields(page, "mapping-form") | {"action": "preview"}
    return install.post(f"/import/{pk}/mapping/", fields)[:2]


def test_the_wizard_dry_runs_and_imports_through_the_real_worker(install):
    install.start_worker()
    pk = to_the_mapping(install, people(30))
    status, location = dry_run(install, pk)
    assert (status, location) == (302, f"/import/{pk}/progress/")
    location, _ = install.wait_for_redirect(location)
    assert location == f"/import/{pk}/preview/"
    _, _, preview = install.get(location)
    assert "Dry run: what the import would do" in preview and "Download the full row report (CSV)" in preview
    assert install.query("select count(*) from contacts_contact") == [(0,)]

    status, location, _ = install.post(f"/import/{pk}/run/", {})
    assert location == f"/import/{pk}/progress/"
    location, _ = install.wait_for_redirect(location)
    assert location == f"/import/{pk}/"
    _, _, detail = install.get(location)
    assert "Imported" in detail and "30 created" in detail and "Took" in detail
    assert install.query("select count(*) from contacts_contact") == [(30,)]
    # The worker ran both jobs: the queue holds them as done, by a worker process.
    assert install.query("select status from django_tasks_database_dbtaskresult") == [("SUCCESSFUL",)] * 2
    worker_pid = install.query("select worker_pid from crm_importrun where id = ?", pk)[0][0]
    assert worker_pid == install.worker.pid


def test_without_a_worker_the_progress_page_says_so_and_the_job_runs_once_one_starts(install):
    pk = to_the_mapping(install, people(5))
    _, location = dry_run(install, pk)
    # Reloading the preview while the dry run waits queues nothing more.
    assert install.get(f"/import/{pk}/preview/")[1] == location
    assert install.query("select count(*) from django_tasks_database_dbtaskresult") == [(1,)]
    install.query("update crm_importrun set enqueued_at = datetime('now', '-11 seconds') where id = ?", pk)
    status, _, page = install.get(location)
    assert status == 200 and "The background worker is not running, so this dry run is waiting" in page
    install.start_worker()
    assert install.wait_for_redirect(location)[0] == f"/import/{pk}/preview/"


def test_a_worker_killed_mid_import_leaves_the_run_failed_with_nothing_kept(install):
    worker = install.start_worker()
    pk = to_the_mapping(install, people(6000))
    location, _ = install.wait_for_redirect(dry_run(install, pk)[1], seconds=300)
    assert location == f"/import/{pk}/preview/"
    install.post(f"/import/{pk}/run/", {})
    deadline = time.monotonic() + 60
    while not install.query("select started_at from crm_importrun where id = ? and started_at is not null", pk):
        assert time.monotonic() < deadline, "the worker never started the import"
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    # The next look at the progress page notices the worker is gone (its process id no longer exists).
    location, _ = install.wait_for_redirect(f"/import/{pk}/progress/", seconds=30)
    assert location == f"/import/{pk}/preview/?show=error"
    ((status, message),) = install.query("select status, message from crm_importrun where id = ?", pk)
    assert status == "failed" and "interrupted" in message and "Nothing was imported" in message
    assert install.query("select count(*) from contacts_contact") == [(0,)]
    assert install.query("select count(*) from contacts_historicalcontact") == [(0,)]
    assert install.query("select count(*) from crm_importedrecord") == [(0,)]
    # The queue's own row is ended too, so the admin's task results do not say "running" forever.
    ((task_status,),) = install.query(
        "select t.status from django_tasks_database_dbtaskresult t join crm_importrun r"
        " on replace(t.id, '-', '') = replace(r.job_task_id, '-', '') where r.id = ?",
        pk,
    )
    assert task_status == "FAILED"


@pytest.mark.slow
def test_a_60000_row_file_dry_runs_and_imports_through_the_worker_with_its_preview_in_pages(install):
    install.start_worker()
    lines = people(60_000).splitlines()
    for n in range(1, 60_001, 10_000):  # six rows with a problem, far apart in the file
        lines[n] = lines[n].replace("@example.com", "-at-example")
    text = "\n".join(lines) + "\n"
    assert 2_000_000 < len(text.encode()) < 10 * 1024 * 1024  # ~2.4 MB: well inside the 10 MB limit
    pk = to_the_mapping(install, text)
    status, location = dry_run(install, pk)
    assert (status, location) == (302, f"/import/{pk}/progress/")
    assert install.wait_for_redirect(location, seconds=300)[0] == f"/import/{pk}/preview/"

    # The preview opens on the problems, with the counts of the whole file, a page at a time.
    status, _, preview = install.get(f"/import/{pk}/preview/")
    assert status == 200 and len(preview.encode()) < 200_000
    assert re.search(r'import-total-value">59994<.*to create.*import-total-value">6<', preview, re.S)
    assert preview.count("-at-example") == 6
    _, _, second = install.get(f"/import/{pk}/preview/?show=&page=2")
    assert "Person 00100" in second and "Person 00099" not in second and len(second.encode()) < 200_000
    _, _, report = install.get(f"/import/{pk}/rows.csv")
    assert len(report.splitlines()) == 60_001

    status, location, _ = install.post(f"/import/{pk}/run/", {"skip_errors": "on"})
    assert location == f"/import/{pk}/progress/"
    assert install.wait_for_redirect(location, seconds=300)[0] == f"/import/{pk}/"
    assert install.query("select count(*) from contacts_contact") == [(59_994,)]
    assert install.query("select count(*) from contacts_historicalcontact") == [(59_994,)]
    assert install.query("select status from crm_importrun where id = ?", pk) == [("imported",)]
