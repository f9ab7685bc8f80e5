"""Settings → Email capture in a browser: connect over htmx, sync against dovecot, the CSP holding throughout."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from contacts.models import Communication
from crm.testing import factories, mailseed

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_connecting_a_mailbox_and_syncing_it_shows_the_status_without_a_reload(
    page, live_server, browser_problems, member_user, imap_server
):
    factories.contact("Okafor", first_name="Ada", email=mailseed.ADA)
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/settings/#mailbox")
    section = page.locator("#mailbox")
    section.get_by_label("Host").fill(imap_server.host)
    section.get_by_label("Port").fill(str(imap_server.port))
    section.get_by_label("TLS").uncheck()
    section.get_by_label("Username").fill("ana")
    section.get_by_label("App password").fill(mailseed.USERS["ana"])
    section.get_by_label("Start date").fill("2026-11-01")
    section.get_by_role("button", name="Connect mailbox").click()
    expect(section.get_by_text("Not synced yet.")).to_be_visible()
    expect(section.get_by_label("App password")).to_have_value("")

    section.get_by_role("button", name="Sync now").click()

    expect(page.locator("#mailbox-status")).to_contain_text("captured")
    assert Communication.objects.filter(message_id="<m1@seed.example>").exists()
    page.screenshot(path="/tmp/capture-settings.png", full_page=True)
    browser_problems.assert_clean()
