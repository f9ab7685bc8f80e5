"""Another fund's Airtable base imports with no mapping file at all (issue 12).

The base is generated here, in a temporary folder, with its own table and column names (none
of them named in the engine): formula primary fields (“Ada Byron – Fund II”), currency with
and without separators, a commitments table whose text primary field is called
“Commitment” beside the real “Amount ($)”, a pipeline without a fund column, categories and
stages that are not ours, and day-first dates. ``import_airtable DIR --time-zone
Europe/London`` alone must reproduce every fact listed below.
"""

from __future__ import annotations

import datetime
import io
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from contacts.models import Communication, CommunicationType, Contact, ContactType, Organization, OrganizationType
from crm.imports.schema import NOTES
from crm.models import ImportRun, ImportStatus, Role, User
from crm.tests.importing import SAMPLE, csv_bytes, expected, form_fields, needs_sample
from lps.models import Commitment, CommitmentStatus, Fund, FundStatus
from pipeline.models import Opportunity, Stage, StageOutcome

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")

INSTITUTIONS = [
    ["Institution", "Kind", "Web", "Country", "Created"],
    ["Orrery Family Office", "Single Family Office", "orreryfo.example", "Czechia", "14/01/2024 09:30"],
    ["Saltash College", "Univ. Endowment", "https://saltash.example", "United States", "14/01/2024 09:31"],
    ["Gorse Retirement Board", "Public Pension Plan", "", "United Kingdom", "15/01/2024 11:00"],
    ["Kestrel Capital", "Hedge Fund", "kestrel.example", "United Kingdom", "16/01/2024 16:45"],
    ["Runnel Charitable Trust", "Charitable Trust", "", "Ireland", "20/02/2024 08:05"],
    ["Quire Holdings", "Famly Ofice", "", "United States", "21/02/2024 10:10"],
]
INVESTORS = [
    ["Investor Name", "Email Address", "Institution", "Type", "Phone", "Created", "Last Contacted"],
    [
        "Ada Byron",
        "ada@orreryfo.example",
        "Orrery Family Office",
        "Existing LP",
        "+44 20 7946 0001",
        "14/01/2024 09:40",
        "02/02/2025",
    ],
    ["Bo Chen", "bo.chen@saltash.example", "Saltash College", "Prospective", "", "14/01/2024 09:41", ""],
    ["Cy Dahl", "cy@gorse.example", "Gorse Retirement Board", "Warm lead", "", "15/01/2024 11:05", "01/12/2025"],
    ["Di Evans", "di@kestrel.example", "Kestrel Capital", "Journalist", "", "16/01/2024 16:50", "05/11/2025"],
    ["Ed Fox", "ed.fox@runnel.example", "Runnel Charitable Trust", "Existing LP", "", "20/02/2024 08:10", ""],
    ["Flo Gray", "flo@quire.example", "Quire Holdings", "Existing LP", "", "21/02/2024 10:15", ""],
]
# The text primary field is called “Commitment”; the money is in “Amount ($)”.
COMMITMENTS = [
    ["Commitment", "LP", "Program", "State", "Amount ($)", "Called ($)", "Close Date", "Created"],
    ["Ada Byron – Fund I", "Ada Byron", "Fund I", "Wired", "$1,250,000", "1250000", "14/03/2021", "14/03/2021 10:00"],
    ["Ed Fox – Fund I", "Ed Fox", "Fund I", "Signed", "750000", "", "03/04/2021", "03/04/2021 12:00"],
    ["Ada Byron – Fund II", "Ada Byron", "Fund II", "Soft Circled", "$2,000,000", "", "", "01/09/2025 09:00"],
    ["Flo Gray – Fund II", "Flo Gray", "Fund II", "Committed", "$500,000.00", "", "25/11/2025", "25/11/2025 15:00"],
    ["Bo Chen – Fund II", "Bo Chen", "Fund II", "Backed out", "300000", "", "", "02/10/2025 09:00"],
]
# No fund column: the primary field names it, or the notes, or it is the fund being raised.
TRACKER = [
    ["Opportunity", "Investor", "Phase", "Ticket ($)", "Odds", "Target Close", "Notes", "Created"],
    ["Ada Byron – Fund II", "Ada Byron", "Soft Circled", "$2,000,000", "60%", "30/06/2026", "", "01/09/2025 09:05"],
    ["Bo Chen – Fund II", "Bo Chen", "Not a fit", "300000", "0%", "", "Passed on size.", "02/10/2025 09:05"],
    ["Cy Dahl – Fund II", "Cy Dahl", "Intro call", "$1,000,000", "10%", "05/02/2026", "", "03/10/2025 10:00"],
    ["Di Evans – Fund II", "Di Evans", "Diligence", "1500000", "40%", "13/01/2026", "", "04/10/2025 10:00"],
    ["Ed Fox re-up", "Ed Fox", "Term sheet", "$750,000", "70%", "", "Re-up from Fund I.", "05/10/2025 10:00"],
    ["Flo Gray top-up", "Flo Gray", "Closed Won", "$500,000", "100%", "25/11/2025", "", "06/10/2025 10:00"],
]
INTERACTIONS = [
    ["Topic", "Medium", "Date", "Investors", "Notes", "Created"],
    ["Zoom – Ada Byron", "Zoom", "14/03/2025 10:30", "Ada Byron", "Fund II timing.", "14/03/2025 11:00"],
    ["Lunch – Bo Chen", "Lunch", "03/04/2025 13:00", "Bo Chen", "", "03/04/2025 15:00"],
    ["Email – Cy Dahl", "E-mail", "28/10/2025 08:15", "Cy Dahl", "Sent the deck.", "28/10/2025 08:20"],
]
FILES = {
    "Institutions-All.csv": INSTITUTIONS,
    "Investors-Grid view.csv": INVESTORS,
    "LP Commitments-Grid view.csv": COMMITMENTS,
    "Raise Tracker-Kanban.csv": TRACKER,
    "Interactions-Grid view.csv": INTERACTIONS,
}


@pytest.fixture
def base(tmp_path):
    folder = tmp_path / "other-base"
    folder.mkdir()
    for name, rows in FILES.items():
        (folder / name).write_bytes(csv_bytes(rows))
    return folder


@pytest.fixture
def imported(base, admin_user):
    # The CRM was set up with the fund being raised; Fund I is only in the old base.
    Fund.objects.create(name="Fund II", status=FundStatus.RAISING, vintage_year=2025)
    assert admin_user.role == Role.ADMIN
    out = io.StringIO()
    call_command("import_airtable", str(base), "--time-zone", "Europe/London", stdout=out)
    return out.getvalue()


def test_the_whole_base_imports_with_no_mapping_file_and_no_errors(imported):
    run = ImportRun.objects.get()
    assert run.status == ImportStatus.IMPORTED
    assert (run.created_count, run.updated_count, run.error_count) == (run.rows_read, 0, 0)
    assert run.rows_read == sum(len(rows) - 1 for rows in FILES.values())
    assert run.mapping["date_order"] == "dmy"
    assert "read day first" in imported


def test_organizations_and_their_types_not_ours(imported):
    assert dict(Organization.objects.values_list("name", "type")) == {
        "Orrery Family Office": OrganizationType.FAMILY_OFFICE,
        "Saltash College": OrganizationType.ENDOWMENT,
        "Gorse Retirement Board": OrganizationType.PENSION,
        "Kestrel Capital": OrganizationType.OTHER,  # a hedge fund: nothing like it here
        "Runnel Charitable Trust": OrganizationType.FOUNDATION,
        "Quire Holdings": OrganizationType.FAMILY_OFFICE,  # misspelt
    }
    assert Organization.objects.get(name="Orrery Family Office").website == "https://orreryfo.example"
    assert Organization.objects.get(name="Kestrel Capital").country == "United Kingdom"


def test_investors_with_their_firms_emails_and_types(imported):
    contacts = {c.email: c for c in Contact.objects.select_related("organization")}
    assert {email: (str(c), c.organization.name, c.contact_type) for email, c in contacts.items()} == {
        "ada@orreryfo.example": ("Ada Byron", "Orrery Family Office", ContactType.INVESTOR),
        "bo.chen@saltash.example": ("Bo Chen", "Saltash College", ContactType.PROSPECT),
        "cy@gorse.example": ("Cy Dahl", "Gorse Retirement Board", ContactType.PROSPECT),
        "di@kestrel.example": ("Di Evans", "Kestrel Capital", ContactType.OTHER),
        "ed.fox@runnel.example": ("Ed Fox", "Runnel Charitable Trust", ContactType.INVESTOR),
        "flo@quire.example": ("Flo Gray", "Quire Holdings", ContactType.INVESTOR),
    }
    assert contacts["ada@orreryfo.example"].phone == "+44 20 7946 0001"


def test_commitments_take_the_amount_column_not_the_text_primary_field(imported):
    rows = {
        (str(c.lp.contact), c.fund.name): (c.status, c.commitment_amount, c.funded_amount, c.commitment_date)
        for c in Commitment.objects.select_related("lp__contact", "fund")
    }
    assert rows == {
        ("Ada Byron", "Fund I"): (
            CommitmentStatus.CLOSED,
            Decimal("1250000.00"),
            Decimal("1250000.00"),
            datetime.date(2021, 3, 14),
        ),
        ("Ed Fox", "Fund I"): (CommitmentStatus.SIGNED, Decimal("750000.00"), Decimal("0"), datetime.date(2021, 4, 3)),
        ("Ada Byron", "Fund II"): (CommitmentStatus.SOFT_CIRCLE, Decimal("2000000.00"), Decimal("0"), None),
        ("Flo Gray", "Fund II"): (
            CommitmentStatus.HARD_CIRCLE,
            Decimal("500000.00"),
            Decimal("0"),
            datetime.date(2025, 11, 25),
        ),
        ("Bo Chen", "Fund II"): (CommitmentStatus.WITHDRAWN, Decimal("300000.00"), Decimal("0"), None),
    }
    # The primary field is kept where nothing else holds it: a line of the notes.
    assert (
        "Commitment: Ada Byron – Fund I"
        in Commitment.objects.get(fund__name="Fund I", lp__contact__last_name="Byron").notes
    )
    assert set(Fund.objects.values_list("name", flat=True)) == {"Fund I", "Fund II"}


def test_deals_find_their_fund_in_their_text_and_stages_we_lack_become_stages(imported):
    deals = {
        o.name: (o.fund.name, o.stage.name, o.expected_amount, o.probability, o.expected_close_date)
        for o in Opportunity.objects.select_related("fund", "stage")
    }
    assert deals == {
        "Ada Byron – Fund II": ("Fund II", "Soft Circled", Decimal("2000000.00"), 60, datetime.date(2026, 6, 30)),
        "Bo Chen – Fund II": ("Fund II", "Not a fit", Decimal("300000.00"), 0, None),
        "Cy Dahl – Fund II": ("Fund II", "Outreach", Decimal("1000000.00"), 10, datetime.date(2026, 2, 5)),
        "Di Evans – Fund II": ("Fund II", "Due diligence", Decimal("1500000.00"), 40, datetime.date(2026, 1, 13)),
        "Ed Fox re-up": ("Fund I", "Term sheet", Decimal("750000.00"), 70, None),  # “Re-up from Fund I.”
        "Flo Gray top-up": ("Fund II", "Funded", Decimal("500000.00"), 100, datetime.date(2025, 11, 25)),
    }
    stages = {s.name: s for s in Stage.objects.all()}
    committed, passed = stages["Committed"], stages["Passed"]
    for name in ("Soft Circled", "Term sheet"):
        assert stages[name].outcome == StageOutcome.OPEN
        assert stages["Due diligence"].order < stages[name].order < committed.order
    assert stages["Not a fit"].outcome == StageOutcome.LOST and stages["Not a fit"].order > passed.order
    assert Opportunity.objects.get(name="Bo Chen – Fund II").contact.email == "bo.chen@saltash.example"
    # Which rule found each deal's fund is in the report.
    assert "4 rows by a fund name in the primary field" in imported
    assert "1 row by a fund name in its text" in imported
    assert "1 row by the fund being raised (Fund II)" in imported


def test_created_dates_come_along_while_history_shows_the_import_as_the_change(imported):
    org = Organization.objects.get(name="Orrery Family Office")
    assert org.created_at == datetime.datetime(2024, 1, 14, 9, 30, tzinfo=LONDON)
    assert Contact.objects.get(email="flo@quire.example").created_at == datetime.datetime(
        2024, 2, 21, 10, 15, tzinfo=LONDON
    )
    commitment = Commitment.objects.get(fund__name="Fund I", lp__contact__last_name="Byron")
    assert commitment.created_at == datetime.datetime(2021, 3, 14, 10, 0, tzinfo=LONDON)
    assert Opportunity.objects.get(name="Ed Fox re-up").created_at == datetime.datetime(
        2025, 10, 5, 10, 0, tzinfo=LONDON
    )
    assert Communication.objects.get(subject="Lunch – Bo Chen").created_at == datetime.datetime(
        2025, 4, 3, 15, 0, tzinfo=LONDON
    )
    # The one history row is the import's, written now, and it keeps the original date.
    (row,) = org.history.all()
    assert row.history_type == "+" and row.history_user == ImportRun.objects.get().user
    assert row.history_change_reason == ImportRun.objects.get().change_reason
    assert row.history_date > timezone.now() - datetime.timedelta(minutes=5)
    assert row.created_at == org.created_at
    assert "“Created” → Created on" in imported


@pytest.mark.parametrize("fast", [True, False], ids=["fast-write", "django-simple-history-write"])
def test_created_dates_survive_both_the_fast_and_the_library_write(base, admin_user, monkeypatch, fast):
    from crm.imports import writer

    monkeypatch.setattr(writer, "FAST", fast)
    Fund.objects.create(name="Fund II", status=FundStatus.RAISING, vintage_year=2025)
    started = timezone.now()
    call_command("import_airtable", str(base), "--time-zone", "Europe/London", stdout=io.StringIO())
    org = Organization.objects.get(name="Orrery Family Office")
    assert org.created_at == datetime.datetime(2024, 1, 14, 9, 30, tzinfo=LONDON)
    assert Communication.objects.get(subject="Lunch – Bo Chen").created_at == datetime.datetime(
        2025, 4, 3, 15, 0, tzinfo=LONDON
    )
    (row,) = org.history.all()
    assert row.created_at == org.created_at
    assert row.history_date >= started  # the import is the change; the original date is kept on the row
    # Every created record with a date in the old base keeps it, in its table and its history.
    for model in (Organization, Contact, Commitment, Opportunity, Communication):
        records = list(model.objects.all())
        assert records and all(r.created_at < started for r in records), model
        assert set(model.history.values_list("created_at", flat=True)) == {r.created_at for r in records}
    # Records without a date in the source still get "now".
    assert Fund.objects.get(name="Fund I").created_at >= started


def test_last_contacted_fills_last_touch_until_a_later_communication(imported, manager_client):
    touch = dict(Contact.objects.with_activity().values_list("email", "last_touch"))
    assert touch == {
        "ada@orreryfo.example": datetime.datetime(2025, 3, 14, 10, 30, tzinfo=LONDON),  # the later Zoom call
        "bo.chen@saltash.example": datetime.datetime(2025, 4, 3, 13, 0, tzinfo=LONDON),
        "cy@gorse.example": datetime.datetime(2025, 12, 1, 12, 0, tzinfo=LONDON),  # later than the e-mail
        "di@kestrel.example": datetime.datetime(2025, 11, 5, 12, 0, tzinfo=LONDON),  # no communication at all
        "ed.fox@runnel.example": None,
        "flo@quire.example": None,
    }
    # The “no touch in N days” filter counts the imported date as a touch.
    days = (timezone.now() - datetime.datetime(2025, 11, 1, tzinfo=LONDON)).days
    page = manager_client.get(reverse("contact_list"), {"untouched": days}).content.decode()
    assert "Ed Fox" in page and "Ada Byron" in page
    assert "Di Evans" not in page and "Cy Dahl" not in page


def test_interactions_are_read_day_first_in_the_given_time_zone(imported):
    assert {
        c.subject: (c.type, c.communication_date, str(c.contact))
        for c in Communication.objects.select_related("contact")
    } == {
        "Zoom – Ada Byron": (
            CommunicationType.CALL,
            datetime.datetime(2025, 3, 14, 10, 30, tzinfo=LONDON),
            "Ada Byron",
        ),
        "Lunch – Bo Chen": (CommunicationType.MEETING, datetime.datetime(2025, 4, 3, 13, 0, tzinfo=LONDON), "Bo Chen"),
        "Email – Cy Dahl": (CommunicationType.EMAIL, datetime.datetime(2025, 10, 28, 8, 15, tzinfo=LONDON), "Cy Dahl"),
    }


def test_the_output_shows_each_suggestion_with_its_reason_and_every_fallback(imported):
    assert "“Amount ($)” → Commitment amount (100% of values are amounts; header like “amount”)" in imported
    assert (
        "“Commitment” → the notes (header like “commitment”, but only 0% of values are amounts; kept as a line in "
        "the notes)" in imported
    )
    assert "“Fund I” →" not in imported  # a fund of its own, not a misspelt Fund II
    decided = next(line for line in imported.splitlines() if "Kind: values with no equal here" in line)
    assert "“Hedge Fund” → “Other” (nothing like it here, so Other)" in decided
    assert "“Famly Ofice” → “Family office” (similar spelling (“family office”))" in decided
    assert "“Univ. Endowment” → “Endowment” (similar meaning (“endowment”))" in decided
    assert "“Single Family Office”" not in decided  # one of our synonyms: nothing to tell
    phases = next(line for line in imported.splitlines() if "Phase: values with no equal here" in line)
    assert "“Not a fit” → a new lost stage “Not a fit” (no stage like it here: a new stage, a lost one)" in phases
    assert "“Soft Circled” → a new stage “Soft Circled” (no stage like it here: a new stage, open, " in phases
    assert "“Journalist” → “Other” (nothing like it here, so Other)" in imported


def test_running_it_again_changes_nothing(imported, base):
    counts = {
        m: m.objects.count() for m in (Organization, Contact, Commitment, Opportunity, Communication, Fund, Stage)
    }
    call_command("import_airtable", str(base), "--time-zone", "Europe/London", stdout=io.StringIO())
    assert {m: m.objects.count() for m in counts} == counts
    run = ImportRun.objects.latest("pk")
    assert (run.created_count, run.updated_count, run.error_count) == (0, 0, 0)


def test_the_wizard_shows_why_each_column_and_value_was_suggested(base, manager_client):
    path = base / "LP Commitments-Grid view.csv"
    upload = SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")
    response = manager_client.post(reverse("import_start"), {"file": upload})
    run = ImportRun.objects.get()
    manager_client.post(reverse("import_entity", args=[run.pk]), {"entity": "commitments"})
    page = manager_client.get(reverse("import_mapping", args=[run.pk])).content.decode()
    assert response.status_code == 302
    fields = form_fields(page, "mapping-form")
    headers = COMMITMENTS[0]
    assert fields[f"col-{headers.index('Amount ($)')}"] == "commitment_amount"
    assert fields[f"col-{headers.index('Commitment')}"] == NOTES
    assert "100% of values are amounts; header like “amount”" in page
    assert "header like “commitment”, but only 0% of values are amounts" in page
    states = page.split('id="values-status"')[1]
    assert "Backed out" in states and "a usual synonym" in states  # each value says why it means what it does


# --- A third base: no fund column anywhere, dotted day-first dates, amounts as 2.5M ---------------

COMPANIES = [
    ["Company Name", "Segment", "Website"],
    ["Lindqvist Partners", "Multi-Family Office", "lindqvist.example"],
    ["Harbourside Mutual", "Insurance Co.", "harbourside.example"],
    ["Coinvale", "Crypto Exchange", ""],
]
PEOPLE = [
    ["Name", "E-mail", "Company", "Category", "Point Person"],
    ["Kim Lee", "kim@lindqvist.example", "Lindqvist Partners", "LP", "Alice Admin"],
    ["Raj Patel", "raj@harbourside.example", "Harbourside Mutual", "LP", ""],
    ["Noor Aziz", "noor@coinvale.example", "Coinvale", "Target", "Dana Pruitt"],
    ["Ola Berg", "ola@press.example", "", "Press", ""],
]
SUBSCRIPTIONS = [
    ["Subscription", "Subscriber", "Status", "Commitment (USD)", "Paid-in ($)", "Date Signed", "Remarks"],
    ["Kim Lee | Fund III", "Kim Lee", "Funded", "1250000", "$1,250,000.00", "31.12.2024", ""],
    ["Raj Patel | Fund II", "Raj Patel", "Funded", "$2,000,000", "2000000", "05.01.2023", ""],
    ["Noor Aziz", "Noor Aziz", "Verbal", "500000", "", "", "Side letter asked for Fund III."],
    ["Raj Patel (top-up)", "Raj Patel", "Pulled out", "250000", "", "", ""],
]
DEALS = [
    ["Deal", "Person", "Status", "Size", "Probability", "Close Date", "Owner"],
    ["Noor Aziz – Fund III", "Noor Aziz", "Verbal", "$2.5M", "0.4", "31/03/2026", "Dana Pruitt"],
    ["Kim Lee – Fund III top-up", "Kim Lee", "Pitched", "750K", "0.2", "15/06/2026", "alice@fund.example"],
    ["Ola Berg – Fund III", "Ola Berg", "On ice", "100000", "", "", "pat@fund.example"],
    ["Raj Patel – Fund II re-up", "Raj Patel", "Dead", "$1,000,000", "0", "", ""],
]
THIRD_BASE = {
    "Companies.csv": COMPANIES,
    "Contacts.csv": PEOPLE,
    "Subscriptions-Grid.csv": SUBSCRIPTIONS,
    "Deals-Board.csv": DEALS,
}


@pytest.fixture
def third_folder(tmp_path, admin_user):
    folder = tmp_path / "third-base"
    folder.mkdir()
    for name, rows in THIRD_BASE.items():
        (folder / name).write_bytes(csv_bytes(rows, bom=False))
    # Funds are set up in the CRM first; no table of this base has a fund column.
    Fund.objects.create(name="Fund II", status=FundStatus.CLOSED, vintage_year=2022)
    Fund.objects.create(name="Fund III", status=FundStatus.RAISING, vintage_year=2025)
    return folder


@pytest.fixture
def third(third_folder):
    out = io.StringIO()
    call_command("import_airtable", str(third_folder), "--time-zone", "Europe/London", stdout=out)
    return out.getvalue()


def test_a_base_without_any_fund_column_imports_every_fact(third):
    run = ImportRun.objects.get()
    assert (run.status, run.created_count, run.error_count) == (ImportStatus.IMPORTED, 15, 0)
    assert dict(Organization.objects.values_list("name", "type")) == {
        "Lindqvist Partners": OrganizationType.FAMILY_OFFICE,
        "Harbourside Mutual": OrganizationType.INSURANCE,
        "Coinvale": OrganizationType.OTHER,
    }
    assert dict(Contact.objects.values_list("email", "contact_type")) == {
        "kim@lindqvist.example": ContactType.INVESTOR,
        "raj@harbourside.example": ContactType.INVESTOR,
        "noor@coinvale.example": ContactType.PROSPECT,
        "ola@press.example": ContactType.OTHER,
    }
    commitments = {
        (str(c.lp.contact), c.fund.name, c.status): (c.commitment_amount, c.funded_amount, c.signed_date)
        for c in Commitment.objects.select_related("lp__contact", "fund")
    }
    assert commitments == {
        ("Kim Lee", "Fund III", CommitmentStatus.CLOSED): (
            Decimal("1250000.00"),
            Decimal("1250000.00"),
            datetime.date(2024, 12, 31),
        ),
        ("Raj Patel", "Fund II", CommitmentStatus.CLOSED): (
            Decimal("2000000.00"),
            Decimal("2000000.00"),
            datetime.date(2023, 1, 5),
        ),
        ("Noor Aziz", "Fund III", CommitmentStatus.SOFT_CIRCLE): (Decimal("500000.00"), Decimal("0"), None),
        ("Raj Patel", "Fund III", CommitmentStatus.WITHDRAWN): (Decimal("250000.00"), Decimal("0"), None),
    }
    deals = {
        o.name: (o.fund.name, o.stage.name, o.stage.outcome, o.expected_amount, o.probability, o.expected_close_date)
        for o in Opportunity.objects.select_related("fund", "stage")
    }
    assert deals == {
        "Noor Aziz – Fund III": (
            "Fund III",
            "Verbal",
            StageOutcome.OPEN,
            Decimal("2500000.00"),
            40,
            datetime.date(2026, 3, 31),
        ),
        "Kim Lee – Fund III top-up": (
            "Fund III",
            "Meeting",
            StageOutcome.OPEN,
            Decimal("750000.00"),
            20,
            datetime.date(2026, 6, 15),
        ),
        "Ola Berg – Fund III": ("Fund III", "On ice", StageOutcome.OPEN, Decimal("100000.00"), 0, None),
        "Raj Patel – Fund II re-up": ("Fund II", "Passed", StageOutcome.LOST, Decimal("1000000.00"), 0, None),
    }
    assert "Subscriptions: No fund column, so each row's fund was found: 2 rows by a fund name in the primary " in (
        third.replace("Subscriptions-Grid.csv", "Subscriptions")
    )
    assert "1 row by a fund name in its text; 1 row by the fund being raised (Fund III)" in third


def test_the_wizard_suggests_day_first_dates_from_the_values(base, manager_client):
    path = base / "Interactions-Grid view.csv"
    upload = SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")
    manager_client.post(reverse("import_start"), {"file": upload})
    run = ImportRun.objects.get()
    manager_client.post(reverse("import_entity", args=[run.pk]), {"entity": "communications"})
    page = manager_client.get(reverse("import_mapping", args=[run.pk])).content.decode()
    assert form_fields(page, "mapping-form")["date_order"] == "dmy"
    assert "Day first, because “14/03/2025 10:30” in “Date” cannot be month first." in page


@needs_sample
def test_the_shared_sample_also_imports_with_no_mapping_file(admin_user):
    """The shared sample's one policy value (“Soft-circled”) is now a suggestion too: no file needed."""
    out = io.StringIO()
    call_command("import_airtable", str(SAMPLE), "--time-zone", "America/Los_Angeles", "--dry-run", stdout=out)
    run_output = out.getvalue()
    assert "Dry run finished: nothing was written." in run_output
    assert "“Soft-circled” → a new stage “Soft-circled” (no stage like it here" in run_output
    funds = expected()["commitments"]["per_fund"]
    for fund, facts in funds.items():
        line = next(line for line in run_output.splitlines() if line.strip().startswith(fund + " "))
        assert facts["binding_signed_plus_closed"]["committed"].removesuffix(".00") in line


# --- Team members: matched by name or email, else the person's choice per name ------------------


def test_team_members_not_found_become_inactive_users_that_cannot_sign_in(third, admin_user, client):
    owners = dict(Opportunity.objects.values_list("name", "owner__username"))
    assert owners == {
        "Noor Aziz – Fund III": "dana.pruitt",
        "Kim Lee – Fund III top-up": admin_user.username,  # by email
        "Ola Berg – Fund III": "pat",
        "Raj Patel – Fund II re-up": None,
    }
    assert dict(Contact.objects.values_list("email", "owner__username")) == {
        "kim@lindqvist.example": admin_user.username,  # by name
        "raj@harbourside.example": None,
        "noor@coinvale.example": "dana.pruitt",  # the same new user as her deal's
        "ola@press.example": None,
    }
    created = {u.username: u for u in User.objects.exclude(pk=admin_user.pk)}
    assert set(created) == {"dana.pruitt", "pat"}
    dana, pat = created["dana.pruitt"], created["pat"]
    assert (dana.full_name, dana.email, pat.full_name, pat.email) == ("Dana Pruitt", "", "", "pat@fund.example")
    for user in created.values():
        assert not user.is_active and not user.has_usable_password() and user.role == Role.MEMBER
        assert user.history.get().history_user == admin_user  # made by the import, in its history
        user.set_password("guess-me-123")
        user.save()
        assert not client.login(username=user.username, password="guess-me-123")  # until an admin activates them
    assert "New inactive users for team members not found here: Dana Pruitt (dana.pruitt), pat@fund.example (pat)" in (
        third
    )


def test_the_dry_run_lists_the_users_it_would_create_and_creates_none(third_folder):
    out = io.StringIO()
    call_command("import_airtable", str(third_folder), "--time-zone", "Europe/London", "--dry-run", stdout=out)
    assert "New inactive users for team members not found here: Dana Pruitt (dana.pruitt)" in out.getvalue()
    assert User.objects.count() == 1


def test_running_it_again_finds_the_users_it_made(third, third_folder):
    call_command("import_airtable", str(third_folder), "--time-zone", "Europe/London", stdout=io.StringIO())
    assert User.objects.count() == 3
    run = ImportRun.objects.latest("pk")
    assert (run.created_count, run.updated_count, run.error_count) == (0, 0, 0)


def test_the_mapping_file_chooses_per_name_an_existing_user_or_nobody(third_folder, admin_user, tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(
        '{"tables": [], "team": {"Dana Pruitt": "alice@fund.example", "pat@fund.example": null}}', encoding="utf-8"
    )
    out = io.StringIO()
    args = [str(third_folder), "--time-zone", "Europe/London", "--mapping", str(mapping)]
    call_command("import_airtable", *args, stdout=out)
    assert User.objects.count() == 1
    owners = dict(Opportunity.objects.values_list("name", "owner__username"))
    assert owners["Noor Aziz – Fund III"] == owners["Kim Lee – Fund III top-up"] == admin_user.username
    assert owners["Ola Berg – Fund III"] is None
    assert "Not team members here, so left empty: pat@fund.example (1 row)" in out.getvalue()


def test_a_mapping_file_without_a_team_section_invents_nobody(third_folder, tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text('{"tables": []}', encoding="utf-8")
    call_command(
        "import_airtable",
        str(third_folder),
        "--time-zone",
        "Europe/London",
        "--mapping",
        str(mapping),
        stdout=io.StringIO(),
    )
    assert User.objects.count() == 1
    mapping.write_text('{"tables": [], "team_default": "create"}', encoding="utf-8")
    call_command(
        "import_airtable",
        str(third_folder),
        "--time-zone",
        "Europe/London",
        "--mapping",
        str(mapping),
        stdout=io.StringIO(),
    )
    assert set(User.objects.filter(is_active=False).values_list("username", flat=True)) == {"dana.pruitt", "pat"}


def test_undo_removes_the_users_it_made_unless_something_else_refers_to_them(third, admin_user):
    from crm.imports.undo import undo_run

    pat = User.objects.get(username="pat")
    # After the import, someone gives pat a contact of their own.
    other = Contact(first_name="Una", last_name="Other", email="una@else.example", owner=pat)
    other._history_user = admin_user
    other.save()
    outcome = undo_run(ImportRun.objects.get(), admin_user)
    assert not User.objects.filter(username="dana.pruitt").exists()
    assert User.objects.filter(username="pat").exists()
    assert any(kept.kind == "user" and "Una Other" in kept.reason for kept in outcome.kept)
    assert not Opportunity.objects.exists()


def test_the_wizard_asks_per_unmatched_name_and_imports_that_choice(third_folder, manager_client, manager_user):
    Contact.objects.create(first_name="Noor", last_name="Aziz", email="noor@coinvale.example")
    Contact.objects.create(first_name="Kim", last_name="Lee", email="kim@lindqvist.example")
    Contact.objects.create(first_name="Ola", last_name="Berg", email="ola@press.example")
    Contact.objects.create(first_name="Raj", last_name="Patel", email="raj@harbourside.example")
    path = third_folder / "Deals-Board.csv"
    upload = SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")
    manager_client.post(reverse("import_start"), {"file": upload})
    run = ImportRun.objects.get()
    manager_client.post(reverse("import_entity", args=[run.pk]), {"entity": "opportunities"})
    url = reverse("import_mapping", args=[run.pk])
    page = manager_client.get(url).content.decode()
    team = page.split('id="team-members"')[1].split("</section>")[0]
    assert "Dana Pruitt" in team and "pat@fund.example" in team
    assert "alice@fund.example" not in team  # a user here already, by email
    fields = form_fields(page, "mapping-form")
    names = {fields[key]: key.removeprefix("team-src-") for key in fields if key.startswith("team-src-")}
    assert fields[f"team-{names['Dana Pruitt']}"] == ""  # the wizard invents nobody unless asked
    fields[f"team-{names['Dana Pruitt']}"] = "+"
    fields[f"team-{names['pat@fund.example']}"] = f"={manager_user.username}"
    fields.update({"time_zone": "Europe/London", "action": "preview"})
    response = manager_client.post(url, fields)
    assert response.status_code == 302
    manager_client.get(response["Location"])
    preview = manager_client.get(reverse("import_preview", args=[run.pk])).content.decode()
    assert "New inactive users for team members not found here: Dana Pruitt (dana.pruitt)" in preview
    manager_client.post(reverse("import_run", args=[run.pk]))
    manager_client.get(reverse("import_progress", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == ImportStatus.IMPORTED, run.message
    owners = dict(Opportunity.objects.values_list("name", "owner__username"))
    assert owners["Noor Aziz – Fund III"] == "dana.pruitt"
    assert owners["Ola Berg – Fund III"] == manager_user.username
    assert not User.objects.get(username="dana.pruitt").is_active


# --- The same bases through the browser: one upload, no edits, the same facts ----------------------


def through_the_browser(client, files: dict[str, list[list[str]]], bom: bool = True) -> tuple[ImportRun, str]:
    """Upload every file of a base at once, change nothing but the time zone, dry-run and import.

    Returns the run and its notices (what the dry run and the import said), as one text.
    """
    from crm.tests.importing import dry_run_then_import

    uploads = [SimpleUploadedFile(name, csv_bytes(rows, bom=bom)) for name, rows in files.items()]
    response = client.post(reverse("import_start"), {"file": uploads})
    assert response.status_code == 302, response.content.decode()[:3000]
    url = response["Location"]
    run = ImportRun.objects.get(pk=int(url.strip("/").split("/")[-2]))
    fields = form_fields(client.get(url).content.decode(), "mapping-form")
    fields.pop("mapping_file", None)
    fields.update({"time_zone": "Europe/London", "action": "preview"})
    run = dry_run_then_import(client, client.post(url, fields), run)
    # Each table's notices after its name, as import_airtable prints them.
    tables = [f"{t['name']}: {n}" for t in run.report["tables"] for n in t.get("notices", [])]
    notices = [*run.report.get("notices", []), *tables]
    return run, "\n".join(notices)


def test_the_second_base_through_the_browser_imports_every_fact_with_no_edits(manager_client, base, tmp_path):
    Fund.objects.create(name="Fund II", status=FundStatus.RAISING, vintage_year=2025)
    written = tmp_path / "mapping.json"
    args = ["--time-zone", "Europe/London", "--dry-run", "--write-mapping", str(written), "--user", "mona"]
    call_command("import_airtable", str(base), *args, stdout=io.StringIO())
    run, notices = through_the_browser(manager_client, FILES)
    # The same engine chose the same mapping the command writes.
    command = json.loads(written.read_text(encoding="utf-8"))
    assert {t["name"]: (t["entity"], t["columns"], t["values"]) for t in run.mapping["tables"]} == {
        t["name"]: (t["entity"], t["columns"], t["values"]) for t in command["tables"]
    }
    assert (run.created_count, run.updated_count, run.error_count) == (run.rows_read, 0, 0)
    assert run.rows_read == sum(len(rows) - 1 for rows in FILES.values())
    assert run.mapping["date_order"] == "dmy"
    test_organizations_and_their_types_not_ours(notices)
    test_investors_with_their_firms_emails_and_types(notices)
    test_commitments_take_the_amount_column_not_the_text_primary_field(notices)
    test_deals_find_their_fund_in_their_text_and_stages_we_lack_become_stages(notices)
    test_interactions_are_read_day_first_in_the_given_time_zone(notices)
    test_last_contacted_fills_last_touch_until_a_later_communication(notices, manager_client)
    org = Organization.objects.get(name="Orrery Family Office")
    assert org.created_at == datetime.datetime(2024, 1, 14, 9, 30, tzinfo=LONDON)
    assert org.history.get().history_user == run.user
    assert "“Hedge Fund” → “Other” (nothing like it here, so Other)" in notices
    # Each column's suggestion keeps its reason through the dry run, though the stored mapping names them all.
    columns = next(t["columns"] for t in run.report["tables"] if t["name"].startswith("LP Commitments"))
    assert ["Amount ($)", "Commitment amount", "100% of values are amounts; header like “amount”"] in columns
    assert ["Commitment", "the notes", "header like “commitment”, but only 0% of values are amounts"] in [
        [h, label, reason.split(";")[0]] for h, label, reason in columns
    ]


def test_the_wizard_s_dry_run_lists_each_column_with_the_reason_of_its_suggestion(manager_client):
    Fund.objects.create(name="Fund II", status=FundStatus.RAISING, vintage_year=2025)
    uploads = [SimpleUploadedFile(name, csv_bytes(rows)) for name, rows in FILES.items()]
    url = manager_client.post(reverse("import_start"), {"file": uploads})["Location"]
    run = ImportRun.objects.get()
    fields = form_fields(manager_client.get(url).content.decode(), "mapping-form")
    fields.pop("mapping_file", None)
    # One choice of the person's own: the probability column left out of the import.
    odds = next(k for k, v in fields.items() if k.endswith("-col-4") and v == "probability")
    fields.update({odds: "__notes__", "time_zone": "Europe/London", "action": "preview"})
    manager_client.get(manager_client.post(url, fields)["Location"])
    index = next(i for i, t in enumerate(run_report(run)["tables"]) if t["name"].startswith("LP Commitments"))
    page = manager_client.get(reverse("import_preview", args=[run.pk]), {"table": index}).content.decode()
    assert "<td>Amount ($)</td><td>Commitment amount</td>" in page
    assert "100% of values are amounts; header like “amount”" in page
    index = next(i for i, t in enumerate(run_report(run)["tables"]) if t["name"].startswith("Raise Tracker"))
    page = manager_client.get(reverse("import_preview", args=[run.pk]), {"table": index}).content.decode()
    assert "<td>Odds</td><td>the description</td>" in page and "as the mapping file says" in page


def run_report(run: ImportRun) -> dict:
    run.refresh_from_db()
    return run.report


def test_the_third_base_through_the_browser_imports_every_fact_with_no_edits(third_folder, manager_client):
    run, notices = through_the_browser(manager_client, THIRD_BASE, bom=False)
    assert (run.created_count, run.error_count) == (15, 0)
    # The facts the command's test checks, from the same database state.
    test_a_base_without_any_fund_column_imports_every_fact(notices.replace("Subscriptions-Grid.csv", "Subscriptions"))
    # The combined screen chose as import_airtable does with no mapping file: new inactive users.
    assert set(User.objects.filter(is_active=False).values_list("username", flat=True)) == {"dana.pruitt", "pat"}
