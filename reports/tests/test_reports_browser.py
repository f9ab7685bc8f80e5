"""What only a browser shows on the Reports page: the fund switch swapping the reports in place."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from contacts.models import OrganizationType
from crm.testing.factories import commitment, contact, fund, lp, opportunity, stage

pytestmark = pytest.mark.browser


def test_switch_the_fund_and_the_reports_follow_without_console_errors(
    page, live_server, browser_problems, member_user
):
    closed = fund("Fund I", vintage_year=2019, status="closed", target_size=Decimal("50000000"))
    raising = fund("Fund II", vintage_year=2025, target_size=Decimal("150000000"))
    commitment(
        lp(investor_type=OrganizationType.PENSION), closed, "30000000", commitment_date=datetime.date(2019, 6, 3)
    )
    commitment(
        lp(investor_type=OrganizationType.ENDOWMENT), closed, "12000000", commitment_date=datetime.date(2019, 9, 9)
    )
    opportunity(contact(), raising, stage("Meeting"))

    sign_in(page, live_server, member_user)
    page.get_by_role("link", name="Reports").click()
    page.wait_for_url(f"{live_server.url}/reports/")
    expect(page.get_by_role("heading", name="Fundraising progress · Fund II")).to_be_visible()
    expect(page.locator("#fundraising")).to_contain_text("No commitments to Fund II yet")

    # Choosing a fund swaps the reports in place (htmx) and keeps the choice in the address.
    page.get_by_label("Fund", exact=True).select_option(label="Fund I")
    expect(page.get_by_role("heading", name="Fundraising progress · Fund I")).to_be_visible()
    page.wait_for_url(f"{live_server.url}/reports/?fund={closed.pk}&months=6")
    fundraising = page.locator("#fundraising")
    expect(fundraising.locator("[data-figure=committed]")).to_have_text("$42M")
    expect(fundraising.get_by_role("img", name="Fund I: committed capital by month")).to_be_visible()
    expect(page.locator("#concentration")).to_contain_text("Pension")
    expect(page.locator("[data-report-table=fundraising] tbody tr")).to_have_count(4)  # June to September 2019

    # The period filter refreshes the team activity the same way.
    page.get_by_label("Team activity", exact=True).select_option(label="Last 12 months")
    expect(page.get_by_role("heading", name="Team activity · last 12 months")).to_be_visible()
    expect(page.locator("[data-report-table=team-months] thead th")).to_have_count(1 + 12 + 1)

    # A reload (or a shared link) shows the same reports.
    page.reload()
    expect(page.get_by_role("heading", name="Fundraising progress · Fund I")).to_be_visible()
    expect(page.get_by_label("Fund", exact=True)).to_have_value(str(closed.pk))
    browser_problems.assert_clean()
