"""The board as it stood on a past date, and what changed since: replayed from stage history.

Read-only, and built from django-simple-history alone: every write to an opportunity (form,
board, bulk move, import) lands there, so the history rows up to a moment are the pipeline
at that moment. Each replay is one query over the history rows, the latest per opportunity.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from lps.models import Fund
from pipeline.models import Opportunity, Stage, StageOutcome, weighted_from_x100

ZERO = Decimal("0")


@dataclass
class ReplayedCard:
    """One opportunity as its latest history row before the moment recorded it."""

    id: int
    name: str
    contact: Any
    organization: Any
    owner: Any
    stage: Stage
    position: int
    expected_amount: Decimal
    probability: int | None
    priority: str
    exists_now: bool = True

    @property
    def effective_probability(self) -> int:
        """As ``Opportunity.effective_probability``, with the stage's outcome of today."""
        if self.stage.outcome == StageOutcome.WON:
            return 100
        if self.stage.outcome == StageOutcome.LOST:
            return 0
        return self.probability or 0

    @property
    def weighted_amount(self) -> Decimal:
        return weighted_from_x100(self.expected_amount * self.effective_probability)

    @property
    def title(self) -> str:
        return self.contact.full_name if self.contact else self.name


def start_of_day(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of ``day`` in the site's time zone (aware)."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def replay(
    user: Any, fund: Fund, stages: list[Stage], before: datetime.datetime | None = None
) -> dict[int, ReplayedCard]:
    """{opportunity id: card} for the fund's opportunities as they stood just before ``before``
    (or now, from history, with None). One query.

    The latest row is picked over each opportunity's whole history, not only its rows in this
    fund, so a deal that moved to another fund since is placed by where it was then. A deal
    created later has no row yet and is absent; one whose latest row is its deletion was gone;
    one deleted since is present, marked ``exists_now=False``. Only stages in ``stages`` (the
    user's visible ones) are drawn: a user who sees no stages sees nothing, deleted deals included.
    """
    if not stages:
        return {}
    by_stage = {stage.pk: stage for stage in stages}
    History = Opportunity.history.model
    current = Opportunity.objects.visible_to(user)
    # Visible opportunities, plus the deleted ones (only history knows them).
    scoped = Q(id__in=current.values("pk")) | ~Q(id__in=Opportunity.objects.values("pk"))
    rows = History.objects.filter(scoped, id__in=History.objects.filter(fund_id=fund.pk).values("id"))
    if before is not None:
        rows = rows.filter(history_date__lt=before)
    latest = (
        rows.annotate(
            exists_now=ExpressionWrapper(Q(id__in=Opportunity.objects.values("pk")), output_field=BooleanField()),
            rank=Window(
                RowNumber(),
                partition_by=[F("id")],
                order_by=[F("history_date").desc(), F("history_id").desc()],
            ),
        )
        .filter(rank=1)
        .select_related("contact", "organization", "owner")
    )
    cards: dict[int, ReplayedCard] = {}
    for row in latest:
        stage = by_stage.get(row.stage_id)
        if row.history_type == "-" or row.fund_id != fund.pk or stage is None:
            continue
        cards[row.id] = ReplayedCard(
            id=row.id,
            name=row.name,
            contact=row.contact,
            organization=row.organization,
            owner=row.owner,
            stage=stage,
            position=row.position,
            expected_amount=row.expected_amount or ZERO,
            probability=row.probability,
            priority=row.priority,
            exists_now=bool(row.exists_now),
        )
    return cards


# --- the board as of a date ----------------------------------------------------------------


@dataclass
class ReplayedColumn:
    stage: Stage
    cards: list[ReplayedCard] = field(default_factory=list)
    count: int = 0
    expected: Decimal = ZERO
    weighted: Decimal = ZERO
    hidden: int = 0  # cards past the drawn limit

    @property
    def collapsed(self) -> bool:
        return self.stage.outcome == StageOutcome.LOST


@dataclass
class ReplayedBoard:
    as_of: datetime.date
    columns: list[ReplayedColumn]

    def _total(self, outcome: str, figure: str) -> Decimal:
        return sum((getattr(c, figure) for c in self.columns if c.stage.outcome == outcome), ZERO)

    @property
    def open_count(self) -> int:
        return sum(c.count for c in self.columns if c.stage.outcome == StageOutcome.OPEN)

    @property
    def open_expected(self) -> Decimal:
        return self._total(StageOutcome.OPEN, "expected")

    @property
    def open_weighted(self) -> Decimal:
        return self._total(StageOutcome.OPEN, "weighted")

    @property
    def won_expected(self) -> Decimal:
        return self._total(StageOutcome.WON, "expected")

    @property
    def forecast(self) -> Decimal:
        return self.won_expected + self.open_weighted


def _matches(card: ReplayedCard, owner: Any, unassigned: bool, priority: str, search: str) -> bool:
    """The board's filters on a deal as it stood then. The search looks for each word in the
    deal's, contact's and organization's names, as the board's search does for those fields."""
    if unassigned and card.owner is not None:
        return False
    if owner is not None and (card.owner is None or card.owner.pk != owner.pk):
        return False
    if priority and card.priority != priority:
        return False
    if search:
        names = [card.name, card.contact.full_name if card.contact else "", getattr(card.organization, "name", "")]
        haystack = " ".join(names).casefold()
        return all(word in haystack for word in search.casefold().split())
    return True


def board_as_of(
    user: Any,
    fund: Fund,
    stages: list[Stage],
    day: datetime.date,
    limit: int,
    *,
    shown: dict[int, int] | None = None,
    owner: Any = None,
    unassigned: bool = False,
    priority: str = "",
    search: str = "",
) -> ReplayedBoard:
    """The board at the end of ``day``: each column's cards in their position then, its first
    ``limit`` drawn (``shown[stage id]`` for a column asked for more), and whole-column totals
    of the cards the filters keep. One query (besides ``stages``)."""
    cards = replay(user, fund, stages, before=start_of_day(day + datetime.timedelta(days=1)))
    columns = {stage.pk: ReplayedColumn(stage) for stage in stages}
    for card in sorted(cards.values(), key=lambda c: (c.position, c.id)):
        if not _matches(card, owner, unassigned, priority, search):
            continue
        column = columns[card.stage.pk]
        column.count += 1
        column.expected += card.expected_amount
        column.weighted += card.weighted_amount
        if column.collapsed or len(column.cards) >= (shown or {}).get(card.stage.pk, limit):
            column.hidden += 0 if column.collapsed else 1
        else:
            column.cards.append(card)
    return ReplayedBoard(day, list(columns.values()))


# --- changes since a date ------------------------------------------------------------------


@dataclass
class AmountChange:
    card: ReplayedCard
    before: Decimal

    @property
    def delta(self) -> Decimal:
        return self.card.expected_amount - self.before


@dataclass
class Move:
    card: ReplayedCard
    other: Stage  # where it came from (a move in) or went to (a move out)


@dataclass
class StageChanges:
    stage: Stage
    moved_in: list[Move] = field(default_factory=list)
    moved_out: list[Move] = field(default_factory=list)
    new: list[ReplayedCard] = field(default_factory=list)
    removed: list[ReplayedCard] = field(default_factory=list)  # deleted since
    amount_changes: list[AmountChange] = field(default_factory=list)
    count_then: int = 0
    count_now: int = 0
    expected_then: Decimal = ZERO
    expected_now: Decimal = ZERO

    @property
    def has_changes(self) -> bool:
        return bool(self.moved_in or self.moved_out or self.new or self.removed or self.amount_changes)

    @property
    def expected_delta(self) -> Decimal:
        return self.expected_now - self.expected_then


@dataclass
class Changes:
    since: datetime.date
    stages: list[StageChanges]
    lost: list[Move]  # deals that went to a lost stage since, from the stage they left

    def _sum(self, name: str) -> Any:
        return sum((getattr(row, name) for row in self.stages), ZERO)

    @property
    def new(self) -> list[ReplayedCard]:
        return [card for row in self.stages for card in row.new]

    @property
    def moves(self) -> int:
        return sum(len(row.moved_in) for row in self.stages)

    @property
    def amount_changes(self) -> int:
        return sum(len(row.amount_changes) for row in self.stages)

    def _active(self, name: str) -> Any:
        return sum(
            (getattr(row, name) for row in self.stages if row.stage.outcome != StageOutcome.LOST),
            ZERO,
        )

    @property
    def expected_then(self) -> Decimal:
        """Open and won, then: passed deals are out of the totals, as on the board."""
        return self._active("expected_then")

    @property
    def expected_now(self) -> Decimal:
        return self._active("expected_now")

    @property
    def count_then(self) -> int:
        return int(self._active("count_then"))

    @property
    def count_now(self) -> int:
        return int(self._active("count_now"))

    @property
    def expected_delta(self) -> Decimal:
        return self.expected_now - self.expected_then


def changes_since(user: Any, fund: Fund, stages: list[Stage], since: datetime.date) -> Changes:
    """What moved in the fund's pipeline from the start of ``since`` to now: per stage the deals
    that moved in and out, the new ones, the deleted ones and the amount changes, with counts and
    expected totals then and now. Two queries (besides ``stages``).

    Net changes: a deal that went Lead → Meeting → Lead in the week did not move.
    """
    then = replay(user, fund, stages, before=start_of_day(since))
    now = replay(user, fund, stages)
    rows = {stage.pk: StageChanges(stage) for stage in stages}
    lost: list[Move] = []
    for card in then.values():
        row = rows[card.stage.pk]
        row.count_then += 1
        row.expected_then += card.expected_amount
        if card.id not in now:
            row.removed.append(card)
    for card in sorted(now.values(), key=lambda c: (c.stage.order, c.position, c.id)):
        row = rows[card.stage.pk]
        row.count_now += 1
        row.expected_now += card.expected_amount
        before = then.get(card.id)
        if before is None:
            row.new.append(card)
            continue
        if before.stage.pk != card.stage.pk:
            row.moved_in.append(Move(card, before.stage))
            rows[before.stage.pk].moved_out.append(Move(card, card.stage))
            if card.stage.outcome == StageOutcome.LOST and before.stage.outcome != StageOutcome.LOST:
                lost.append(Move(card, before.stage))
        if before.expected_amount != card.expected_amount:
            row.amount_changes.append(AmountChange(card, before.expected_amount))
    return Changes(since, list(rows.values()), lost)
