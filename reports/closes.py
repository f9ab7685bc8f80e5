"""The close planner: for each of a fund's closes, what is signed against its minimum, what is
still missing, the commitments expected for it, the deals that could fill the gap, and what an
LP admitted at a later close owes to equalise with those admitted earlier.

Here rather than in lps because it reads the pipeline (the open deals that could fill a gap),
which sits above the LP tracker in the layers.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import F, OuterRef, Q, Subquery, Sum

from contacts.models import Communication
from crm.lib.money import money_exact
from lps.models import CallLine, Close, CloseState, Commitment, CommitmentStatus, Fund
from pipeline.models import Opportunity

ZERO = Decimal("0")
CENT = Decimal("0.01")
DAYS_A_YEAR = Decimal("365")
# Deals listed under a close's gap: the likeliest, not the whole pipeline.
FILLERS = 10
SIGNED_OR_BEYOND = (CommitmentStatus.SIGNED, CommitmentStatus.CLOSED)


@dataclass(frozen=True)
class Equalisation:
    """What an LP admitted at a later close pays so that it stands where the earlier LPs stand.

    ``principal`` is the LP's pro-rata share of the capital already called from the LPs
    admitted before (its commitment times the share of their commitments called);
    ``interest`` is simple late-close interest on that principal, at the fund's yearly rate,
    from the first close to the admission date, counted actual/365. Both to the cent.
    """

    commitment_amount: Decimal
    called: Decimal
    called_of: Decimal
    rate: Decimal
    days: int
    currency: str = "USD"

    @property
    def called_share(self) -> Decimal:
        return self.called / self.called_of if self.called_of else ZERO

    @property
    def principal(self) -> Decimal:
        if not self.called_of:
            return ZERO
        return (self.commitment_amount * self.called / self.called_of).quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def interest(self) -> Decimal:
        raw = self.principal * self.rate / 100 * max(self.days, 0) / DAYS_A_YEAR
        return raw.quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest

    @property
    def formula(self) -> str:
        money = lambda amount: money_exact(amount, self.currency)  # noqa: E731
        share = (self.called_share * 100).quantize(CENT, rounding=ROUND_HALF_UP)
        return (
            f"{money(self.commitment_amount)} × {share}% called ({money(self.called)} of {money(self.called_of)}) "
            f"= {money(self.principal)}; interest {money(self.principal)} × {self.rate}% × {self.days}/365 "
            f"= {money(self.interest)}; owed {money(self.total)}"
        )


@dataclass
class PlannedCommitment:
    commitment: Commitment
    equalisation: Equalisation | None = None


@dataclass
class ClosePlan:
    close: Close
    commitments: list[PlannedCommitment]
    signed: Decimal
    hard: Decimal
    soft: Decimal
    today: datetime.date
    fillers: list[Opportunity] = field(default_factory=list)

    @property
    def gap(self) -> Decimal | None:
        """What must still be signed to reach the close's minimum (0 once reached)."""
        if self.close.minimum_amount is None:
            return None
        return max(self.close.minimum_amount - self.signed, ZERO)

    @property
    def gap_if_hard_signs(self) -> Decimal | None:
        if self.close.minimum_amount is None:
            return None
        return max(self.close.minimum_amount - self.signed - self.hard, ZERO)

    @property
    def percent_signed(self) -> int | None:
        if not self.close.minimum_amount:
            return None
        return min(int(self.signed * 100 / self.close.minimum_amount), 100)

    @property
    def days_left(self) -> int:
        return (self.close.date - self.today).days

    @property
    def equalised(self) -> bool:
        return any(row.equalisation for row in self.commitments)


@dataclass
class Planner:
    fund: Fund | None
    closes: list[ClosePlan]
    unassigned: int
    unassigned_amount: Decimal

    @property
    def currency(self) -> str:
        return self.fund.currency if self.fund else "USD"


def plan(user: Any, fund: Fund | None, today: datetime.date) -> Planner:
    """Every close of ``fund`` planned; a fixed number of queries whatever the data size:
    the closes, their commitments, the called capital per close, and the gap fillers."""
    if fund is None:
        return Planner(None, [], 0, ZERO)
    closes = list(Close.objects.visible_to(user).filter(fund=fund).order_by("date", "pk"))
    commitments = list(
        Commitment.objects.visible_to(user)
        .filter(fund=fund)
        .exclude(status=CommitmentStatus.WITHDRAWN)
        .select_related("lp__contact__organization", "fund")
        .order_by("-commitment_amount", "pk")
    )
    by_close: dict[int | None, list[Commitment]] = {}
    for commitment in commitments:
        by_close.setdefault(commitment.close_id, []).append(commitment)
    # Capital called per earlier close: what the capital calls asked of the commitments
    # admitted at each (their lines, paid or not; call 0 holds what was paid in before the
    # CRM kept calls), against those commitments' total.
    admitted_at = Commitment.objects.filter(fund=fund, close__isnull=False, status__in=SIGNED_OR_BEYOND).order_by()
    committed_at = dict(
        admitted_at.values("close").annotate(total=Sum("commitment_amount")).values_list("close", "total")
    )
    called_at = dict(
        CallLine.objects.filter(commitment__in=admitted_at)
        .order_by()
        .values("commitment__close")
        .annotate(total=Sum("amount"))
        .values_list("commitment__close", "total")
    )
    admitted = {close: (called_at.get(close) or ZERO, total or ZERO) for close, total in committed_at.items()}
    first = closes[0] if closes else None
    plans = []
    for close in closes:
        rows = by_close.get(close.pk, [])
        earlier = [c for c in closes if c.date < close.date]
        called = sum((admitted.get(c.pk, (ZERO, ZERO))[0] for c in earlier), ZERO)
        called_of = sum((admitted.get(c.pk, (ZERO, ZERO))[1] for c in earlier), ZERO)
        planned = []
        for commitment in rows:
            equalisation = None
            if first is not None and earlier and called:
                equalisation = Equalisation(
                    commitment.commitment_amount,
                    called,
                    called_of,
                    fund.late_close_interest_rate,
                    (close.date - first.date).days,
                    fund.currency,
                )
            planned.append(PlannedCommitment(commitment, equalisation))
        plans.append(
            ClosePlan(
                close,
                planned,
                signed=sum((c.commitment_amount for c in rows if c.status in SIGNED_OR_BEYOND), ZERO),
                hard=sum((c.commitment_amount for c in rows if c.status == CommitmentStatus.HARD_CIRCLE), ZERO),
                soft=sum((c.commitment_amount for c in rows if c.status == CommitmentStatus.SOFT_CIRCLE), ZERO),
                today=today,
            )
        )
    fillers = gap_fillers(user, fund)
    for close_plan in plans:
        if not close_plan.close.is_held and close_plan.gap:
            close_plan.fillers = fillers
    unassigned = by_close.get(None, [])
    return Planner(fund, plans, len(unassigned), sum((c.commitment_amount for c in unassigned), ZERO))


def gap_fillers(user: Any, fund: Fund) -> list[Opportunity]:
    """The fund's open deals whose LP has no signed commitment yet, likeliest first (weighted
    amount), the most recently touched first among equals."""
    touches = Communication.objects.filter(contact=OuterRef("contact")).order_by("-communication_date")
    signed = Commitment.objects.filter(fund=fund, status__in=SIGNED_OR_BEYOND).values("lp__contact")
    return list(
        Opportunity.objects.visible_to(user)
        .open()
        .filter(fund=fund)
        .exclude(Q(contact__in=signed))
        .with_list_figures()
        .annotate(last_touch=Subquery(touches.values("communication_date")[:1]))
        .select_related("contact", "organization", "stage", "owner")
        .order_by(F("weighted_x100").desc(nulls_last=True), F("last_touch").desc(nulls_last=True), "pk")[:FILLERS]
    )


def hold(close: Close, user: Any, today: datetime.date) -> int:
    """Mark ``close`` held and accept its signed commitments at it (status closed, accepted on
    the close's date, each saved so the ladder and history record it). Returns how many."""
    close._history_user = user
    close.state = CloseState.HELD
    close.save()
    accepted = 0
    for commitment in close.commitments.filter(status=CommitmentStatus.SIGNED).order_by("pk"):
        commitment._history_user = user
        commitment.status = CommitmentStatus.CLOSED
        commitment.closed_date = close.date if close.date <= today else today
        commitment.save()
        accepted += 1
    return accepted
