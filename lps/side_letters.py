"""Side letters, their provisions, and MFN election rounds.

Who may write is the models' guard (CHANGE_COMMITMENTS); these functions keep each write
atomic and name the acting user on every row's history.

Eligibility for an MFN round: the fund's commitments (not withdrawn) with a side letter that
has an MFN provision. A round gets a pending election per eligible commitment when it is
created, and a commitment that becomes eligible while a round is still open (its deadline
not passed) joins it when its MFN provision is saved (``join_open_rounds``).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from crm.lib.next_actions import SOURCE_LIMIT, ActionItem, SourceGroup
from lps.models import (
    Commitment,
    CommitmentStatus,
    ElectionStatus,
    Fund,
    MFNElection,
    MFNRound,
    ProvisionCategory,
    SideLetter,
    SideLetterProvision,
)

# Pending elections show in next actions from this many days before the round's deadline.
MFN_WARNING_DAYS = 14


def eligible_commitments(fund: Fund | int) -> QuerySet[Commitment]:
    """The commitments of ``fund`` an MFN round goes to: a side letter with an MFN provision."""
    return (
        Commitment.objects.filter(fund=fund, side_letters__provisions__category=ProvisionCategory.MFN)
        .exclude(status=CommitmentStatus.WITHDRAWN)
        .distinct()
    )


def _save(record: Any, user: Any) -> None:
    record._history_user = user
    record.save()


def save_side_letter(side_letter: SideLetter, provisions: list[SideLetterProvision], deleted: list, user: Any):
    """Save the letter, its new or changed provisions, delete the removed ones; then let the
    commitment join any open MFN round it has become eligible for."""
    with transaction.atomic():
        _save(side_letter, user)
        for provision in deleted:
            provision._history_user = user
            provision.delete()
        for provision in provisions:
            provision.side_letter = side_letter
            _save(provision, user)
        join_open_rounds(side_letter.commitment, user, today=timezone.localdate())
    return side_letter


def join_open_rounds(commitment: Commitment, user: Any, *, today: datetime.date) -> list[MFNElection]:
    """A pending election in each of the fund's rounds still open, if the commitment is eligible."""
    if not eligible_commitments(commitment.fund_id).filter(pk=commitment.pk).exists():
        return []
    rounds = MFNRound.objects.filter(fund_id=commitment.fund_id, deadline__gte=today).exclude(
        elections__commitment=commitment
    )
    made = []
    for mfn_round in rounds:
        election = MFNElection(round=mfn_round, commitment=commitment)
        _save(election, user)
        made.append(election)
    return made


def create_round(
    fund: Fund, user: Any, *, sent_date: datetime.date, deadline: datetime.date, notes: str = ""
) -> MFNRound:
    """A round with a pending election for each eligible commitment of the fund."""
    with transaction.atomic():
        mfn_round = MFNRound(fund=fund, sent_date=sent_date, deadline=deadline, notes=notes)
        _save(mfn_round, user)
        for commitment in eligible_commitments(fund).order_by("pk"):
            _save(MFNElection(round=mfn_round, commitment=commitment), user)
    return mfn_round


def record_election(
    election: MFNElection, user: Any, *, status: str, provisions: list, decided_on: datetime.date | None
) -> MFNElection:
    """Record an LP's answer. Elected keeps the chosen provisions; declined or pending clears them."""
    with transaction.atomic():
        election.status = status
        election.decided_on = decided_on if status != ElectionStatus.PENDING else None
        _save(election, user)
        election.elected_provisions.set(provisions if status == ElectionStatus.ELECTED else [])
    return election


def electable_provisions(mfn_round: MFNRound) -> QuerySet[SideLetterProvision]:
    """What an LP may elect in a round: the fund's side-letter provisions other than MFN clauses."""
    return (
        SideLetterProvision.objects.filter(side_letter__commitment__fund=mfn_round.fund_id)
        .exclude(category=ProvisionCategory.MFN)
        .select_related("side_letter__commitment__lp__contact")
        .order_by("category", "pk")
    )


def pending_near_deadline(user: Any, today: datetime.date) -> QuerySet[MFNElection]:
    """Pending elections of rounds whose deadline is today or within MFN_WARNING_DAYS."""
    horizon = today + datetime.timedelta(days=MFN_WARNING_DAYS)
    return MFNElection.objects.visible_to(user).filter(
        Q(status=ElectionStatus.PENDING) & Q(round__deadline__gte=today, round__deadline__lte=horizon)
    )


def mfn_action_group(user: Any, today: datetime.date) -> SourceGroup:
    """Next actions' MFN group: two queries (the count and the first SOURCE_LIMIT items)."""
    elections = pending_near_deadline(user, today)
    group = SourceGroup(
        key="mfn",
        label="MFN elections due",
        explanation=f"Elections still pending in MFN rounds due within {MFN_WARNING_DAYS} days.",
        total=elections.count(),
    )
    rows = elections.select_related("round__fund", "commitment__lp__contact").order_by("round__deadline", "pk")
    for election in rows[:SOURCE_LIMIT]:
        days = election.days_left(today)
        group.items.append(
            ActionItem(
                title=f"MFN election from {election.commitment.lp}",
                detail=f"{election.round.fund} · {'due today' if days == 0 else f'{days} days left'}",
                due=election.round.deadline,
                url=reverse("mfn_round_detail", args=[election.round_id]),
            )
        )
    group.more_url = reverse("side_letter_register")
    return group
