"""What only a browser shows of issue 14's bugs: which form a keystroke fires, counts that follow
a change made in place, and what covers what on the screen."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from crm.testing.factories import action, contact, fund, lp, opportunity, org, stage

pytestmark = pytest.mark.browser


def test_typing_in_the_header_search_on_the_board_leaves_the_board_filter_alone(
    page, live_server, browser_problems, member_user
):
    opportunity(contact("Okafor", first_name="Ada"), fund(status="raising"), stage("Lead"))
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/pipeline/")
    board_requests: list[str] = []
    page.on("request", lambda r: "/pipeline/" in r.url and board_requests.append(r.url))

    with page.expect_response(lambda r: "/search/" in r.url):
        page.locator("#global-search-input").fill("Okafor")
    page.wait_for_load_state("networkidle")

    assert board_requests == []
    assert page.url == f"{live_server.url}/pipeline/"
    assert page.locator(".board-filters input[type=search]").input_value() == ""
    # The board's own search box still filters the board.
    with page.expect_response(lambda r: "/pipeline/" in r.url and "q=Ada" in r.url):
        page.locator(".board-filters input[type=search]").fill("Ada")
    browser_problems.assert_clean()


def test_rescheduling_the_only_overdue_action_clears_the_overdue_tab_count(
    page, live_server, browser_problems, member_user
):
    action(contact("Vance", first_name="Eleanor"), -2, by=member_user, next_action="Send the Q3 letter")
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/actions/")
    tab = page.locator("[data-overdue-tab]")
    expect(tab).to_have_text("1 overdue")

    item = page.locator(".action-item", has_text="Send the Q3 letter")
    item.get_by_role("link", name=re.compile("Reschedule")).click()
    page.locator("#dialog-host").get_by_label("New date").fill("2031-03-01")
    page.locator("#dialog-host").get_by_role("button", name="Reschedule").click()

    expect(page.locator(".action-group--later")).to_contain_text("Send the Q3 letter")
    expect(tab).to_be_hidden()
    # The page agrees after a reload.
    page.goto(f"{live_server.url}/actions/")
    expect(tab).to_be_hidden()
    browser_problems.assert_clean()


def test_a_second_change_replaces_the_flash_message_instead_of_piling_up(
    page, live_server, browser_problems, member_user
):
    action(contact("Vance", first_name="Eleanor"), -2, by=member_user, next_action="Send the Q3 letter")
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/actions/")
    item = page.locator(".action-item", has_text="Send the Q3 letter")
    for day in ("2031-03-01", "2031-04-01"):
        item.get_by_role("link", name=re.compile("Reschedule")).click()
        page.locator("#dialog-host").get_by_label("New date").fill(day)
        page.locator("#dialog-host").get_by_role("button", name="Reschedule").click()
        expect(page.locator("#dialog-host")).to_be_hidden()

    expect(page.locator("#messages .message")).to_have_count(1)
    expect(page.locator("#messages .message")).to_contain_text("Apr 1, 2031")
    browser_problems.assert_clean()


def test_ticking_a_low_row_keeps_the_rows_still_and_brings_the_bulk_bar_into_view(
    page, live_server, browser_problems, member_user
):
    for n in range(30):
        contact(f"Row{n:02}")
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/contacts/")
    low = page.locator("#contact-table tbody tr").nth(20)
    low.scroll_into_view_if_needed()
    before = low.bounding_box()

    table = page.locator("#contact-table tbody")
    offset = before["y"] - table.bounding_box()["y"]

    low.locator("[data-bulk-row]").check()

    bar = page.locator(".bulk-bar")
    expect(bar).to_be_visible()
    # Nothing is inserted above the rows: the ticked row keeps its place in the table (the page
    # may scroll to show it above the bar, which floats over the foot of the screen).
    after = low.bounding_box()
    assert after["y"] - table.bounding_box()["y"] == offset
    box = bar.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 900
    # The bar covers neither the ticked row nor, scrolled to the end, the last one.
    assert box["y"] >= after["y"] + after["height"] or box["y"] + box["height"] <= after["y"]
    last = page.locator("#contact-table tbody tr").last
    last.scroll_into_view_if_needed()
    page.mouse.wheel(0, 5000)
    expect(last).to_be_in_viewport()
    assert last.bounding_box()["y"] + last.bounding_box()["height"] <= bar.bounding_box()["y"]
    browser_problems.assert_clean()


def test_on_a_phone_sign_out_in_the_open_menu_is_not_covered_by_the_action_bar(
    page, live_server, browser_problems, member_user
):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/contacts/")
    expect(page.locator(".topbar-actions")).to_be_visible()  # this page has a bottom action bar

    page.get_by_role("button", name="Open menu").click()
    sign_out = page.locator("#sidebar").get_by_role("button", name="Sign out")
    expect(sign_out).to_be_in_viewport()
    box = sign_out.bounding_box()
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('button')?.textContent.trim()",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top == "Sign out"
    sign_out.click()
    page.wait_for_url(re.compile(r"/login/"))
    browser_problems.assert_clean()


def test_the_dashboard_lays_out_its_figures_charts_and_actions_cleanly_at_1440(
    page, live_server, browser_problems, member_user, manager_user
):
    raising = fund("Fund II", status="raising", target_size=Decimal("100000000"))
    for name, at in (("Sovereign Wealth Holdings Endowment", "Lead"), ("Blue Harbor", "Due diligence")):
        opportunity(contact(name, organization=org(name)), raising, stage(at), expected_amount=Decimal("12500000"))
    person = contact("Vance")
    action(person, 3, by=manager_user, next_action="Team call soon")
    action(person, 9, by=member_user, next_action="My later call")
    action(person, 1, by=member_user, next_action="My first call")
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live_server, member_user)

    cards = page.locator(".dash-kpis > .kpi")
    expect(cards).to_have_count(8)  # the most a wide screen keeps on one row (stale relationships the 8th)
    tops = {round(box["y"]) for box in cards.evaluate_all("cs => cs.map(c => c.getBoundingClientRect())")}
    assert len(tops) == 1, "the figures wrap, leaving a card alone on a row"

    # No chart label runs into a bar: each label and amount sits wholly above its bar.
    overlaps = page.locator(".chart-row").evaluate_all(
        """rows => rows.filter(row => {
            const bar = row.querySelector('.chart-track').getBoundingClientRect();
            return [...row.querySelectorAll('text')].some(t => {
                const r = t.getBoundingClientRect();
                return r.bottom > bar.top && r.top < bar.bottom && r.right > bar.left && r.left < bar.right;
            });
        }).length"""
    )
    assert page.locator(".chart-row").count() >= 2 and overlaps == 0

    # Upcoming actions: mine by date, a divider, then the team's.
    actions = page.locator("#dash-actions")
    expect(actions.locator(".action-list-heading")).to_have_text(["Mine", "The team’s"])
    mine = actions.locator("[aria-labelledby=actions-mine] .action-item")
    expect(mine.nth(0)).to_contain_text("My first call")
    expect(mine.nth(1)).to_contain_text("My later call")
    expect(actions.locator("[aria-labelledby=actions-team] .action-item")).to_contain_text(["Team call soon"])
    browser_problems.assert_clean()


def test_the_lp_column_stays_put_while_the_tracker_scrolls_sideways_and_unticked_boxes_show_as_boxes(
    page, live_server, browser_problems, manager_user
):
    raising = fund("Fund II", status="raising")
    for n in range(3):
        lp(
            contact(f"Investor{n}", first_name="Pat", organization=org(f"Long Organization Name Holdings {n}")),
            (raising, "5000000"),
        )
    page.set_viewport_size({"width": 900, "height": 800})  # narrow enough for the row to scroll
    sign_in(page, live_server, manager_user)
    page.goto(f"{live_server.url}/lps/")
    wrap = page.locator(".lp-table").locator("xpath=..")
    first = page.locator(".lp-table tbody tr").first.locator("> :first-child")
    before = first.bounding_box()["x"]
    assert wrap.evaluate("w => w.scrollWidth > w.clientWidth")

    wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")

    assert first.bounding_box()["x"] == before
    unticked = page.locator(".lp-table button.mark:not(.is-on)").first
    assert unticked.evaluate("b => getComputedStyle(b).borderTopWidth") == "2px"
    assert unticked.locator("[aria-hidden=true]").evaluate("s => getComputedStyle(s).visibility") == "hidden"
    browser_problems.assert_clean()
