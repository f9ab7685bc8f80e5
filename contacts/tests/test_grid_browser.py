"""What only a browser shows of the contacts grid: how many rows fit, and the controls working."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from crm.demo.seed_bulk import seed_bulk
from crm.demo.seed_demo import load_demo

pytestmark = pytest.mark.browser

# Rows whose whole box is on screen and inside the table's scrolling area.
VISIBLE_ROWS = """() => {
  const wrap = document.querySelector('#contact-table .table-wrap').getBoundingClientRect();
  const bottom = Math.min(wrap.bottom, window.innerHeight);
  return [...document.querySelectorAll('#contact-table tbody tr[data-row]')].filter(row => {
    const box = row.getBoundingClientRect();
    return box.height > 0 && box.top >= wrap.top && box.bottom <= bottom;
  }).length;
}"""

SCROLL_TO_TABLE = "document.querySelector('#contact-table .table-wrap').scrollIntoView({block: 'end'})"


def test_at_least_25_demo_contacts_are_visible_at_1440_by_900_in_compact_rows(
    page, live_server, browser_problems, member_user
):
    load_demo()
    seed_bulk(60)  # the demo's own dozen contacts would not fill a screen
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/contacts/")
    expect(page.locator("#contact-table tbody tr[data-row]").first).to_be_visible()
    # Scrolled to the table, as anyone reading the list is: filters above, rows below.
    page.evaluate(SCROLL_TO_TABLE)
    compact = page.evaluate(VISIBLE_ROWS)
    assert compact >= 25, f"{compact} rows visible"
    # Every compact row is one line (a second line would add about 18 px).
    heights = page.eval_on_selector_all("#contact-table tbody tr[data-row]", "rows => rows.map(r => r.offsetHeight)")
    assert max(heights) <= 30, heights

    # Comfortable rows are taller, so fewer fit; the choice is remembered on the next visit.
    page.get_by_role("link", name="Comfortable").click()
    expect(page.locator("table.contact-rows")).not_to_have_class(re.compile(r"grid--compact"))
    page.evaluate(SCROLL_TO_TABLE)
    assert page.evaluate(VISIBLE_ROWS) < compact
    page.goto(f"{live_server.url}/contacts/")
    expect(page.get_by_role("link", name="Comfortable")).to_have_attribute("aria-current", "true")
    browser_problems.assert_clean()


def test_the_column_chooser_hides_and_shows_columns(page, live_server, browser_problems, member_user):
    load_demo()
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/contacts/")
    table = page.locator("#contact-table table")
    expect(table.locator("thead")).to_contain_text("Tags")
    page.get_by_text("Columns", exact=True).click()
    page.get_by_label("Tags column").uncheck()
    page.get_by_label("Email column").check()
    page.get_by_role("button", name="Show columns").click()
    expect(table.locator("thead")).not_to_contain_text("Tags")
    expect(table.locator("thead")).to_contain_text("Email")
    assert "cols=email" in page.url
    browser_problems.assert_clean()
