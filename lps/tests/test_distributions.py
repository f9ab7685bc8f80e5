"""Distributions by kind to the cent, capital accounts, notices, and the overdue-capital card."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from crm.lib.allocation import CENT
from crm.permissions import acting_as
from crm.testing.factories import commitment, lp
from crm.testing.migrations import migrate_back_to, migrate_forward
from lps import accounts, calls, distributions
from lps.distributions import DistributionRefused
from lps.models import (
    DISTRIBUTION_KINDS,
    CallLine,
    CommitmentStatus,
    Distribution,
    DistributionBasis,
    DistributionLine,
    Fund,
)

CLOSED = CommitmentStatus.CLOSED
NOTICE, DUE = datetime.date(2026, 9, 1), datetime.date(2026, 9, 15)
PAID_ON = datetime.date(2026, 12, 1)

cents = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
weight = st.decimals(min_value=0, max_value=10**8, places=2, allow_nan=False, allow_infinity=False)


# The machine running the suite may be busy: slow generation is not a failure of the rule.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.fixed_dictionaries(dict.fromkeys(DISTRIBUTION_KINDS, cents)),
    weights=st.lists(weight, min_size=1, max_size=30).filter(lambda ws: sum(ws) > 0),
)
def test_each_kind_and_the_lines_totals_always_add_up_and_nothing_is_negative(kinds, weights):
    shares = distributions.split(kinds, weights)
    assert len(shares) == len(weights)
    for kind in DISTRIBUTION_KINDS:
        assert sum((share[kind] for share in shares), Decimal("0")) == kinds[kind]
    line_totals = [sum(share.values(), Decimal("0")) for share in shares]
    assert sum(line_totals, Decimal("0")) == sum(kinds.values(), Decimal("0"))
    whole = sum(weights)
    for share, w in zip(shares, weights, strict=True):
        for kind, part in share.items():
            assert part >= 0 and part == part.quantize(CENT)
            assert abs(part - kinds[kind] * w / whole) < CENT
        if w == 0:
            assert not any(share.values()), "a weight of zero gets nothing"


class TestEitherBasisAddsUpInTheDatabase(HypothesisTestCase):
    """The same properties through make_distribution and the rows it saves, on both bases."""

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        basis=st.sampled_from(DistributionBasis.values),
        commitments=st.lists(st.tuples(st.integers(1, 10**7), st.integers(0, 100)), min_size=1, max_size=8).filter(
            lambda rows: any(percent for _amount, percent in rows)
        ),
        kinds=st.fixed_dictionaries(dict.fromkeys(DISTRIBUTION_KINDS, cents)).filter(lambda k: sum(k.values()) > 0),
    )
    def test_lines_add_up_to_the_total_and_to_each_kind(self, basis, commitments, kinds):
        f = Fund.objects.create(name=f"Fund P{Fund.objects.count()}")
        for amount, percent in commitments:
            c = commitment(lp(), f, str(amount), status=CLOSED)
            c.funded_amount = (Decimal(amount) * percent / 100).quantize(CENT)
            c.save()
        made = distributions.make_distribution(f, None, date=PAID_ON, basis=basis, **kinds)
        lines = list(made.lines.all())
        assert sum((line.amount for line in lines), Decimal("0")) == made.amount == sum(kinds.values())
        for kind in DISTRIBUTION_KINDS:
            assert sum((getattr(line, kind) for line in lines), Decimal("0")) == kinds[kind] == getattr(made, kind)
        for line in lines:
            assert line.amount == sum((getattr(line, kind) for kind in DISTRIBUTION_KINDS), Decimal("0"))
            assert min(getattr(line, kind) for kind in DISTRIBUTION_KINDS) >= 0
            weight_of = line.commitment.funded_amount if basis == "paid_in" else line.commitment.commitment_amount
            assert weight_of > 0, "only commitments with a weight get a line"


@pytest.fixture
def paid(fund_two):
    """Three admitted LPs ($6M, $3M, $1M) who have paid in 50%, 100% and 0% of a 60% call."""
    rows = [commitment(lp(), fund_two, amount, status=CLOSED) for amount in ("6000000", "3000000", "1000000")]
    call = calls.issue_call(fund_two, None, notice_date=NOTICE, due_date=DUE, percent=Decimal("60"))
    for c, share in zip(rows, ("0.5", "1", "0"), strict=True):
        line = call.lines.get(commitment=c)
        if share != "0":
            calls.record_receipt(line, None, (line.amount * Decimal(share)).quantize(CENT), DUE)
    return rows


def test_pro_rata_to_paid_in_capital_leaves_out_who_has_paid_nothing(manager_user, fund_two, paid):
    # Paid in: 1.8M and 1.8M; the third LP nothing.
    made = distributions.make_distribution(
        fund_two, manager_user, date=PAID_ON, return_of_capital=Decimal("1000.01"), gain=Decimal("0.01")
    )
    lines = {line.commitment_id: line for line in made.lines.all()}
    assert set(lines) == {paid[0].pk, paid[1].pk}
    assert (lines[paid[0].pk].return_of_capital, lines[paid[1].pk].return_of_capital) == (
        Decimal("500.01"),
        Decimal("500.00"),
    )
    assert lines[paid[0].pk].gain + lines[paid[1].pk].gain == Decimal("0.01")
    assert made.number == 1 and made.history.first().history_user == manager_user
    assert lines[paid[0].pk].history.first().history_user == manager_user


def test_pro_rata_to_commitments_pays_every_admitted_lp(manager_user, fund_two, paid):
    made = distributions.make_distribution(
        fund_two, manager_user, date=PAID_ON, income=Decimal("100000"), basis=DistributionBasis.COMMITMENTS
    )
    amounts = {line.commitment_id: line.income for line in made.lines.all()}
    assert amounts == {paid[0].pk: Decimal("60000"), paid[1].pk: Decimal("30000"), paid[2].pk: Decimal("10000")}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"amount": Decimal("10"), "gain": Decimal("9")}, "must add up to the total"),
        ({}, "more than zero"),
        ({"gain": Decimal("-1")}, "zero or more"),
        ({"gain": Decimal("0.001")}, "whole cents"),
    ],
)
def test_a_distribution_that_cannot_be_made_writes_nothing(manager_user, fund_two, paid, extra, message):
    with pytest.raises(DistributionRefused, match=message):
        distributions.make_distribution(fund_two, manager_user, date=PAID_ON, **extra)
    assert not Distribution.objects.exists() and not DistributionLine.objects.exists()


def test_nobody_paid_in_means_nothing_to_distribute_pro_rata_to_paid_in(manager_user, fund_two):
    commitment(lp(), fund_two, "1000000", status=CLOSED)
    with pytest.raises(DistributionRefused, match="has paid in capital yet"):
        distributions.make_distribution(fund_two, manager_user, date=PAID_ON, gain=Decimal("5"))
    made = distributions.make_distribution(
        fund_two, manager_user, date=PAID_ON, gain=Decimal("5"), basis=DistributionBasis.COMMITMENTS
    )
    assert made.lines.get().gain == Decimal("5")


def test_members_cannot_make_a_distribution_and_managers_can(member_user, manager_user, fund_two, paid):
    with pytest.raises(PermissionDenied), acting_as(member_user):
        distributions.make_distribution(fund_two, member_user, date=PAID_ON, gain=Decimal("900"))
    assert not Distribution.objects.exists()
    with acting_as(manager_user):
        distributions.make_distribution(fund_two, manager_user, date=PAID_ON, gain=Decimal("900"))
    assert DistributionLine.objects.count() == 2


# --- Capital accounts -------------------------------------------------------------------------


def test_a_capital_account_adds_up_called_paid_in_unfunded_distributed_and_dpi(fund_two, paid):
    distributions.make_distribution(fund_two, None, date=PAID_ON, gain=Decimal("900000"))
    rows = {row.commitment.pk: row for row in accounts.accounts(fund_two.commitments.all())}
    first = rows[paid[0].pk]
    assert (first.committed, first.called, first.paid_in, first.unfunded, first.distributed, first.dpi) == (
        Decimal("6000000"),
        Decimal("3600000"),
        Decimal("1800000"),
        Decimal("4200000"),
        Decimal("450000"),
        Decimal("0.25"),
    )
    assert rows[paid[2].pk].dpi is None  # nothing paid in yet
    total = accounts.totals(fund_two.commitments.all())
    assert total == accounts.add_up(list(rows.values()))
    assert (total.called, total.paid_in, total.distributed) == (
        Decimal("6000000"),
        Decimal("3600000"),
        Decimal("900000"),
    )


def test_soft_circles_and_withdrawn_commitments_have_no_capital_account(fund_two, paid):
    commitment(lp(), fund_two, "500000", status=CommitmentStatus.SOFT_CIRCLE)
    commitment(lp(), fund_two, "500000", status=CommitmentStatus.WITHDRAWN, withdrawn_reason="Timing")
    assert len(accounts.accounts(fund_two.commitments.all())) == 3


def _grow(fund_two, n: int) -> None:
    for _ in range(n):
        commitment(lp(), fund_two, "1000000", status=CLOSED)
    call = calls.issue_call(fund_two, None, notice_date=NOTICE, due_date=DUE, amount=Decimal("10000.00"))
    for line in call.lines.all():
        calls.record_receipt(line, None, line.amount, DUE)
    distributions.make_distribution(fund_two, None, date=PAID_ON, gain=Decimal("1000.00"))


def test_the_capital_accounts_page_runs_a_fixed_number_of_queries_and_totals_its_rows(member_client, fund_two):
    url = reverse("capital_accounts", args=[fund_two.pk])

    def queries_with(n: int) -> tuple[int, str]:
        _grow(fund_two, n)
        with CaptureQueriesContext(connection) as ctx:
            html = member_client.get(url).content.decode()
        return len(ctx.captured_queries), html

    small, _ = queries_with(2)
    large, html = queries_with(12)
    assert small == large
    assert html.count("<tr data-account=") == 15  # fourteen LPs and the totals
    assert 'data-figure="distributed">$2,000</td>' in html
    assert "Export CSV" not in html, "members do not export"


def test_the_export_has_the_tables_rows_and_totals(manager_client, fund_two, paid):
    distributions.make_distribution(fund_two, None, date=PAID_ON, gain=Decimal("900000"))
    url = reverse("capital_account_export", args=[fund_two.pk])
    page = manager_client.get(reverse("capital_accounts", args=[fund_two.pk])).context
    expected = [
        [r.committed, r.called, r.paid_in, r.unfunded, r.distributed, r.dpi] for r in [*page["rows"], page["total"]]
    ]
    lines = b"".join(manager_client.get(url).streaming_content).decode("utf-8-sig").strip().splitlines()
    assert lines[0] == "LP,Investing entity,Committed,Called,Paid in,Unfunded,Distributed,DPI"
    assert len(lines) == len(expected) + 1 and lines[-1].startswith("Total,,10000000.00,6000000.00,3600000.00")
    sheet = openpyxl.load_workbook(io.BytesIO(manager_client.get(url, {"format": "xlsx"}).content)).active
    cells = [row[2:] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert cells == [tuple(None if v is None else float(v) for v in row) for row in expected]


def test_the_lps_page_and_the_tracker_show_the_capital_account(member_client, fund_two, paid):
    distributions.make_distribution(fund_two, None, date=PAID_ON, gain=Decimal("900000"))
    page = member_client.get(reverse("lp_detail", args=[paid[0].lp_id])).content.decode()
    assert 'data-report-table="lp-capital-accounts"' in page
    assert "$450,000" in page and "0.25×" in page
    tracker = member_client.get(reverse("lp_list"), {"fund": fund_two.pk}).content.decode()
    assert 'data-kpi="distributed">$900K<' in tracker
    assert 'data-kpi="dpi">0.25×<' in tracker
    assert 'data-kpi="called">$6M<' in tracker
    assert 'data-kpi="unfunded">$6.4M<' in tracker
    assert reverse("capital_accounts", args=[fund_two.pk]) in tracker, "the fund's accounts are a click away"


# --- The distribution pages -------------------------------------------------------------------


def test_a_manager_makes_a_distribution_from_the_funds_page(manager_client, fund_two, paid):
    page = manager_client.get(reverse("distributions", args=[fund_two.pk])).content.decode()
    assert "Nothing distributed by Fund II yet" in page and "Make the distribution" in page
    response = manager_client.post(
        reverse("distribution_create", args=[fund_two.pk]),
        {"date": "2026-12-01", "amount": "1000", "return_of_capital": "700", "gain": "250", "income": "50",
         "basis": "paid_in"},
    )  # fmt: skip
    made = Distribution.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("distribution_detail", args=[made.pk])
    detail = manager_client.get(response["Location"]).content.decode()
    assert '<span data-figure="distributed">$1,000</span>' in detail
    assert reverse("distribution_notices", args=[made.pk]) in detail


def test_a_split_that_does_not_add_up_is_refused_beside_the_total(manager_client, fund_two, paid):
    url = reverse("distribution_create", args=[fund_two.pk])
    data = {"date": "2026-12-01", "amount": "1000", "return_of_capital": "700", "gain": "250", "income": "0",
            "basis": "paid_in"}  # fmt: skip
    response = manager_client.post(url, data)
    assert response.status_code == 400
    assert "add up to 950.00, not 1,000.00" in response.content.decode()
    response = manager_client.post(url, {**data, "date": "soon", "gain": "-5"})
    html = response.content.decode()
    assert "Enter a date like 2025-03-14." in html and "greater than or equal to 0" in html
    assert not Distribution.objects.exists()


def test_nobody_paid_in_is_refused_on_the_page_with_the_reason(manager_client, fund_two):
    commitment(lp(), fund_two, "1000000", status=CLOSED)
    data = {"date": "2026-12-01", "amount": "10", "return_of_capital": "10", "gain": "0", "income": "0",
            "basis": "paid_in"}  # fmt: skip
    response = manager_client.post(reverse("distribution_create", args=[fund_two.pk]), data)
    assert response.status_code == 400 and "has paid in capital yet" in response.content.decode()
    assert not Distribution.objects.exists()


def test_members_read_the_distribution_pages_but_cannot_make_one(member_client, fund_two, paid):
    made = distributions.make_distribution(fund_two, None, date=PAID_ON, gain=Decimal("10"))
    page = member_client.get(reverse("distributions", args=[fund_two.pk])).content.decode()
    assert "Distribution 1" in page and "Make the distribution" not in page
    assert member_client.get(reverse("distribution_detail", args=[made.pk])).status_code == 200
    data = {"date": "2026-12-01", "amount": "10", "return_of_capital": "10", "gain": "0", "income": "0",
            "basis": "paid_in"}  # fmt: skip
    assert member_client.post(reverse("distribution_create", args=[fund_two.pk]), data).status_code == 403
    assert Distribution.objects.count() == 1


def test_the_calls_page_links_distributions_and_capital_accounts(member_client, fund_two):
    page = member_client.get(reverse("capital_calls", args=[fund_two.pk])).content.decode()
    assert reverse("distributions", args=[fund_two.pk]) in page
    assert reverse("capital_accounts", args=[fund_two.pk]) in page


# --- Notices ----------------------------------------------------------------------------------


def test_a_call_notice_gives_the_lps_numbers_the_due_date_and_the_wire_instructions(member_client, fund_two, paid):
    fund_two.wire_instructions = "Bank of Testing\nAccount 42"
    fund_two.save()
    call = calls.issue_call(
        fund_two, None, notice_date=NOTICE, due_date=datetime.date(2026, 10, 1), percent=Decimal("10")
    )
    line = call.lines.get(commitment=paid[0])
    html = member_client.get(reverse("call_notice", args=[line.pk])).content.decode()
    assert html.count('class="notice"') == 1
    assert '<dd data-figure="amount-due">$600,000</dd>' in html
    assert '<strong data-figure="due-date">October 1, 2026</strong>' in html
    assert "Bank of Testing<br>Account 42" in html
    assert "$4,200,000" in html  # called to date: the 60% call and this 10%
    assert reverse("call_notices", args=[call.pk]) in html


def test_a_distribution_notice_gives_the_lps_share_by_kind(member_client, fund_two, paid):
    made = distributions.make_distribution(
        fund_two, None, date=PAID_ON, return_of_capital=Decimal("600"), gain=Decimal("400")
    )
    line = made.lines.get(commitment=paid[0])
    html = member_client.get(reverse("distribution_notice", args=[line.pk])).content.decode()
    assert '<dd data-figure="amount-distributed">$500</dd>' in html
    assert "<dd>$300</dd>" in html and "<dd>$200</dd>" in html


@pytest.mark.parametrize("kind", ["call", "distribution"])
def test_print_all_has_every_lps_notice_in_a_fixed_number_of_queries(member_client, fund_two, kind):
    def queries_with(n: int) -> tuple[int, str]:
        _grow(fund_two, n)
        if kind == "call":
            url = reverse("call_notices", args=[fund_two.capital_calls.order_by("-number").first().pk])
        else:
            url = reverse("distribution_notices", args=[fund_two.distributions.order_by("-number").first().pk])
        with CaptureQueriesContext(connection) as ctx:
            html = member_client.get(url).content.decode()
        return len(ctx.captured_queries), html

    small, _ = queries_with(2)
    large, html = queries_with(10)
    assert small == large
    assert html.count('<article class="notice"') == 12


# --- Dashboard, demo, migration ---------------------------------------------------------------


def test_the_dashboard_flags_overdue_capital_in_a_fixed_number_of_queries(member_client, fund_two):
    def queries_with(n: int) -> tuple[int, str]:
        for _ in range(n):
            commitment(lp(), fund_two, "1000000", status=CLOSED)
        calls.issue_call(
            fund_two, None, notice_date=datetime.date(2026, 1, 5), due_date=datetime.date(2026, 1, 20),
            amount=Decimal("1000.00"),
        )  # fmt: skip
        with CaptureQueriesContext(connection) as ctx:
            html = member_client.get(reverse("dashboard")).content.decode()
        return len(ctx.captured_queries), html

    small, _ = queries_with(1)
    large, html = queries_with(5)
    assert small == large
    assert 'data-kpi="overdue-capital">$2,000</p>' in html
    assert '<span data-kpi="overdue-capital-lines">7 call payments</span> from 6 LPs' in html


def test_the_overdue_capital_flag_is_not_shown_while_every_call_is_paid_on_time(member_client, fund_two):
    commitment(lp(), fund_two, "1000000", status=CLOSED)
    call = calls.issue_call(fund_two, None, notice_date=NOTICE, due_date=DUE, amount=Decimal("1000.00"))
    calls.record_receipt(call.lines.get(), None, Decimal("1000.00"), DUE)
    html = member_client.get(reverse("dashboard")).content.decode()
    assert 'data-card="overdue-capital"' not in html


def test_the_demo_gives_fund_one_a_distribution_pro_rata_to_paid_in(db):
    call_command("seed_demo", stdout=io.StringIO())
    fund_one = Fund.objects.get(name="Fund I")
    made = fund_one.distributions.get()
    assert (made.amount, made.basis, made.lines.count()) == (Decimal("12450000"), "paid_in", 6)
    assert sum(line.amount for line in made.lines.all()) == made.amount
    assert fund_one.wire_instructions
    call_command("seed_demo", stdout=io.StringIO())
    assert fund_one.distributions.count() == 1, "seeding again adds nothing"


@pytest.mark.django_db(transaction=True)
def test_the_migration_adds_distributions_and_leaves_calls_and_funds_as_they_were():
    old = migrate_back_to("lps", "0009_capital_calls")
    OldFund = old.get_model("lps", "Fund")
    f = OldFund.objects.create(name="Fund I")
    migrate_forward()
    assert Fund.objects.get(pk=f.pk).wire_instructions == ""
    assert not Distribution.objects.exists() and not CallLine.objects.exists()


def test_an_admin_edits_the_funds_wire_instructions_where_the_fund_is_edited(admin_client, fund_two):
    url = reverse("admin:lps_fund_change", args=[fund_two.pk])
    assert 'name="wire_instructions"' in admin_client.get(url).content.decode()
    data = {"name": "Fund II", "currency": "USD", "status": "raising", "late_close_interest_rate": "0",
            "wire_instructions": "Bank of Testing", "closes-TOTAL_FORMS": "0", "closes-INITIAL_FORMS": "0",
            "closes-MIN_NUM_FORMS": "0", "closes-MAX_NUM_FORMS": "1000"}  # fmt: skip
    assert admin_client.post(url, data).status_code == 302
    fund_two.refresh_from_db()
    assert fund_two.wire_instructions == "Bank of Testing"
    assert fund_two.history.first().history_user.username == "alice"


def test_the_distribution_pages_run_a_fixed_number_of_queries(member_client, fund_two):
    def queries_with(n: int) -> tuple[int, int]:
        _grow(fund_two, n)
        latest = fund_two.distributions.order_by("-number").first()
        counts = []
        for url in (reverse("distributions", args=[fund_two.pk]), reverse("distribution_detail", args=[latest.pk])):
            with CaptureQueriesContext(connection) as ctx:
                assert member_client.get(url).status_code == 200
            counts.append(len(ctx.captured_queries))
        return tuple(counts)

    assert queries_with(2) == queries_with(10)
