"""What only a real browser shows: the page works under the CSP with nothing blocked."""

import pytest
from playwright.sync_api import expect

from conftest import sign_in

pytestmark = pytest.mark.browser


def test_sign_in_shows_dashboard_shell_without_console_errors(page, live_server, browser_problems, admin_user):
    sign_in(page, live_server, admin_user)

    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Dashboard")).to_be_visible()
    expect(page.get_by_text(admin_user.display_name)).to_be_visible()
    # htmx loaded from our own origin and configured without eval.
    assert page.evaluate("typeof htmx !== 'undefined' && htmx.config.allowEval === false")
    browser_problems.assert_clean()


def test_inline_script_is_blocked_by_the_content_security_policy(page, live_server, browser_problems, admin_user):
    """Proves the policy is enforced, so the clean-console test above can fail."""
    sign_in(page, live_server, admin_user)
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = true';"
        " document.body.appendChild(s); }"
    )
    assert page.evaluate("window.__ran === undefined")
    assert any("script-src" in violation for violation in browser_problems.csp_violations())


def test_theme_toggle_switches_and_remembers_the_theme(page, live_server, browser_problems, admin_user):
    sign_in(page, live_server, admin_user)
    before = page.evaluate("document.documentElement.dataset.theme")
    page.get_by_role("button", name="Switch between dark and light theme").click()
    after = page.evaluate("document.documentElement.dataset.theme")
    assert {before, after} == {"dark", "light"}
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == after
    browser_problems.assert_clean()


def test_wrong_password_shows_a_message_in_the_browser(page, live_server, browser_problems, admin_user):
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("don't match")
    browser_problems.assert_clean()
