"""Side letters, the provision register, MFN election rounds and their next actions."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import HX
from crm.permissions import acting_as
from crm.testing.factories import commitment, contact, fund, lp, org
from lps import side_letters
from lps.models import (
    CommitmentStatus,
    ElectionStatus,
    MFNElection,
    MFNRound,
    ProvisionCategory,
    SideLetter,
    SideLetterProvision,
)

REGISTER = reverse("side_letter_register")


def text(response) -> str:
    return response.content.decode()


def letter(c, *provisions: tuple[str, str], signed: datetime.date | None = None) -> SideLetter:
    side_letter = SideLetter.objects.create(commitment=c, signed_date=signed)
    for category, body in provisions:
        SideLetterProvision.objects.create(side_letter=side_letter, category=category, text=body)
    return side_letter


@pytest.fixture
def fund_one(db):
    return fund("Fund I", vintage_year=2020)


@pytest.fixture
def mfn_lps(fund_one):
    """Two Fund I LPs with an MFN clause, one with only a fee break, one with no side letter."""
    ada = commitment(lp(contact("Okafor", first_name="Ada")), fund_one, "20000000", status=CommitmentStatus.CLOSED)
    bo = commitment(lp(contact("Lindqvist", first_name="Bo")), fund_one, "10000000", status=CommitmentStatus.CLOSED)
    cy = commitment(lp(contact("Tan", first_name="Cy")), fund_one, "5000000", status=CommitmentStatus.CLOSED)
    commitment(lp(contact("Nobody")), fund_one, "1000000", status=CommitmentStatus.CLOSED)
    letter(ada, (ProvisionCategory.MFN, "MFN for LPs of $20M or more."), (ProvisionCategory.FEES, "1.5% fee."))
    letter(bo, (ProvisionCategory.MFN, "MFN, all terms."), (ProvisionCategory.REPORTING, "Monthly NAV."))
    letter(cy, (ProvisionCategory.FEES, "No fee on the first $1M."))
    return ada, bo, cy


# --- Models and permissions ----------------------------------------------------------------------


def test_a_member_cannot_write_a_side_letter_or_provision_and_a_manager_can(member_user, manager_user, fund_one):
    c = commitment(lp(), fund_one)
    with acting_as(member_user), pytest.raises(PermissionDenied, match="commitments"):
        SideLetter.objects.create(commitment=c)
    assert not SideLetter.objects.exists()
    with acting_as(manager_user):
        side_letter = SideLetter.objects.create(commitment=c)
        SideLetterProvision.objects.create(side_letter=side_letter, category=ProvisionCategory.MFN, text="MFN.")
    with acting_as(member_user), pytest.raises(PermissionDenied):
        MFNRound.objects.create(fund=fund_one, sent_date=timezone.localdate(), deadline=timezone.localdate())
    assert SideLetterProvision.objects.count() == 1


def test_a_manager_adds_a_side_letter_from_the_lps_page_with_history(manager_client, manager_user, fund_one):
    c = commitment(lp(contact("Okafor")), fund_one)
    page = text(manager_client.get(reverse("lp_detail", args=[c.lp_id])))
    assert reverse("side_letter_create", args=[c.pk]) in page
    data = {
        "signed_date": "2026-03-01", "notes": "", "provisions-TOTAL_FORMS": "3", "provisions-INITIAL_FORMS": "0",
        "provisions-MIN_NUM_FORMS": "0", "provisions-MAX_NUM_FORMS": "100",
        "provisions-0-category": "mfn", "provisions-0-text": "MFN on economics.",
        "provisions-1-category": "co_investment", "provisions-1-text": "Co-invest alongside, no fee.",
        "provisions-2-category": "other", "provisions-2-text": "",
    }  # fmt: skip
    response = manager_client.post(reverse("side_letter_create", args=[c.pk]), data)
    assert response.status_code == 302
    side_letter = SideLetter.objects.get(commitment=c)
    assert sorted(side_letter.provisions.values_list("category", flat=True)) == ["co_investment", "mfn"]
    assert side_letter.history.get().history_user == manager_user
    assert {p.history.get().history_user for p in side_letter.provisions.all()} == {manager_user}
    page = text(manager_client.get(reverse("lp_detail", args=[c.lp_id])))
    assert "Co-invest alongside, no fee." in page and reverse("side_letter_edit", args=[side_letter.pk]) in page


def test_editing_a_side_letter_deletes_a_ticked_provision(manager_client, fund_one):
    side_letter = letter(commitment(lp(), fund_one), ("fees", "Old fee."), ("reporting", "Quarterly."))
    keep, drop = side_letter.provisions.order_by("pk")
    data = {
        "signed_date": "2026-03-01", "notes": "", "provisions-TOTAL_FORMS": "2", "provisions-INITIAL_FORMS": "2",
        "provisions-MIN_NUM_FORMS": "0", "provisions-MAX_NUM_FORMS": "100",
        "provisions-0-id": keep.pk, "provisions-0-category": "fees", "provisions-0-text": "New fee.",
        "provisions-1-id": drop.pk, "provisions-1-category": "reporting", "provisions-1-text": "Quarterly.",
        "provisions-1-DELETE": "on",
    }  # fmt: skip
    assert manager_client.post(reverse("side_letter_edit", args=[side_letter.pk]), data).status_code == 302
    assert list(side_letter.provisions.values_list("text", flat=True)) == ["New fee."]


def test_a_member_reads_the_register_and_round_but_gets_no_forms(member_client, mfn_lps, fund_one):
    mfn_round = side_letters.create_round(fund_one, None, sent_date=timezone.localdate(), deadline=timezone.localdate())
    register = text(member_client.get(REGISTER))
    assert "Monthly NAV." in register and "Send the round" not in register
    page = text(member_client.get(reverse("mfn_round_detail", args=[mfn_round.pk])))
    assert "Okafor" in page and "Record the answer" not in page
    assert member_client.get(reverse("side_letter_create", args=[mfn_lps[0].pk])).status_code == 403


# --- The register ----------------------------------------------------------------------------------


def test_the_register_filters_by_category_fund_and_words(member_client, mfn_lps, fund_one):
    other = commitment(lp(contact("Schmidt")), fund("Fund II", vintage_year=2025))
    letter(other, (ProvisionCategory.MFN, "MFN in Fund II."))
    mfn = text(member_client.get(REGISTER, {"category": "mfn"}, headers=HX))
    assert mfn.lstrip().startswith('<div id="provision-table"') and "<html" not in mfn
    assert mfn.count("data-provision=") == 3 and "1.5% fee." not in mfn
    in_fund = text(member_client.get(REGISTER, {"category": "mfn", "fund": fund_one.pk}, headers=HX))
    assert in_fund.count("data-provision=") == 2 and "MFN in Fund II." not in in_fund
    words = text(member_client.get(REGISTER, {"q": "tan fee"}, headers=HX))
    assert words.count("data-provision=") == 1 and "No fee on the first $1M." in words


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_register_exports_the_filtered_rows(manager_client, mfn_lps, fmt):
    response = manager_client.get(reverse("side_letter_export"), {"category": "fees", "format": fmt})
    assert response.status_code == 200
    if fmt == "csv":
        lines = b"".join(response.streaming_content).decode("utf-8-sig").strip().splitlines()
        assert lines[0] == "LP,Organization,Fund,Investing entity,Side letter signed,Category,Provision"
        assert sorted(lines[1:]) == [
            "Ada Okafor,,Fund I,,,Fee or carry terms,1.5% fee.",
            "Cy Tan,,Fund I,,,Fee or carry terms,No fee on the first $1M.",
        ]
    else:
        from io import BytesIO

        from openpyxl import load_workbook

        rows = list(load_workbook(BytesIO(response.content)).active.values)
        assert len(rows) == 3 and {r[6] for r in rows[1:]} == {"1.5% fee.", "No fee on the first $1M."}


def test_a_member_cannot_export_the_register(member_client, mfn_lps):
    assert member_client.get(reverse("side_letter_export")).status_code == 403


def test_the_register_runs_a_fixed_number_of_queries(member_client, fund_one):
    def queries_with(n: int) -> int:
        for i in range(n):
            c = commitment(lp(contact(organization=org())), fund_one)
            letter(c, (ProvisionCategory.MFN, f"MFN {i}"), (ProvisionCategory.FEES, f"Fee {i}"))
        MFNRound.objects.create(fund=fund_one, sent_date=timezone.localdate(), deadline=timezone.localdate())
        with CaptureQueriesContext(connection) as ctx:
            assert member_client.get(REGISTER).status_code == 200
        return len(ctx.captured_queries)

    assert queries_with(2) == queries_with(20)


# --- MFN rounds ----------------------------------------------------------------------------------


def test_a_round_goes_to_the_funds_commitments_with_an_mfn_provision(manager_client, manager_user, mfn_lps, fund_one):
    ada, bo, _cy = mfn_lps
    withdrawn = commitment(lp(), fund_one, status=CommitmentStatus.WITHDRAWN, withdrawn_reason="Timing")
    letter(withdrawn, (ProvisionCategory.MFN, "MFN."))
    today = timezone.localdate()
    response = manager_client.post(
        reverse("mfn_round_create"),
        {
            "fund": fund_one.pk,
            "sent_date": today.isoformat(),
            "deadline": (today + datetime.timedelta(days=10)).isoformat(),
        },
    )
    mfn_round = MFNRound.objects.get()
    assert response["Location"] == reverse("mfn_round_detail", args=[mfn_round.pk])
    assert set(mfn_round.elections.values_list("commitment", flat=True)) == {ada.pk, bo.pk}
    assert {e.history.get().history_user for e in mfn_round.elections.all()} == {manager_user}
    page = text(manager_client.get(response["Location"]))
    assert '<p class="report-lede" data-figure="days-left">10 days left · 2 of 2 pending.</p>' in page
    assert "whose side letter has an MFN provision" in page


def test_an_mfn_provision_saved_later_joins_the_open_round_only(manager_user, mfn_lps, fund_one):
    today = timezone.localdate()
    open_round = side_letters.create_round(fund_one, manager_user, sent_date=today, deadline=today)
    past = side_letters.create_round(
        fund_one,
        manager_user,
        sent_date=today - datetime.timedelta(days=60),
        deadline=today - datetime.timedelta(days=1),
    )
    cy = mfn_lps[2]
    side_letter = SideLetter.objects.get(commitment=cy)
    provision = SideLetterProvision(category=ProvisionCategory.MFN, text="MFN added.")
    side_letters.save_side_letter(side_letter, [provision], [], manager_user)
    assert open_round.elections.filter(commitment=cy).exists()
    assert not past.elections.filter(commitment=cy).exists()


def test_recording_an_election_keeps_the_chosen_provisions_and_a_decline_clears_them(
    manager_client, manager_user, mfn_lps, fund_one
):
    today = timezone.localdate()
    mfn_round = side_letters.create_round(fund_one, manager_user, sent_date=today, deadline=today)
    election = mfn_round.elections.get(commitment=mfn_lps[1])
    fee = SideLetterProvision.objects.get(text="1.5% fee.")
    url = reverse("mfn_election_edit", args=[election.pk])
    prefix = f"e{election.pk}"
    refused = manager_client.post(url, {f"{prefix}-status": "elected", f"{prefix}-decided_on": today.isoformat()})
    assert refused.status_code == 400 and "Tick the provisions" in text(refused)
    manager_client.post(
        url,
        {f"{prefix}-status": "elected", f"{prefix}-provisions": [fee.pk], f"{prefix}-decided_on": today.isoformat()},
    )
    election.refresh_from_db()
    assert election.status == ElectionStatus.ELECTED and list(election.elected_provisions.all()) == [fee]
    assert election.history.first().history_user == manager_user
    manager_client.post(url, {f"{prefix}-status": "declined", f"{prefix}-decided_on": today.isoformat()})
    election.refresh_from_db()
    assert election.status == ElectionStatus.DECLINED and not election.elected_provisions.exists()


def test_a_member_cannot_record_an_election(member_client, mfn_lps, fund_one):
    today = timezone.localdate()
    election = side_letters.create_round(fund_one, None, sent_date=today, deadline=today).elections.first()
    prefix = f"e{election.pk}"
    response = member_client.post(
        reverse("mfn_election_edit", args=[election.pk]),
        {f"{prefix}-status": "declined", f"{prefix}-decided_on": today.isoformat()},
    )
    assert response.status_code == 403
    assert MFNElection.objects.get(pk=election.pk).status == ElectionStatus.PENDING


def test_days_left_count_to_the_deadline(fund_one, mfn_lps):
    today = datetime.date(2026, 5, 1)
    mfn_round = side_letters.create_round(fund_one, None, sent_date=today, deadline=datetime.date(2026, 5, 15))
    election = mfn_round.elections.first()
    assert election.days_left(today) == 14
    assert election.days_left(datetime.date(2026, 5, 15)) == 0
    assert election.days_left(datetime.date(2026, 5, 16)) == -1


def test_the_round_page_runs_a_fixed_number_of_queries(manager_client, fund_one):
    today = timezone.localdate()
    mfn_round = MFNRound.objects.create(fund=fund_one, sent_date=today, deadline=today)

    def queries_with(n: int) -> int:
        for i in range(n):
            c = commitment(lp(contact(organization=org())), fund_one)
            letter(c, (ProvisionCategory.MFN, f"MFN {i}"), (ProvisionCategory.FEES, f"Fee {i}"))
            MFNElection.objects.create(round=mfn_round, commitment=c)
        with CaptureQueriesContext(connection) as ctx:
            assert manager_client.get(reverse("mfn_round_detail", args=[mfn_round.pk])).status_code == 200
        return len(ctx.captured_queries)

    assert queries_with(2) == queries_with(15)


# --- Next actions --------------------------------------------------------------------------------


def test_pending_elections_near_the_deadline_are_next_actions(member_client, mfn_lps, fund_one):
    today = timezone.localdate()
    soon = side_letters.create_round(fund_one, None, sent_date=today, deadline=today + datetime.timedelta(days=14))
    side_letters.create_round(fund_one, None, sent_date=today, deadline=today + datetime.timedelta(days=15))
    soon.elections.filter(commitment=mfn_lps[1]).update(status=ElectionStatus.DECLINED)
    html = text(member_client.get(reverse("actions")))
    section = html[html.index('data-source="mfn"') : html.index("</section>", html.index('data-source="mfn"'))]
    assert "MFN election from Ada Okafor" in section and "14 days left" in section
    assert "Bo Lindqvist" not in section, "declined, and the other round is 15 days out"
    assert reverse("mfn_round_detail", args=[soon.pk]) in section


def test_the_lp_page_with_side_letters_runs_a_fixed_number_of_queries(member_client, fund_one):
    profile = lp()

    def queries_with(n: int) -> int:
        for i in range(n):
            c = commitment(profile, fund(f"Fund {i}-{n}"), "1000000")
            letter(c, (ProvisionCategory.MFN, f"MFN {i}"), (ProvisionCategory.FEES, f"Fee {i}"))
        with CaptureQueriesContext(connection) as ctx:
            assert member_client.get(reverse("lp_detail", args=[profile.pk])).status_code == 200
        return len(ctx.captured_queries)

    assert queries_with(1) == queries_with(10)
