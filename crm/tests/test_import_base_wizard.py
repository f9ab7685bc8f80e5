"""A whole Airtable base through the wizard: the sample's five files zipped, one upload, one mapping, one import.

The zip goes through upload → combined mapping → one dry run → one import with the test
client, posting what each rendered form holds (and the command's own mapping file,
uploaded on the mapping screen); then every fact of expected.json is checked, the same
tests as for ``import_airtable`` and the one-file-at-a-time wizard. Multi-file uploads and
hostile zips are checked after.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.models import Communication, Contact, Organization
from crm.imports.mapping import loads
from crm.models import ImportRun, ImportStatus
from crm.tests.importing import (
    SAMPLE_MAPPING,
    csv_bytes,
    dry_run_then_import,
    expected,
    form_fields,
    make_team,
    module_data,
    needs_sample,
    sample_files,
)
from crm.tests.sample_facts import use_sample_facts
from lps.models import Commitment
from pipeline.models import Opportunity

pytestmark = [needs_sample, pytest.mark.django_db]
use_sample_facts(globals())


def sample_zip(extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sample_files():
            archive.writestr(f"Marram base/{path.name}", path.read_bytes())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload(client: Client, *files: tuple[str, bytes]):
    uploads = [SimpleUploadedFile(name, data) for name, data in files]
    return client.post(reverse("import_start"), {"file": uploads})


def mapping_file(data: dict) -> SimpleUploadedFile:
    return SimpleUploadedFile("marram.json", json.dumps(data).encode(), content_type="application/json")


def through_the_wizard(client: Client, response) -> ImportRun:
    assert response.status_code == 302, response.content.decode()[:3000]
    mapping_url = response["Location"]
    run = ImportRun.objects.get(pk=int(mapping_url.strip("/").split("/")[-2]))
    assert mapping_url == reverse("import_mapping", args=[run.pk])
    page = client.get(mapping_url)
    assert page.status_code == 200
    # The same mapping file the command's test passes with --mapping, uploaded on the combined screen.
    fields = form_fields(page.content.decode(), "mapping-form")
    fields.update({"action": "upload", "mapping_file": mapping_file(SAMPLE_MAPPING)})
    response = client.post(mapping_url, fields)
    assert response.status_code == 302, response.content.decode()[:3000]
    page = client.get(mapping_url)
    fields = form_fields(page.content.decode(), "mapping-form")
    fields.pop("mapping_file", None)
    fields.update({"time_zone": "America/Los_Angeles", "action": "preview"})
    return dry_run_then_import(client, client.post(mapping_url, fields), run)


@pytest.fixture(scope="module")
def imported(django_db_setup, django_db_blocker):
    with module_data(django_db_blocker):
        team = make_team()
        client = Client()
        client.force_login(team["importer"])
        run = through_the_wizard(client, upload(client, ("marram-base.zip", sample_zip())))
        values = {t.entity: t.values for t in loads(json.dumps(run.mapping)).tables}
        yield {"team": team, "run": run, "values": values}


@pytest.fixture
def manager(client, imported):
    client.force_login(imported["team"]["importer"])
    return client


def test_the_whole_base_is_one_run_with_every_table_and_its_counts(imported):
    run = imported["run"]
    files = expected()["files"]
    assert run.entity == ""
    assert run.rows_read == sum(facts["data_rows"] for facts in files.values())
    assert run.error_count == 0
    assert len(run.tables) == len(files)
    assert not run.source_text  # the draft copy of the files is not kept once imported


def test_the_mapping_download_is_the_command_s_mapping_file_format(imported, manager):
    response = manager.get(reverse("import_mapping_download", args=[imported["run"].pk]))
    assert response.status_code == 200
    mapping = loads(response.content.decode())
    assert sorted(t.entity for t in mapping.tables) == sorted(
        ["organizations", "contacts", "commitments", "opportunities", "communications"]
    )


def test_the_dry_run_and_the_import_kept_progress_for_every_table(imported):
    progress = imported["run"].progress
    assert set(expected()["files"]) <= set(progress)
    for name, facts in expected()["files"].items():
        assert progress[name]["written"] == progress[name]["total"] == facts["data_rows"], name


def test_one_undo_takes_back_the_whole_base(imported, manager):
    # Inside this test's transaction: the module's import is back once it ends.
    run = imported["run"]
    assert run.can_undo and Organization.objects.exists()
    response = manager.post(reverse("import_undo", args=[run.pk]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == ImportStatus.UNDONE, run.undo_report
    for model in (Organization, Contact, Commitment, Opportunity, Communication):
        assert not model.objects.exists(), model.__name__


def test_the_dry_run_lists_every_table_and_shows_the_rows_of_the_one_chosen(imported, manager):
    response = upload(manager, ("base.zip", sample_zip()))
    url = response["Location"]
    fields = form_fields(manager.get(url).content.decode(), "mapping-form")
    fields.pop("mapping_file", None)
    fields.update({"action": "preview"})
    response = manager.post(url, fields)
    run = ImportRun.objects.get(pk=int(url.strip("/").split("/")[-2]))
    assert manager.get(response["Location"])["Location"] == reverse("import_preview", args=[run.pk])
    page = manager.get(reverse("import_preview", args=[run.pk])).content.decode()
    report = run.report
    assert sorted(t["name"] for t in report["tables"]) == sorted(expected()["files"])
    for table in report["tables"]:
        assert f">{table['name']}</a>" in page
    index = next(i for i, t in enumerate(report["tables"]) if t["name"].startswith("Touchpoints"))
    rows = manager.get(reverse("import_preview", args=[run.pk]), {"table": index, "show": ""}).content.decode()
    assert f"Row by row: {report['tables'][index]['name']}" in rows
    first = next(r for r in report["tables"][index]["rows"])
    assert first["r"][:20] in rows
    assert not Organization.history.filter(history_change_reason__contains=f"#{run.pk} ").exists()


def test_the_combined_mapping_page_runs_the_same_queries_for_a_longer_base(imported, manager):
    def queries_for(repeat: int) -> int:
        files = {}
        for path in sample_files():
            header, *rows = csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""))
            files[path.name] = csv_bytes([header, *rows * repeat])
        response = upload(manager, *files.items())
        assert response.status_code == 302, response.content.decode()[-3000:]
        with CaptureQueriesContext(connection) as queries:
            assert manager.get(response["Location"]).status_code == 200
        return len(queries)

    assert queries_for(1) == queries_for(3)


def test_several_csv_files_chosen_at_once_are_one_base(imported, manager):
    files = [(path.name, path.read_bytes()) for path in sample_files()]
    before = Organization.objects.count(), Organization.history.count()
    run = through_the_wizard(manager, upload(manager, *files))
    assert run.file_name == f"{len(files)} files ({len(files)} tables)"
    # The same base again: everything is recognised as what the first import made.
    assert (run.created_count, run.updated_count) == (0, 0)
    assert (Organization.objects.count(), Organization.history.count()) == before


def test_the_mapping_screen_shows_each_table_with_its_detected_kind_and_reasons(imported, manager):
    response = upload(manager, ("base.zip", sample_zip({"__MACOSX/._Firms.csv": b"junk", "notes.txt": b"hi"})))
    assert response.status_code == 302
    page = manager.get(response["Location"]).content.decode()
    fields = form_fields(page, "mapping-form")
    kinds = sorted(value for key, value in fields.items() if key.endswith("-entity"))
    assert kinds == sorted(["organizations", "contacts", "commitments", "opportunities", "communications"])
    assert "Firms" in page and "Touchpoints" in page
    assert "header like" in page or "% of values" in page


def test_changing_a_table_s_kind_on_the_combined_screen_remaps_it(imported, manager):
    response = upload(manager, ("base.zip", sample_zip()))
    url = response["Location"]
    fields = form_fields(manager.get(url).content.decode(), "mapping-form")
    entity_key = next(key for key, value in fields.items() if value == "communications" and key.endswith("-entity"))
    fields.update({entity_key: "organizations", "action": "refresh"})
    assert manager.post(url, fields).status_code == 200
    run = ImportRun.objects.get(pk=int(url.strip("/").split("/")[-2]))
    entities = sorted(t["entity"] for t in run.mapping["tables"])
    assert entities.count("organizations") == 2 and "communications" not in entities


def hostile(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"../evil.csv": b"a,b\n1,2\n"}, "points outside the archive"),
        ({"/etc/evil.csv": b"a,b\n1,2\n"}, "points outside the archive"),
        ({"inner.zip": b"PK\x03\x04"}, "holds another archive"),
        ({f"t{i}.csv": b"a,b\n1,2\n" for i in range(60)}, "at most 50"),
        ({"bomb.csv": b"0" * (11 * 1024 * 1024)}, "unpacks to"),
        ({"readme.txt": b"hello"}, "holds no .csv files"),
    ],
)
def test_hostile_or_empty_zips_are_refused_with_a_clear_message(imported, manager, members, message):
    before = ImportRun.objects.count()
    response = upload(manager, ("base.zip", hostile(members)))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert ImportRun.objects.count() == before


def test_a_file_that_is_no_zip_is_refused(imported, manager):
    response = upload(manager, ("base.zip", b"this is not a zip"))
    assert response.status_code == 200
    assert "not a readable zip file" in response.content.decode()


STRAY = b"Colour,Shape\nred,round\nblue,square\n"


def stray_base(manager) -> tuple[str, ImportRun, dict[str, str], str]:
    """A base with a table nobody recognises: its mapping url, run, form fields and the table's kind field."""
    response = upload(manager, ("base.zip", sample_zip({"Marram base/Stickers.csv": STRAY})))
    assert response.status_code == 302, response.content.decode()[:3000]
    url = response["Location"]
    run = ImportRun.objects.get(pk=int(url.strip("/").split("/")[-2]))
    page = manager.get(url).content.decode()
    fields = form_fields(page, "mapping-form")
    index = next(t.index for t in bundle_tables(run) if t.source.name == "Stickers.csv")
    return url, run, fields, f"t{index}-entity"


def bundle_tables(run: ImportRun) -> list:
    from crm.imports import bundle

    return [type("T", (), {"index": i, "source": t.source})() for i, t in enumerate(bundle.tables(run)[0])]


def test_a_table_nobody_recognises_is_asked_about_with_the_best_guess_preselected(imported, manager):
    url, run, fields, key = stray_base(manager)
    page = manager.get(url).content.decode()
    assert "Stickers" in page and "do not clearly look like any kind of record" in page
    assert fields[key] in {"organizations", "contacts", "commitments", "opportunities", "communications"}
    assert 'value="skip"' in page


def test_skipping_a_table_keeps_it_out_of_the_import_and_in_the_mapping_file(imported, manager):
    url, run, fields, key = stray_base(manager)
    fields.update({key: "skip", "action": "refresh"})
    assert manager.post(url, fields).status_code == 200
    run.refresh_from_db()
    (skipped,) = [t for t in run.mapping["tables"] if t["entity"] == "skip"]
    assert skipped["headers"] == ["Colour", "Shape"] and "columns" not in skipped
    page = manager.get(url).content.decode()
    assert "Tables not imported" in page
    fields = form_fields(page, "mapping-form")
    assert fields["skipped-0"] == "skip"
    assert not any(value == "skip" for name, value in fields.items() if name.endswith("-entity"))
    # The downloaded mapping repeats the choice when uploaded again.
    download = manager.get(reverse("import_mapping_download", args=[run.pk]))
    data = json.loads(b"".join(download.streaming_content) if download.streaming else download.content)
    assert [t["entity"] for t in data["tables"]].count("skip") == 1
    run.mapping = {}
    run.save(update_fields=["mapping"])
    fields = form_fields(manager.get(url).content.decode(), "mapping-form")
    fields.update({"action": "upload", "mapping_file": mapping_file(data)})
    assert manager.post(url, fields).status_code == 302
    run.refresh_from_db()
    assert [t["entity"] for t in run.mapping["tables"]].count("skip") == 1
    # And choosing a kind for it brings it back, with that kind's suggestions.
    fields = form_fields(manager.get(url).content.decode(), "mapping-form")
    fields.pop("mapping_file", None)
    fields.update({"skipped-0": "organizations", "action": "refresh"})
    assert manager.post(url, fields).status_code == 200
    run.refresh_from_db()
    assert "skip" not in [t["entity"] for t in run.mapping["tables"]]
    assert [t["entity"] for t in run.mapping["tables"]].count("organizations") == 2


def test_a_skipped_table_stays_skipped_through_the_dry_run_and_the_import(imported, manager):
    url, run, fields, key = stray_base(manager)
    fields.update({key: "skip", "action": "refresh"})
    manager.post(url, fields)
    fields = form_fields(manager.get(url).content.decode(), "mapping-form")
    fields.update({"time_zone": "America/Los_Angeles", "action": "preview"})
    run = dry_run_then_import(manager, manager.post(url, fields), run)
    assert "Stickers.csv" not in [t["name"] for t in run.tables]
    assert [t["entity"] for t in run.mapping["tables"]].count("skip") == 1
    assert len(run.tables) == len(sample_files())


def test_a_kind_that_is_none_of_ours_posted_for_a_table_changes_nothing(imported, manager):
    url, run, fields, key = stray_base(manager)
    guess = fields[key]
    fields.update({key: "rockets", "action": "refresh"})
    assert manager.post(url, fields).status_code == 200
    run.refresh_from_db()
    assert "rockets" not in [t["entity"] for t in run.mapping["tables"]]
    assert form_fields(manager.get(url).content.decode(), "mapping-form")[key] == guess


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"entity": "rockets", "files": ["Stickers.csv"]}, "“entity” must be one of"),
        ({"entity": "skip", "files": ["Stickers.csv"], "headers": "Colour"}, "must be lists"),
    ],
)
def test_a_tampered_mapping_file_is_refused_and_the_mapping_kept(imported, manager, table, message):
    url, run, fields, key = stray_base(manager)
    data = {"format": SAMPLE_MAPPING.get("format", "venture-crm-mapping"), "tables": [table]}
    data = {k: v for k, v in data.items() if k != "format"}
    fields.update({"action": "upload", "mapping_file": mapping_file(data)})
    response = manager.post(url, fields)
    assert response.status_code == 200
    assert message in response.content.decode()
    run.refresh_from_db()
    assert run.mapping == {}


def test_a_mapping_file_that_is_not_one_is_refused_and_the_mapping_kept(imported, manager):
    response = upload(manager, ("base.zip", sample_zip()))
    url = response["Location"]
    run = ImportRun.objects.get(pk=int(url.strip("/").split("/")[-2]))
    bad = SimpleUploadedFile("bad.json", b"{not json", content_type="application/json")
    response = manager.post(url, {"action": "upload", "mapping_file": bad})
    assert response.status_code == 200
    assert "bad.json:" in response.content.decode()
    run.refresh_from_db()
    assert run.mapping == {}


def test_an_htmx_refresh_answers_with_the_mapping_form_alone(imported, manager):
    response = upload(manager, ("base.zip", sample_zip()))
    url = response["Location"]
    fields = form_fields(manager.get(url).content.decode(), "mapping-form")
    fields.pop("mapping_file", None)
    fields["action"] = "refresh"
    response = manager.post(url, fields, headers={"HX-Request": "true", "HX-Target": "mapping-form"})
    assert response.status_code == 200
    text = response.content.decode()
    assert text.lstrip().startswith('<form id="mapping-form"') and "<html" not in text
