"""Saved mappings of a whole base (issue 12): “Save as…” on the combined screen, offered on the next upload.

The bases are generated here (their own table and column names, none named in the engine);
the choices made on the combined screen — a table's kind, a skipped table, a column's
target, a value's meaning, a team member — come back when the saved mapping is applied to a
later download of the same base, and what no longer fits (a table or column missing, a new
one) is said while the rest still applies.
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.imports import bundle
from crm.imports.mapping import loads
from crm.models import ImportRun, Role, SavedMapping
from crm.tests.importing import csv_bytes, form_fields

pytestmark = pytest.mark.django_db

FIRMS = [
    ["Firm", "Kind", "Site"],
    ["Alder Trust", "Hedge Fund", "alder.example"],
    ["Birch Office", "Single Family Office", "birch.example"],
    ["Cedar Board", "Public Pension Plan", ""],
]
PEOPLE = [
    ["Full Name", "Mail", "Firm", "Owner"],
    ["Ana Ruiz", "ana@alder.example", "Alder Trust", "Zed Unknown"],
    ["Ben Ito", "ben@birch.example", "Birch Office", ""],
    ["Cleo Park", "cleo@cedar.example", "Cedar Board", "Zed Unknown"],
]
# Two tables nobody recognises: one is left out, the other is said to be something.
STICKERS = [["Colour", "Shape"], ["red", "round"], ["blue", "square"]]
SWATCHES = [["Hue", "Texture", "Weight"], ["teal", "rough", "3"], ["ochre", "smooth", "5"]]
BASE = {
    "Firms-All.csv": FIRMS,
    "People-Grid view.csv": PEOPLE,
    "Stickers.csv": STICKERS,
    "Swatches.csv": SWATCHES,
}


def upload(client, files: dict[str, list[list[str]]]) -> tuple[str, ImportRun]:
    uploads = [SimpleUploadedFile(name, csv_bytes(rows)) for name, rows in files.items()]
    response = client.post(reverse("import_start"), {"file": uploads})
    assert response.status_code == 302, response.content.decode()[:3000]
    url = response["Location"]
    return url, ImportRun.objects.get(pk=int(url.strip("/").split("/")[-2]))


def page_fields(client, url: str) -> tuple[str, dict[str, str]]:
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    fields = form_fields(text, "mapping-form")
    fields.pop("mapping_file", None)
    return text, fields


def prefix(run: ImportRun, file_name: str) -> str:
    """The form prefix of one imported table of the run (tables are numbered in file order)."""
    run.refresh_from_db()
    names = [t.source.name for t in bundle.read(run).tables]
    return f"t{names.index(file_name)}-"


def value_key(fields: dict[str, str], table: str, target: str, value: str) -> str:
    """The form field deciding ``value`` of ``target`` in the table with prefix ``table``."""
    source = next(k for k, v in fields.items() if k.startswith(f"{table}src-{target}-") and v == value)
    return source.replace("src-", "val-", 1)


def team_key(fields: dict[str, str], name: str) -> str:
    return next(k for k, v in fields.items() if k.startswith("team-src-") and v == name).replace("team-src-", "team-")


def other_kind(guess: str) -> str:
    return "contacts" if guess != "contacts" else "organizations"


def make_choices(client, url: str, run: ImportRun) -> dict[str, str]:
    """Choices that differ from every suggestion, posted with a refresh; what they were, to look for later."""
    _text, fields = page_fields(client, url)
    stickers, swatches = prefix(run, "Stickers.csv"), prefix(run, "Swatches.csv")
    firms = prefix(run, "Firms-All.csv")
    swatch_kind = other_kind(fields[f"{swatches}entity"])
    site = f"{firms}col-{FIRMS[0].index('Site')}"
    assert fields[site] == "website"
    hedge = value_key(fields, firms, "type", "Hedge Fund")
    assert fields[hedge] == "=other"
    zed = team_key(fields, "Zed Unknown")
    assert fields[zed] == "+"  # as import_airtable without a mapping file: a new inactive user
    fields.update(
        {
            f"{stickers}entity": "skip",
            f"{swatches}entity": swatch_kind,
            site: "__notes__",
            hedge: "=fund_of_funds",
            zed: "",
            "time_zone": "Europe/Berlin",
            "action": "refresh",
        }
    )
    assert client.post(url, fields).status_code == 200
    return {"swatch_kind": swatch_kind}


def save(client, url: str, name: str):
    _text, fields = page_fields(client, url)
    fields.update({"action": "save", "save_name": name})
    return client.post(url, fields)


def assert_choices_applied(client, url: str, run: ImportRun, made: dict[str, str], *, firms_file="Firms-All.csv"):
    text, fields = page_fields(client, url)
    firms = prefix(run, firms_file)
    assert fields[f"{firms}col-{FIRMS[0].index('Site')}"] == "__notes__"
    assert fields[value_key(fields, firms, "type", "Hedge Fund")] == "=fund_of_funds"
    assert fields[team_key(fields, "Zed Unknown")] == ""
    assert fields["time_zone"] == "Europe/Berlin"
    assert "Tables not imported" in text and fields["skipped-0"] == "skip" and "Stickers" in text
    if "Swatches.csv" in made.get("files", BASE):
        assert fields[f"{prefix(run, 'Swatches.csv')}entity"] == made["swatch_kind"]
    return text


def saved_base(client) -> tuple[SavedMapping, dict[str, str]]:
    url, run = upload(client, BASE)
    made = make_choices(client, url, run)
    response = save(client, url, "Our Airtable base")
    assert response.status_code == 200
    assert "Saved the mapping as “Our Airtable base”." in response.content.decode()
    return SavedMapping.objects.get(name="Our Airtable base"), made


def apply(client, url: str, saved_pk, *, htmx: bool = False):
    _text, fields = page_fields(client, url)
    fields.update({"action": "apply", "saved": str(saved_pk)})
    return client.post(url, fields, headers={"HX-Request": "true"} if htmx else {})


def test_a_whole_base_mapping_is_saved_by_name_with_every_table(manager_client, manager_user):
    saved, made = saved_base(manager_client)
    assert (saved.entity, saved.created_by) == (bundle.BASE_ENTITY, manager_user)
    mapping = loads(json.dumps(saved.mapping))  # the command's mapping-file format
    kinds = {t.name: t.entity for t in mapping.tables}
    assert kinds == {
        "Firms": "organizations",
        "People": "contacts",
        "Stickers": "skip",
        "Swatches": made["swatch_kind"],
    }
    assert mapping.options.team == {"Zed Unknown": None}
    listing = manager_client.get(reverse("import_mappings")).content.decode()
    assert "Our Airtable base" in listing and "A whole base" in listing


def test_the_next_upload_offers_it_and_applying_it_brings_back_every_choice(manager_client):
    saved, made = saved_base(manager_client)
    url, run = upload(manager_client, BASE)
    text, fields = page_fields(manager_client, url)
    # Before: the suggestions.
    assert fields[f"{prefix(run, 'Firms-All.csv')}col-{FIRMS[0].index('Site')}"] == "website"
    assert "Apply a saved mapping of a whole base" in text
    assert f'<option value="{saved.pk}">Our Airtable base</option>' in text
    response = apply(manager_client, url, saved.pk)
    assert response.status_code == 302 and response["Location"] == url
    text = assert_choices_applied(manager_client, url, run, made)
    assert "Applied “Our Airtable base”: every table and column of this base matches it." in text


def test_applying_answers_an_htmx_request_with_a_client_redirect(manager_client):
    saved, _made = saved_base(manager_client)
    url, run = upload(manager_client, BASE)
    response = apply(manager_client, url, saved.pk, htmx=True)
    assert response.status_code == 200 and response["HX-Redirect"] == url
    run.refresh_from_db()
    assert [t["entity"] for t in run.mapping["tables"]].count("skip") == 1


def test_a_base_with_an_extra_table_gets_the_rest_applied_and_is_told_which_table_is_new(manager_client):
    saved, made = saved_base(manager_client)
    ledger = [["Subject", "When", "Who", "Medium"], ["Intro call", "2025-03-14", "Ana Ruiz", "Call"]]
    url, run = upload(manager_client, {**BASE, "Ledger.csv": ledger})
    response = apply(manager_client, url, saved.pk)
    assert response.status_code == 302
    text = assert_choices_applied(manager_client, url, run, made)
    assert "except where it no longer fits this base (the rest applied)" in text
    assert "Ledger.csv is new: no table of the mapping matches it, so it keeps the suggestions" in text
    # The new table is there, with the engine's suggestions.
    assert f"{prefix(run, 'Ledger.csv')}entity" in form_fields(text, "mapping-form")


def test_a_missing_table_a_renamed_column_and_a_new_value_are_said_and_the_rest_applies(manager_client):
    saved, made = saved_base(manager_client)
    people = [["Full Name", "E-mail address", "Firm", "Owner", "Phone"]] + [[*row, ""] for row in PEOPLE[1:]]
    firms = [*FIRMS, ["Dove Exchange", "Crypto Exchange", ""]]
    # A new download of the same tables: another view's file name, a column renamed, one more column.
    files = {"Firms-Grid view.csv": firms, "People-Grid view.csv": people, "Stickers.csv": STICKERS}
    url, run = upload(manager_client, files)
    response = apply(manager_client, url, saved.pk)
    assert response.status_code == 302
    made["files"] = files
    text = assert_choices_applied(manager_client, url, run, made, firms_file="Firms-Grid view.csv")
    message = text.split("except where it no longer fits this base")[1].split("</")[0]
    people_line = (
        "People: no column “Mail” in this file (not applied); new columns “E-mail address”, “Phone” (suggested)."
    )
    assert people_line in message
    assert "Firms: value with no decision saved “Crypto Exchange” (suggested)." in message
    assert "Swatches: no file of this upload is that table (not applied)." in message
    run.refresh_from_db()
    assert "Swatches" not in [t.get("name") for t in run.mapping["tables"]]  # not carried along


@pytest.mark.parametrize("tampered", ["", "abc", "-1", "0", "1e3", "99999999", str(2**70), "１２"])
def test_a_tampered_saved_mapping_id_is_refused_and_the_mapping_kept(manager_client, tampered):
    saved_base(manager_client)
    url, run = upload(manager_client, BASE)
    before = run.mapping
    response = apply(manager_client, url, tampered)
    assert response.status_code == 200
    assert "Choose a saved mapping of a whole base to apply." in response.content.decode()
    run.refresh_from_db()
    assert run.mapping == before


def test_a_one_file_mapping_is_neither_offered_nor_applied_on_the_combined_screen(manager_client, manager_user):
    single = SavedMapping.objects.create(
        name="Firms only", entity="organizations", mapping={"tables": [{"entity": "organizations"}]}
    )
    url, run = upload(manager_client, BASE)
    text, _fields = page_fields(manager_client, url)
    assert "Firms only" not in text and "Apply a saved mapping" not in text  # nothing of a whole base saved yet
    response = apply(manager_client, url, single.pk)
    assert "Choose a saved mapping of a whole base to apply." in response.content.decode()
    run.refresh_from_db()
    assert run.mapping == {}


def test_a_whole_base_mapping_is_neither_offered_nor_applied_to_one_file(manager_client):
    saved, _made = saved_base(manager_client)
    upload_file = SimpleUploadedFile("Firms-All.csv", csv_bytes(FIRMS))
    manager_client.post(reverse("import_start"), {"file": upload_file})
    run = ImportRun.objects.latest("pk")
    manager_client.post(reverse("import_entity", args=[run.pk]), {"entity": "organizations"})
    url = reverse("import_mapping", args=[run.pk])
    page = manager_client.get(url).content.decode()
    assert "Our Airtable base" not in page
    for tampered in (saved.pk, "abc"):
        response = manager_client.post(url, {"action": "apply", "saved": tampered}, follow=True)
        assert response.status_code == 200
        assert "Choose a saved mapping to apply." in response.content.decode()


def test_a_mapping_saved_by_another_manager_is_offered_and_applies_as_saved_mappings_are_team_wide(
    client, manager_user
):
    from conftest import make_user

    client.force_login(manager_user)
    saved, made = saved_base(client)
    other = make_user("omar", Role.MANAGER, full_name="Omar Other")
    client.force_login(other)
    url, run = upload(client, BASE)
    text, _fields = page_fields(client, url)
    assert "Our Airtable base" in text
    assert apply(client, url, saved.pk).status_code == 302
    assert_choices_applied(client, url, run, made)
    assert SavedMapping.objects.get().created_by == manager_user  # applying leaves it as it was


def test_a_member_can_neither_save_nor_apply_a_whole_base_mapping(client, manager_user, member_user):
    client.force_login(manager_user)
    saved, _made = saved_base(client)
    url, run = upload(client, BASE)
    client.force_login(member_user)
    assert client.post(url, {"action": "save", "save_name": "Mine"}).status_code == 403
    assert client.post(url, {"action": "apply", "saved": saved.pk}).status_code == 403
    assert list(SavedMapping.objects.values_list("name", flat=True)) == ["Our Airtable base"]
    run.refresh_from_db()
    assert run.mapping == {}


def test_saving_again_under_the_same_name_replaces_it_and_a_one_file_mapping_s_name_is_refused(manager_client):
    saved, _made = saved_base(manager_client)
    url, run = upload(manager_client, BASE)
    response = save(manager_client, url, "our airtable BASE")
    assert "Saved the mapping as “our airtable BASE”." in response.content.decode()
    assert SavedMapping.objects.count() == 1
    saved.refresh_from_db()
    # The fresh upload's suggestions replaced the saved choices.
    assert loads(json.dumps(saved.mapping)).options.team == {"Zed Unknown": {"create": "inactive"}}
    SavedMapping.objects.create(name="Firms only", entity="organizations", mapping={"tables": []})
    response = save(manager_client, url, "Firms only")
    assert "“Firms only” is already the name of a mapping for organizations." in response.content.decode()
    assert SavedMapping.objects.get(name="Firms only").entity == "organizations"
    response = save(manager_client, url, "   ")
    assert "Give the mapping a name to save it." in response.content.decode()
    assert SavedMapping.objects.count() == 2


def test_a_saved_mapping_that_no_longer_reads_is_refused_with_its_reason(manager_client):
    broken = SavedMapping.objects.create(
        name="Broken", entity=bundle.BASE_ENTITY, mapping={"tables": [{"entity": "rockets", "files": ["x.csv"]}]}
    )
    url, run = upload(manager_client, BASE)
    response = apply(manager_client, url, broken.pk)
    assert response.status_code == 200
    assert "“Broken” cannot be applied: tables[0]: “entity” must be one of" in response.content.decode()
    run.refresh_from_db()
    assert run.mapping == {}


# --- The combined screen reads the run's files once per request (issue 12, the skipped tables) ----


@pytest.fixture
def reads(monkeypatch):
    """How often a request parsed the run's files and worked out its skipped tables."""
    counts = {"parsed": 0, "skipped": 0}
    parse, skipped = bundle.parse_text, bundle._skipped

    def counting_parse(*args, **kwargs):
        counts["parsed"] += 1
        return parse(*args, **kwargs)

    def counting_skipped(*args, **kwargs):
        counts["skipped"] += 1
        return skipped(*args, **kwargs)

    monkeypatch.setattr(bundle, "parse_text", counting_parse)
    monkeypatch.setattr(bundle, "_skipped", counting_skipped)

    def take() -> dict[str, int]:
        taken = dict(counts)
        counts.update(parsed=0, skipped=0)
        return taken

    return take


@pytest.mark.parametrize("action", ["refresh", "save", "preview", "apply"])
def test_every_request_of_the_combined_screen_parses_each_file_once(manager_client, reads, action):
    saved, _made = saved_base(manager_client)
    url, run = upload(manager_client, BASE)
    _text, fields = page_fields(manager_client, url)
    reads()
    assert manager_client.get(url).status_code == 200
    assert reads() == {"parsed": len(BASE), "skipped": 1}
    fields.update({"action": action, "save_name": "Again", "saved": str(saved.pk)})
    assert manager_client.post(url, fields).status_code in (200, 302)
    # Read with the mapping the form was drawn from, then with the one it made.
    assert reads() == {"parsed": len(BASE), "skipped": 2}
    assert manager_client.get(reverse("import_mapping_download", args=[run.pk])).status_code == 200
    assert reads() == {"parsed": len(BASE), "skipped": 1}


def test_reading_the_base_twice_does_not_repeat_a_table_s_notice(manager_client):
    url, run = upload(manager_client, BASE)
    run.refresh_from_db()
    bundle.read(run)
    (stickers,) = [t for t in bundle.read(run).tables if t.source.name == "Stickers.csv"]
    assert len([n for n in stickers.source.notices if "do not clearly look like" in n]) == 1
