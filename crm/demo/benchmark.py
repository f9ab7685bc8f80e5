"""``manage.py benchmark``: how fast the main pages answer at a given data size, measured honestly.

Each page is requested through Django's test client (the whole middleware stack, templates and
queries; no network or gunicorn), signed in as an admin: one warm-up request whose SQL queries
are counted, then ``--repeat`` timed requests. By default it never touches the real data: it
re-runs itself in a subprocess whose CRM_DATA_DIR is a new temporary folder (DATABASE_URL
unset), migrates it, fills it with ``seed_bulk --scale N`` and removes it afterwards.

The command (crm/management/commands/benchmark.py) only parses arguments and picks one of
``run_in_throwaway``, ``seed_throwaway`` + ``report`` (inside the throwaway) or ``report``.
"""

from __future__ import annotations

import math
import os
import shutil
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


def table(results: list[Measurement]) -> str:
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
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = {2, 3, 4, 5, 6}

    def line(cells) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(cells)
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(row) for row in rows)])


class BenchmarkError(Exception):
    """The benchmark could not run or a page did not answer 200; the message says which."""


def run_in_throwaway(scale: int, repeat: int, stdout: OutputWrapper) -> None:
    """Re-run ``manage.py benchmark`` in a subprocess on a new temporary data folder, then remove it."""
    if not 1 <= scale <= 100_000:
        raise BenchmarkError("--scale must be between 1 and 100,000.")
    folder = Path(tempfile.mkdtemp(prefix=THROWAWAY_PREFIX))
    environ = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    environ["CRM_DATA_DIR"] = str(folder)
    command = [
        sys.executable,
        str(Path(settings.BASE_DIR) / "manage.py"),
        "benchmark",
        "--in-throwaway",
        f"--scale={scale}",
        f"--repeat={repeat}",
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


def report(repeat: int, stdout: OutputWrapper) -> None:
    """Measure every page signed in as the first active admin and write the table."""
    user = (
        User.objects.filter(is_active=True, role=Role.ADMIN).order_by("pk").first()
        or User.objects.filter(is_active=True, is_superuser=True).order_by("pk").first()
    )
    if user is None:
        raise BenchmarkError("There is no active admin to sign in as; create one with `manage.py create_user`.")
    vendor = connection.vendor
    stdout.write(
        f"Signed in as {user.username}; {vendor} database; one warm-up request (its queries counted), "
        f"then {repeat} timed request(s) per page."
    )
    results = measure(user, repeat)
    stdout.write("")
    stdout.write(table(results))
    failed = [m for m in results if m.status != 200]
    if failed:
        raise BenchmarkError(f"Pages that did not answer 200: {', '.join(f'{m.label} ({m.status})' for m in failed)}.")
