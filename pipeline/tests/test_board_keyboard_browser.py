"""The board by keyboard: j/k move through cards, the arrows across columns, Enter opens the
card's panel at the opportunity's address."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import sign_in

pytestmark = pytest.mark.browser


def test_cards_are_walked_with_j_k_and_arrows_and_enter_opens_one(
    page, live_server, browser_problems, member_user, stages, make_opportunity, make_contact
):
    ada = make_opportunity("Lead", contact=make_contact("Ada", "Okafor"))
    ben = make_opportunity("Lead", contact=make_contact("Ben", "Stone"))
    cleo = make_opportunity("Meeting", contact=make_contact("Cleo", "Park"))
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/pipeline/")
    current = page.locator("#main .board-card[data-key-current]")

    page.keyboard.press("j")
    expect(current).to_have_attribute("data-id", str(ada.pk))
    page.keyboard.press("j")
    expect(current).to_have_attribute("data-id", str(ben.pk))
    page.keyboard.press("k")
    expect(current).to_have_attribute("data-id", str(ada.pk))
    page.keyboard.press("ArrowRight")
    expect(current).to_have_attribute("data-id", str(cleo.pk))
    page.keyboard.press("ArrowLeft")
    expect(current).to_have_attribute("data-id", str(ada.pk))

    page.keyboard.press("Enter")
    dialog = page.locator("#dialog-host")
    expect(dialog.locator("#opportunity-panel")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}{ada.get_absolute_url()}")
    page.keyboard.press("Escape")
    expect(dialog).not_to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/pipeline/")
    browser_problems.assert_clean()
