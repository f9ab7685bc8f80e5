"""The import wizard, driven through the test client step by step, on the sample Airtable base.

The five files go through upload → kind → mapping → dry run → import one after another,
the way a manager would, posting exactly what each rendered form holds; then every fact of
expected.json is checked (the same tests as for the command).
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from contacts.models import Contact, Organization
from crm.imports.mapping import loads
from crm.models import ImportRun, ImportSource, ImportStatus, SavedMapping
from crm.tests.importing import (
    dry_run_then_import,
    expected,
    form_fields,
    make_team,
    module_data,
    needs_sample,
    sample_file,
)
from crm.tests.sample_facts import use_sample_facts

pytestmark = [needs_sample, pytest.mark.django_db]
use_sample_facts(globals())

# What each sample table is, as a manager would confirm it, in the order that links need.
ORDER = [
    ("Firms", "organizations"),
    ("People", "contacts"),
    ("Commitments", "commitments"),
    ("Fundraising Pipeline", "opportunities"),
    ("Touchpoints", "communications"),
]
# The value the sample leaves to a policy (EXPECTED.md), chosen in the value selects; the
# rest (“Declined” → Passed, “Withdrawn” → withdrawn) is the wizard's own suggestion.
POLICY = {"stage": {"Soft-circled": "+Soft-circled"}}


def upload(client: Client, name: str, data: bytes):
    return client.post(reverse("import_start"), {"file": SimpleUploadedFile(name, data, content_type="text/csv")})


def choose_values(fields: dict[str, str], choices: dict[str, dict[str, str]]) -> dict[str, str]:
    for key, value in list(fields.items()):
        if key.startswith("src-"):
            target = key[4:].rpartition("-")[0]
            if value in choices.get(target, {}):
                fields["val-" + key[4:]] = choices[target][value]
    return fields


def through_the_wizard(client: Client, table: str, entity: str, *, time_zone: str = "America/Los_Angeles") -> ImportRun:
    path = sample_file(table)
    response = upload(client, path.name, path.read_bytes())
    assert response.status_code == 302, response.content[:2000]
    kind_url = response["Location"]
    page = client.get(kind_url)
    assert page.status_code == 200
    # The recogniser picked the right kind from the columns.
    assert form_fields(page.content.decode(), "entity-form")["entity"] == entity
    response = client.post(kind_url, {"entity": entity})
    assert response.status_code == 302
    mapping_url = response["Location"]
    page = client.get(mapping_url)
    assert page.status_code == 200
    fields = choose_values(form_fields(page.content.decode(), "mapping-form"), POLICY)
    fields.update({"time_zone": time_zone, "action": "preview"})
    response = client.post(mapping_url, fields)
    run = ImportRun.objects.get(pk=int(kind_url.strip("/").split("/")[-2]))
    return dry_run_then_import(client, response, run)


@pytest.fixture(scope="module")
def imported(django_db_setup, django_db_blocker):
    with module_data(django_db_blocker):
        team = make_team()
        client = Client()
        client.force_login(team["importer"])
        runs = {entity: through_the_wizard(client, table, entity) for table, entity in ORDER}
        values = {}
        for run in runs.values():
            values.update({t.entity: t.values for t in loads(json.dumps(run.mapping)).tables})
        yield {"team": team, "runs": runs, "values": values}


@pytest.fixture
def manager(client, imported):
    client.force_login(imported["team"]["importer"])
    return client


def test_each_file_is_one_run_in_the_history_with_its_counts(imported, manager):
    page = manager.get(reverse("import_history"))
    assert page.status_code == 200
    for run in imported["runs"].values():
        assert run.source == ImportSource.WIZARD
        assert run.user == imported["team"]["importer"]
        assert run.rows_read == expected()["files"][run.file_name]["data_rows"]
        assert run.error_count == 0
        assert run.file_name in page.content.decode()
        assert not run.source_text  # the draft copy of the file is not kept once imported
    summary = manager.get(reverse("import_detail", args=[imported["runs"]["communications"].pk]))
    assert summary.status_code == 200
    text = summary.content.decode()
    assert "Dana Pruitt" in text and "Nobody is invented" in text
    assert "files are not copied" in text


def test_commitment_summary_shows_totals_per_fund(imported, manager):
    run = imported["runs"]["commitments"]
    page = manager.get(reverse("import_detail", args=[run.pk])).content.decode()
    for facts in expected()["commitments"]["per_fund"].values():
        assert facts["binding_signed_plus_closed"]["committed"].removesuffix(".00") in page


def test_importing_the_same_file_again_creates_nothing(imported, manager):
    before = Organization.objects.count(), Organization.history.count()
    run = through_the_wizard(manager, "Firms", "organizations")
    assert (run.created_count, run.updated_count) == (0, 0)
    assert (Organization.objects.count(), Organization.history.count()) == before


def test_the_dry_run_shows_each_row_and_writes_nothing(imported, manager):
    data = "Firm Name,Category,URL\nNorthwind Endowment,Endowment,northwind.edu\n<script>alert(1)</script>,Bank,x.com\n"
    response = upload(manager, "new-firms.csv", data.encode())
    run = ImportRun.objects.latest("pk")
    manager.post(response["Location"], {"entity": "organizations"})
    history = Organization.history.count()
    response = manager.post(reverse("import_mapping", args=[run.pk]), {"action": "preview", "col-0": "name"})
    assert response.status_code == 302
    page = manager.get(reverse("import_preview", args=[run.pk]) + "?show=").content.decode()
    assert "will create" in page and "Northwind Endowment" in page
    assert "contains HTML or script markup" in page
    assert "<script>alert(1)</script>" not in page  # shown escaped, never run
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not Organization.objects.filter(name__startswith="Northwind").exists()
    assert Organization.history.count() == history
    # With an error row the import writes nothing; leaving the row out imports the rest.
    response = manager.post(reverse("import_run", args=[run.pk]))
    assert response["Location"] == reverse("import_progress", args=[run.pk])
    assert manager.get(response["Location"])["Location"].endswith("?show=error")
    assert not Organization.objects.filter(name__startswith="Northwind").exists()
    run.refresh_from_db()
    assert run.status == ImportStatus.FAILED and "nothing was imported" in run.message
    manager.post(reverse("import_run", args=[run.pk]), {"skip_errors": "on"})
    assert Organization.objects.get(name="Northwind Endowment").website == "https://northwind.edu"
    assert not Organization.objects.filter(name__contains="script").exists()


def test_mapping_step_refreshes_for_htmx_and_for_a_plain_post(imported, manager):
    path = sample_file("Fundraising Pipeline")
    response = upload(manager, path.name, path.read_bytes())
    run = ImportRun.objects.latest("pk")
    manager.post(response["Location"], {"entity": "opportunities"})
    url = reverse("import_mapping", args=[run.pk])
    fields = form_fields(manager.get(url).content.decode(), "mapping-form")
    stage_column = next(k for k, v in fields.items() if k.startswith("col-") and v == "stage")
    fields.update({stage_column: "", "action": "refresh"})  # stop importing the stage column
    fragment = manager.post(url, fields, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    text = fragment.content.decode()
    assert text.lstrip().startswith('<form id="mapping-form"') and "<html" not in text
    assert "Deal Stage → Stage" not in text
    fields[stage_column] = "stage"
    page = manager.post(url, fields)
    assert page.status_code == 200 and "<html" in page.content.decode()
    assert "Deal Stage → Stage" in page.content.decode()
    assert fragment["Vary"] and "HX-Request" in fragment["Vary"]


def test_a_mapping_is_saved_by_name_exported_as_the_command_file_and_applied(imported, manager, tmp_path):
    path = sample_file("Commitments")
    response = upload(manager, path.name, path.read_bytes())
    run = ImportRun.objects.latest("pk")
    manager.post(response["Location"], {"entity": "commitments"})
    url = reverse("import_mapping", args=[run.pk])
    # A choice other than the suggestion (withdrawn), to see it saved and brought back.
    own_choice = {"status": {"Withdrawn": "!skip"}}
    fields = choose_values(form_fields(manager.get(url).content.decode(), "mapping-form"), own_choice)
    fields.update({"action": "save", "save_name": "Airtable commitments", "time_zone": "America/Los_Angeles"})
    assert manager.post(url, fields).status_code == 200
    saved = SavedMapping.objects.get(name="Airtable commitments")
    assert saved.entity == "commitments" and saved.created_by == imported["team"]["importer"]
    download = manager.get(reverse("import_saved_mapping_download", args=[saved.pk]))
    assert download["Content-Disposition"].startswith("attachment")
    mapping = loads(download.content.decode())  # the command's format
    assert mapping.options.time_zone == "America/Los_Angeles"
    assert mapping.tables[0].values["status"]["Withdrawn"] == {"skip": True}
    assert mapping.tables[0].columns["Amount Committed"] == "commitment_amount"
    # The run's own mapping downloads in the same format.
    assert loads(manager.get(reverse("import_mapping_download", args=[run.pk])).content.decode()).tables
    # Applying it to a new upload of the file brings the choices back.
    response = upload(manager, path.name, path.read_bytes())
    second = ImportRun.objects.latest("pk")
    manager.post(response["Location"], {"entity": "commitments"})
    page = manager.post(
        reverse("import_mapping", args=[second.pk]), {"action": "apply", "saved": saved.pk}, follow=True
    ).content.decode()
    assert "Applied “Airtable commitments”" in page
    assert 'value="!skip" selected' in page
    listing = manager.get(reverse("import_mappings"))
    assert "Airtable commitments" in listing.content.decode()
    manager.post(reverse("import_saved_mapping_delete", args=[saved.pk]))
    assert not SavedMapping.objects.filter(pk=saved.pk).exists()


def test_preview_tabs_answer_htmx_with_the_rows_only(imported, manager):
    path = sample_file("People")
    response = upload(manager, path.name, path.read_bytes())
    run = ImportRun.objects.latest("pk")
    manager.post(response["Location"], {"entity": "contacts"})
    manager.post(reverse("import_preview", args=[run.pk]))
    url = reverse("import_preview", args=[run.pk]) + "?show=skip"
    fragment = manager.get(url, headers={"HX-Request": "true"})
    assert fragment.content.decode().lstrip().startswith('<div id="preview-rows">')
    assert "already in the CRM" in fragment.content.decode()
    full = manager.get(url)
    assert "<html" in full.content.decode() and "Dry run: what the import would do" in full.content.decode()


def test_a_draft_can_be_discarded(imported, manager):
    response = upload(manager, "x.csv", b"Full Name,E-mail\nAda Lovelace,ada@example.com\n")
    run = ImportRun.objects.latest("pk")
    assert response.status_code == 302
    manager.post(reverse("import_discard", args=[run.pk]))
    assert not ImportRun.objects.filter(pk=run.pk).exists()
    assert not Contact.objects.filter(email="ada@example.com").exists()


def test_finished_imports_cannot_be_run_or_edited_again(imported, manager):
    run = imported["runs"]["organizations"]
    assert manager.get(reverse("import_mapping", args=[run.pk]))["Location"] == reverse("import_detail", args=[run.pk])
    response = manager.post(reverse("import_run", args=[run.pk]))
    assert response["Location"] == reverse("import_detail", args=[run.pk])
