"""What only a browser shows: SortableJS drives a real drag, htmx saves the column, and the
card is still where it was dropped after a reload, all under the CSP with a clean console."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from conftest import sign_in
from contacts.models import Organization
from pipeline.models import Opportunity

pytestmark = pytest.mark.browser


def drag(page, source, target, *, below: bool = True) -> None:
    """Real mouse moves in steps (Playwright's drag_to does not drive SortableJS)."""
    start = source.bounding_box()
    end = target.bounding_box()
    x, y = start["x"] + start["width"] * 0.75, start["y"] + start["height"] - 12
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 12, y + 12, steps=4)  # past SortableJS's tolerance: this is a drag, not a click
    target_y = end["y"] + end["height"] - 8 if below else end["y"] + 8
    page.mouse.move(end["x"] + end["width"] / 2, target_y, steps=25)
    page.wait_for_timeout(150)
    page.mouse.up()


def test_dragging_a_card_across_columns_saves_it(
    page, live_server, browser_problems, member_user, stages, make_opportunity, make_contact
):
    card = make_opportunity("Lead", contact=make_contact("Ada", "Okafor"), expected_amount=Decimal("2500000"))
    stays = make_opportunity("Meeting", contact=make_contact("Ben", "Stone"))
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/pipeline/")
    meeting = page.locator(f"#column-{stages['Meeting'].pk}")
    lead = page.locator(f"#column-{stages['Lead'].pk}")
    expect(lead.locator(f'.board-card[data-id="{card.pk}"]')).to_be_visible()

    with page.expect_response(lambda r: r.url.endswith("/pipeline/reorder/") and r.status == 200):
        drag(page, lead.locator(f'.board-card[data-id="{card.pk}"]'), meeting.locator(".board-cards"))

    expect(meeting.locator(f'.board-card[data-id="{card.pk}"]')).to_be_visible()
    expect(meeting.locator("[data-count]")).to_have_text("2")
    expect(lead.locator("[data-count]")).to_have_text("0")
    page.reload()
    moved = page.locator(f"#column-{stages['Meeting'].pk} .board-card")
    expect(moved).to_have_count(2)
    assert moved.nth(0).get_attribute("data-id") == str(stays.pk)
    assert moved.nth(1).get_attribute("data-id") == str(card.pk)
    expect(page.locator(f"#column-{stages['Lead'].pk} .board-card")).to_have_count(0)
    card.refresh_from_db()
    assert card.stage == stages["Meeting"]
    assert card.history.latest().history_user == member_user
    browser_problems.assert_clean()


def test_dragging_within_a_column_reorders_it(
    page, live_server, browser_problems, member_user, stages, make_opportunity
):
    first, second = make_opportunity("Outreach"), make_opportunity("Outreach")
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/pipeline/")
    column = page.locator(f"#column-{stages['Outreach'].pk}")

    with page.expect_response(lambda r: r.url.endswith("/pipeline/reorder/")):
        drag(page, column.locator(f'[data-id="{second.pk}"]'), column.locator(f'[data-id="{first.pk}"]'), below=False)

    page.reload()
    ids = page.locator(f"#column-{stages['Outreach'].pk} .board-card").evaluate_all(
        "cards => cards.map(c => c.dataset.id)"
    )
    assert ids == [str(second.pk), str(first.pk)]
    browser_problems.assert_clean()


def test_dropping_on_passed_asks_why_before_moving(
    page, live_server, browser_problems, member_user, stages, make_opportunity
):
    card = make_opportunity("Meeting")
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/pipeline/")
    meeting = page.locator(f"#column-{stages['Meeting'].pk}")
    passed = page.locator(f"#column-{stages['Passed'].pk}")

    drag(page, meeting.locator(f'[data-id="{card.pk}"]'), passed.locator(".board-cards"))

    dialog = page.locator("#dialog-host")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Why did they pass?")).to_be_visible()
    # Nothing moved yet: the card is back in its column.
    expect(meeting.locator(f'[data-id="{card.pk}"]')).to_be_visible()
    dialog.get_by_label("Why did they pass?").fill("Over-allocated to venture this year")
    dialog.get_by_role("button", name="Move").click()

    expect(dialog).to_be_hidden()
    expect(page.locator(f"#column-{stages['Meeting'].pk} [data-id='{card.pk}']")).to_have_count(0)
    expect(page.locator(f"#column-{stages['Passed'].pk} [data-count]")).to_have_text("1")
    card.refresh_from_db()
    assert card.stage == stages["Passed"]
    assert card.lost_reason == "Over-allocated to venture this year"
    browser_problems.assert_clean()


def test_move_to_works_from_the_keyboard_and_a_card_click_opens_its_panel(
    page, live_server, browser_problems, member_user, stages, make_opportunity, make_contact
):
    card = make_opportunity("Lead", contact=make_contact("Ada", "Okafor"))
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/pipeline/")

    page.locator(f'.board-card[data-id="{card.pk}"] .board-card-org').click()
    panel = page.locator("#dialog-host")
    expect(panel.get_by_role("heading", name=card.name)).to_be_visible()
    panel.get_by_role("button", name="Close").click()

    page.get_by_role("link", name="Move Ada Okafor to another stage").focus()
    page.keyboard.press("Enter")
    expect(panel.get_by_role("radio", name="Due diligence")).to_be_visible()
    panel.get_by_role("radio", name="Due diligence").check()
    panel.get_by_role("button", name="Move").click()

    expect(page.locator(f"#column-{stages['Due diligence'].pk} [data-id='{card.pk}']")).to_be_visible()
    assert Opportunity.objects.get(pk=card.pk).stage == stages["Due diligence"]
    browser_problems.assert_clean()


def test_load_more_then_drop_into_the_partly_loaded_column(
    page, live_server, browser_problems, member_user, fund, stages, make_opportunity, make_contact
):
    contact = make_contact("Ada", "Okafor")
    meeting_cards = [make_opportunity("Meeting", contact=contact).pk for _ in range(60)]
    card = make_opportunity("Lead", contact=make_contact("Ben", "Stone"))
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/pipeline/")
    meeting = page.locator(f"#column-{stages['Meeting'].pk}")
    expect(meeting.locator(".board-card")).to_have_count(50)
    expect(meeting.locator("[data-count]")).to_have_text("60")

    meeting.get_by_role("link", name=re.compile("Load more")).click()
    expect(meeting.locator(".board-card")).to_have_count(60)
    expect(meeting.get_by_role("link", name=re.compile("Load more"))).to_have_count(0)

    lead = page.locator(f"#column-{stages['Lead'].pk}")
    with page.expect_response(lambda r: r.url.endswith("/pipeline/reorder/") and r.status == 200):
        drag(
            page, lead.locator(f'.board-card[data-id="{card.pk}"]'), meeting.locator(f'[data-id="{meeting_cards[0]}"]')
        )

    expect(meeting.locator("[data-count]")).to_have_text("61")
    expect(meeting.locator(".board-card")).to_have_count(61)
    ids = list(
        Opportunity.objects.filter(stage=stages["Meeting"]).order_by("position", "pk").values_list("pk", flat=True)
    )
    assert sorted(ids) == sorted([*meeting_cards, card.pk]) and len(set(ids)) == 61
    assert [pk for pk in ids if pk != card.pk] == meeting_cards, "the other cards keep their order"
    browser_problems.assert_clean()


def test_a_new_opportunity_picks_its_contact_and_organization_as_you_type(
    page, live_server, browser_problems, member_user, fund, stages, make_contact
):
    ada = make_contact("Ada", "Okafor", organization=None)
    make_contact("Ben", "Stone")
    harbor = Organization.objects.create(name="Blue Harbor Foundation")
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/pipeline/")
    page.get_by_role("link", name="New opportunity").click()
    form = page.locator("#opportunity-form")
    expect(form).to_be_visible()

    form.locator("#id_contact_search").press_sequentially("okafor", delay=30)
    form.locator(".picker-option", has_text="Ada Okafor").click()
    expect(form.locator("#id_contact-picker")).to_contain_text("Ada Okafor")
    form.locator("#id_organization_search").press_sequentially("blue har", delay=30)
    form.locator(".picker-option", has_text="Blue Harbor Foundation").click()
    expect(form.locator("#id_organization-picker")).to_contain_text("Blue Harbor Foundation")
    form.get_by_label("Expected amount").fill("2500000")
    form.get_by_role("button", name="Add opportunity").click()

    lead = page.locator(f"#column-{stages['Lead'].pk}")
    expect(lead.locator(".board-card", has_text="Ada Okafor")).to_be_visible()
    created = Opportunity.objects.get(contact=ada)
    assert created.organization == harbor
    browser_problems.assert_clean()


def test_at_1440_every_column_fits_and_a_card_drags_from_the_first_column_to_the_last(
    page, live_server, browser_problems, member_user, stages, make_opportunity, make_contact
):
    card = make_opportunity("Lead", contact=make_contact("Ada", "Okafor"), expected_amount=Decimal("2500000"))
    for name in ("Outreach", "Meeting", "Due diligence", "Committed", "Funded"):
        make_opportunity(name)
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live_server, member_user)
    page.goto(f"{live_server.url}/pipeline/")

    board = page.locator("[data-board]")
    assert board.evaluate("b => b.scrollWidth <= b.clientWidth"), "the board scrolls sideways at 1440 px"
    columns = page.locator(".board-column")
    expect(columns).to_have_count(7)
    for box in columns.evaluate_all("cs => cs.map(c => c.getBoundingClientRect().toJSON())"):
        assert box["left"] >= 0 and box["right"] <= 1440
    # Compact cards keep their content inside them.
    assert page.locator(".board-card").evaluate_all("cs => cs.filter(c => c.scrollWidth > c.clientWidth).length") == 0

    lead = page.locator(f"#column-{stages['Lead'].pk}")
    passed = page.locator(f"#column-{stages['Passed'].pk}")
    drag(page, lead.locator(f'.board-card[data-id="{card.pk}"]'), passed.locator(".board-cards"))
    dialog = page.locator("#dialog-host")
    dialog.get_by_label("Why did they pass?").fill("Allocation full")
    dialog.get_by_role("button", name="Move").click()

    expect(passed.locator("[data-count]")).to_have_text("1")
    expect(page.locator(f"#column-{stages['Lead'].pk} .board-card")).to_have_count(0)
    card.refresh_from_db()
    assert card.stage == stages["Passed"]
    browser_problems.assert_clean()
