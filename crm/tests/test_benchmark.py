"""manage.py benchmark: the table lists every page that exists with its query count, and real data stays untouched.

No timing assertions: only that the measurements exist and the query counts are the pages' real ones.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.demo.benchmark import PAGES
from crm.models import User

PROJECT_ROOT = Path(settings.BASE_DIR)
CRM_VARIABLES = ("CRM_", "DJANGO_SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
ROW = re.compile(
    r"^(?P<label>\S.*?)\s{2,}(?P<url>/\S*)\s+(?P<status>\d{3})\s+(?P<queries>\d+)\s+"
    r"(?P<median>\d+\.\d)\s+(?P<p95>\d+\.\d)\s+(?P<size>\d+)$"
)


# The gunicorn table: the same columns and a last one against the page budget.
SERVED_ROW = re.compile(ROW.pattern.removesuffix("$") + r"\s+(?P<verdict>ok|OVER)$")
ALONGSIDE = re.compile(
    r"^People working during a 1,000-row import .*\n  (?P<requests>\d+) requests, (?P<failed>\d+) failed or locked;"
    r" longest wait [\d.]+ s \((ok|OVER) against the 3 s goal\)",
    re.M,
)
PEAKS = re.compile(
    r"^Worker peak RSS after every page: (?P<peaks>\d+ MiB(?:, \d+ MiB)*) \(budget 130 MiB\): (ok|OVER)\.$"
)


def table_rows(output: str, row: re.Pattern = ROW) -> dict[str, dict[str, str]]:
    return {match["label"]: match.groupdict() for line in output.splitlines() if (match := row.match(line))}


def every_page() -> dict[str, str]:
    return {label: reverse(name) + query for label, name, query in PAGES}


def test_benchmark_seeds_a_throwaway_database_and_lists_every_page_through_the_test_client_and_gunicorn(tmp_path):
    real_data = tmp_path / "real-data"
    temp = tmp_path / "tmp"
    temp.mkdir()
    environ = {key: value for key, value in os.environ.items() if not key.startswith(CRM_VARIABLES)}
    environ.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        CRM_DATA_DIR=str(real_data),
        DJANGO_SECRET_KEY="benchmark-tests-" + "x" * 50,
        TMPDIR=str(temp),
    )

    result = subprocess.run(
        [sys.executable, "manage.py", "benchmark", "--scale", "1", "--repeat", "2", "--import-rows", "1000"],
        cwd=PROJECT_ROOT,
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Seeded scale 1" in result.stdout
    rows = table_rows(result.stdout)
    expected = every_page()
    assert {"Dashboard", "Organizations"} <= set(expected)
    assert {label: row["url"] for label, row in rows.items()} == expected
    for row in rows.values():
        assert row["status"] == "200"
        assert int(row["queries"]) > 0  # every page reads the signed-in user at least
    assert "page" in result.stdout and "queries" in result.stdout and "median ms" in result.stdout
    # Then every page again through gunicorn: answered 200 with the same queries, judged against
    # the budget, and each of the two workers' peak memory read from /proc.
    served = table_rows(result.stdout, SERVED_ROW)
    assert {label: row["url"] for label, row in served.items()} == expected
    for label, row in served.items():
        assert row["status"] == "200", label
        assert row["queries"] == rows[label]["queries"], label
        assert int(row["size"]) == pytest.approx(int(rows[label]["size"]), abs=2), label
    peaks = [match for line in result.stdout.splitlines() if (match := PEAKS.match(line))]
    assert len(peaks) == 1 and peaks[0]["peaks"].count("MiB") == 2, result.stdout
    # Then three people sign in and save during an import (1,000 rows here), and none of them is refused.
    alongside = ALONGSIDE.search(result.stdout)
    assert alongside and int(alongside["requests"]) > 0 and alongside["failed"] == "0", result.stdout
    # The real data folder was never used, and the throwaway one (static files included) is gone.
    assert not (real_data / "crm.sqlite3").exists()
    assert list(temp.iterdir()) == []


@pytest.mark.django_db
def test_benchmark_on_the_current_database_counts_the_real_queries_and_writes_nothing(admin_user, client):
    call_command("seed_demo", stdout=io.StringIO())
    history_before = User.history.count()
    out = io.StringIO()

    call_command("benchmark", "--use-current-db", "--repeat", "1", stdout=out)

    rows = table_rows(out.getvalue())
    assert set(rows) == set(every_page())
    # Nothing of the sign-in is left: no session row, no last_login, no user history row.
    assert Session.objects.count() == 0
    assert User.objects.filter(last_login__isnull=False).count() == 0
    assert User.history.count() == history_before
    # The count is the page's real one: the same request from a freshly signed-in client.
    client.force_login(admin_user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("organization_list")).status_code == 200
    assert int(rows["Organizations"]["queries"]) == len(queries)


@pytest.mark.django_db
def test_benchmark_needs_an_admin_to_sign_in_as():
    with pytest.raises(CommandError, match="no active admin"):
        call_command("benchmark", "--use-current-db", stdout=io.StringIO())


@pytest.mark.django_db
def test_the_internal_throwaway_mode_refuses_the_real_data_folder():
    with pytest.raises(CommandError, match="only runs in a temporary folder"):
        call_command("benchmark", "--in-throwaway", "--scale", "1", stdout=io.StringIO())

    assert User.objects.count() == 0  # nothing was seeded


def test_benchmark_rejects_nonsense_options():
    with pytest.raises(CommandError, match="--repeat must be at least 1"):
        call_command("benchmark", "--repeat", "0", stdout=io.StringIO())
    with pytest.raises(CommandError, match="--scale must be between 1 and 100,000"):
        call_command("benchmark", "--scale", "0", stdout=io.StringIO())
    with pytest.raises(CommandError, match="--import-rows must be between 100 and 1,000,000"):
        call_command("benchmark", "--import-rows", "5", stdout=io.StringIO())
