"""Drag-and-drop on the board: a dropped column posts its full order; the server saves stage
and position in one transaction, with history naming the user, and answers with the columns
and the fund header."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from conftest import HX
from contacts.models import ContactType, OrganizationType
from lps.models import Commitment, CommitmentStatus, LPProfile
from pipeline import services
from pipeline.models import Opportunity, OpportunityQuerySet
from pipeline.tests.conftest import column_ids, days_ago

pytestmark = pytest.mark.django_db

REORDER = "/pipeline/reorder/"


def post_column(client, fund, stage, ids, *, htmx=True, **extra):
    data = {"fund": fund.pk, "stage": stage.pk, "order": [str(pk) for pk in ids], **extra}
    return client.post(REORDER, data, headers=HX if htmx else {})


def test_reorder_url_is_the_one_the_columns_post_to():
    assert reverse("pipeline_reorder") == REORDER


def test_reordering_within_a_column_saves_the_posted_order(member_client, member_user, fund, stages, make_opportunity):
    a, b, c = (make_opportunity("Meeting") for _ in range(3))
    response = post_column(member_client, fund, stages["Meeting"], [c.pk, a.pk, b.pk])

    assert response.status_code == 200
    assert column_ids(fund, stages["Meeting"]) == [c.pk, a.pk, b.pk]
    assert [o.position for o in Opportunity.objects.filter(pk__in=[c.pk, a.pk, b.pk]).order_by("position")] == [0, 1, 2]
    # A reorder is not a stage change.
    c.refresh_from_db()
    assert c.stage == stages["Meeting"]
    assert c.history.latest().history_user == member_user


def test_dropping_a_card_into_another_column_moves_it_with_history(
    member_client, member_user, fund, stages, make_opportunity
):
    lead = make_opportunity("Lead", stage_changed_at=days_ago(30), probability=10, expected_amount=Decimal("4000000"))
    first, second = make_opportunity("Meeting"), make_opportunity("Meeting")

    response = post_column(member_client, fund, stages["Meeting"], [first.pk, lead.pk, second.pk])

    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.stage == stages["Meeting"]
    assert column_ids(fund, stages["Meeting"]) == [first.pk, lead.pk, second.pk]
    assert lead.position == 1
    assert lead.stage_changed_at > days_ago(1), "bulk updates skip save(): the move sets stage_changed_at itself"
    assert lead.probability == stages["Meeting"].default_probability, "a default probability follows the stage"
    record = lead.history.latest()
    assert record.history_user == member_user
    assert record.stage_id == stages["Meeting"].pk
    assert record.history_change_reason == "Moved from Lead to Meeting"
    assert column_ids(fund, stages["Lead"]) == []


def test_a_move_answers_with_both_columns_and_the_header_totals(member_client, fund, stages, make_opportunity):
    card = make_opportunity("Lead", expected_amount=Decimal("2500000"))
    make_opportunity("Meeting", expected_amount=Decimal("1000000"))

    response = post_column(member_client, fund, stages["Meeting"], [card.pk])
    html = response.content.decode()

    # The receiving column is the main swap; the column the card left and the header go out-of-band.
    assert html.lstrip().startswith(f'<form id="column-{stages["Meeting"].pk}"')
    meeting = re.search(rf'<form id="column-{stages["Meeting"].pk}"[^>]*>', html).group(0)
    lead = re.search(rf'<form id="column-{stages["Lead"].pk}"[^>]*>', html).group(0)
    assert "hx-swap-oob" not in meeting
    assert 'hx-swap-oob="true"' in lead
    assert re.search(r'<section id="board-header"[^>]*hx-swap-oob="true"', html)
    # Meeting now holds both cards: $3.5M expected; Lead is empty.
    meeting_html = html[html.index(meeting) : html.index("</form>", html.index(meeting))]
    assert 'data-count title="2 opportunities">2<' in meeting_html
    assert "$3.5M" in meeting_html
    assert "$1.4M weighted" in meeting_html  # 40% of $3.5M
    lead_html = html[html.index(lead) : html.index("</form>", html.index(lead))]
    assert 'data-count title="0 opportunities">0<' in lead_html


def test_header_totals_in_the_answer_reflect_the_move(member_client, fund, stages, make_opportunity):
    card = make_opportunity("Lead", expected_amount=Decimal("10000000"), probability=10)
    response = post_column(member_client, fund, stages["Due diligence"], [card.pk])
    header = re.search(r'<section id="board-header".*?</section>', response.content.decode(), re.S).group(0)
    assert 'data-figure="weighted"' in header
    assert "$6M</dd>" in header  # 60% of $10M


def test_a_column_posted_from_a_filtered_board_keeps_hidden_cards_in_place(
    member_client, fund, stages, make_opportunity
):
    a = make_opportunity("Meeting", priority="high")
    hidden = make_opportunity("Meeting", priority="low")
    b = make_opportunity("Meeting", priority="high")
    # The board filtered on high priority shows a and b only; the user swaps them.
    post_column(member_client, fund, stages["Meeting"], [b.pk, a.pk], priority="high")
    assert column_ids(fund, stages["Meeting"]) == [b.pk, hidden.pk, a.pk]


def test_a_card_dropped_into_a_filtered_column_lands_after_the_card_above_it(
    member_client, fund, stages, make_opportunity
):
    a = make_opportunity("Meeting", priority="high")
    hidden = make_opportunity("Meeting", priority="low")
    newcomer = make_opportunity("Lead", priority="high")
    post_column(member_client, fund, stages["Meeting"], [a.pk, newcomer.pk], priority="high")
    assert column_ids(fund, stages["Meeting"]) == [a.pk, newcomer.pk, hidden.pk]


def test_posted_ids_of_another_fund_are_ignored(member_client, fund, other_fund, stages, make_opportunity):
    mine = make_opportunity("Lead")
    theirs = make_opportunity("Lead", fund_obj=other_fund)
    post_column(member_client, fund, stages["Meeting"], [theirs.pk, mine.pk])

    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.stage == stages["Lead"] and theirs.fund == other_fund
    assert mine.stage == stages["Meeting"]
    assert theirs.history.count() == 1


def test_posted_ids_the_user_may_not_see_are_ignored(member_client, fund, stages, make_opportunity, monkeypatch):
    visible = make_opportunity("Lead")
    secret = make_opportunity("Lead", name="Secret deal")
    original = OpportunityQuerySet.visible_to

    def scoped(self, user):
        return original(self, user).exclude(name__startswith="Secret")

    monkeypatch.setattr(OpportunityQuerySet, "visible_to", scoped)
    post_column(member_client, fund, stages["Meeting"], [secret.pk, visible.pk])

    secret.refresh_from_db()
    visible.refresh_from_db()
    assert secret.stage == stages["Lead"]
    assert secret.history.count() == 1
    assert visible.stage == stages["Meeting"]
    assert visible.position == 0


@pytest.mark.parametrize("junk", [["abc"], ["-3"], ["1e9"], ["99999999999999999999999"], [""], ["<script>"]])
def test_junk_ids_are_dropped_without_an_error(member_client, fund, stages, make_opportunity, junk):
    card = make_opportunity("Meeting")
    response = post_column(member_client, fund, stages["Meeting"], [*junk, card.pk])
    assert response.status_code == 200
    assert column_ids(fund, stages["Meeting"]) == [card.pk]


def test_an_unknown_fund_or_stage_is_not_found(member_client, fund, stages):
    assert member_client.post(REORDER, {"fund": 999, "stage": stages["Lead"].pk}, headers=HX).status_code == 404
    assert member_client.post(REORDER, {"fund": fund.pk, "stage": "x"}, headers=HX).status_code == 404


def test_without_htmx_a_column_post_redirects_back_to_the_board(member_client, fund, stages, make_opportunity):
    card = make_opportunity("Lead")
    response = post_column(member_client, fund, stages["Outreach"], [card.pk], htmx=False, q="Pat")
    assert response.status_code == 302
    assert response["Location"] == f"/pipeline/?fund={fund.pk}&q=Pat"
    card.refresh_from_db()
    assert card.stage == stages["Outreach"]


def test_get_on_the_reorder_url_goes_to_the_board(member_client):
    response = member_client.get(REORDER)
    assert response.status_code == 302
    assert response["Location"] == "/pipeline/"


def test_anonymous_visitor_cannot_move_cards(client, fund, stages, make_opportunity):
    card = make_opportunity("Lead")
    response = post_column(client, fund, stages["Meeting"], [card.pk])
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    card.refresh_from_db()
    assert card.stage == stages["Lead"]


@pytest.mark.parametrize("role_client", ["admin_client", "manager_client", "member_client"])
def test_every_role_may_move_cards(request, role_client, fund, stages, make_opportunity):
    client = request.getfixturevalue(role_client)
    card = make_opportunity("Lead")
    assert post_column(client, fund, stages["Outreach"], [card.pk]).status_code == 200
    card.refresh_from_db()
    assert card.stage == stages["Outreach"]


def test_an_overridden_probability_survives_a_move(member_client, fund, stages, make_opportunity):
    card = make_opportunity("Lead", probability=35)
    post_column(member_client, fund, stages["Meeting"], [card.pk])
    card.refresh_from_db()
    assert card.probability == 35


# --- won ---------------------------------------------------------------------------------


def test_dropping_into_committed_creates_the_lp_profile_and_a_hard_circle(
    manager_client, manager_user, fund, stages, make_opportunity, make_contact
):
    contact = make_contact("Ada", "Okafor", contact_type=ContactType.PROSPECT)
    card = make_opportunity("Due diligence", contact=contact, expected_amount=Decimal("5000000"))

    response = post_column(manager_client, fund, stages["Committed"], [card.pk])

    assert response.status_code == 200
    lp = LPProfile.objects.get(contact=contact)
    commitment = Commitment.objects.get(lp=lp, fund=fund)
    assert commitment.status == CommitmentStatus.HARD_CIRCLE
    assert commitment.commitment_amount == Decimal("5000000")
    assert commitment.commitment_date is not None
    assert commitment.history.latest().history_user == manager_user
    contact.refresh_from_db()
    assert contact.contact_type == ContactType.INVESTOR
    card.refresh_from_db()
    assert card.commitment_amount == Decimal("5000000")
    # The header counts it as committed now.
    header = re.search(r'<section id="board-header".*?</section>', response.content.decode(), re.S).group(0)
    assert re.search(r'data-figure="committed"[^>]*>\$5M<', header)


def test_a_won_deal_gives_the_new_lp_its_organizations_type_or_individual_without_one(
    manager_client, fund, stages, make_opportunity, make_contact
):
    pension = make_contact("Daniel", "Okafor", organization="Northeast Pension Fund")
    pension.organization.type = OrganizationType.PENSION
    pension.organization.save()
    angel = make_contact("Sam", "Rivera", organization=None)
    cards = [make_opportunity("Due diligence", contact=person) for person in (pension, angel)]

    post_column(manager_client, fund, stages["Committed"], [card.pk for card in cards])

    assert LPProfile.objects.get(contact=pension).investor_type == OrganizationType.PENSION
    assert LPProfile.objects.get(contact=angel).investor_type == OrganizationType.INDIVIDUAL


def test_winning_uses_the_opportunitys_commitment_amount_when_set(manager_client, fund, stages, make_opportunity):
    card = make_opportunity("Meeting", expected_amount=Decimal("5000000"), commitment_amount=Decimal("3000000"))
    post_column(manager_client, fund, stages["Committed"], [card.pk])
    assert Commitment.objects.get(fund=fund).commitment_amount == Decimal("3000000")


def test_winning_upgrades_a_soft_circle_and_keeps_its_amount(
    manager_client, fund, stages, make_opportunity, make_contact
):
    contact = make_contact()
    lp = LPProfile.objects.create(contact=contact)
    soft = Commitment.objects.create(
        lp=lp, fund=fund, status=CommitmentStatus.SOFT_CIRCLE, commitment_amount=Decimal("2000000")
    )
    card = make_opportunity("Due diligence", contact=contact, expected_amount=Decimal("5000000"))

    post_column(manager_client, fund, stages["Committed"], [card.pk])

    soft.refresh_from_db()
    assert soft.status == CommitmentStatus.HARD_CIRCLE
    assert soft.commitment_amount == Decimal("2000000"), "the known commitment wins over the expected amount"
    assert Commitment.objects.count() == 1
    card.refresh_from_db()
    assert card.commitment_amount == Decimal("2000000")


def test_winning_twice_is_idempotent(manager_client, fund, stages, make_opportunity):
    card = make_opportunity("Meeting", expected_amount=Decimal("5000000"))
    post_column(manager_client, fund, stages["Committed"], [card.pk])
    commitment = Commitment.objects.get()
    rows = commitment.history.count()

    # Reordering the won column again, and the same move replayed by a stale page.
    post_column(manager_client, fund, stages["Committed"], [card.pk])

    card.refresh_from_db()
    services.record_commitment(card, None)

    assert Commitment.objects.count() == 1
    assert LPProfile.objects.count() == 1
    assert commitment.history.count() == rows


def test_funded_closes_the_commitment_with_the_wire_received(manager_client, fund, stages, make_opportunity):
    card = make_opportunity("Meeting", expected_amount=Decimal("5000000"))
    post_column(manager_client, fund, stages["Committed"], [card.pk])
    post_column(manager_client, fund, stages["Funded"], [card.pk])

    commitment = Commitment.objects.get()
    assert commitment.status == CommitmentStatus.CLOSED
    assert commitment.funded_amount == Decimal("5000000")
    assert commitment.wire_received and commitment.wire_date is not None
    assert commitment.legal_docs_signed


def test_moving_back_from_funded_to_committed_does_not_downgrade(manager_client, fund, stages, make_opportunity):
    card = make_opportunity("Meeting", expected_amount=Decimal("5000000"))
    post_column(manager_client, fund, stages["Funded"], [card.pk])
    post_column(manager_client, fund, stages["Committed"], [card.pk])
    commitment = Commitment.objects.get()
    assert commitment.status == CommitmentStatus.CLOSED
    assert commitment.funded_amount == Decimal("5000000")


# --- lost needs a reason ------------------------------------------------------------------


def test_dropping_into_passed_asks_for_a_reason_and_does_not_move(member_client, fund, stages, make_opportunity):
    card = make_opportunity("Meeting")
    response = post_column(member_client, fund, stages["Passed"], [card.pk])

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#dialog-body"
    assert response["HX-Reswap"] == "innerHTML"
    html = response.content.decode()
    assert "Why did" in html and 'name="lost_reason"' in html
    # The card goes back: its column is re-rendered out-of-band with the card still in it.
    meeting = re.search(rf'<form id="column-{stages["Meeting"].pk}"[^>]*hx-swap-oob="true"', html)
    assert meeting
    card.refresh_from_db()
    assert card.stage == stages["Meeting"]
    assert card.history.count() == 1


def test_without_htmx_a_drop_that_needs_an_answer_goes_to_the_move_page(member_client, fund, stages, make_opportunity):
    card = make_opportunity("Meeting")
    response = post_column(member_client, fund, stages["Passed"], [card.pk], htmx=False)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/pipeline/opportunities/{card.pk}/move/?stage={stages['Passed'].pk}")


# --- leaving won asks about the commitment --------------------------------------------------


@pytest.fixture
def won_card(manager_user, fund, stages, make_opportunity):
    card = make_opportunity("Meeting", expected_amount=Decimal("5000000"))
    services.move_opportunity(card, stages["Committed"], manager_user)
    card.refresh_from_db()
    return card


def test_dragging_out_of_won_asks_and_keeps_the_commitment(manager_client, fund, stages, won_card):
    response = post_column(manager_client, fund, stages["Meeting"], [won_card.pk])

    assert response["HX-Retarget"] == "#dialog-body"
    html = response.content.decode()
    assert 'name="commitment_action"' in html and 'value="delete"' in html
    won_card.refresh_from_db()
    assert won_card.stage == stages["Committed"]
    assert Commitment.objects.filter(fund=fund).count() == 1


def test_a_card_without_a_commitment_leaves_won_without_a_question(member_client, fund, stages, won_card):
    Commitment.objects.all().delete()
    response = post_column(member_client, fund, stages["Meeting"], [won_card.pk])
    assert "HX-Retarget" not in response
    won_card.refresh_from_db()
    assert won_card.stage == stages["Meeting"]


def test_stage_changed_at_is_only_touched_on_a_stage_change(member_client, fund, stages, make_opportunity):
    when = days_ago(12)
    a = make_opportunity("Meeting", stage_changed_at=when)
    b = make_opportunity("Meeting", stage_changed_at=when)
    post_column(member_client, fund, stages["Meeting"], [b.pk, a.pk])
    a.refresh_from_db()
    assert abs(a.stage_changed_at - when) < datetime.timedelta(seconds=1)
