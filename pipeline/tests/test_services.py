"""The small rules behind the board, tested directly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lps.models import Commitment, CommitmentStatus
from pipeline import services
from pipeline.models import Opportunity, Stage, StageOutcome


@pytest.mark.parametrize(
    ("existing", "posted", "expected"),
    [
        ([1, 2, 3], [3, 1, 2], [3, 1, 2]),  # a plain reorder
        ([1, 2, 3], [1, 9, 2, 3], [1, 9, 2, 3]),  # a newcomer dropped in the middle
        ([], [9], [9]),  # into an empty column
        ([1, 5, 2], [2, 1], [2, 5, 1]),  # 5 is filtered out of view and keeps its slot
        ([1, 5, 2], [1, 9, 2], [1, 5, 9, 2]),  # 9 lands just above the card it was dropped on
        ([5, 6], [9], [5, 6, 9]),  # only hidden cards: the newcomer goes last
        ([1, 2, 5], [9, 1, 2], [9, 1, 2, 5]),
    ],
)
def test_merge_order(existing, posted, expected):
    assert services.merge_order(existing, posted) == expected


def test_parse_ids_keeps_positive_integers_once_in_order():
    assert services.parse_ids(["3", " 1 ", "x", "3", "-2", "0", "", None, "2.5", str(2**70), "7"]) == [3, 1, 7]


def test_probability_follows_the_stage_unless_overridden():
    lead = Stage(name="Lead", default_probability=10)
    meeting = Stage(name="Meeting", default_probability=40)
    assert services.followed_probability(Opportunity(probability=10), lead, meeting) == 40
    assert services.followed_probability(Opportunity(probability=None), lead, meeting) == 40
    assert services.followed_probability(Opportunity(probability=25), lead, meeting) == 25


@pytest.mark.django_db
def test_the_first_won_stage_is_a_commitment_and_later_ones_mean_funded(stages):
    assert not services.is_funded_stage(stages["Committed"])
    assert services.is_funded_stage(stages["Funded"])
    assert not services.is_funded_stage(stages["Meeting"])


@pytest.mark.django_db
def test_with_a_single_won_stage_winning_is_a_hard_circle(stages, make_opportunity, manager_user):
    Stage.objects.filter(name="Funded").update(outcome=StageOutcome.OPEN)
    card = make_opportunity("Meeting", expected_amount=Decimal("1000000"))
    card.stage = Stage.objects.get(name="Committed")
    services.save_with_stage_effects(card, manager_user, previous_stage=stages["Meeting"])
    assert Commitment.objects.get().status == CommitmentStatus.HARD_CIRCLE


@pytest.mark.django_db
def test_save_with_stage_effects_refuses_a_lost_stage_without_a_reason(stages, make_opportunity, member_user):
    card = make_opportunity("Meeting")
    card.stage = stages["Passed"]
    card.lost_reason = "  "
    with pytest.raises(services.MoveRefused) as refusal:
        services.save_with_stage_effects(card, member_user, previous_stage=stages["Meeting"])
    assert refusal.value.needs_reason
    assert Opportunity.objects.get(pk=card.pk).stage == stages["Meeting"]


@pytest.mark.django_db
def test_service_history_names_the_user_outside_a_request(stages, make_opportunity, manager_user, fund):
    card = make_opportunity("Meeting")
    services.reorder_column(manager_user, fund, stages["Committed"], [card.pk])
    assert card.history.latest().history_user == manager_user
    commitment = Commitment.objects.get()
    assert commitment.history.latest().history_user == manager_user
    assert commitment.lp.history.latest().history_user == manager_user
