"""What only a browser shows of the notices: the Print button working under the CSP, and the
print layout itself — the app's chrome hidden and each LP's notice on a page of its own."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from crm.testing.factories import commitment, contact, fund, lp
from lps import calls
from lps.models import CommitmentStatus

pytestmark = pytest.mark.browser


def test_open_a_call_notice_print_it_and_print_every_lps_notice_one_a_page(
    page, live_server, browser_problems, member_user
):
    raising = fund("Fund II", vintage_year=2025, wire_instructions="Bank of Testing\nAccount 42")
    for name in ("Okafor", "Lindqvist", "Tan"):
        commitment(lp(contact(name)), raising, "2000000", status=CommitmentStatus.CLOSED)
    call = calls.issue_call(
        raising, None, notice_date=datetime.date(2026, 9, 1), due_date=datetime.date(2026, 9, 15),
        percent=Decimal("10"),
    )  # fmt: skip
    # window.print() opens no dialog in a test: the stub counts what the Print button asks for.
    page.add_init_script("window.__printed = 0; window.print = () => { window.__printed += 1; };")

    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/lps/funds/{raising.pk}/calls/")
    page.get_by_role("link", name="Call 1").click()
    page.get_by_role("row", name=re.compile("Okafor")).get_by_role("link", name="Notice").click()
    notice = page.locator("article.notice")
    expect(notice).to_have_count(1)
    expect(notice.locator("[data-figure=amount-due]")).to_have_text("$200,000")
    expect(notice).to_contain_text("Bank of Testing")
    # The click on "Notice" returns once the new page commits, before print.js has run.
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Print").click()
    assert page.evaluate("window.__printed") == 1

    page.get_by_role("link", name="Every LP's notice").click()
    page.wait_for_url(f"{live_server.url}/lps/calls/{call.pk}/notices/")
    expect(page.locator("article.notice")).to_have_count(3)
    page.emulate_media(media="print")
    for chrome in (".sidebar", ".topbar", ".notice-toolbar"):
        assert page.locator(chrome).evaluate("e => getComputedStyle(e).display") == "none", chrome
    breaks = page.locator("article.notice").evaluate_all("els => els.map(e => getComputedStyle(e).breakAfter)")
    assert breaks == ["page", "page", "auto"]
    pdf = page.pdf(format="Letter")
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 3, "one printed page per LP"
    browser_problems.assert_clean()
