"""Shared pieces of the import tests: the sample Airtable export, its ground truth, the team.

The sample lives outside the repository (../shared/samples/airtable); its expected.json
holds every fact a correct import reproduces, so tests read numbers from it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from crm.models import Role, User

SAMPLE = Path(settings.BASE_DIR).parent / "shared" / "samples" / "airtable"
PASSWORD = "correct-horse-battery"

# Only the two policy decisions the sample leaves open (EXPECTED.md: “needs a policy”);
# every column and every other value is left to the suggestions.
SAMPLE_MAPPING = {
    "time_zone": "America/Los_Angeles",
    "tables": [
        {
            "entity": "opportunities",
            "files": ["Fundraising Pipeline*.csv"],
            "values": {"stage": {"Soft-circled": {"create": "Soft circle"}}},
        },
        {
            "entity": "commitments",
            "files": ["Commitments*.csv"],
            "values": {"status": {"Withdrawn": {"skip": True}}},
        },
    ],
}


def sample_available() -> bool:
    return (SAMPLE / "expected.json").exists()


needs_sample = pytest.mark.skipif(not sample_available(), reason=f"the Airtable sample is not at {SAMPLE}")


@cache
def expected() -> dict:
    return json.loads((SAMPLE / "expected.json").read_text(encoding="utf-8"))


def sample_files() -> list[Path]:
    return sorted(SAMPLE.glob("*.csv"))


def sample_file(table: str) -> Path:
    return next(path for path in sample_files() if path.name.startswith(table))


def sample_rows(table: str) -> list[dict[str, str]]:
    with sample_file(table).open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def make_team() -> dict[str, User]:
    """An importing manager and the collaborators of the sample, except Dana Pruitt (who left)."""
    people = {}
    importer = User(username="importer", role=Role.MANAGER, full_name="Iris Importer", email="iris@fund.example")
    importer.set_password(PASSWORD)
    importer.save()
    people["importer"] = importer
    for name in expected()["people"]["collaborators"]:
        if name == "Dana Pruitt":
            continue
        user = User(username=name.split()[0].lower(), role=Role.MEMBER, full_name=name)
        user.set_password(PASSWORD)
        user.save()
        people[name] = user
    return people


@contextlib.contextmanager
def module_data(django_db_blocker) -> Iterator[None]:
    """Data made once for a whole test module, inside a transaction rolled back at its end.

    Tests of the module run in savepoints nested in it (pytest-django's ``db``), so they
    see the data and each test's own changes still disappear after it.
    """
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def mapping_text() -> str:
    return json.dumps(SAMPLE_MAPPING)


def csv_bytes(rows: list[list[str]], bom: bool = True) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8")
