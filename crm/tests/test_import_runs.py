"""All or nothing, undo, and who may import: on a small base of four tables."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from contacts.models import Communication, Contact, Organization, OrganizationType, Tag
from contacts.resources import ContactResource
from crm.imports import jobs, runner
from crm.imports.undo import UndoError, undo_run
from crm.models import ImportedRecord, ImportRun, ImportStatus, Role, SavedMapping
from lps.models import Commitment, Fund, LPProfile

pytestmark = pytest.mark.django_db

FILES = {
    "Firms.csv": 'Firm Name,Category,Labels\nAtlas Partners,Family Office,"LPAC,Re-up"\nBeacon Endowment,Endowment,\n',
    "People-All.csv": (
        "Full Name,Company,E-mail,Relationship,Job Title,Labels\n"
        "Ada Okafor,Atlas Partners,ada@atlas.com,Current LP,CIO,LPAC\n"
        "Bo Chen,Beacon Endowment,bo@beacon.org,Prospective LP,Director,\n"
        "Cara Diaz,,Cara@Gmail.com ,Prospective LP,Angel investor,\n"
    ),
    "Commitments-Grid.csv": (
        "Investor,E-mail (from Investor),Vehicle,Commitment Status,Amount Committed,Amount Paid In\n"
        'Ada Okafor,ada@atlas.com,Fund I,Closed,"$1,000,000",$500000.00\n'
        "Bo Chen,bo@beacon.org,Fund I,Soft Circle,500K,\n"
    ),
    "Touchpoints-Grid.csv": (
        "Summary,Channel,When,People,Details\n"
        "Intro,Email,2025-01-02 10:00,Ada Okafor,First note\n"
        'Joint call,Call,2025-01-05 11:00,"Bo Chen,Cara Diaz",Both on the line\n'
    ),
}
MODELS = (Organization, Contact, Tag, LPProfile, Commitment, Communication, Fund)


@pytest.fixture
def base(tmp_path):
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


@pytest.fixture
def existing(manager_user):
    """What the CRM held before the import: one firm and one person the files also name."""
    beacon = Organization(name="Beacon Endowment", type=OrganizationType.OTHER, description="Met at SuperReturn")
    beacon._history_user = manager_user
    beacon.save()
    cara = Contact(first_name="Cara", last_name="Diaz", email="cara@gmail.com", title="Angel")
    cara._history_user = manager_user
    cara.save()
    return {"beacon": beacon, "cara": cara}


def counts() -> dict:
    return {model.__name__: model.objects.count() for model in MODELS} | {
        f"{model.__name__} history": model.history.count() for model in MODELS
    }


def import_base(folder, user) -> ImportRun:
    out = io.StringIO()
    call_command("import_airtable", str(folder), "--user", user.username, "--time-zone", "UTC", stdout=out)
    return ImportRun.objects.latest("pk")


def test_the_small_base_imports_updating_what_was_there(base, existing, manager_user):
    run = import_base(base, manager_user)
    assert run.status == ImportStatus.IMPORTED
    existing["beacon"].refresh_from_db()
    existing["cara"].refresh_from_db()
    assert existing["beacon"].type == OrganizationType.ENDOWMENT
    assert existing["beacon"].description == "Met at SuperReturn"  # an import never erases
    assert existing["cara"].title == "Angel investor"
    assert Contact.objects.filter(email="cara@gmail.com").count() == 1
    assert ImportedRecord.objects.filter(run=run, action="updated").count() == 2
    joint = Communication.objects.get(subject="Joint call")
    assert joint.contact.email == "bo@beacon.org" and list(joint.contact_attendees.all()) == [existing["cara"]]
    bo = Commitment.objects.get(lp__contact__email="bo@beacon.org")
    assert (bo.status, bo.commitment_amount, bo.funded_amount) == ("soft_circle", 500000, 0)


# --- All or nothing ----------------------------------------------------------------------------


def test_an_exception_in_the_middle_of_a_table_leaves_nothing_behind(base, existing, manager_user, monkeypatch):
    before = counts()
    original = ContactResource.after_save_instance
    seen = []

    def fail_on_second_row(self, instance, row, **kwargs):
        seen.append(instance.pk)
        if len(seen) == 2:
            raise RuntimeError("disk full")
        return original(self, instance, row, **kwargs)

    monkeypatch.setattr(ContactResource, "after_save_instance", fail_on_second_row)
    out = io.StringIO()
    with pytest.raises(CommandError, match="have errors, so nothing was imported"):
        call_command("import_airtable", str(base), "--user", manager_user.username, stdout=out)
    assert "RuntimeError: disk full" in out.getvalue()
    assert counts() == before
    run = ImportRun.objects.latest("pk")
    assert run.status == ImportStatus.FAILED and not run.records.exists()


def test_a_crash_after_every_table_ran_still_leaves_nothing_behind(base, existing, manager_user, monkeypatch):
    before = counts()

    def crash(*args, **kwargs):
        raise OSError("the server was switched off")

    monkeypatch.setattr(runner, "record_changes", crash)
    with pytest.raises(CommandError, match="switched off"):
        import_base(base, manager_user)
    assert counts() == before
    run = ImportRun.objects.latest("pk")
    assert run.status == ImportStatus.FAILED
    assert "Nothing was imported" in run.message


def test_a_run_cancelled_between_tables_keeps_nothing_and_says_so(base, existing, manager_user, monkeypatch):
    seen: list[tuple[str, str]] = []
    update = jobs.RunProgress.update

    def cancel_after_first_table(self, table, phase, done, total):
        seen.append((table, phase))
        update(self, table, phase, done, total)
        if phase == "validated":  # what the Cancel button does, while the first table finishes
            ImportRun.objects.filter(pk=self.run_pk).update(cancel_requested=True)

    monkeypatch.setattr(jobs.RunProgress, "update", cancel_after_first_table)
    monkeypatch.setattr(jobs, "HEARTBEAT_EVERY", 0)  # read the flag on every call
    before = counts()
    with pytest.raises(CommandError, match="The import was cancelled. Nothing was imported."):
        import_base(base, manager_user)
    # Every table is read and validated before anything is written, so the cancel comes first.
    assert [phase for _, phase in seen] == ["read", "validated"]
    assert counts() == before
    run = ImportRun.objects.latest("pk")
    assert run.status == ImportStatus.FAILED and not run.records.exists()


def test_the_wizard_reports_a_crash_and_writes_nothing(base, existing, manager_client, monkeypatch):
    response = manager_client.post(reverse("import_start"), {"pasted": FILES["People-All.csv"]})
    run = ImportRun.objects.latest("pk")
    manager_client.post(response["Location"], {"entity": "contacts"})
    before = counts()
    monkeypatch.setattr(runner, "record_changes", lambda *a, **k: 1 / 0)
    response = manager_client.post(reverse("import_run", args=[run.pk]), follow=True)
    assert "The import stopped with an error (ZeroDivisionError" in response.content.decode()
    assert counts() == before


# --- Undo ----------------------------------------------------------------------------------------


def test_undo_removes_what_was_created_and_restores_what_was_changed(base, existing, manager_user, manager_client):
    before = counts()
    run = import_base(base, manager_user)
    assert Tag.objects.filter(name="Re-up").exists()
    page = manager_client.get(reverse("import_undo", args=[run.pk]))
    assert page.status_code == 200 and "Undo the import" in page.content.decode()
    response = manager_client.post(reverse("import_undo", args=[run.pk]))
    assert response["Location"] == reverse("import_detail", args=[run.pk])
    run.refresh_from_db()
    assert run.status == ImportStatus.UNDONE and run.undone_by == manager_user
    now = counts()
    for model in MODELS:
        assert now[model.__name__] == before[model.__name__], model.__name__
    existing["beacon"].refresh_from_db()
    existing["cara"].refresh_from_db()
    assert existing["beacon"].type == OrganizationType.OTHER
    assert existing["cara"].title == "Angel"
    # Every removal and restore is in the history, naming who undid it and why.
    assert Contact.history.filter(history_change_reason=f"Undo of import #{run.pk}", history_user=manager_user)
    assert Organization.history.filter(history_type="-", history_user=manager_user).exists()
    summary = manager_client.get(reverse("import_detail", args=[run.pk])).content.decode()
    assert "restored to how they were before the import" in summary
    assert manager_client.post(reverse("import_undo", args=[run.pk]), follow=True).status_code == 200
    with pytest.raises(UndoError, match="only a finished import"):
        undo_run(run, manager_user)


def test_undo_keeps_what_changed_since_and_says_why(base, existing, manager_user, admin_user):
    run = import_base(base, manager_user)
    ada = Contact.objects.get(email="ada@atlas.com")
    ada.title = "Chief Investment Officer"
    ada._history_user = admin_user
    ada.save()
    bo = Contact.objects.get(email="bo@beacon.org")
    later = Communication(contact=bo, subject="Logged after the import", communication_date=timezone.now())
    later._history_user = admin_user
    later.save()
    outcome = undo_run(run, manager_user)
    run.refresh_from_db()
    assert run.status == ImportStatus.PARTLY_UNDONE
    kept = {k.label: k.reason for k in outcome.kept}
    assert kept["Ada Okafor"].startswith(f"changed by {admin_user.display_name}")
    assert "Logged after the import" in kept["Bo Chen"]
    assert "Ada Okafor" in kept["Atlas Partners"]  # the firm of a kept person stays too
    assert Contact.objects.filter(email__in=["ada@atlas.com", "bo@beacon.org"]).count() == 2
    assert Communication.objects.filter(subject="Logged after the import").exists()
    assert not Communication.objects.filter(subject="Intro").exists()  # imported ones are gone
    assert not Commitment.objects.exists()
    assert run.undo_report["kept"]


def test_a_failed_import_cannot_be_undone(manager_user):
    run = ImportRun.objects.create(user=manager_user, file_name="x.csv", status=ImportStatus.FAILED)
    with pytest.raises(UndoError):
        undo_run(run, manager_user)


# --- Roles ---------------------------------------------------------------------------------------

IMPORT_URLS = [
    ("import_start", False),
    ("import_history", False),
    ("import_mappings", False),
    ("import_saved_mapping_download", "mapping"),
    ("import_saved_mapping_delete", "mapping"),
    ("import_detail", "run"),
    ("import_entity", "run"),
    ("import_mapping", "run"),
    ("import_mapping_download", "run"),
    ("import_preview", "run"),
    ("import_run", "run"),
    ("import_discard", "run"),
    ("import_undo", "run"),
]


@pytest.fixture
def targets(admin_user):
    run = ImportRun.objects.create(
        user=admin_user,
        file_name="p.csv",
        entity="contacts",
        source_text="Full Name,E-mail\nAda Okafor,ada@x.com\n",
        mapping={"tables": []},
    )
    saved = SavedMapping.objects.create(name="People", entity="contacts", mapping={"tables": []})
    return {"run": run.pk, "mapping": saved.pk}


def _url(name, kind, targets):
    return reverse(name, args=[targets[kind]]) if kind else reverse(name)


@pytest.mark.parametrize(("name", "kind"), IMPORT_URLS)
def test_members_are_refused_every_import_url_whatever_the_method(member_client, targets, name, kind):
    url = _url(name, kind, targets)
    assert member_client.get(url).status_code == 403
    assert member_client.post(url, {"action": "preview"}).status_code == 403
    assert member_client.get(url, headers={"HX-Request": "true"}).status_code == 403
    assert ImportRun.objects.filter(pk=targets["run"]).exists()
    assert SavedMapping.objects.filter(pk=targets["mapping"]).exists()


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN])
def test_managers_and_admins_walk_the_wizard(client, request, targets, role):
    client.force_login(request.getfixturevalue(f"{role}_user"))
    for name, kind in IMPORT_URLS:
        if name in ("import_run", "import_discard", "import_saved_mapping_delete"):
            continue
        assert client.get(_url(name, kind, targets)).status_code in (200, 302), name


def test_the_import_section_is_not_in_a_members_menu(member_client):
    assert f'href="{reverse("import_start")}"' not in member_client.get(reverse("dashboard")).content.decode()


def test_the_import_section_is_in_a_managers_menu(manager_client):
    assert f'href="{reverse("import_start")}"' in manager_client.get(reverse("dashboard")).content.decode()


def test_upload_errors_re_render_the_form_and_create_nothing(manager_client, settings):
    settings.CRM_IMPORT_MAX_MB = 1
    response = manager_client.post(reverse("import_start"), {"pasted": "Name\n" + "Ada\n" * 300_000})
    assert response.status_code == 200 and "limited to 1 MB" in response.content.decode()
    response = manager_client.post(reverse("import_start"), {})
    assert "Choose a CSV file to upload, or paste CSV text." in response.content.decode()
    response = manager_client.post(reverse("import_start"), {"pasted": "Name,Email\nAda,a@x.com,oops\n"})
    assert "row 2 has 3" in response.content.decode()
    assert not ImportRun.objects.exists()


@pytest.mark.parametrize(
    ("name", "root"), [("import_history", '<div id="history-table"'), ("import_undo", '<section id="undo-confirm"')]
)
def test_history_and_undo_pages_answer_htmx_with_their_fragment(manager_client, manager_user, name, root):
    run = ImportRun.objects.create(
        user=manager_user, file_name="people.csv", entity="contacts", status=ImportStatus.IMPORTED
    )
    url = reverse(name, args=[run.pk]) if name == "import_undo" else reverse(name)
    page = manager_client.get(url)
    assert page.status_code == 200 and "<html" in page.content.decode() and "people.csv" in page.content.decode()
    fragment = manager_client.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.content.decode().lstrip().startswith(root)
    assert "HX-Request" in fragment["Vary"]


def test_a_run_left_running_by_a_dead_process_shows_as_interrupted(manager_client, manager_user):
    run = ImportRun.objects.create(user=manager_user, file_name="big.csv", status=ImportStatus.RUNNING)
    ImportRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timezone.timedelta(hours=3))
    page = manager_client.get(reverse("import_history")).content.decode()
    run.refresh_from_db()
    assert run.status == ImportStatus.FAILED and "interrupted" in run.message
    assert "big.csv" in page and "Failed" in page


def test_custom_fields_are_suggested_and_filled(manager_user):
    from crm.imports.mapping import ImportOptions, complete
    from crm.imports.runner import TableInput, run_import
    from crm.imports.source import parse_text
    from crm.models import CustomField, CustomFieldEntity, CustomFieldType

    CustomField.objects.create(name="AUM", entity=CustomFieldEntity.ORGANIZATION, field_type=CustomFieldType.NUMBER)
    CustomField.objects.create(
        name="Fit score",
        entity=CustomFieldEntity.ORGANIZATION,
        field_type=CustomFieldType.SINGLE_SELECT,
        options="1\n2\n3",
    )
    source = parse_text("Firm Name,AUM (USD bn),Fit Score\nAtlas Partners,32.0,3\nBeacon,NaN,7\n", "firms.csv")
    table = complete(source, "organizations")
    assert table.columns == {"Firm Name": "name", "AUM (USD bn)": "custom:aum", "Fit Score": "custom:fit_score"}
    outcome = run_import([TableInput(source, table)], user=manager_user, options=ImportOptions("UTC"), dry_run=False)
    assert outcome.status == "blocked"  # Beacon's values are not numbers / options: nothing written
    errors = [m.text for row in outcome.tables[0].rows for m in row.messages if m.level == "error"]
    assert any("NaN" in e for e in errors) and any("7" in e and "options" in e for e in errors)
    assert not Organization.objects.exists()
    outcome = run_import(
        [TableInput(source, table)], user=manager_user, options=ImportOptions("UTC"), dry_run=False, skip_errors=True
    )
    assert Organization.objects.get(name="Atlas Partners").custom_fields == {"aum": "32.0", "fit_score": "3"}


def test_a_report_longer_than_its_budget_keeps_every_error_and_says_how_many_rows_it_left_out(monkeypatch):
    from crm.imports.context import RowMessage, RowOutcome, TableOutcome

    monkeypatch.setattr(runner, "MAX_REPORTED_ROWS", 10)
    table = TableOutcome("people.csv", "contacts", rows_read=100)
    for number in range(2, 102):
        if number % 20 == 0:
            table.count(RowOutcome(number, "error", "", [RowMessage("error", "not an e-mail address")]))
        else:
            table.count(RowOutcome(number, "create", f"Person {number}"))
    report = runner.RunOutcome("dry_run", tables=[table]).report(dry_run=True)
    rows = report["tables"][0]["rows"]
    assert [row["n"] for row in rows] == [2, 3, 4, 5, 6, 20, 40, 60, 80, 100]  # in file order
    assert report["tables"][0]["rows_truncated"] == 90
    assert report["totals"]["errors"] == 5
