"""Shared pieces of the import tests: the sample Airtable export, its ground truth, the team.

The sample lives outside the repository (../shared/samples/airtable); its expected.json
holds every fact a correct import reproduces, so tests read numbers from it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterator
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.urls import reverse

from crm.models import ImportStatus, Role, User

SAMPLE = Path(settings.BASE_DIR).parent / "shared" / "samples" / "airtable"
PASSWORD = "correct-horse-battery"

# Only the policy decision the sample leaves open that no status of ours answers
# (EXPECTED.md: “needs a policy”): a soft-circled deal gets a stage of its own. Every column
# and every other value (“Declined” → Passed, “Withdrawn” → withdrawn) is left to the
# suggestions.
SAMPLE_MAPPING = {
    "time_zone": "America/Los_Angeles",
    "tables": [
        {
            "entity": "opportunities",
            "files": ["Fundraising Pipeline*.csv"],
            "values": {"stage": {"Soft-circled": {"create": "Soft circle"}}},
        },
    ],
}


def sample_available() -> bool:
    return (SAMPLE / "expected.json").exists()


# Locally the sample may be missing (a checkout without ../shared); in CI it is always laid
# beside the clone, so there a missing sample fails these tests instead of skipping them.
needs_sample = pytest.mark.skipif(
    not sample_available() and not os.environ.get("CI"), reason=f"the Airtable sample is not at {SAMPLE}"
)


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
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # The root conftest's per-test fixture serves static files unhashed; a module fixture
    # runs before it, so it does the same for the pages it renders.
    # Likewise the tasks: run at once, as the root conftest has every test run them.
    tasks = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    with django_db_blocker.unblock(), override_settings(STORAGES=storages, TASKS=tasks):
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


class _FormParser(HTMLParser):
    """Collects the fields a browser would submit from one form, as rendered."""

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "form" and attributes.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        name = attributes.get("name")
        if tag == "input" and name:
            kind = attributes.get("type", "text")
            if kind in ("submit", "button", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attributes:
                return
            self.fields.append((name, attributes.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select is not None:
            self._options.append((attributes.get("value", ""), "selected" in attributes))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected] or [v for v, _s in self._options[:1]]
            if chosen:
                self.fields.append((self._select, chosen[0]))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, self._text))
            self._textarea = None


def form_fields(html: str, form_id: str) -> dict[str, str]:
    """The values a browser would post from the form ``form_id`` (last value wins for a repeated name)."""
    parser = _FormParser(form_id)
    parser.feed(html)
    return dict(parser.fields)


def dry_run_then_import(client: Any, response: Any, run: Any) -> Any:
    """From the mapping screen's "preview" answer to an imported run, as a person clicks through.

    The dry run is queued and the progress page watches it (the tests' backend ran it at
    once); then the preview, the import itself, and its progress page sending on to the run.
    """
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response["Location"] == reverse("import_progress", args=[run.pk])
    response = client.get(response["Location"])
    assert response["Location"] == reverse("import_preview", args=[run.pk])
    preview = client.get(response["Location"])
    assert preview.status_code == 200
    response = client.post(reverse("import_run", args=[run.pk]))
    assert response["Location"] == reverse("import_progress", args=[run.pk])
    response = client.get(response["Location"])
    assert response["Location"] == reverse("import_detail", args=[run.pk])
    run.refresh_from_db()
    assert run.status == ImportStatus.IMPORTED, run.message
    return run
