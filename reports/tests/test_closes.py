"""The close planner: each close's signed amount against its minimum, the gap, the commitments
expected, the deals that could fill it, equalisation for later LPs, and holding a close."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import HX
from crm.permissions import acting_as
from crm.testing.factories import commitment, contact, fund, lp, opportunity, stage
from crm.testing.migrations import migrate_back_to, migrate_forward
from lps import calls
from lps.models import Close, CloseState, Commitment, CommitmentStatus
from reports import closes
from reports.closes import Equalisation

PLANNER = reverse("close_planner")
TODAY = datetime.date(2026, 7, 1)
S, H, SIGNED, CLOSED = (
    CommitmentStatus.SOFT_CIRCLE,
    CommitmentStatus.HARD_CIRCLE,
    CommitmentStatus.SIGNED,
    CommitmentStatus.CLOSED,
)


@pytest.fixture
def raising(db):
    return fund("Fund II", late_close_interest_rate=Decimal("8"))


@pytest.fixture
def two_closes(raising):
    first = Close.objects.create(
        fund=raising, name="First close", date=datetime.date(2026, 3, 31), minimum_amount=Decimal("20000000"),
        state=CloseState.HELD,
    )  # fmt: skip
    second = Close.objects.create(
        fund=raising, name="Second close", date=datetime.date(2026, 7, 31), minimum_amount=Decimal("10000000")
    )
    return first, second


# --- Equalisation, to the cent ------------------------------------------------------------------


def test_equalisation_is_the_called_share_plus_late_interest_from_the_first_close():
    owed = Equalisation(Decimal("3000000"), Decimal("4000000"), Decimal("20000000"), Decimal("8"), 92)
    assert owed.called_share == Decimal("0.2")
    assert (owed.principal, owed.interest, owed.total) == (
        Decimal("600000.00"),
        Decimal("12098.63"),  # 600,000 × 8% × 92/365 = 12,098.630…
        Decimal("612098.63"),
    )
    assert owed.formula == (
        "$3,000,000 × 20.00% called ($4,000,000 of $20,000,000) = $600,000; "
        "interest $600,000 × 8% × 92/365 = $12,098.63; owed $612,098.63"
    )


def test_equalisation_rounds_each_part_half_up_to_the_cent():
    owed = Equalisation(Decimal("1234567.89"), Decimal("1000000"), Decimal("3000000"), Decimal("7.25"), 45)
    assert (owed.principal, owed.interest, owed.total) == (
        Decimal("411522.63"),
        Decimal("3678.34"),
        Decimal("415200.97"),
    )


def test_nothing_called_means_nothing_owed():
    owed = Equalisation(Decimal("3000000"), Decimal("0"), Decimal("0"), Decimal("8"), 92)
    assert (owed.principal, owed.interest, owed.total) == (0, 0, 0)


# --- The plan -----------------------------------------------------------------------------------


def test_each_close_shows_signed_against_its_minimum_the_gap_and_days_left(member_user, raising, two_closes):
    first, second = two_closes
    early = commitment(lp(), raising, "15000000", status=CLOSED, close=first)
    commitment(lp(), raising, "5000000", status=CLOSED, close=first)
    # 20% called from the first close's LPs, nothing paid yet: called capital is what was asked.
    calls.issue_call(raising, None, notice_date=first.date, due_date=first.date, percent=Decimal("20"))
    late = commitment(lp(), raising, "3000000", status=SIGNED, close=second)
    commitment(lp(), raising, "2000000", status=H, close=second)
    commitment(lp(), raising, "4000000", status=S, close=second)
    commitment(lp(), raising, "1000000", status=S)  # no close chosen yet
    planner = closes.plan(member_user, raising, TODAY)
    held, planned = planner.closes
    assert (held.signed, held.gap, held.percent_signed) == (Decimal("20000000"), Decimal("0"), 100)
    assert (planned.signed, planned.hard, planned.soft) == (Decimal("3000000"), Decimal("2000000"), Decimal("4000000"))
    assert (planned.gap, planned.gap_if_hard_signs, planned.days_left) == (Decimal("7000000"), Decimal("5000000"), 30)
    assert (planner.unassigned, planner.unassigned_amount) == (1, Decimal("1000000"))
    # First-close LPs owe nothing; a second-close LP owes the 20% called of its commitment plus
    # interest from the first close (Mar 31) to its admission (Jul 31): 122 days at 8%.
    assert all(row.equalisation is None for row in held.commitments)
    owed = {row.commitment.pk: row.equalisation for row in planned.commitments}
    assert (owed[late.pk].principal, owed[late.pk].days) == (Decimal("600000.00"), 122)
    assert owed[late.pk].interest == Decimal("16043.84")  # 600,000 × 8% × 122/365 = 16,043.835…
    assert owed[late.pk].total == Decimal("616043.84")
    assert early.pk not in owed


def test_open_deals_that_could_fill_the_gap_come_likeliest_first_without_signed_lps(member_user, raising, two_closes):
    big = opportunity(contact(), raising, stage("Due diligence"), expected_amount=Decimal("9000000"))
    small = opportunity(contact(), raising, stage("Lead"), expected_amount=Decimal("1000000"))
    signed_person = contact()
    commitment(lp(signed_person), raising, "2000000", status=SIGNED, close=two_closes[1])
    opportunity(signed_person, raising, stage("Due diligence"), expected_amount=Decimal("50000000"))
    opportunity(contact(), raising, stage("Passed"), expected_amount=Decimal("90000000"))
    planned = closes.plan(member_user, raising, TODAY).closes[1]
    assert [deal.pk for deal in planned.fillers] == [big.pk, small.pk]
    assert closes.plan(member_user, raising, TODAY).closes[0].fillers == []  # held: nothing to fill


def test_the_page_shows_each_close_and_runs_a_fixed_number_of_queries(member_client, raising, two_closes):
    first, second = two_closes

    def queries_with(n: int) -> int:
        for _ in range(n):
            commitment(lp(), raising, "1000000", status=CLOSED, close=first)
            commitment(lp(), raising, "1000000", status=SIGNED, close=second)
            opportunity(contact(), raising, stage("Meeting"))
        calls.issue_call(raising, None, notice_date=first.date, due_date=first.date, percent=Decimal("5"))
        with CaptureQueriesContext(connection) as ctx:
            response = member_client.get(PLANNER, {"fund": raising.pk})
            assert response.status_code == 200
        return len(ctx.captured_queries), response.content.decode()

    small, _ = queries_with(1)
    large, html = queries_with(10)
    assert small == large
    assert 'data-close="First close"' in html and 'data-close="Second close"' in html
    assert 'data-figure="equalisation"' in html
    assert "Mark held" not in html  # members read


def test_the_htmx_refresh_answers_the_planner_body_only(member_client, raising, two_closes):
    html = member_client.get(PLANNER, {"fund": raising.pk}, headers=HX).content.decode()
    assert html.lstrip().startswith('<div id="planner-body"')


def test_a_fund_without_closes_says_how_to_add_them(member_client, raising):
    html = member_client.get(PLANNER, {"fund": raising.pk}).content.decode()
    assert "has no closes yet" in html


# --- Holding a close ----------------------------------------------------------------------------


def test_holding_a_close_accepts_its_signed_commitments_with_history(manager_client, manager_user, raising, two_closes):
    second = two_closes[1]
    signed = commitment(lp(), raising, "3000000", status=SIGNED, close=second)
    hard = commitment(lp(), raising, "2000000", status=H, close=second)
    response = manager_client.post(reverse("close_hold", args=[second.pk]))
    assert response.status_code == 302
    second.refresh_from_db()
    signed.refresh_from_db()
    hard.refresh_from_db()
    assert second.state == CloseState.HELD
    # Accepted on the close's date, or today when the close is held early.
    accepted_on = min(second.date, timezone.localdate())
    assert (signed.status, signed.closed_amount, signed.closed_date) == (CLOSED, Decimal("3000000"), accepted_on)
    assert hard.status == H
    assert signed.history.first().history_user == manager_user
    assert second.history.first().history_user == manager_user


def test_members_cannot_hold_a_close_by_any_path(member_client, member_user, raising, two_closes):
    second = two_closes[1]
    assert member_client.post(reverse("close_hold", args=[second.pk])).status_code == 403
    with pytest.raises(PermissionDenied), acting_as(member_user):
        closes.hold(second, member_user, TODAY)
    second.refresh_from_db()
    assert second.state == CloseState.PLANNED


def test_the_commitment_form_refuses_another_funds_close(manager_client, raising, two_closes):
    other = Close.objects.create(fund=fund("Fund I", vintage_year=2019), name="First close", date=TODAY)
    c = commitment(lp(), raising, "1000000", status=H)
    data = {"fund": raising.pk, "status": H, "commitment_amount": "1000000", "funded_amount": "0", "close": other.pk}
    response = manager_client.post(reverse("commitment_edit", args=[c.pk]), data)
    assert response.status_code == 200
    assert Commitment.objects.get(pk=c.pk).close is None
    data["close"] = two_closes[1].pk
    manager_client.post(reverse("commitment_edit", args=[c.pk]), data)
    assert Commitment.objects.get(pk=c.pk).close == two_closes[1]


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_a_funds_close_dates_its_closes():
    old = migrate_back_to("lps", "0006_commitment_ladder")
    OldFund, OldContact = old.get_model("lps", "Fund"), old.get_model("contacts", "Contact")
    OldLP, OldCommitment = old.get_model("lps", "LPProfile"), old.get_model("lps", "Commitment")
    past, future = datetime.date(2020, 9, 30), datetime.date.today() + datetime.timedelta(days=90)
    dated = OldFund.objects.create(name="Fund I", first_close_date=past, final_close_date=future)
    OldFund.objects.create(name="Fund III")
    person = OldLP.objects.create(contact=OldContact.objects.create(first_name="Ada", last_name="Okafor"))
    accepted = OldCommitment.objects.create(lp=person, fund=dated, status="closed", commitment_amount=Decimal("5"))
    migrate_forward()
    assert list(Close.objects.filter(fund_id=dated.pk).values_list("name", "date", "state")) == [
        ("First close", past, CloseState.HELD),
        ("Final close", future, CloseState.PLANNED),
    ]
    assert not Close.objects.filter(fund__name="Fund III").exists()
    assert Commitment.objects.get(pk=accepted.pk).close.name == "First close"
