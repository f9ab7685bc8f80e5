"""The "Move to…" control: one card to another stage, with a plain form that works without
JavaScript, and the confirm step a drag lands on when it needs an answer."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from conftest import HX
from lps.models import Commitment, CommitmentStatus, LPProfile
from pipeline import services
from pipeline.models import Opportunity
from pipeline.tests.conftest import column_ids

pytestmark = pytest.mark.django_db


def move_url(card) -> str:
    return f"/pipeline/opportunities/{card.pk}/move/"


@pytest.mark.parametrize("htmx", [True, False])
def test_move_form_lists_every_stage_with_the_current_one_picked(manager_client, stages, make_opportunity, htmx):
    card = make_opportunity("Outreach")
    response = manager_client.get(move_url(card), headers=HX if htmx else {})
    html = response.content.decode()
    assert response.status_code == 200
    assert ("<html" in html) is not htmx
    for name in stages:
        assert f"<span>{name}</span>" in html
    checked = re.findall(r'<input type="radio" name="stage" value="(\d+)"[^>]*checked', html)
    assert checked == [str(stages["Outreach"].pk)]
    assert 'data-outcome="lost"' in html


def test_moving_with_the_form_puts_the_card_at_the_end_of_the_column(
    member_client, member_user, fund, stages, make_opportunity
):
    existing = make_opportunity("Meeting")
    card = make_opportunity("Lead")
    response = member_client.post(move_url(card), {"stage": stages["Meeting"].pk}, headers=HX)

    assert response.status_code == 200
    assert "closeDialog" in response["HX-Trigger"] and "pipelineChanged" in response["HX-Trigger"]
    assert column_ids(fund, stages["Meeting"]) == [existing.pk, card.pk]
    card.refresh_from_db()
    assert card.history.latest().history_user == member_user
    assert card.history.latest().history_change_reason == "Moved from Lead to Meeting"


def test_without_htmx_the_move_redirects_to_next_or_the_board(member_client, fund, stages, make_opportunity):
    card = make_opportunity("Lead")
    response = member_client.post(move_url(card), {"stage": stages["Outreach"].pk, "next": "/pipeline/?q=Pat"})
    assert response.status_code == 302 and response["Location"] == "/pipeline/?q=Pat"

    response = member_client.post(move_url(card), {"stage": stages["Meeting"].pk, "next": "https://evil.example/phish"})
    assert response["Location"] == f"/pipeline/?fund={fund.pk}"


def test_a_confirmed_drag_lands_where_it_was_dropped(member_client, fund, stages, make_opportunity):
    a, b = make_opportunity("Meeting"), make_opportunity("Meeting")
    card = make_opportunity("Committed")
    Commitment.objects.all().delete()
    LPProfile.objects.create(contact=card.contact)
    Commitment.objects.create(
        lp=card.contact.lp_profile, fund=fund, status=CommitmentStatus.HARD_CIRCLE, commitment_amount=1
    )
    member_client.post(
        move_url(card),
        {"stage": stages["Meeting"].pk, "commitment_action": "keep", "order": f"{a.pk},{card.pk},{b.pk}"},
        headers=HX,
    )
    assert column_ids(fund, stages["Meeting"]) == [a.pk, card.pk, b.pk]


def test_unknown_or_missing_stage_re_renders_the_form_with_an_error(member_client, stages, make_opportunity):
    card = make_opportunity("Lead")
    for data in ({}, {"stage": "999"}, {"stage": "<script>alert(1)</script>"}):
        response = member_client.post(move_url(card), data, headers=HX)
        assert response.status_code == 200
        assert 'class="field-error"' in response.content.decode()
        assert "<script>alert(1)</script>" not in response.content.decode()
    card.refresh_from_db()
    assert card.stage == stages["Lead"]


def test_moving_a_card_of_an_unknown_opportunity_is_not_found(member_client, stages):
    assert member_client.post("/pipeline/opportunities/424242/move/", {"stage": stages["Lead"].pk}).status_code == 404


# --- lost: the reason is required ------------------------------------------------------------


def test_moving_to_passed_without_a_reason_asks_for_it(member_client, stages, make_opportunity):
    card = make_opportunity("Meeting")
    for reason in ("", "   "):
        response = member_client.post(move_url(card), {"stage": stages["Passed"].pk, "lost_reason": reason}, headers=HX)
        assert response.status_code == 200
        assert "the card moves to Passed once you do" in response.content.decode()
    card.refresh_from_db()
    assert card.stage == stages["Meeting"]
    assert card.lost_reason == ""


def test_moving_to_passed_with_a_reason_records_it(member_client, member_user, stages, make_opportunity):
    card = make_opportunity("Meeting")
    response = member_client.post(
        move_url(card), {"stage": stages["Passed"].pk, "lost_reason": "  Over-allocated   this year "}, headers=HX
    )
    assert response.status_code == 200
    card.refresh_from_db()
    assert card.stage == stages["Passed"]
    assert card.lost_reason == "Over-allocated this year"
    assert card.history.latest().history_user == member_user


def test_a_too_long_reason_is_refused_and_nothing_moves(member_client, stages, make_opportunity):
    card = make_opportunity("Meeting")
    response = member_client.post(move_url(card), {"stage": stages["Passed"].pk, "lost_reason": "x" * 251}, headers=HX)
    assert response.status_code == 200
    assert "at most 250 characters" in response.content.decode()
    card.refresh_from_db()
    assert card.stage == stages["Meeting"]


def test_reviving_a_passed_card_clears_its_reason(member_client, stages, make_opportunity):
    card = make_opportunity("Passed", lost_reason="Timing")
    member_client.post(move_url(card), {"stage": stages["Outreach"].pk}, headers=HX)
    card.refresh_from_db()
    assert card.stage == stages["Outreach"]
    assert card.lost_reason == ""
    assert card.history.filter(lost_reason="Timing").exists(), "history keeps the old reason"


# --- won and leaving won ------------------------------------------------------------------


def test_moving_to_committed_with_the_form_creates_the_commitment(manager_client, fund, stages, make_opportunity):
    card = make_opportunity("Due diligence", expected_amount=Decimal("7500000"))
    manager_client.post(move_url(card), {"stage": stages["Committed"].pk}, headers=HX)
    commitment = Commitment.objects.get(lp__contact=card.contact, fund=fund)
    assert commitment.status == CommitmentStatus.HARD_CIRCLE
    assert commitment.commitment_amount == Decimal("7500000")


@pytest.fixture
def won(manager_user, stages, make_opportunity) -> Opportunity:
    card = make_opportunity("Due diligence", expected_amount=Decimal("5000000"))
    services.move_opportunity(card, stages["Committed"], manager_user)
    card.refresh_from_db()
    return card


def test_leaving_won_asks_before_touching_the_commitment(manager_client, stages, won):
    response = manager_client.post(move_url(won), {"stage": stages["Meeting"].pk}, headers=HX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Keep the commitment" in html and "Delete the commitment" in html
    assert "$5,000,000" in html
    assert 'value="keep" checked' in html, "keeping is the answer picked for you"
    won.refresh_from_db()
    assert won.stage == stages["Committed"]
    assert Commitment.objects.count() == 1


def test_leaving_won_and_keeping_the_commitment_says_so_in_history(manager_client, manager_user, stages, won):
    manager_client.post(move_url(won), {"stage": stages["Meeting"].pk, "commitment_action": "keep"}, headers=HX)
    won.refresh_from_db()
    assert won.stage == stages["Meeting"]
    commitment = Commitment.objects.get()
    assert commitment.status == CommitmentStatus.HARD_CIRCLE
    record = won.history.latest()
    assert record.history_change_reason == "Moved from Committed to Meeting; commitment kept"
    assert record.history_user == manager_user


def test_leaving_won_and_deleting_the_commitment_records_who_did_it(manager_client, manager_user, stages, won):
    commitment = Commitment.objects.get()
    manager_client.post(move_url(won), {"stage": stages["Meeting"].pk, "commitment_action": "delete"}, headers=HX)
    assert not Commitment.objects.exists()
    deletion = Commitment.history.filter(id=commitment.pk, history_type="-").get()
    assert deletion.history_user == manager_user
    assert "Deleted when" in deletion.history_change_reason
    won.refresh_from_db()
    assert won.history.latest().history_change_reason == "Moved from Committed to Meeting; commitment deleted"


def test_a_made_up_commitment_answer_is_refused(manager_client, stages, won):
    response = manager_client.post(
        move_url(won), {"stage": stages["Meeting"].pk, "commitment_action": "shred"}, headers=HX
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert Commitment.objects.count() == 1
    won.refresh_from_db()
    assert won.stage == stages["Committed"]


def test_leaving_won_for_passed_needs_both_answers(manager_client, stages, won):
    response = manager_client.post(
        move_url(won), {"stage": stages["Passed"].pk, "commitment_action": "keep"}, headers=HX
    )
    assert "the card moves to Passed once you do" in response.content.decode()
    response = manager_client.post(
        move_url(won), {"stage": stages["Passed"].pk, "lost_reason": "Fell through"}, headers=HX
    )
    assert "Keep the commitment" in response.content.decode()
    won.refresh_from_db()
    assert won.stage == stages["Committed"]
    manager_client.post(
        move_url(won),
        {"stage": stages["Passed"].pk, "lost_reason": "Fell through", "commitment_action": "delete"},
        headers=HX,
    )
    won.refresh_from_db()
    assert won.stage == stages["Passed"]
    assert not Commitment.objects.exists()


def test_the_drag_confirm_page_opens_on_the_question(manager_client, stages, won):
    response = manager_client.get(f"{move_url(won)}?stage={stages['Meeting'].pk}&order={won.pk}")
    html = response.content.decode()
    assert "Keep the commitment" in html
    assert f'value="{won.pk}"' in html  # the order rides along
