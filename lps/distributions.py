"""Distributions: paying a fund's money out to its admitted commitments, split by kind, to the cent.

Each kind (return of capital, gain, income) is allocated on its own with crm.lib.allocation's
rule (largest remainder), so every kind's lines add up exactly to that kind's amount, and the
lines' totals add up exactly to the distribution. The weights are each commitment's paid-in
capital (its funded amount: what its call lines received) or its commitment, a choice made per distribution.
Every write goes through the models' guards (a manager's) and is saved one record at a time,
so each line is in the history.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import DecimalField, Max, OuterRef, Subquery, Sum

from crm.lib.allocation import CENT, allocate
from crm.lib.money import MONEY
from lps.calls import admitted
from lps.models import (
    DISTRIBUTION_KINDS,
    Commitment,
    Distribution,
    DistributionBasis,
    DistributionKind,
    DistributionLine,
    Fund,
)


class DistributionRefused(Exception):
    """A distribution that cannot be made as asked; the message says why."""


def weights_for(fund: Fund, basis: str) -> list[tuple[Commitment, Decimal]]:
    """The commitments a distribution goes to and each one's weight; a zero weight gets nothing."""
    commitments = admitted(fund)
    if basis == DistributionBasis.COMMITMENTS:
        pairs = [(c, c.commitment_amount) for c in commitments]
    else:
        # Paid in: the funded amount, which lps.calls.record_receipt keeps equal to what the
        # commitment's call lines received (lps.accounts uses the same figure).
        pairs = [(c, c.funded_amount) for c in commitments]
    return [(c, w) for c, w in pairs if w > 0]


def split(kinds: dict[str, Decimal], weights: list[Decimal]) -> list[dict[str, Decimal]]:
    """Each kind allocated over ``weights`` on its own; one dict of kind → amount per weight."""
    columns = {kind: allocate(kinds[kind], weights) for kind in DISTRIBUTION_KINDS}
    return [{kind: columns[kind][i] for kind in DISTRIBUTION_KINDS} for i in range(len(weights))]


def make_distribution(
    fund: Fund,
    user: Any,
    *,
    date: datetime.date,
    return_of_capital: Decimal = Decimal("0"),
    gain: Decimal = Decimal("0"),
    income: Decimal = Decimal("0"),
    amount: Decimal | None = None,
    basis: str = DistributionBasis.PAID_IN,
    notes: str = "",
) -> Distribution:
    """Distribute the three kinds to the fund's admitted commitments, pro rata to ``basis``.

    ``amount`` (the total), when given, must equal the three kinds added up. Refused, with
    nothing written, when it does not, when an amount is negative or not in whole cents, when
    the total is zero, or when nobody has a weight (under paid-in basis: nobody has paid in).
    """
    kinds = {"return_of_capital": return_of_capital, "gain": gain, "income": income}
    for kind, value in kinds.items():
        if value is None or value < 0 or value != value.quantize(CENT):
            label = DistributionKind(kind).label.lower()
            raise DistributionRefused(f"The {label} must be zero or more, in whole cents.")
    total = sum(kinds.values(), Decimal("0"))
    if amount is not None and amount != total:
        raise DistributionRefused(
            f"The split adds up to {total:,.2f}, not the total of {amount:,.2f}: "
            "return of capital, gain and income must add up to the total."
        )
    if total <= 0:
        raise DistributionRefused("A distribution's total must be more than zero.")
    if basis not in DistributionBasis.values:
        raise DistributionRefused("Choose how the distribution is allocated: to paid-in capital or to commitments.")
    pairs = weights_for(fund, basis)
    if not pairs:
        if basis == DistributionBasis.PAID_IN:
            raise DistributionRefused(
                f"Nobody admitted to {fund} has paid in capital yet: there is nothing to distribute pro rata to "
                "paid-in capital (allocate to commitments instead)."
            )
        raise DistributionRefused(f"No commitment to {fund} has been accepted at a close yet: nobody to pay.")
    shares = split(kinds, [w for _c, w in pairs])
    with transaction.atomic():
        number = (Distribution.objects.filter(fund=fund).aggregate(n=Max("number"))["n"] or 0) + 1
        distribution = Distribution(
            fund=fund, number=number, date=date, amount=total, basis=basis, notes=notes, **kinds
        )
        distribution._history_user = user
        distribution.save()
        for (commitment, _weight), share in zip(pairs, shares, strict=True):
            line = DistributionLine(
                distribution=distribution, commitment=commitment, amount=sum(share.values(), Decimal("0")), **share
            )
            line._history_user = user
            line.save()
    return distribution


def notice_lines(distribution: Distribution):
    """The distribution's lines as its notices show them, in one query: each LP's share by kind,
    and what the commitment has been distributed up to and including this one."""
    to_date = (
        DistributionLine.objects.filter(
            commitment=OuterRef("commitment"),
            distribution__fund=distribution.fund_id,
            distribution__number__lte=distribution.number,
        )
        .order_by()
        .values("commitment")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return (
        distribution.lines.select_related("commitment__lp__contact__organization")
        .annotate(distributed_to_date=Subquery(to_date, output_field=DecimalField(**MONEY)))
        .order_by("commitment__lp__contact__last_name", "commitment__lp__contact__first_name", "pk")
    )
