"""Organizations in a real browser: live filtering keeps exports in step; panels reopen."""

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from crm.testing.factories import org as make_org

pytestmark = pytest.mark.browser


def test_filtering_updates_the_table_url_and_export_links(page, live_server, browser_problems, manager_user):
    make_org("Atlas Family Office", city="Boston")
    make_org("Redwood Endowment", city="Palo Alto")
    sign_in(page, live_server, manager_user)

    page.goto(f"{live_server.url}/organizations/")
    page.get_by_label("Search organizations").fill("redwood")

    expect(page.locator("#organization-table")).not_to_contain_text("Atlas Family Office")
    expect(page.locator("#organization-table")).to_contain_text("Redwood Endowment")
    expect(page).to_have_url(f"{live_server.url}/organizations/?q=redwood&type=&tag=")
    csv_link = page.get_by_role("link", name="Export CSV")
    xlsx_link = page.get_by_role("link", name="Export XLSX")
    expect(csv_link).to_have_attribute("href", "/organizations/export/?q=redwood&type=&tag=")
    expect(xlsx_link).to_have_attribute("href", "/organizations/export/?q=redwood&type=&tag=&format=xlsx")
    browser_problems.assert_clean()


def test_a_panel_opens_again_after_it_was_closed(page, live_server, browser_problems, member_user):
    make_org("Atlas Family Office")
    make_org("Redwood Endowment")
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/organizations/")

    page.get_by_role("link", name="Atlas Family Office").click()
    dialog = page.locator("#dialog-host")
    expect(dialog.get_by_role("heading", name="Atlas Family Office")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).not_to_be_visible()

    page.get_by_role("link", name="Redwood Endowment").click()
    expect(dialog.get_by_role("heading", name="Redwood Endowment")).to_be_visible()
    browser_problems.assert_clean()
