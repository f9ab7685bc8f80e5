"""What only a browser shows of the close planner: reached from the LP tracker, the fund switch
swapping the plan in place, and holding a close, with no console or CSP errors."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from crm.testing.factories import commitment, contact, fund, lp
from lps import calls
from lps.models import Close, CloseState, CommitmentStatus

pytestmark = pytest.mark.browser


def test_plan_a_close_switch_funds_and_hold_it(page, live_server, browser_problems, manager_user):
    older = fund("Fund I", vintage_year=2019, status="closed", late_close_interest_rate=Decimal("8"))
    raising = fund("Fund II", vintage_year=2025, late_close_interest_rate=Decimal("8"))
    first = Close.objects.create(
        fund=raising, name="First close", date=datetime.date(2026, 3, 31), minimum_amount=Decimal("20000000"),
        state=CloseState.HELD,
    )  # fmt: skip
    second = Close.objects.create(
        fund=raising, name="Second close", date=datetime.date(2027, 3, 31), minimum_amount=Decimal("10000000")
    )
    Close.objects.create(fund=older, name="Only close", date=datetime.date(2019, 9, 30), state=CloseState.HELD)
    commitment(lp(), raising, "20000000", status=CommitmentStatus.CLOSED, close=first)
    calls.issue_call(raising, None, notice_date=first.date, due_date=first.date, percent=Decimal("20"))
    commitment(lp(contact("Lindqvist", first_name="Thomas")), raising, "3000000", close=second)

    sign_in(page, live_server, manager_user)
    page.get_by_role("link", name="LPs", exact=True).click()
    page.get_by_role("link", name="Close planner").click()
    page.wait_for_url(f"{live_server.url}/closes/")
    second_plan = page.locator('[data-close="Second close"]')
    expect(second_plan.locator("[data-figure=signed]")).to_have_text("$3M")
    expect(second_plan.locator("[data-figure=gap]")).to_have_text("$7M")
    expect(second_plan).to_contain_text("Thomas Lindqvist")
    # 20% of the $3M called, plus 8% a year for the year between the closes.
    expect(second_plan.locator("[data-figure=equalisation]")).to_have_text("$648,000")

    page.get_by_label("Fund", exact=True).select_option(label="Fund I")
    expect(page.locator('[data-close="Only close"]')).to_be_visible()
    page.wait_for_url(f"{live_server.url}/closes/?fund={older.pk}")
    page.get_by_label("Fund", exact=True).select_option(label="Fund II · raising")
    expect(page.locator('[data-close="Second close"]')).to_be_visible()

    page.locator('[data-close="Second close"]').get_by_role("button", name="Mark held").click()
    expect(page.get_by_text("Second close of Fund II held: 1 signed commitment accepted.")).to_be_visible()
    expect(page.locator('[data-close="Second close"]')).to_contain_text("Held")
    expect(page.locator('[data-close="Second close"]').get_by_role("button", name="Mark held")).to_have_count(0)
    browser_problems.assert_clean()
