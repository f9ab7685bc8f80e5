"""What only a browser shows of issue 14's bugs: which form a keystroke fires, counts that follow
a change made in place, and what covers what on the screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from crm.testing.factories import action, contact, fund, opportunity, stage

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
