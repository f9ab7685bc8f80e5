"""Winning and leaving won when an LP invests through several entities, or withdrew.

The board means “the commitment for that fund”: the one without an investing entity, else
the LP's only one. It never guesses between named entities and never touches a withdrawn
commitment without saying so in its history.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from conftest import HX
from contacts.models import ContactType
from lps.models import Commitment, CommitmentStatus, LPProfile
from pipeline import services


def post_column(client, fund, stage, ids):
    data = {"fund": fund.pk, "stage": stage.pk, "order": [str(pk) for pk in ids]}
    return client.post(reverse("pipeline_reorder"), data, headers=HX)


def commit(lp, fund, amount, status=CommitmentStatus.SOFT_CIRCLE, entity=""):
    return Commitment.objects.create(
        lp=lp, fund=fund, status=status, commitment_amount=Decimal(amount), investing_entity=entity
    )


@pytest.fixture
def investor(make_contact):
    contact = make_contact("Ada", "Gillespie", organization=None)
    return contact, LPProfile.objects.create(contact=contact)


def test_winning_updates_the_commitment_without_an_entity_and_leaves_the_trusts_alone(
    manager_client, fund, stages, make_opportunity, investor
):
    contact, lp = investor
    main = commit(lp, fund, "250000")
    trust = commit(lp, fund, "150000", entity="Trust / IRA")
    card = make_opportunity("Due diligence", contact=contact, expected_amount=Decimal("400000"))

    post_column(manager_client, fund, stages["Committed"], [card.pk])

    main.refresh_from_db()
    trust.refresh_from_db()
    assert main.status == CommitmentStatus.HARD_CIRCLE and main.commitment_amount == Decimal("250000")
    assert trust.status == CommitmentStatus.SOFT_CIRCLE and trust.history.count() == 1
    assert Commitment.objects.count() == 2


def test_winning_the_only_commitment_through_an_entity_updates_it(
    manager_client, fund, stages, make_opportunity, investor
):
    contact, lp = investor
    only = commit(lp, fund, "150000", entity="Gillespie Family LLC")
    card = make_opportunity("Meeting", contact=contact)
    post_column(manager_client, fund, stages["Committed"], [card.pk])
    only.refresh_from_db()
    assert only.status == CommitmentStatus.HARD_CIRCLE and Commitment.objects.count() == 1


def test_with_two_named_entities_winning_guesses_nothing_and_adds_nothing(
    manager_client, fund, stages, make_opportunity, investor
):
    contact, lp = investor
    first = commit(lp, fund, "250000", entity="Individual")
    second = commit(lp, fund, "150000", entity="Trust / IRA")
    card = make_opportunity("Meeting", contact=contact, expected_amount=Decimal("400000"))

    response = post_column(manager_client, fund, stages["Committed"], [card.pk])

    assert response.status_code == 200
    card.refresh_from_db()
    assert card.stage == stages["Committed"]  # the move itself happens
    assert Commitment.objects.count() == 2
    for commitment in (first, second):
        commitment.refresh_from_db()
        assert commitment.status == CommitmentStatus.SOFT_CIRCLE and commitment.history.count() == 1
    assert services.record_commitment(card, None) is None
    assert services.commitment_for(card) is None


def test_winning_again_reopens_a_withdrawn_commitment_and_its_history_says_so(
    manager_client, manager_user, fund, stages, make_opportunity, investor
):
    contact, lp = investor
    withdrawn = commit(lp, fund, "250000", status=CommitmentStatus.WITHDRAWN)
    card = make_opportunity("Meeting", contact=contact, commitment_amount=Decimal("300000"))

    post_column(manager_client, fund, stages["Committed"], [card.pk])

    withdrawn.refresh_from_db()
    assert withdrawn.status == CommitmentStatus.HARD_CIRCLE
    assert withdrawn.commitment_amount == Decimal("300000")
    latest = withdrawn.history.latest()
    assert latest.history_user == manager_user
    assert "reopened a withdrawn commitment" in latest.history_change_reason
    assert Commitment.objects.count() == 1


def test_a_withdrawn_commitment_asks_no_question_when_the_card_leaves_won(
    manager_client, fund, stages, make_opportunity, investor
):
    contact, lp = investor
    card = make_opportunity("Meeting", contact=contact)
    post_column(manager_client, fund, stages["Committed"], [card.pk])
    Commitment.objects.filter(lp=lp).update(status=CommitmentStatus.WITHDRAWN)

    response = post_column(manager_client, fund, stages["Meeting"], [card.pk])

    assert "HX-Retarget" not in response
    card.refresh_from_db()
    assert card.stage == stages["Meeting"]
    assert Commitment.objects.get().status == CommitmentStatus.WITHDRAWN  # kept, untouched
    detail = manager_client.get(reverse("opportunity_detail", args=[card.pk]), headers=HX).content.decode()
    assert "Commitment to Fund II" not in detail  # a withdrawn commitment is not the deal's commitment


def test_winning_still_makes_the_contact_an_investor(manager_client, fund, stages, make_opportunity, make_contact):
    contact = make_contact(contact_type=ContactType.PROSPECT)
    card = make_opportunity("Meeting", contact=contact)
    post_column(manager_client, fund, stages["Committed"], [card.pk])
    contact.refresh_from_db()
    assert contact.contact_type == ContactType.INVESTOR
