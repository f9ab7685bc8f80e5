"""Splitting an amount pro rata to the cent, so that the parts add up exactly to the whole.

Used for capital calls (pro rata to commitments) and, later, distributions. The rule, which
the notices and the tests state the same way: each part is its exact share rounded *down* to
the cent; the cents left over (fewer than the number of parts) go one each to the parts whose
exact share lost the most in rounding, ties to the larger weight, then to the earlier part.
That is the largest-remainder method: no part is ever more than a cent from its exact share,
none is negative, and the total is always exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal

CENT = Decimal("0.01")


def allocate(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """``total`` split over ``weights`` pro rata, to the cent, summing exactly to ``total``.

    ``total`` must be a non-negative amount in whole cents; weights non-negative with a
    positive sum (else ValueError: nobody to allocate to).
    """
    total = Decimal(total)
    if total < 0 or total != total.quantize(CENT):
        raise ValueError("The amount to allocate must be zero or more, in whole cents.")
    if any(w < 0 for w in weights):
        raise ValueError("Weights cannot be negative.")
    whole = sum(weights, Decimal("0"))
    if whole <= 0:
        raise ValueError("There is nothing to allocate against: every weight is zero.")
    exact = [total * w / whole for w in weights]
    parts = [share.quantize(CENT, rounding=ROUND_DOWN) for share in exact]
    left = int((total - sum(parts, Decimal("0"))) / CENT)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), -weights[i], i))
    for i in order[:left]:
        parts[i] += CENT
    return parts
