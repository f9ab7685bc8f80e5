"""Capital calls: lines pro rata to the admitted commitments to the cent, receipts, funded amounts."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.permissions import acting_as
from crm.testing.factories import commitment, lp
from crm.testing.migrations import migrate_back_to, migrate_forward
from lps import calls
from lps.calls import CallRefused
from lps.models import CallLine, CapitalCall, Commitment, CommitmentStatus

NOTICE, DUE = datetime.date(2026, 9, 1), datetime.date(2026, 9, 15)
CLOSED = CommitmentStatus.CLOSED


@pytest.fixture
def admitted(fund_two):
    """Three LPs accepted at a close, $10M in all, and one only signed (not called)."""
    amounts = ("5000000", "3333333.33", "1666666.67")
    rows = [commitment(lp(), fund_two, amount, status=CLOSED) for amount in amounts]
    commitment(lp(), fund_two, "7000000", status=CommitmentStatus.SIGNED)
    return rows


def test_a_call_gives_each_admitted_commitment_its_share_and_the_lines_add_up(manager_user, fund_two, admitted):
    call = calls.issue_call(fund_two, manager_user, notice_date=NOTICE, due_date=DUE, amount=Decimal("1000000.01"))
    lines = {line.commitment_id: line.amount for line in call.lines.all()}
    assert sum(lines.values()) == Decimal("1000000.01")
    # Exact shares 500,000.005, 333,333.336… and 166,666.668…: rounded down they leave two
    # cents, which go to the two shares that lost most in rounding.
    assert lines == {
        admitted[0].pk: Decimal("500000.00"),
        admitted[1].pk: Decimal("333333.34"),
        admitted[2].pk: Decimal("166666.67"),
    }
    assert call.number == 1 and call.history.first().history_user == manager_user


def test_a_call_by_percentage_of_commitments(manager_user, fund_two, admitted):
    call = calls.issue_call(fund_two, manager_user, notice_date=NOTICE, due_date=DUE, percent=Decimal("12.5"))
    assert call.amount == Decimal("1250000.00")
    assert sum(line.amount for line in call.lines.all()) == call.amount


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "not both"),
        ({"amount": Decimal("1"), "percent": Decimal("1")}, "not both"),
        ({"percent": Decimal("120")}, "at most 100"),
        ({"amount": Decimal("0")}, "more than zero"),
        ({"amount": Decimal("10000000.01")}, "not yet called"),
    ],
)
def test_a_call_that_cannot_be_made_writes_nothing(manager_user, fund_two, admitted, extra, message):
    with pytest.raises(CallRefused, match=message):
        calls.issue_call(fund_two, manager_user, notice_date=NOTICE, due_date=DUE, **extra)
    assert not CapitalCall.objects.exists() and not CallLine.objects.exists()


def test_calls_add_up_to_the_commitments_and_no_further(manager_user, fund_two, admitted):
    calls.issue_call(fund_two, manager_user, notice_date=NOTICE, due_date=DUE, percent=Decimal("60"))
    calls.issue_call(fund_two, manager_user, notice_date=NOTICE, due_date=DUE, percent=Decimal("40"))
    with pytest.raises(CallRefused, match="not yet called"):
        calls.issue_call(fund_two, manager_user, notice_date=NOTICE, due_date=DUE, amount=Decimal("0.03"))
    called = {c.pk: sum(line.amount for line in c.call_lines.all()) for c in admitted}
    assert called == {c.pk: c.commitment_amount for c in admitted}


def test_nobody_admitted_means_nobody_to_call(manager_user, fund_two):
    with pytest.raises(CallRefused, match="accepted at a close"):
        calls.issue_call(fund_two, manager_user, notice_date=NOTICE, due_date=DUE, amount=Decimal("5"))


def test_receipts_add_up_partly_and_the_commitment_is_funded_by_them(manager_user, fund_two, admitted):
    call = calls.issue_call(fund_two, manager_user, notice_date=NOTICE, due_date=DUE, amount=Decimal("1000000"))
    line = call.lines.get(commitment=admitted[0])
    calls.record_receipt(line, manager_user, Decimal("200000"), datetime.date(2026, 9, 10))
    calls.record_receipt(line, manager_user, Decimal("300000"), datetime.date(2026, 9, 20))
    line.refresh_from_db()
    assert (line.received_amount, line.outstanding, line.received_date) == (
        Decimal("500000"),
        Decimal("0"),
        datetime.date(2026, 9, 20),
    )
    funded = Commitment.objects.get(pk=admitted[0].pk)
    assert funded.funded_amount == Decimal("500000")
    assert funded.history.first().history_user == manager_user
    with pytest.raises(CallRefused, match="still due"):
        calls.record_receipt(line, manager_user, Decimal("0.01"), datetime.date(2026, 9, 21))


def test_lines_past_due_with_something_unpaid_are_overdue(manager_user, fund_two, admitted):
    call = calls.issue_call(fund_two, manager_user, notice_date=NOTICE, due_date=DUE, amount=Decimal("900"))
    paid = call.lines.get(commitment=admitted[0])
    calls.record_receipt(paid, manager_user, paid.amount, DUE)
    assert set(calls.overdue_lines(DUE).values_list("pk", flat=True)) == set()
    overdue = set(calls.overdue_lines(DUE + datetime.timedelta(days=1)).values_list("commitment", flat=True))
    assert overdue == {admitted[1].pk, admitted[2].pk}


def test_members_cannot_call_capital_or_record_receipts(member_user, manager_user, fund_two, admitted):
    with pytest.raises(PermissionDenied), acting_as(member_user):
        calls.issue_call(fund_two, member_user, notice_date=NOTICE, due_date=DUE, amount=Decimal("900"))
    assert not CapitalCall.objects.exists()
    call = calls.issue_call(fund_two, manager_user, notice_date=NOTICE, due_date=DUE, amount=Decimal("900"))
    line = call.lines.first()
    with pytest.raises(PermissionDenied), acting_as(member_user):
        calls.record_receipt(line, member_user, Decimal("1"), DUE)
    line.refresh_from_db()
    assert line.received_amount == 0


@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_funded_amounts_into_a_pre_system_call():
    old = migrate_back_to("lps", "0008_reup_ask")
    OldFund, OldContact = old.get_model("lps", "Fund"), old.get_model("contacts", "Contact")
    OldLP, OldCommitment = old.get_model("lps", "LPProfile"), old.get_model("lps", "Commitment")
    f = OldFund.objects.create(name="Fund I", first_close_date=datetime.date(2020, 9, 30))
    made = []
    for n, funded in enumerate(("2500000", "0", "1000000.50")):
        person = OldLP.objects.create(contact=OldContact.objects.create(first_name=f"LP{n}", last_name="X"))
        made.append(
            OldCommitment.objects.create(
                lp=person, fund=f, status="closed", commitment_amount=Decimal("5000000"), funded_amount=Decimal(funded)
            ).pk
        )
    migrate_forward()
    opening = CapitalCall.objects.get(fund_id=f.pk)
    assert (opening.number, opening.purpose, opening.amount) == (0, "opening", Decimal("3500000.50"))
    assert opening.notice_date == datetime.date(2020, 9, 30)
    lines = {line.commitment_id: (line.amount, line.received_amount) for line in opening.lines.all()}
    assert lines == {made[0]: (Decimal("2500000"),) * 2, made[2]: (Decimal("1000000.50"),) * 2}
    assert Commitment.objects.get(pk=made[0]).funded_amount == Decimal("2500000")


# --- The pages ----------------------------------------------------------------------------------


def test_a_manager_issues_a_call_from_the_funds_page_and_records_a_payment(manager_client, fund_two, admitted):
    page = manager_client.get(reverse("capital_calls", args=[fund_two.pk])).content.decode()
    assert "No capital called from Fund II yet" in page and "Issue the call" in page
    response = manager_client.post(
        reverse("capital_call_create", args=[fund_two.pk]),
        {"notice_date": "2026-09-01", "due_date": "2026-09-15", "purpose": "investments", "percent": "10"},
    )
    call = CapitalCall.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("capital_call_detail", args=[call.pk])
    line = call.lines.get(commitment=admitted[0])
    assert line.amount == Decimal("500000.00")
    manager_client.post(reverse("call_line_receipt", args=[line.pk]), {"amount": "125000", "received_on": "2026-09-10"})
    detail = manager_client.get(reverse("capital_call_detail", args=[call.pk])).content.decode()
    assert '<span data-figure="received">$125,000</span>' in detail
    assert Commitment.objects.get(pk=admitted[0].pk).funded_amount == Decimal("125000")


def test_bad_input_is_shown_beside_the_form_and_nothing_is_written(manager_client, fund_two, admitted):
    url = reverse("capital_call_create", args=[fund_two.pk])
    both = {"notice_date": "2026-09-01", "due_date": "2026-08-01", "purpose": "fees", "amount": "5", "percent": "5"}
    response = manager_client.post(url, both)
    assert response.status_code == 400
    assert "The due date cannot be before the notice date." in response.content.decode()
    too_much = {"notice_date": "2026-09-01", "due_date": "2026-09-15", "purpose": "fees", "amount": "99999999"}
    assert "not yet called" in manager_client.post(url, too_much).content.decode()
    assert not CapitalCall.objects.exists()
    call = calls.issue_call(fund_two, None, notice_date=NOTICE, due_date=DUE, amount=Decimal("900"))
    line = call.lines.first()
    response = manager_client.post(reverse("call_line_receipt", args=[line.pk]), {"amount": "901", "received_on": "x"})
    assert response.status_code == 400
    line.refresh_from_db()
    assert line.received_amount == 0


def test_the_calls_page_runs_a_fixed_number_of_queries_and_members_only_read(member_client, fund_two):
    def queries_with(n: int) -> int:
        for _ in range(n):
            commitment(lp(), fund_two, "1000000", status=CLOSED)
        calls.issue_call(fund_two, None, notice_date=NOTICE, due_date=DUE, amount=Decimal("1000.00"))
        with CaptureQueriesContext(connection) as ctx:
            html = member_client.get(reverse("capital_calls", args=[fund_two.pk])).content.decode()
        return len(ctx.captured_queries), html

    small, _ = queries_with(1)
    large, html = queries_with(8)
    assert small == large
    assert "Issue the call" not in html
    # The first call's one line and the second's nine, all due in September 2026 and unpaid.
    assert 'data-figure="overdue-lines">10 LP payments past due' in html


def test_deleting_a_called_lps_contact_is_refused_with_the_reason_and_nothing_goes(manager_client, fund_two, admitted):
    calls.issue_call(fund_two, None, notice_date=NOTICE, due_date=DUE, amount=Decimal("900"))
    contact = admitted[0].lp.contact
    response = manager_client.post(reverse("contact_delete", args=[contact.pk]))
    assert response.status_code == 409
    assert "It is still referred to by capital call lines" in response.content.decode()
    assert Commitment.objects.filter(pk=admitted[0].pk).exists()
    assert CallLine.objects.count() == 3


def test_once_called_the_funded_amount_is_not_typed_in_the_commitment_form(manager_client, fund_two, admitted):
    call = calls.issue_call(fund_two, None, notice_date=NOTICE, due_date=DUE, amount=Decimal("900"))
    calls.record_receipt(call.lines.get(commitment=admitted[0]), None, Decimal("100"), DUE)
    data = {"fund": fund_two.pk, "status": CLOSED, "commitment_amount": "5000000", "funded_amount": "4999999"}
    response = manager_client.post(reverse("commitment_edit", args=[admitted[0].pk]), {**data, "notes": "Wired"})
    assert response.status_code == 302  # saved: the notes changed, the typed funded amount did not
    saved = Commitment.objects.get(pk=admitted[0].pk)
    assert (saved.notes, saved.funded_amount) == ("Wired", Decimal("100"))


def test_past_due_payments_are_flagged_on_the_lp_tracker_and_the_lps_page(member_client, fund_two, admitted):
    call = calls.issue_call(
        fund_two,
        None,
        notice_date=datetime.date(2026, 1, 5),
        due_date=datetime.date(2026, 1, 20),
        amount=Decimal("900"),
    )
    paid = call.lines.get(commitment=admitted[0])
    calls.record_receipt(paid, None, paid.amount, datetime.date(2026, 1, 19))
    tracker = member_client.get(reverse("lp_list"), {"fund": fund_two.pk}).content.decode()
    assert '<strong class="is-overdue" data-kpi="past-due">2 call payments past due</strong>' in tracker
    late = admitted[1]
    page = member_client.get(reverse("lp_detail", args=[late.lp_id])).content.decode()
    assert "Call payment past due: $300" in page
    assert "past due" not in member_client.get(reverse("lp_detail", args=[admitted[0].lp_id])).content.decode()
