"""Capital accounts: per commitment (an LP in a fund), committed, called, paid in, unfunded,
distributed and DPI, read in one query for a whole fund or a whole LP.

The words as the fund's notices and the page use them:
- committed: the commitment (hard circle and beyond; soft circles and withdrawn ones have no account);
- called: what its capital call lines asked for (call 0, pre-system contributions, included);
- paid in: what it has paid against those calls (the commitment's funded amount, which
  lps.calls.record_receipt keeps equal to the sum received);
- unfunded: committed − paid in, what the LP may still have to pay (called but unpaid included);
- distributed: the sum of its distribution lines; DPI = distributed / paid in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from crm.lib.money import MONEY
from lps.models import COMMITTED_STATUSES, CallLine, Commitment, DistributionLine

ZERO = Decimal("0")


def _per_commitment(model: Any, field: str) -> Coalesce:
    total = (
        model.objects.filter(commitment=OuterRef("pk"))
        .order_by()
        .values("commitment")
        .annotate(total=Sum(field))
        .values("total")
    )
    money = DecimalField(**MONEY)
    return Coalesce(Subquery(total, output_field=money), Value(ZERO), output_field=money)


def with_accounts(queryset: QuerySet[Commitment]) -> QuerySet[Commitment]:
    """The commitments that have a capital account, each annotated with ``called`` and
    ``distributed`` (correlated subqueries, so no join multiplies a sum)."""
    return queryset.filter(status__in=COMMITTED_STATUSES).annotate(
        called=_per_commitment(CallLine, "amount"), distributed=_per_commitment(DistributionLine, "amount")
    )


@dataclass(frozen=True)
class Account:
    committed: Decimal
    called: Decimal
    paid_in: Decimal
    distributed: Decimal
    commitment: Commitment | None = None  # None: the totals row

    @property
    def unfunded(self) -> Decimal:
        return max(self.committed - self.paid_in, ZERO)

    @property
    def dpi(self) -> Decimal | None:
        """Distributed / paid in, to two places; None before anything is paid in."""
        if not self.paid_in:
            return None
        return (self.distributed / self.paid_in).quantize(Decimal("0.01"))


def accounts(queryset: QuerySet[Commitment]) -> list[Account]:
    """One capital account per commitment of ``queryset`` with an account, in one query."""
    rows = with_accounts(queryset).select_related("lp__contact", "fund")
    return [
        Account(
            committed=c.commitment_amount,
            called=c.called,
            paid_in=c.funded_amount,
            distributed=c.distributed,
            commitment=c,
        )
        for c in rows
    ]


def aggregates() -> dict[str, Any]:
    """``account_committed``, ``account_called``, ``account_paid_in`` and ``account_distributed``
    for ``aggregate``, over the commitments with an account: another aggregate (the LP
    tracker's cards) takes them into its own query.

    The sums take the per-commitment subqueries themselves, not the names ``with_accounts``
    gives them: aggregating over those annotations makes Django 5.2 wrap the query and drop
    the subqueries from it, and SQLite then sums a string (0).
    """
    has_account = Q(status__in=COMMITTED_STATUSES)
    return {
        "account_committed": Sum("commitment_amount", filter=has_account),
        "account_called": Sum(_per_commitment(CallLine, "amount"), filter=has_account),
        "account_paid_in": Sum("funded_amount", filter=has_account),
        "account_distributed": Sum(_per_commitment(DistributionLine, "amount"), filter=has_account),
    }


def from_aggregate(row: dict[str, Any]) -> Account:
    """The totals ``aggregates()`` computed, as an Account."""
    return Account(
        committed=row["account_committed"] or ZERO,
        called=row["account_called"] or ZERO,
        paid_in=row["account_paid_in"] or ZERO,
        distributed=row["account_distributed"] or ZERO,
    )


def totals(queryset: QuerySet[Commitment]) -> Account:
    """The accounts of ``queryset`` added up, in one query."""
    return from_aggregate(queryset.order_by().aggregate(**aggregates()))


def add_up(rows: list[Account]) -> Account:
    """The totals row of accounts already read (the table's own rows, so they cannot disagree)."""
    return Account(
        committed=sum((r.committed for r in rows), ZERO),
        called=sum((r.called for r in rows), ZERO),
        paid_in=sum((r.paid_in for r in rows), ZERO),
        distributed=sum((r.distributed for r in rows), ZERO),
    )
