"""Passkeys in a real browser: Chromium's virtual authenticator stands in for the laptop's.

http://localhost is a secure context, so WebAuthn runs on the live server without TLS.
"""

from __future__ import annotations

import pytest
from django_otp_webauthn.models import WebAuthnCredential
from playwright.sync_api import expect

from conftest import PASSWORD, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def authenticator(page):
    """A platform authenticator (like Touch ID) that says yes to every prompt."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    yield cdp, added["authenticatorId"]
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": added["authenticatorId"]})


def test_a_user_adds_a_passkey_in_settings_and_signs_in_with_it(
    page, live_server, browser_problems, authenticator, member_user
):
    cdp, authenticator_id = authenticator
    sign_in(page, live_server, member_user)

    page.goto(f"{live_server.url}/settings/")
    section = page.get_by_role("region", name="Two-factor authentication")
    section.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("heading", name="Name your passkey")).to_be_visible()
    page.get_by_label("Name").fill("Work laptop")
    page.get_by_role("button", name="Save the name").click()
    # The first second factor comes with recovery codes, shown once.
    expect(page.get_by_role("heading", name="Recovery codes")).to_be_visible()
    expect(page.get_by_role("list", name="Your recovery codes").get_by_role("listitem")).to_have_count(10)
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]) == 1
    assert list(WebAuthnCredential.objects.filter(user=member_user).values_list("name", flat=True)) == ["Work laptop"]

    page.goto(f"{live_server.url}/settings/")
    expect(section.get_by_role("list", name="Passkeys").get_by_text("Work laptop")).to_be_visible()
    expect(section.get_by_text("On", exact=True)).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(member_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Use your passkey")).to_be_visible()

    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert WebAuthnCredential.objects.get(user=member_user).last_used_at is not None
    browser_problems.assert_clean()


def test_a_manager_the_policy_sends_to_enrol_picks_a_passkey_there(
    page, live_server, browser_problems, authenticator, manager_user, settings
):
    settings.CRM_2FA_REQUIRED = "staff"
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(manager_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()

    page.get_by_role("region", name="Or add a passkey instead").get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("heading", name="Name your passkey")).to_be_visible()
    page.get_by_role("button", name="Save the name").click()
    expect(page.get_by_role("heading", name="Recovery codes")).to_be_visible()
    page.get_by_role("link", name="I have saved them, continue").click()
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert WebAuthnCredential.objects.get(user=manager_user).name == "Passkey"
    browser_problems.assert_clean()
