"""The interactive docs in a real browser: Swagger UI draws the API under the strict CSP."""

from __future__ import annotations

import pytest

from conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_docs_draw_every_operation_with_no_csp_violation_or_foreign_request(
    page, live_server, browser_problems, member_user
):
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/api/v1/docs")
    page.locator(".opblock-summary-path", has_text="/api/v1/opportunities/{pk}/move").wait_for()
    assert page.locator(".opblock").count() >= 20
    browser_problems.assert_clean()
