"""The as-of board in a browser: the date control replays a past week under the CSP with a clean
console, the board is read-only, and printing hides the controls."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from pipeline.tests.test_as_of import born, day, then

pytestmark = pytest.mark.browser


def test_the_date_control_replays_the_board_as_it_was(
    page, live_server, browser_problems, member_user, fund, stages, make_opportunity, make_contact
):
    ada = born(make_opportunity("Lead", contact=make_contact("Ada", "Okafor"), expected_amount=Decimal("1000000")), 0)
    then(ada, 5, stage=stages["Meeting"], position=0, expected_amount=Decimal("2500000"))
    then(ada, 10, stage=stages["Due diligence"], position=0)
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/pipeline/?fund={fund.pk}")
    expect(page.locator(f'#column-{stages["Due diligence"].pk} .board-card[data-id="{ada.pk}"]')).to_be_visible()

    page.get_by_label("As of").fill(day(6).isoformat())
    page.get_by_role("button", name="Replay").click()
    page.wait_for_url(f"**as_of={day(6).isoformat()}*")

    meeting = page.locator(f"#column-{stages['Meeting'].pk}")
    expect(meeting.locator(f'.board-card[data-id="{ada.pk}"]')).to_be_visible()
    expect(meeting.locator(".board-card-amount")).to_have_text("$2.5M")
    expect(page.locator(f"#column-{stages['Due diligence'].pk} .board-card")).to_have_count(0)
    expect(page.locator("[data-sortable]")).to_have_count(0)
    expect(page.locator(".board-card a")).to_have_count(0)

    page.emulate_media(media="print")
    expect(page.locator("form[data-board-as-of]")).to_be_hidden()
    expect(page.locator(".sidebar")).to_be_hidden()
    expect(meeting.locator(f'.board-card[data-id="{ada.pk}"]')).to_be_visible()
    page.emulate_media(media="screen")

    page.get_by_role("link", name="Changes since").click()
    expect(page.locator(f'[data-change="in"][data-id="{ada.pk}"]')).to_be_visible()
    browser_problems.assert_clean()
