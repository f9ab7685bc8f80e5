"""Importing commitments: two rows of one LP in one fund, withdrawn rows, and who becomes an investor.

The rules (lps.resources): an investor's only row for a fund is their commitment without an
investing entity; several rows for one fund are told apart by an “Investing entity” column
or else by their investor category, never added together or dropped; withdrawn (and its
synonyms) is a status that counts toward nothing; an LP profile made by an import leaves
the contact's type alone when the file gave it, or when the commitment is not binding.
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from contacts.models import Contact, ContactType
from crm.models import ImportRun, ImportStatus
from lps.models import Commitment, CommitmentStatus, Fund, LPProfile

pytestmark = pytest.mark.django_db

HEADER = "Investor,E-mail (from Investor),Vehicle,Commitment Status,Amount Committed,Amount Paid In,Investor Category\n"
PEOPLE = (
    "Full Name,E-mail,Relationship\n"
    "Ada Gillespie,ada@example.com,Current LP\n"
    "Bo Chen,bo@example.com,Prospective LP\n"
    "Cara Diaz,cara@example.com,Advisor\n"
)


def run(tmp_path, files: dict[str, str], user, *extra: str) -> ImportRun:
    folder = tmp_path / f"run{ImportRun.objects.count()}"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    call_command("import_airtable", str(folder), "--user", user.username, *extra, stdout=io.StringIO())
    return ImportRun.objects.latest("pk")


def rows_of(run: ImportRun, entity: str = "commitments") -> dict[int, dict]:
    table = next(t for t in run.report["tables"] if t["entity"] == entity)
    return {row["n"]: row for row in table["rows"]}


def messages(row: dict) -> str:
    return " | ".join(m["t"] for m in row.get("m", []))


def test_two_rows_of_one_lp_in_one_fund_become_two_commitments_told_apart_by_category(tmp_path, manager_user):
    files = {
        "Commitments.csv": HEADER
        + 'Ada Gillespie,ada@example.com,Fund I,Closed,"$250,000",$220000.00,Individual\n'
        + 'Ada Gillespie,ada@example.com,Fund I,Closed,"$150,000",$132000.00,Trust / IRA\n'
        + 'Ada Gillespie,ada@example.com,Fund II,Signed,"$300,000",,Trust / IRA\n'
    }
    first = run(tmp_path, files, manager_user)
    assert first.status == ImportStatus.IMPORTED and first.created_count >= 3
    ada = LPProfile.objects.get(contact__email="ada@example.com")
    got = sorted(ada.commitments.values_list("fund__name", "investing_entity", "commitment_amount"))
    assert got == [
        ("Fund I", "Individual", Decimal("250000")),
        ("Fund I", "Trust / IRA", Decimal("150000")),
        ("Fund II", "", Decimal("300000")),  # their only Fund II row: no entity needed
    ]
    assert Commitment.objects.filter(fund__name="Fund I").totals()["committed"] == Decimal("400000")
    history = Commitment.history.count()

    again = run(tmp_path, files, manager_user)
    assert (again.created_count, again.updated_count) == (0, 0)
    assert Commitment.objects.count() == 3 and Commitment.history.count() == history


def test_rows_nothing_tells_apart_are_errors_never_summed(tmp_path, manager_user):
    files = {
        "Commitments.csv": HEADER
        + 'Ada Gillespie,ada@example.com,Fund I,Closed,"$250,000",,Individual\n'
        + 'Ada Gillespie,ADA@example.com ,Fund I,Closed,"$150,000",,individual\n'
        + 'Bo Chen,bo@example.com,Fund I,Closed,"$100,000",,Individual\n'
    }
    with pytest.raises(CommandError, match="have errors"):
        run(tmp_path, files, manager_user)
    assert not Commitment.objects.exists()
    report = rows_of(ImportRun.objects.latest("pk"))
    assert report[2]["a"] == report[3]["a"] == "error" and report[4]["a"] == "create"
    assert "the same investor and fund as row 3" in messages(report[2])
    assert "not added together and neither is dropped" in messages(report[3])
    assert "Investing entity" in messages(report[2])

    run(tmp_path, files, manager_user, "--skip-errors")
    assert list(Commitment.objects.values_list("lp__contact__email", flat=True)) == ["bo@example.com"]


def test_an_investing_entity_column_is_suggested_and_names_every_row(tmp_path, manager_user):
    files = {
        "Commitments.csv": (
            "Investor,E-mail (from Investor),Vehicle,Investing Entity,Commitment Status,Amount Committed\n"
            'Ada Gillespie,ada@example.com,Fund I,Gillespie Family Trust,Closed,"$150,000"\n'
            'Ada Gillespie,ada@example.com,Fund I,,Closed,"$250,000"\n'
            'Bo Chen,bo@example.com,Fund I,Chen Holdings LLC,Signed,"$100,000"\n'
        )
    }
    imported = run(tmp_path, files, manager_user)
    assert imported.mapping["tables"][0]["columns"]["Investing Entity"] == "investing_entity"
    got = sorted(Commitment.objects.values_list("lp__contact__email", "investing_entity"))
    assert got == [
        ("ada@example.com", ""),
        ("ada@example.com", "Gillespie Family Trust"),
        ("bo@example.com", "Chen Holdings LLC"),
    ]


def test_a_hostile_or_overlong_entity_is_an_error_that_writes_nothing(tmp_path, manager_user):
    files = {
        "Commitments.csv": (
            "Investor,E-mail (from Investor),Vehicle,Investing Entity,Commitment Status,Amount Committed\n"
            'Ada Gillespie,ada@example.com,Fund I,<script>alert(1)</script>,Closed,"$150,000"\n'
            f'Bo Chen,bo@example.com,Fund I,{"x" * 201},Closed,"$150,000"\n'
        )
    }
    with pytest.raises(CommandError):
        run(tmp_path, files, manager_user)
    report = rows_of(ImportRun.objects.latest("pk"))
    assert report[2]["a"] == report[3]["a"] == "error"
    assert "too long for an investing entity" in messages(report[3])
    assert not Commitment.objects.exists() and not LPProfile.objects.exists()


@pytest.mark.parametrize("typed", ["Withdrawn", "withdrew", "Declined", "Cancelled"])
def test_withdrawn_and_its_synonyms_keep_the_amount_and_count_toward_nothing(tmp_path, manager_user, typed):
    files = {
        "Commitments.csv": HEADER
        + f'Ada Gillespie,ada@example.com,Fund II,{typed},"$250,000",,Individual\n'
        + 'Bo Chen,bo@example.com,Fund II,Signed,"$1,000,000",,Individual\n'
    }
    imported = run(tmp_path, files, manager_user)
    withdrawn = Commitment.objects.get(lp__contact__email="ada@example.com")
    assert withdrawn.status == CommitmentStatus.WITHDRAWN and withdrawn.commitment_amount == Decimal("250000")
    totals = Fund.objects.get(name="Fund II").commitments.totals()
    assert (totals["committed"], totals["soft_circled"], totals["withdrawn"]) == (
        Decimal("1000000"),
        Decimal("0"),
        Decimal("250000"),
    )
    fund = next(f for f in imported.fund_totals if f["fund"] == "Fund II")
    assert (Decimal(fund["committed"]), Decimal(fund["withdrawn"])) == (Decimal("1000000"), Decimal("250000"))


def test_a_single_row_updates_the_lps_only_commitment_whatever_its_entity(tmp_path, manager_user):
    files = {"Commitments.csv": HEADER + 'Ada Gillespie,ada@example.com,Fund I,Closed,"$250,000",,Individual\n'}
    run(tmp_path, files, manager_user)
    Commitment.objects.update(investing_entity="Gillespie Family Trust")  # named later, in the CRM
    files["Commitments.csv"] = HEADER + 'Ada Gillespie,ada@example.com,Fund I,Closed,"$250,000",$50000.00,Individual\n'
    again = run(tmp_path, files, manager_user)
    assert again.updated_count == 1
    only = Commitment.objects.get()
    assert only.investing_entity == "Gillespie Family Trust" and only.funded_amount == Decimal("50000")


def test_a_single_row_for_an_lp_with_two_commitments_to_the_fund_asks_which(tmp_path, manager_user):
    files = {
        "Commitments.csv": HEADER
        + 'Ada Gillespie,ada@example.com,Fund I,Closed,"$250,000",,Individual\n'
        + 'Ada Gillespie,ada@example.com,Fund I,Closed,"$150,000",,Trust / IRA\n'
    }
    run(tmp_path, files, manager_user)
    files["Commitments.csv"] = HEADER + 'Ada Gillespie,ada@example.com,Fund I,Closed,"$999,000",,Individual\n'
    with pytest.raises(CommandError):
        run(tmp_path, files, manager_user)
    report = rows_of(ImportRun.objects.latest("pk"))
    assert "has 2 commitments to Fund I" in messages(report[2]) and "to say which it is" in messages(report[2])
    assert sorted(Commitment.objects.values_list("commitment_amount", flat=True)) == [150000, 250000]


def test_a_second_row_for_a_fund_warns_when_the_lp_already_has_one_without_an_entity(tmp_path, manager_user):
    files = {"Commitments.csv": HEADER + 'Ada Gillespie,ada@example.com,Fund I,Closed,"$250,000",,Individual\n'}
    run(tmp_path, files, manager_user)
    files["Commitments.csv"] += 'Ada Gillespie,ada@example.com,Fund I,Closed,"$150,000",,Trust / IRA\n'
    second = run(tmp_path, files, manager_user)
    report = rows_of(second)
    assert all(row["a"] == "create" for row in report.values())
    assert "already has a commitment to Fund I without an investing entity" in messages(report[2])
    assert Commitment.objects.count() == 3  # the person decides in the LP tracker; nothing is merged silently


def test_the_relationship_column_wins_over_the_lp_profile_an_import_makes(tmp_path, manager_user):
    files = {
        "People.csv": PEOPLE,
        "Commitments.csv": HEADER
        + 'Bo Chen,bo@example.com,Fund II,Closed,"$100,000",$100000.00,Individual\n'
        + 'Cara Diaz,cara@example.com,Fund II,Soft-circled,"$50,000",,Individual\n'
        + 'Ada Gillespie,ada@example.com,Fund II,Soft-circled,"$50,000",,Individual\n',
    }
    imported = run(tmp_path, files, manager_user)
    types = dict(Contact.objects.values_list("email", "contact_type"))
    assert types == {
        "ada@example.com": ContactType.INVESTOR,
        "bo@example.com": ContactType.PROSPECT,  # the file says so, closed commitment or not
        "cara@example.com": ContactType.ADVISOR,
    }
    assert LPProfile.objects.count() == 3
    bo = next(row for row in rows_of(imported).values() if "Bo Chen" in row["r"])
    assert "stays a prospect: their type comes from the file" in messages(bo)
    # Nothing flipped and back: the contacts have only the history rows of their creation.
    assert Contact.history.filter(history_type="~").count() == 0


def test_without_a_relationship_a_binding_commitment_makes_an_investor_and_a_soft_circle_does_not(
    tmp_path, manager_user
):
    for email, name in (("bo@example.com", "Chen"), ("cara@example.com", "Diaz")):
        Contact.objects.create(first_name="X", last_name=name, email=email, contact_type=ContactType.PROSPECT)
    files = {
        "Commitments.csv": HEADER
        + 'X Chen,bo@example.com,Fund II,Signed,"$100,000",,Individual\n'
        + 'X Diaz,cara@example.com,Fund II,Soft-circled,"$50,000",,Individual\n'
    }
    run(tmp_path, files, manager_user)
    types = dict(Contact.objects.values_list("email", "contact_type"))
    assert types == {"bo@example.com": ContactType.INVESTOR, "cara@example.com": ContactType.PROSPECT}
    bo = Contact.objects.get(email="bo@example.com")
    assert bo.history.latest().history_user == manager_user  # the flip names the importer
