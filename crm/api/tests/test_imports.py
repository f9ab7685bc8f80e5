"""Imports through the API: the wizard's engine and mapping format, a dry run that writes
nothing, the queued import with its progress, the wizard's role rule and the size limit."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.models import Contact
from crm.models import ImportRun, ImportStatus

pytestmark = pytest.mark.django_db

PEOPLE = "Full Name,E-mail,Job Title\nAda Okafor,ada@atlas.example,CIO\nCara Diaz,not-an-email,Angel\n"
ROWS = [
    {"Full Name": "Ada Okafor", "E-mail": "ada@atlas.example", "Job Title": "CIO"},
    {"Full Name": "Bo Chen", "E-mail": "bo@beacon.example", "Job Title": None},
]


def _upload(api, text: str = PEOPLE, **fields):
    body = {"file": SimpleUploadedFile("people.csv", text.encode(), content_type="text/csv"), **fields}
    return api.client.post("/api/v1/imports", body, headers=api.headers)


def test_a_dry_run_of_an_uploaded_csv_reports_each_row_and_writes_nothing(manager_api):
    response = _upload(manager_api, entity="contacts", dry_run="true")
    assert response.status_code == 200, response.content
    report = response.json()
    assert (report["dry_run"], report["status"]) == (True, "dry_run")
    assert report["totals"]["rows_read"] == 2
    rows = report["tables"][0]["rows"]
    assert [row["a"] for row in rows] == ["create", "error"]
    assert not Contact.objects.exists()
    assert not ImportRun.objects.exists()


def test_json_rows_import_in_the_background_with_a_location_to_follow(admin_api):
    response = admin_api.post("/api/v1/imports", {"entity": "contacts", "rows": ROWS, "name": "crm-fix.json"})
    assert response.status_code == 202, response.content
    run = ImportRun.objects.get()
    assert response["Location"] == f"/api/v1/imports/{run.pk}"
    followed = admin_api.get(response["Location"])
    assert followed.status_code == 200
    body = followed.json()
    # Tests run the queue at once (the immediate backend): the import is done by now.
    assert (body["status"], body["created"], body["file_name"]) == (ImportStatus.IMPORTED, 2, "crm-fix.json via API")
    ada = Contact.objects.get(email="ada@atlas.example")
    latest = ada.history.latest()
    assert latest.history_user == admin_api.user
    assert latest.history_change_reason == f"Import #{run.pk} (crm-fix.json via API)"


def test_a_mapping_in_the_wizards_format_decides_the_columns(manager_api):
    mapping = {
        "format": "venture-crm-import-mapping",
        "version": 1,
        "tables": [{"entity": "contacts", "columns": {"Full Name": "full_name", "E-mail": "email", "Job Title": ""}}],
    }
    response = manager_api.post(
        "/api/v1/imports", {"entity": "contacts", "rows": ROWS, "mapping": mapping, "dry_run": True}
    )
    assert response.status_code == 200, response.content
    columns = response.json()["tables"][0]
    assert response.json()["totals"]["created"] == 2, columns
    bad = manager_api.post(
        "/api/v1/imports", {"entity": "contacts", "rows": ROWS, "mapping": {"format": "other"}, "dry_run": True}
    )
    assert bad.status_code == 422
    assert "mapping" in bad.json()["errors"]


def test_a_member_may_not_import_as_in_the_wizard(member_api):
    assert member_api.post("/api/v1/imports", {"entity": "contacts", "rows": ROWS, "dry_run": True}).status_code == 403
    refused = _upload(member_api, entity="contacts")
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert not Contact.objects.exists()


def test_an_unknown_kind_of_rows_or_a_non_csv_file_is_a_422(manager_api):
    unknown = manager_api.post("/api/v1/imports", {"entity": "planets", "rows": ROWS, "dry_run": True})
    assert unknown.status_code == 422
    assert "entity" in unknown.json()["errors"]
    assert manager_api.post("/api/v1/imports", {"entity": "contacts", "rows": []}).status_code == 422
    not_csv = _upload(manager_api, text='{"a": 1}', entity="contacts", dry_run="true")
    assert not_csv.status_code == 422
    assert "file" in not_csv.json()["errors"]


@pytest.mark.parametrize("how", ["upload", "json"])
def test_a_body_over_the_import_limit_is_a_413_problem(manager_api, settings, how):
    settings.CRM_IMPORT_MAX_MB = 1
    big = "Full Name,E-mail\n" + "Ada Okafor,ada@atlas.example\n" * 40_000
    if how == "upload":
        response = _upload(manager_api, text=big, entity="contacts", dry_run="true")
    else:
        rows = [{"Full Name": "Ada Okafor", "E-mail": "ada@atlas.example"}] * 20_000
        response = manager_api.post("/api/v1/imports", {"entity": "contacts", "rows": rows, "dry_run": True})
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert not Contact.objects.exists()


def test_an_import_of_no_such_id_is_a_404_and_a_member_may_not_look(manager_api, member_api):
    assert manager_api.get("/api/v1/imports/99999999").status_code == 404
    run = ImportRun.objects.create(user=manager_api.user, file_name="x.csv", entity="contacts")
    assert manager_api.get(f"/api/v1/imports/{run.pk}").json()["status"] == ImportStatus.DRAFT
    assert member_api.get(f"/api/v1/imports/{run.pk}").status_code == 403
    assert json.loads(member_api.get(f"/api/v1/imports/{run.pk}").content)["status"] == 403
