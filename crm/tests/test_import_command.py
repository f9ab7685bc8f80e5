"""manage.py import_airtable on the sample Airtable base: every fact of expected.json, reproduced.

The base is imported once for the module (in a transaction rolled back at the end); each
test reads what it needs. Numbers come from expected.json; where the CRM's model differs
from the old base on purpose, the test says how and checks the difference exactly.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from contacts.models import Communication, Contact, Organization
from crm.imports.mapping import loads
from crm.models import ImportedRecord, ImportRun, ImportSource, ImportStatus
from crm.tests.importing import (
    SAMPLE,
    expected,
    make_team,
    mapping_text,
    module_data,
    needs_sample,
    sample_file,
    sample_rows,
)
from crm.tests.sample_facts import use_sample_facts
from lps.models import Commitment, CommitmentStatus, Fund, LPProfile
from pipeline.models import Opportunity

pytestmark = [needs_sample, pytest.mark.django_db]
use_sample_facts(globals())


@pytest.fixture(scope="module")
def imported(django_db_setup, django_db_blocker, tmp_path_factory):
    with module_data(django_db_blocker):
        team = make_team()
        mapping = tmp_path_factory.mktemp("mapping") / "marram.json"
        mapping.write_text(mapping_text(), encoding="utf-8")
        out = io.StringIO()
        call_command("import_airtable", str(SAMPLE), "--mapping", str(mapping), "--user", "importer", stdout=out)
        run = ImportRun.objects.get()
        yield {"team": team, "output": out.getvalue(), "run": run, "mapping": mapping, "values": run_values(run)}


def run_values(run: ImportRun) -> dict[str, dict[str, dict]]:
    """The value mapping the run used, per entity and field (suggestions plus the mapping file)."""
    mapping = loads(json.dumps(run.mapping))
    return {table.entity: table.values for table in mapping.tables}


# --- The run itself (the command) ---------------------------------------------------------------------------


def test_command_prints_a_reconciliation_per_table_and_totals_per_fund(imported):
    output = imported["output"]
    for name, facts in expected()["files"].items():
        line = next(line for line in output.splitlines() if line.startswith(name))
        assert line.split()[-5] == str(facts["data_rows"]), line  # rows read
    assert "Commitments per fund" in output
    funds = expected()["commitments"]["per_fund"]
    for fund, facts in funds.items():
        line = next(line for line in output.splitlines() if line.strip().startswith(fund + " "))
        assert facts["binding_signed_plus_closed"]["committed"].removesuffix(".00") in line
        assert facts["binding_signed_plus_closed"]["paid_in"].removesuffix(".00") in line
    assert "Dana Pruitt" in output  # the unknown collaborator is reported, not invented
    assert "Imported" in output and f"#{imported['run'].pk}" in output


def test_run_is_recorded_with_counts_mapping_and_the_records_it_made(imported):
    run = imported["run"]
    assert run.status == ImportStatus.IMPORTED
    assert run.source == ImportSource.COMMAND
    assert run.user == imported["team"]["importer"]
    files = expected()["files"]
    assert run.rows_read == sum(f["data_rows"] for f in files.values())
    assert [t["read"] for t in sorted(run.tables, key=lambda t: t["name"])] == [
        files[name]["data_rows"] for name in sorted(files)
    ]
    assert all(t["errors"] == 0 for t in run.tables)
    assert run.mapping["time_zone"] == "America/Los_Angeles"
    created = ImportedRecord.objects.filter(run=run, action="created")
    assert created.filter(content_type__model="communication").count() == expected()["touchpoints"]["records_exported"]
    assert created.filter(content_type__model="organization").count() == Organization.objects.count()


# --- Running it again, dry runs, bad input ----------------------------------------------------


def test_running_the_same_import_again_creates_and_changes_nothing(imported):
    counts = {m: m.objects.count() for m in (Organization, Contact, Commitment, Opportunity, Communication, Fund)}
    history = {m: m.history.count() for m in counts}
    out = io.StringIO()
    args = [str(SAMPLE), "--mapping", str(imported["mapping"]), "--user", "importer"]
    call_command("import_airtable", *args, stdout=out)
    assert {m: m.objects.count() for m in counts} == counts
    assert {m: m.history.count() for m in counts} == history
    run = ImportRun.objects.latest("pk")
    assert (run.created_count, run.updated_count) == (0, 0)
    assert not run.records.exists()


def _folder_with(tmp_path, *tables: str):
    for table in tables:
        source = sample_file(table)
        (tmp_path / source.name).write_bytes(source.read_bytes())
    return tmp_path


def test_dry_run_reports_what_it_would_do_and_writes_nothing(imported, tmp_path):
    folder = _folder_with(tmp_path, "Firms")
    with (folder / "Firms.csv").open("a", encoding="utf-8") as handle:
        handle.write("\nNew Horizon Endowment,Endowment,newhorizon.org,,,,,,,,,,")
    orgs, history, runs = Organization.objects.count(), Organization.history.count(), ImportRun.objects.count()
    out = io.StringIO()
    call_command("import_airtable", str(folder), "--user", "importer", "--dry-run", stdout=out)
    assert "Dry run finished: nothing was written." in out.getvalue()
    line = next(line for line in out.getvalue().splitlines() if line.startswith("Firms.csv"))
    assert line.split()[-5:] == [str(expected()["files"]["Firms.csv"]["data_rows"] + 1), "1", "0", "63", "0"]
    assert (Organization.objects.count(), Organization.history.count(), ImportRun.objects.count()) == (
        orgs,
        history,
        runs,
    )
    assert not Organization.objects.filter(name="New Horizon Endowment").exists()


def _commitments_with_a_status_nobody_knows(tmp_path):
    """The sample's Commitments file with its Withdrawn row's status typed as “On hold”:
    a value no status of ours is suggested for."""
    folder = _folder_with(tmp_path, "Commitments")
    path = folder / sample_file("Commitments").name
    data = path.read_text(encoding="utf-8-sig")
    assert data.count(",Withdrawn,") == 1
    path.write_text(data.replace(",Withdrawn,", ",On hold,"), encoding="utf-8-sig")
    return folder


def test_without_a_policy_the_unmapped_values_are_errors_and_nothing_is_written(imported, tmp_path):
    folder = _commitments_with_a_status_nobody_knows(tmp_path)
    Commitment.objects.filter(fund__name="Fund II").delete()
    out = io.StringIO()
    with pytest.raises(CommandError, match="row\\(s\\) have errors"):
        call_command("import_airtable", str(folder), "--user", "importer", stdout=out)
    text = out.getvalue()
    assert "Commitment Status: no meaning yet for “On hold” (1)" in text
    assert "Commitment Status: “On hold” has no matching commitment status here" in text
    assert not Commitment.objects.filter(fund__name="Fund II").exists()
    assert ImportRun.objects.latest("pk").status == ImportStatus.FAILED


def test_skip_errors_imports_the_other_rows(imported, tmp_path):
    folder = _commitments_with_a_status_nobody_knows(tmp_path)
    withdrawn = next(r for r in sample_rows("Commitments") if r["Commitment Status"] == "Withdrawn")
    email = withdrawn["E-mail (from Investor)"].strip().lower()
    Commitment.objects.filter(fund__name="Fund II").delete()
    LPProfile.objects.filter(contact__email=email).delete()  # their only commitment was that row
    out = io.StringIO()
    call_command("import_airtable", str(folder), "--user", "importer", "--skip-errors", stdout=out)
    facts = expected()["commitments"]["per_fund"]["Fund II"]
    wanted = facts["all_rows"]["count"] - facts["by_status"]["Withdrawn"]["count"]
    assert Commitment.objects.filter(fund__name="Fund II").count() == wanted
    run = ImportRun.objects.latest("pk")
    assert (run.status, run.error_count) == (ImportStatus.IMPORTED, 1)
    # The error row was rolled back whole: its investor did not even get an LP profile.
    assert Contact.objects.filter(email=email).exists()
    assert not LPProfile.objects.filter(contact__email=email).exists()


def test_write_mapping_writes_the_suggestions_for_editing(imported, tmp_path):
    target = tmp_path / "written.json"
    out = io.StringIO()
    args = [str(SAMPLE), "--mapping", str(imported["mapping"]), "--user", "importer", "--dry-run"]
    call_command("import_airtable", *args, "--write-mapping", str(target), stdout=out)
    written = loads(target.read_text(encoding="utf-8"))
    by_entity = {table.entity: table for table in written.tables}
    assert set(by_entity) == {"organizations", "contacts", "commitments", "opportunities", "communications"}
    assert by_entity["contacts"].columns["E-mail"] == "email"
    assert by_entity["contacts"].columns["Last Touch"] == "last_contacted"  # what the base knew comes along
    assert by_entity["opportunities"].values["stage"]["Soft-circled"] == {"create": "Soft circle"}
    # The written file is accepted back as it is.
    (tmp_path / "one").mkdir()
    folder = _folder_with(tmp_path / "one", "Firms")
    call_command(
        "import_airtable", str(folder), "--mapping", str(target), "--user", "importer", "--dry-run", stdout=out
    )


def test_command_refuses_bad_arguments(imported, tmp_path):
    with pytest.raises(CommandError, match="not a folder"):
        call_command("import_airtable", str(tmp_path / "missing"), "--user", "importer")
    with pytest.raises(CommandError, match="no .csv files"):
        call_command("import_airtable", str(tmp_path), "--user", "importer")
    with pytest.raises(CommandError, match="no active user"):
        call_command("import_airtable", str(SAMPLE), "--user", "nobody")
    with pytest.raises(CommandError, match="imports need a manager"):
        call_command("import_airtable", str(SAMPLE), "--user", "ruth")
    bad = tmp_path / "bad.json"
    bad.write_text('{"tables": [{"entity": "deals"}]}')
    with pytest.raises(CommandError, match="entity"):
        call_command("import_airtable", str(SAMPLE), "--user", "importer", "--mapping", str(bad))
    with pytest.raises(CommandError, match="not a time zone"):
        call_command("import_airtable", str(SAMPLE), "--user", "importer", "--time-zone", "Mars/Olympus")


def test_a_file_that_is_not_recognised_stops_the_import_before_anything_is_written(imported, tmp_path):
    (tmp_path / "Firms.csv").write_bytes((SAMPLE / "Firms.csv").read_bytes())
    (tmp_path / "Weather.csv").write_text("Temperature,Humidity\n21,40\n", encoding="utf-8")
    before = Organization.objects.count()
    with pytest.raises(CommandError, match="Weather.csv: its columns do not look like"):
        call_command("import_airtable", str(tmp_path), "--user", "importer")
    assert Organization.objects.count() == before


def test_a_table_the_mapping_file_marks_skip_is_left_out_of_the_import(imported, tmp_path):
    (tmp_path / "Firms.csv").write_bytes((SAMPLE / "Firms.csv").read_bytes())
    (tmp_path / "Weather.csv").write_text("Temperature,Humidity\n21,40\n", encoding="utf-8")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(
        json.dumps({"tables": [{"entity": "skip", "files": ["Weather.csv"], "headers": ["Temperature", "Humidity"]}]}),
        encoding="utf-8",
    )
    out = io.StringIO()
    call_command("import_airtable", str(tmp_path), "--user", "importer", "--mapping", str(mapping), stdout=out)
    run = ImportRun.objects.latest("pk")
    assert [t["name"] for t in run.tables] == ["Firms.csv"]
    assert "Weather" not in out.getvalue()
    # A skip whose files and headers are not lists is a tampered file, refused before anything is read.
    mapping.write_text(json.dumps({"tables": [{"entity": "skip", "headers": "Temperature"}]}), encoding="utf-8")
    with pytest.raises(CommandError, match="must be lists"):
        call_command("import_airtable", str(tmp_path), "--user", "importer", "--mapping", str(mapping))


def test_commitment_statuses_other_funds_use_are_suggested(imported):
    from crm.imports.schema import choice_spec
    from crm.imports.suggest import suggest_value

    spec = choice_spec("commitments", "status")
    assert suggest_value("Hard Commit", spec)[0] == CommitmentStatus.HARD_CIRCLE
    assert suggest_value("soft circle", spec)[0] == CommitmentStatus.SOFT_CIRCLE
    assert suggest_value("Withdrawn", spec)[0] == CommitmentStatus.WITHDRAWN
    assert suggest_value("Cancelled", spec)[0] == CommitmentStatus.WITHDRAWN
    assert suggest_value("On hold", spec)[0] is None
    stages = choice_spec("opportunities", "stage")
    assert suggest_value("PASSED", stages)[0] == "Passed"
    assert suggest_value("first meeting", stages)[0] == "Meeting"
