"""The slide-over panel in a browser: beside the list, at the record's own address, closed by
Back and Escape, focus returned to the row that opened it; Delete behind "More"."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from crm.testing.factories import contact as make_contact
from crm.testing.factories import org as make_org

pytestmark = pytest.mark.browser


@pytest.fixture
def people(db):
    atlas = make_org("Atlas Family Office")
    return {
        "ada": make_contact("Okafor", first_name="Ada", organization=atlas),
        "naomi": make_contact("Brooks", first_name="Naomi"),
        "marcus": make_contact("Chen", first_name="Marcus"),
    }


def test_the_panel_has_its_own_address_and_back_closes_it(page, live_server, browser_problems, manager_user, people):
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live_server, manager_user)
    page.goto(f"{live_server.url}/contacts/?status=active")
    list_url = page.url
    page.get_by_role("link", name="Ada Okafor").click()
    dialog = page.locator("#dialog-host")
    expect(dialog.get_by_role("heading", name="Ada Okafor")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/contacts/{people['ada'].pk}/")

    # Not modal: no backdrop, the list behind stays clickable, and it sits beside the panel.
    assert page.evaluate("document.getElementById('dialog-host').matches(':modal')") is False
    table_box = page.locator("#contact-table").bounding_box()
    panel_box = dialog.bounding_box()
    assert table_box["x"] + table_box["width"] <= panel_box["x"] + 1
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.get_by_role("link", name="Naomi Brooks").click()
    expect(dialog.get_by_role("heading", name="Naomi Brooks")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/contacts/{people['naomi'].pk}/")

    # Back closes the panel and leaves the list where it was, without fetching it again.
    requests.clear()
    page.go_back()
    expect(dialog).not_to_be_visible()
    expect(page).to_have_url(list_url)
    expect(page.get_by_role("link", name="Ada Okafor")).to_be_visible()
    page.wait_for_timeout(300)
    assert not [url for url in requests if "/contacts/" in url]

    # Forward opens it again; a reload at that address is the contact's full page.
    page.go_forward()
    expect(dialog.get_by_role("heading", name="Naomi Brooks")).to_be_visible()
    page.reload()
    expect(page.locator("#main").get_by_role("heading", name="Naomi Brooks")).to_be_visible()
    expect(page.locator("#dialog-host")).not_to_be_visible()
    browser_problems.assert_clean()


def test_escape_closes_the_panel_restores_the_address_and_the_focus(
    page, live_server, browser_problems, member_user, people
):
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/contacts/")
    link = page.get_by_role("link", name="Marcus Chen")
    link.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#dialog-host")
    heading = dialog.get_by_role("heading", name="Marcus Chen")
    expect(heading).to_be_visible()
    expect(heading).to_be_focused()  # focus moved into the panel
    expect(page).to_have_url(f"{live_server.url}/contacts/{people['marcus'].pk}/")

    page.keyboard.press("Escape")
    expect(dialog).not_to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/contacts/")
    expect(link).to_be_focused()

    # The close button also gives focus back; an edit form's first field takes focus.
    link.click()
    dialog.get_by_role("link", name="Edit").click()
    expect(dialog.locator("#contact-form form input:visible").first).to_be_focused()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).not_to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/contacts/")
    expect(link).to_be_focused()
    browser_problems.assert_clean()


def test_focus_returns_to_the_row_after_saving_in_the_panel(page, live_server, browser_problems, manager_user, people):
    sign_in(page, live_server, manager_user)
    page.goto(f"{live_server.url}/organizations/")
    page.get_by_role("link", name="Atlas Family Office").click()
    dialog = page.locator("#dialog-host")
    dialog.get_by_role("link", name="Edit").click()
    city = dialog.get_by_label("City")
    city.fill("Lagos")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("heading", name="Atlas Family Office")).to_be_focused()
    expect(page.locator("#organization-table")).to_contain_text("Lagos")
    page.keyboard.press("Escape")
    expect(dialog).not_to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/organizations/")
    # The list re-rendered after the save; focus lands on the same record's new link.
    expect(page.get_by_role("link", name="Atlas Family Office")).to_be_focused()
    browser_problems.assert_clean()


def test_delete_sits_behind_more_and_asks_first(page, live_server, browser_problems, manager_user, people):
    sign_in(page, live_server, manager_user)
    page.goto(f"{live_server.url}/contacts/")
    page.get_by_role("link", name="Naomi Brooks").click()
    dialog = page.locator("#dialog-host")
    expect(dialog.get_by_role("heading", name="Naomi Brooks")).to_be_visible()
    delete = dialog.get_by_role("link", name=re.compile("^Delete"))
    expect(delete).to_be_hidden()
    dialog.get_by_text("More", exact=True).click()
    delete.click()
    # The confirmation is modal, and nothing is deleted until it is confirmed.
    expect(dialog.get_by_role("button", name=re.compile("Delete"))).to_be_visible()
    assert page.evaluate("document.getElementById('dialog-host').matches(':modal')") is True
    people["naomi"].refresh_from_db()
    browser_problems.assert_clean()


def test_log_a_touch_comes_into_view_with_focus(page, live_server, browser_problems, manager_user, people):
    sign_in(page, live_server, manager_user)
    page.goto(f"{live_server.url}/contacts/{people['ada'].pk}/")
    page.locator("#main").get_by_role("link", name="Log a touch").click()
    form = page.locator("#main #communication-form")
    expect(form).to_be_visible()
    expect(form).to_be_in_viewport()
    focused_in_form = page.evaluate("document.getElementById('communication-form').contains(document.activeElement)")
    assert focused_in_form
    browser_problems.assert_clean()
