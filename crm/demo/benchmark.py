"""``manage.py benchmark``: how fast the main pages answer at a given data size, measured honestly.

Each page is requested through Django's test client (the whole middleware stack, templates and
queries; no network or gunicorn), signed in as an admin: one warm-up request whose SQL queries
are counted, then ``--repeat`` timed requests. By default it never touches the real data: it
re-runs itself in a subprocess whose CRM_DATA_DIR is a new temporary folder (DATABASE_URL
unset), migrates it, fills it with ``seed_bulk --scale N`` and removes it afterwards.

On the throwaway database it then measures the same pages as a browser gets them: through
gunicorn (production settings, collected static files, two sync workers) over loopback HTTP,
each page's median against ``PAGE_BUDGET_MS`` and each worker's peak resident memory (VmHWM)
after every page against ``WORKER_RSS_BUDGET_MIB`` (issue 13's goals). Over-budget figures are
flagged in the table; they never fail the command, since a loaded machine is not a regression.

The command (crm/management/commands/benchmark.py) only parses arguments and picks one of
``run_in_throwaway``, ``seed_throwaway`` + ``report`` (inside the throwaway) or ``report``.
"""

from __future__ import annotations

import http.client
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import update_last_login
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.core.management.base import OutputWrapper
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Role, User

THROWAWAY_PREFIX = "crm-benchmark-"
DEFAULT_SCALE = 2000
DEFAULT_REPEAT = 5
# Issue 13's goals at seed_bulk --scale 10000 on a 2-core machine, through gunicorn.
PAGE_BUDGET_MS = 50
WORKER_RSS_BUDGET_MIB = 130
GUNICORN_WORKERS = 2

# (label, URL name, query string). Pages whose URL name does not resolve yet are skipped.
PAGES = (
    ("Dashboard", "dashboard", ""),
    ("Contacts", "contact_list", ""),
    ("Organizations", "organization_list", ""),
    ("Pipeline board", "pipeline_board", ""),
    ("Opportunities", "opportunity_list", ""),
    ("New opportunity", "opportunity_create", ""),
    ("Communications", "communication_list", ""),
    ("LPs", "lp_list", ""),
    ("Next actions", "actions", ""),
    ("Reports", "reports_index", ""),
    ("Search", "global_search", "?q=chen"),
)


@dataclass
class Measurement:
    label: str
    url: str
    status: int
    queries: int
    times_ms: list[float]
    size: int

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times_ms)  # nearest-rank: with few runs this is the slowest
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def pages() -> list[tuple[str, str]]:
    """(label, url) of every page measured."""
    return [(label, reverse(name) + query) for label, name, query in PAGES]


def measure(user: User, repeat: int) -> list[Measurement]:
    found = pages()
    # Signing in must not write last_login (and a user history row) into a real database.
    user_logged_in.disconnect(update_last_login, dispatch_uid="update_last_login")
    # The test client's host name, and plain static file URLs (no collectstatic manifest needed;
    # the lookup it replaces is a dictionary access).
    overrides = override_settings(
        ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"],
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    )
    client = Client()
    results = []
    try:
        with overrides:
            client.force_login(user)
            for label, url in found:
                with CaptureQueriesContext(connection) as queries:
                    response = client.get(url, secure=True)
                # Counted now: the next request's request_started signal empties the query log.
                query_count = len(queries)
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    client.get(url, secure=True)
                    times.append((time.perf_counter() - started) * 1000)
                results.append(Measurement(label, url, response.status_code, query_count, times, len(response.content)))
            client.logout()  # removes the benchmark's session row again
    finally:
        user_logged_in.connect(update_last_login, dispatch_uid="update_last_login")
    return results


def table(results: list[Measurement], budget_ms: float | None = None) -> str:
    """The measurements as aligned columns; with ``budget_ms``, a last column flags the slow pages."""
    header = ("page", "url", "status", "queries", "median ms", "p95 ms", "size KB")
    rows = [
        (
            m.label,
            m.url,
            str(m.status),
            str(m.queries),
            f"{m.median:.1f}",
            f"{m.p95:.1f}",
            f"{m.size / 1024:.0f}",
        )
        for m in results
    ]
    if budget_ms is not None:
        header = (*header, f"≤ {budget_ms:g} ms")
        rows = [(*row, "ok" if m.median <= budget_ms else "OVER") for row, m in zip(rows, results, strict=True)]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = {2, 3, 4, 5, 6}

    def line(cells) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(cells)
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)])


class BenchmarkError(Exception):
    """The benchmark could not run or a page did not answer 200; the message says which."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def peak_rss_mib(pid: int) -> float | None:
    """The process's peak resident set size (Linux's VmHWM), or None where /proc does not say."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid`` (gunicorn's workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


class Gunicorn:
    """gunicorn serving this checkout on a loopback port, with production settings, until ``stop``."""

    def __init__(self, workers: int = GUNICORN_WORKERS):
        self.port = free_port()
        # The throwaway's own environment (its data folder and static root), served over plain HTTP.
        environ = {**os.environ, "CRM_HTTPS": "0", "CRM_DEBUG": "0"}
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments, our own interpreter
            [
                sys.executable,
                "-m",
                "gunicorn",
                "crm.wsgi",
                f"--bind=127.0.0.1:{self.port}",
                f"--workers={workers}",
                "--timeout=120",
                "--log-level=warning",
            ],
            cwd=settings.BASE_DIR,
            env=environ,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkError("gunicorn exited at start-up (see above).")
            try:
                if self.get("/health/", "")[0] == 200 and len(children(self.process.pid)) >= workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise BenchmarkError("gunicorn did not answer /health/ within 60 s.")

    def get(self, url: str, session: str) -> tuple[int, int]:
        """(status, body bytes) of one GET on a new connection, as a browser's first request."""
        connection_ = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            headers = {"Host": f"127.0.0.1:{self.port}"}
            if session:
                headers["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={session}"
            connection_.request("GET", url, headers=headers)
            response = connection_.getresponse()
            return response.status, len(response.read())
        finally:
            connection_.close()

    def worker_peaks_mib(self) -> list[float]:
        return [peak for pid in children(self.process.pid) if (peak := peak_rss_mib(pid)) is not None]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def measure_gunicorn(user: User, repeat: int, queries: dict[str, int]) -> tuple[list[Measurement], list[float]]:
    """Every page through gunicorn, signed in as ``user``; and each worker's peak RSS afterwards.

    Production settings need collected static files: run_in_throwaway points CRM_STATIC_ROOT
    into the throwaway folder, so they never touch the checkout's ``staticfiles``. Each worker gets its own
    warm-up request per page first, so no page is timed on a worker's first sight of it.
    """
    call_command("collectstatic", interactive=False, verbosity=0)
    server = Gunicorn()
    session = _session_for(user)
    results = []
    try:
        for label, url in pages():
            for _ in range(GUNICORN_WORKERS):
                status, size = server.get(url, session)
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                server.get(url, session)
                times.append((time.perf_counter() - started) * 1000)
            results.append(Measurement(label, url, status, queries.get(url, 0), times, size))
        return results, server.worker_peaks_mib()
    finally:
        server.stop()
        Session.objects.filter(session_key=session).delete()


def _session_for(user: User) -> str:
    """A signed-in session's key for ``user``, made as the test client's force_login makes one."""
    client = Client()
    user_logged_in.disconnect(update_last_login, dispatch_uid="update_last_login")
    try:
        client.force_login(user)
    finally:
        user_logged_in.connect(update_last_login, dispatch_uid="update_last_login")
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def run_in_throwaway(scale: int, repeat: int, stdout: OutputWrapper, import_rows: int = 20_000) -> None:
    """Re-run ``manage.py benchmark`` in a subprocess on a new temporary data folder, then remove it."""
    if not 1 <= scale <= 100_000:
        raise BenchmarkError("--scale must be between 1 and 100,000.")
    folder = Path(tempfile.mkdtemp(prefix=THROWAWAY_PREFIX))
    environ = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    environ["CRM_DATA_DIR"] = str(folder)
    environ["CRM_STATIC_ROOT"] = str(folder / "static")
    command = [
        sys.executable,
        str(Path(settings.BASE_DIR) / "manage.py"),
        "benchmark",
        "--in-throwaway",
        f"--scale={scale}",
        f"--repeat={repeat}",
        f"--import-rows={import_rows}",
    ]
    stdout.write(f"Throwaway database in {folder} (removed afterwards).")
    try:
        stdout.flush()
        result = subprocess.run(command, env=environ, cwd=settings.BASE_DIR, check=False)  # noqa: S603
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if result.returncode != 0:
        raise BenchmarkError("The benchmark failed (see above).")


def seed_throwaway(scale: int, stdout: OutputWrapper) -> None:
    """Migrate the throwaway database, add the benchmark admin and ``seed_bulk --scale N``."""
    # Never seed anything but a folder run_in_throwaway created itself.
    data_dir = Path(settings.DATA_DIR)
    if not data_dir.name.startswith(THROWAWAY_PREFIX) or settings.DATABASES["default"]["ENGINE"] != (
        "django.db.backends.sqlite3"
    ):
        raise BenchmarkError("--in-throwaway is internal: it only runs in a temporary folder the benchmark made.")
    started = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    User.objects.create_user("benchmark", role=Role.ADMIN, full_name="Benchmark Admin")
    call_command("seed_bulk", scale=scale, stdout=stdout)
    stdout.write(f"Prepared in {time.monotonic() - started:.1f}s.")


def benchmark_admin() -> User:
    """The first active admin (or superuser), whom every measurement signs in as."""
    user = (
        User.objects.filter(is_active=True, role=Role.ADMIN).order_by("pk").first()
        or User.objects.filter(is_active=True, is_superuser=True).order_by("pk").first()
    )
    if user is None:
        raise BenchmarkError("There is no active admin to sign in as; create one with `manage.py create_user`.")
    return user


def _refuse_failures(results: list[Measurement]) -> None:
    failed = [m for m in results if m.status != 200]
    if failed:
        raise BenchmarkError(f"Pages that did not answer 200: {', '.join(f'{m.label} ({m.status})' for m in failed)}.")


def report(repeat: int, stdout: OutputWrapper) -> list[Measurement]:
    """Measure every page through the test client, signed in as the first active admin, and write the table."""
    user = benchmark_admin()
    vendor = connection.vendor
    stdout.write(
        f"Signed in as {user.username}; {vendor} database; one warm-up request (its queries counted), "
        f"then {repeat} timed request(s) per page."
    )
    results = measure(user, repeat)
    stdout.write("")
    stdout.write(table(results))
    _refuse_failures(results)
    return results


def report_served(repeat: int, stdout: OutputWrapper, measured: list[Measurement]) -> None:
    """The same pages through gunicorn, flagged against the page budget, then each worker's peak memory."""
    stdout.write("")
    stdout.write(
        f"Through gunicorn ({GUNICORN_WORKERS} sync workers, production settings, loopback HTTP, a new "
        f"connection per request): a warm-up on each worker, then {repeat} timed request(s) per page."
    )
    results, peaks = measure_gunicorn(benchmark_admin(), repeat, {m.url: m.queries for m in measured})
    stdout.write(table(results, PAGE_BUDGET_MS))
    slow = [m.label for m in results if m.median > PAGE_BUDGET_MS]
    stdout.write(
        f"Pages over {PAGE_BUDGET_MS} ms: {', '.join(slow)}." if slow else f"Every page within {PAGE_BUDGET_MS} ms."
    )
    if peaks:
        verdict = "ok" if max(peaks) <= WORKER_RSS_BUDGET_MIB else "OVER"
        stdout.write(
            f"Worker peak RSS after every page: {', '.join(f'{peak:.0f} MiB' for peak in peaks)} "
            f"(budget {WORKER_RSS_BUDGET_MIB} MiB): {verdict}."
        )
    else:
        stdout.write("Worker peak RSS: not available on this system (no /proc).")
    _refuse_failures(results)
