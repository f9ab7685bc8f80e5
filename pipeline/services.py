"""The pipeline's domain effects: moving cards, and what winning or losing an opportunity does.

Views validate input and call these; every write here happens in one transaction and
leaves history rows naming the acting user, whether it runs inside a request or not.

The rules, in one place:

- **Positions.** A column's order is the order its cards were posted in. Cards of the
  column the user did not post (hidden by a filter, or not loaded yet: the board draws
  a column's first cards only) keep their places, the unloaded tail after the posted
  cards in its own order; cards outside the user's scope or of another fund are never
  touched.
- **Probability follows the stage** unless someone overrode it: a card whose probability
  is blank or equal to its old stage's default takes the new stage's default.
- **Lost** (e.g. "Passed") needs a reason: the move does not happen without one.
  Leaving a lost stage clears the reason (history keeps it).
- **Won.** Entering a won stage creates or updates the contact's LP profile (which makes
  the contact an investor) and their commitment to the opportunity's fund — the one
  without an investing entity, else their only one (``Commitment.objects.main_for``):

  * the first won stage by order (by default "Committed") means a hard circle: a new
    commitment is a hard circle, a soft circle is upgraded to one;
  * any later won stage (by default "Funded") means the money arrived: status closed,
    funded amount = the commitment amount, wire received, documents signed, with
    today's date wherever a date is still blank;
  * the amount is the opportunity's commitment amount, else the existing commitment's
    amount, else the expected amount; the opportunity's commitment amount is filled in
    so both records agree;
  * a move never downgrades a commitment (Funded → Committed leaves it closed); that is
    an edit in the LP tracker. Applying the same move twice changes nothing the second
    time (no second commitment, no extra history row);
  * a withdrawn commitment is reopened by winning the deal again (the LP came back), and
    its history row says so;
  * an LP who invests through several entities in the fund (e.g. an individual account
    and a trust, none without an entity) is left alone: which commitment a deal means is
    the LP tracker's to say, never a guess.
- **Leaving won** for an open or lost stage never deletes a commitment on its own: the
  caller must say ``keep`` or ``delete`` (``MoveRefused`` otherwise), and the answer is
  the history row's change reason on the opportunity (and on the commitment if deleted).
  A withdrawn commitment already counts toward nothing, so it asks no question.
- **Who may.** Entering a won stage records money, so it needs the capability to change
  commitments (``crm.permissions``: managers and admins); so does deleting a commitment
  on the way out. A member's such move is *refused*, not half-done: the card stays where
  it was, with the reason, because a won card without its commitment would make the
  board and the LP tracker disagree. Everything else a member may still do (moving
  between open and lost stages, reordering, leaving won while keeping the commitment).
  The commitment's own guard (``Commitment.WRITE_RULES``) backs this up on every path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from contacts.models import OrganizationType
from crm.permissions import Capability, can
from lps.models import Commitment, CommitmentStatus, Fund, LPProfile
from pipeline.models import Opportunity, Stage, StageOutcome

KEEP = "keep"
DELETE = "delete"
COMMITMENT_ACTIONS = (KEEP, DELETE)

# How far along a commitment is; a move only ever raises it.
STATUS_RANK = {
    CommitmentStatus.SOFT_CIRCLE: 0,
    CommitmentStatus.HARD_CIRCLE: 1,
    CommitmentStatus.SIGNED: 2,
    CommitmentStatus.CLOSED: 3,
}


class MoveRefused(Exception):
    """The move needs an answer first (a lost reason, or what to do with a commitment)."""

    def __init__(self, message: str, *, needs_reason: bool = False, commitment: Commitment | None = None):
        super().__init__(message)
        self.needs_reason = needs_reason
        self.commitment = commitment


@dataclass
class PendingMove:
    """A dropped card the server did not move because the user must answer something first."""

    opportunity: Opportunity
    stage: Stage
    needs_reason: bool
    commitment: Commitment | None


@dataclass
class ReorderResult:
    moved: list[Opportunity] = field(default_factory=list)  # cards that changed stage
    pending: list[PendingMove] = field(default_factory=list)
    refused: list[tuple[Opportunity, str]] = field(default_factory=list)  # stayed put: the user may not
    source_stage_ids: set[int] = field(default_factory=set)  # columns that lost a card


# --- who may ---------------------------------------------------------------------------


def may_enter(stage: Stage, user: Any) -> bool:
    """Whether ``user`` may move a deal into ``stage``: a won stage records a commitment."""
    return stage.outcome != StageOutcome.WON or can(user, Capability.CHANGE_COMMITMENTS)


def may_delete_commitments(user: Any) -> bool:
    return can(user, Capability.CHANGE_COMMITMENTS)


def entry_refusal(stage: Stage) -> str:
    return (
        f"Only a manager or admin may move a deal to {stage.name}: that records the LP's commitment. "
        "Ask one of them to make the move."
    )


# --- small rules ---------------------------------------------------------------------


def followed_probability(opportunity: Opportunity, old_stage: Stage | None, new_stage: Stage) -> int | None:
    """The probability after a stage change: the new default unless it had been overridden."""
    if opportunity.probability is None or old_stage is None:
        return new_stage.default_probability
    if opportunity.probability == old_stage.default_probability:
        return new_stage.default_probability
    return opportunity.probability


def commitment_for(opportunity: Opportunity, user: Any = None) -> Commitment | None:
    """The commitment the opportunity stands for, if any: the contact's commitment to its fund
    without an investing entity, else their only one. A withdrawn commitment stands for
    nothing (no keep-or-delete question, not shown as the deal's commitment)."""
    queryset = Commitment.objects.visible_to(user) if user is not None else Commitment.objects.all()
    commitment = queryset.main_for(opportunity.fund_id, contact=opportunity.contact_id)
    return None if commitment is None or commitment.is_withdrawn else commitment


def leaves_won(old_stage: Stage | None, new_stage: Stage) -> bool:
    return old_stage is not None and old_stage.outcome == StageOutcome.WON and new_stage.outcome != StageOutcome.WON


def is_funded_stage(stage: Stage, won_stages: Sequence[Stage] | None = None) -> bool:
    """Later won stages mean the money arrived; the first one means a commitment was made."""
    if stage.outcome != StageOutcome.WON:
        return False
    if won_stages is None:
        won_stages = list(Stage.objects.filter(outcome=StageOutcome.WON).order_by("order", "pk"))
    return bool(won_stages) and stage.pk != won_stages[0].pk


def won_amount(opportunity: Opportunity, commitment: Commitment | None) -> Decimal:
    if opportunity.commitment_amount is not None:
        return opportunity.commitment_amount
    if commitment is not None:
        return commitment.commitment_amount
    return opportunity.expected_amount or Decimal("0")


def _investor_type(opportunity: Opportunity) -> str:
    organization = opportunity.organization or opportunity.contact.organization
    if organization is None:
        return OrganizationType.INDIVIDUAL
    return organization.type or OrganizationType.OTHER


def _column_end(fund_id: int, stage_id: int, user: Any) -> int:
    top = (
        Opportunity.objects.visible_to(user)
        .filter(fund_id=fund_id, stage_id=stage_id)
        .aggregate(top=models.Max("position"))["top"]
    )
    return 0 if top is None else top + 1


def _stage_reason(old_stage: Stage | None, new_stage: Stage, extra: str = "") -> str:
    text = f"Moved from {old_stage.name} to {new_stage.name}" if old_stage else f"Added in {new_stage.name}"
    return f"{text}; {extra}" if extra else text


# --- won and leaving won -----------------------------------------------------------------


def record_commitment(
    opportunity: Opportunity, user: Any, *, won_stages: Sequence[Stage] | None = None
) -> Commitment | None:
    """Create or update the LP profile and commitment a won opportunity implies (idempotent).

    Call after the opportunity is saved in its won stage, inside the same transaction;
    ``opportunity.commitment_amount`` must already hold the amount (see ``won_amount``).
    Returns None, changing no commitment, when the LP has several commitments to the fund
    through named investing entities (none is the one the deal means).
    """
    contact = opportunity.contact
    lp = LPProfile.objects.filter(contact=contact).first()
    if lp is None:
        lp = LPProfile(contact=contact, investor_type=_investor_type(opportunity))
        lp._history_user = user
        lp._change_reason = f"Won {opportunity.name}"
        lp.save()
    commitment = Commitment.objects.main_for(opportunity.fund_id, lp=lp)
    if commitment is None and Commitment.objects.filter(lp=lp, fund_id=opportunity.fund_id).exists():
        return None
    reopened = commitment is not None and commitment.is_withdrawn
    amount = opportunity.commitment_amount
    if amount is None:
        amount = won_amount(opportunity, commitment)
    funded = is_funded_stage(opportunity.stage, won_stages)
    target = CommitmentStatus.CLOSED if funded else CommitmentStatus.HARD_CIRCLE
    today = timezone.localdate()

    if commitment is None:
        commitment = Commitment(lp=lp, fund_id=opportunity.fund_id, status=target, commitment_amount=amount)
    tracked = ("status", "commitment_amount", "funded_amount", "commitment_date", "legal_docs_signed",
               "signed_date", "wire_received", "wire_date")  # fmt: skip
    before = None if commitment.pk is None else tuple(getattr(commitment, name) for name in tracked)

    if reopened or STATUS_RANK.get(commitment.status, 0) < STATUS_RANK[target]:
        commitment.status = target
    commitment.commitment_amount = amount
    commitment.commitment_date = commitment.commitment_date or today
    if funded:
        commitment.funded_amount = amount
        commitment.wire_received = True
        commitment.wire_date = commitment.wire_date or today
        commitment.legal_docs_signed = True
        commitment.signed_date = commitment.signed_date or today
    else:
        commitment.funded_amount = min(commitment.funded_amount or Decimal("0"), amount)

    if before is None or before != tuple(getattr(commitment, name) for name in tracked):
        commitment._history_user = user
        commitment._change_reason = f"{opportunity.stage.name} on the pipeline ({opportunity.name})" + (
            "; reopened a withdrawn commitment" if reopened else ""
        )
        commitment.save()
    return commitment


def _settle_commitment(opportunity: Opportunity, commitment: Commitment, action: str, user: Any) -> None:
    if action == DELETE:
        commitment._history_user = user
        commitment._change_reason = f"Deleted when {opportunity.name} left {opportunity.stage.name}"
        commitment.delete()


# --- one opportunity -------------------------------------------------------------------


@transaction.atomic
def save_with_stage_effects(
    opportunity: Opportunity,
    user: Any,
    *,
    previous_stage: Stage | None,
    commitment_action: str = "",
    follow_probability: bool = True,
    sync_commitment: bool = False,
) -> Opportunity:
    """Save ``opportunity`` (new or changed) with everything its stage implies.

    ``previous_stage`` is the stage it was in (None when it is new); ``sync_commitment``
    re-applies a won stage's commitment when its amount was edited. Raises ``MoveRefused``
    when a lost stage has no reason or a commitment would be left without an answer.
    """
    stage = opportunity.stage
    changed = previous_stage is None or previous_stage.pk != stage.pk
    if changed and not may_enter(stage, user):
        raise MoveRefused(entry_refusal(stage))
    if stage.outcome == StageOutcome.LOST and not (opportunity.lost_reason or "").strip():
        raise MoveRefused(f"Say why this moved to {stage.name}; the move waits for a reason.", needs_reason=True)

    commitment = None
    extra = ""
    if changed and leaves_won(previous_stage, stage):
        commitment = commitment_for(opportunity, user)
        if commitment is not None:
            if commitment_action not in COMMITMENT_ACTIONS:
                raise MoveRefused(
                    f"{opportunity.contact} has a commitment to {opportunity.fund}: keep it or delete it?",
                    commitment=commitment,
                )
            if commitment_action == DELETE and not may_delete_commitments(user):
                raise MoveRefused(
                    "Only a manager or admin may delete a commitment. Keep it, and ask one of them to "
                    "delete it in the LP tracker if it should go.",
                    commitment=commitment,
                )
            extra = "commitment kept" if commitment_action == KEEP else "commitment deleted"

    if changed and opportunity.pk is not None:
        opportunity.position = _column_end(opportunity.fund_id, stage.pk, user)
        if follow_probability:
            opportunity.probability = followed_probability(opportunity, previous_stage, stage)
        if previous_stage is not None and previous_stage.outcome == StageOutcome.LOST:
            opportunity.lost_reason = ""
    elif opportunity.pk is None:
        opportunity.position = _column_end(opportunity.fund_id, stage.pk, user)
    if stage.outcome == StageOutcome.WON:
        opportunity.commitment_amount = won_amount(opportunity, commitment_for(opportunity))

    opportunity._history_user = user
    if changed:
        opportunity._change_reason = _stage_reason(previous_stage, stage, extra)
    opportunity.save()
    if hasattr(opportunity, "_change_reason"):
        del opportunity._change_reason

    try:
        if stage.outcome == StageOutcome.WON and (changed or sync_commitment):
            record_commitment(opportunity, user)
        elif commitment is not None:
            _settle_commitment(opportunity, commitment, commitment_action, user)
    except PermissionDenied as denied:
        # E.g. a member editing a won deal's amount: the commitment would change. Raising
        # here undoes the opportunity's save too (this function is one transaction).
        raise MoveRefused(f"Nothing was saved: {denied}") from None
    return opportunity


def move_opportunity(
    opportunity: Opportunity,
    stage: Stage,
    user: Any,
    *,
    lost_reason: str = "",
    commitment_action: str = "",
) -> Opportunity:
    """The "Move to…" action: one card to another stage, at the end of that column."""
    previous_stage = opportunity.stage
    if previous_stage.pk == stage.pk:
        if stage.outcome == StageOutcome.LOST and lost_reason.strip():
            opportunity.lost_reason = lost_reason.strip()
            opportunity._history_user = user
            opportunity.save()
        return opportunity
    opportunity.stage = stage
    if stage.outcome == StageOutcome.LOST:
        opportunity.lost_reason = lost_reason.strip()
    return save_with_stage_effects(
        opportunity, user, previous_stage=previous_stage, commitment_action=commitment_action
    )


# --- a board column --------------------------------------------------------------------


def merge_order(existing: Sequence[int], posted: Sequence[int]) -> list[int]:
    """The column's new order: posted ids in posted order, unposted ones where they were.

    ``existing`` is the column as stored; ``posted`` is what the user saw and arranged
    (a filtered board shows a subset). Posted ids take the slots the posted ids already in
    the column held; newcomers beyond those slots go right after the last of them.
    """
    posted_set = set(posted)
    queue = list(posted)
    result: list[int] = []
    last_slot = -1
    for pk in existing:
        if pk in posted_set:
            result.append(queue.pop(0))
            last_slot = len(result) - 1
        else:
            result.append(pk)
    if last_slot == -1:
        return result + queue
    return result[: last_slot + 1] + queue + result[last_slot + 1 :]


def parse_ids(values: Iterable[Any]) -> list[int]:
    """Positive integer ids in first-seen order; anything else is dropped."""
    seen: dict[int, None] = {}
    for value in values:
        try:
            number = int(str(value).strip())
        except (TypeError, ValueError):
            continue
        if 0 < number < 2**63:
            seen.setdefault(number, None)
    return list(seen)


@transaction.atomic
def reorder_column(user: Any, fund: Fund, stage: Stage, posted_ids: Sequence[int]) -> ReorderResult:
    """Save a dropped column: its cards' order, and the stage of cards dropped into it.

    Only opportunities ``visible_to(user)`` of ``fund`` count; other ids are ignored.
    Cards that need an answer first (a lost reason, a commitment decision) stay where they
    were and come back in ``pending``.
    """
    scope = Opportunity.objects.visible_to(user).filter(fund=fund)
    posted = scope.select_related("stage", "contact", "fund").in_bulk(list(posted_ids))
    ordered = [pk for pk in posted_ids if pk in posted]
    result = ReorderResult()

    arrivals = [posted[pk] for pk in ordered if posted[pk].stage_id != stage.pk]
    if arrivals and not may_enter(stage, user):
        result.refused = [(opportunity, entry_refusal(stage)) for opportunity in arrivals]
        result.source_stage_ids = {opportunity.stage_id for opportunity in arrivals}
        refused = {opportunity.pk for opportunity in arrivals}
        ordered = [pk for pk in ordered if pk not in refused]
        arrivals = []
    commitments: dict[int, Commitment | None] = {}
    for opportunity in arrivals:
        previous = opportunity.stage
        wants_commitment = leaves_won(previous, stage) or stage.outcome == StageOutcome.WON
        commitment = commitment_for(opportunity, user) if wants_commitment else None
        commitments[opportunity.pk] = commitment
        needs_reason = stage.outcome == StageOutcome.LOST
        needs_decision = leaves_won(previous, stage) and commitment is not None
        result.source_stage_ids.add(previous.pk)
        if needs_reason or needs_decision:
            result.pending.append(PendingMove(opportunity, stage, needs_reason, commitment if needs_decision else None))
    blocked = {move.opportunity.pk for move in result.pending}
    ordered = [pk for pk in ordered if pk not in blocked]

    stored = dict(scope.filter(stage=stage).order_by("position", "pk").values_list("pk", "position"))
    new_order = merge_order(list(stored), ordered)
    # The board draws a column's first cards only: the rest keep their order after the
    # posted ones, and only rows whose place changes are loaded (fresh and complete:
    # history copies every field) and written.
    moving = [pk for position, pk in enumerate(new_order) if stored.get(pk) != position]
    current = scope.in_bulk(moving)
    won_stages = list(Stage.objects.filter(outcome=StageOutcome.WON).order_by("order", "pk"))
    now = timezone.now()
    changed: list[Opportunity] = []
    for position, pk in enumerate(new_order):
        opportunity = current.get(pk)
        if opportunity is None:
            continue  # already in its place
        arriving = opportunity.stage_id != stage.pk
        if not arriving and opportunity.position == position:
            continue
        opportunity.position = position
        opportunity._history_user = user
        if arriving:
            previous = posted[pk].stage
            opportunity.stage = stage
            opportunity.stage_changed_at = now  # bulk updates skip save(), which does this
            opportunity.probability = followed_probability(opportunity, previous, stage)
            if previous.outcome == StageOutcome.LOST:
                opportunity.lost_reason = ""
            if stage.outcome == StageOutcome.WON:
                opportunity.commitment_amount = won_amount(opportunity, commitments.get(pk))
            opportunity._change_reason = _stage_reason(previous, stage)
            result.moved.append(opportunity)
        changed.append(opportunity)

    if changed:
        for opportunity in changed:
            opportunity.updated_at = now  # auto_now is a save() feature too
        bulk_update_with_history(
            changed,
            Opportunity,
            ["stage", "position", "stage_changed_at", "probability", "lost_reason", "commitment_amount", "updated_at"],
            default_user=user,
            default_change_reason="Reordered on the board",
        )
    for opportunity in result.moved:
        if stage.outcome == StageOutcome.WON:
            record_commitment(opportunity, user, won_stages=won_stages)
    return result
