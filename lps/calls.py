"""Capital calls: issuing one pro rata to the admitted commitments, and recording what LPs pay.

Every write goes through the models' guards (changing money is a manager's) and is saved one
record at a time, so each line and each commitment's new funded amount is in the history.
A commitment's funded amount is the sum of what its call lines received (lps 0009 turned
each one's earlier figure into a line of the fund's call 0, "pre-system contributions").
"""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import DecimalField, F, Max, OuterRef, Subquery, Sum

from crm.lib.allocation import CENT, allocate
from crm.lib.money import MONEY, money_exact
from lps.models import CallLine, CallPurpose, CapitalCall, Commitment, CommitmentStatus, Fund


class CallRefused(Exception):
    """A call or a receipt that cannot be made as asked; the message says why."""


def admitted(fund: Fund) -> list[Commitment]:
    """The commitments a call goes to: those accepted at a close, largest first."""
    return list(
        Commitment.objects.filter(fund=fund, status=CommitmentStatus.CLOSED)
        .select_related("lp__contact", "fund")
        .order_by("-commitment_amount", "pk")
    )


def issue_call(
    fund: Fund,
    user: Any,
    *,
    notice_date: datetime.date,
    due_date: datetime.date,
    purpose: str = CallPurpose.INVESTMENTS,
    amount: Decimal | None = None,
    percent: Decimal | None = None,
    notes: str = "",
) -> CapitalCall:
    """Call ``amount`` (or ``percent`` of the admitted commitments) from the fund's admitted
    commitments, pro rata to each commitment, to the cent (crm.lib.allocation's rule).

    Refused, with nothing written, when nobody is admitted, when neither or both of amount
    and percent are given, or when a line would call more than its commitment's uncalled
    part.
    """
    if (amount is None) == (percent is None):
        raise CallRefused("Give the call's total amount or its percentage of commitments, not both.")
    if due_date < notice_date:
        raise CallRefused("The due date cannot be before the notice date.")
    commitments = admitted(fund)
    if not commitments:
        raise CallRefused(f"No commitment to {fund} has been accepted at a close yet: there is nobody to call.")
    committed = sum((c.commitment_amount for c in commitments), Decimal("0"))
    if percent is not None:
        if not Decimal("0") < percent <= Decimal("100"):
            raise CallRefused("A call's percentage must be more than 0 and at most 100.")
        amount = (committed * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    if amount is None or amount <= 0 or amount != amount.quantize(CENT):
        raise CallRefused("A call's total must be more than zero, in whole cents.")
    parts = allocate(amount, [c.commitment_amount for c in commitments])
    called = dict(
        CallLine.objects.filter(commitment__in=commitments)
        .values("commitment")
        .annotate(total=Sum("amount"))
        .values_list("commitment", "total")
    )
    for commitment, part in zip(commitments, parts, strict=True):
        uncalled = commitment.commitment_amount - (called.get(commitment.pk) or 0)
        if part > uncalled:
            raise CallRefused(
                f"{commitment.lp} would be called {money_exact(part, fund.currency)}, more than the "
                f"{money_exact(max(uncalled, Decimal('0')), fund.currency)} of their commitment not yet called."
            )
    with transaction.atomic():
        number = (CapitalCall.objects.filter(fund=fund).aggregate(n=Max("number"))["n"] or 0) + 1
        call = CapitalCall(
            fund=fund,
            number=number,
            notice_date=notice_date,
            due_date=due_date,
            purpose=purpose,
            amount=amount,
            percent=percent,
            notes=notes,
        )
        call._history_user = user
        call.save()
        for commitment, part in zip(commitments, parts, strict=True):
            line = CallLine(call=call, commitment=commitment, amount=part)
            line._history_user = user
            line.save()
    return call


def record_receipt(line: CallLine, user: Any, amount: Decimal, on: datetime.date) -> CallLine:
    """Record ``amount`` received against ``line`` (a partial payment adds to what was
    received before), and the commitment's funded amount follows."""
    if amount <= 0 or amount != amount.quantize(CENT):
        raise CallRefused("Enter the amount received, more than zero, in dollars and cents.")
    if line.received_amount + amount > line.amount:
        raise CallRefused(
            f"That would receive {money_exact(line.received_amount + amount)} against a call of "
            f"{money_exact(line.amount)}: at most {money_exact(line.outstanding)} is still due."
        )
    with transaction.atomic():
        line.received_amount += amount
        line.received_date = on
        line._history_user = user
        line.save()
        commitment = Commitment.objects.get(pk=line.commitment_id)
        commitment.funded_amount = CallLine.objects.filter(commitment=commitment).aggregate(
            total=Sum("received_amount")
        )["total"] or Decimal("0")
        commitment._history_user = user
        commitment.save()
    return line


def overdue_lines(today: datetime.date):
    """Call lines past their due date with something still to pay."""
    return CallLine.objects.filter(call__due_date__lt=today, received_amount__lt=F("amount"))


def overdue_by_commitment(today: datetime.date, **commitment_filter: Any) -> dict[int, Decimal]:
    """What is past due per commitment (those matching ``commitment_filter``), in one query."""
    lines = overdue_lines(today).filter(**{f"commitment__{k}": v for k, v in commitment_filter.items()})
    rows = lines.order_by().values("commitment").annotate(due=Sum(F("amount") - F("received_amount")))
    return {row["commitment"]: row["due"] for row in rows}


def notice_lines(call: CapitalCall):
    """The call's lines as its notices show them, in one query: each LP's commitment, and what
    has been called from it up to and including this call (``called_to_date``)."""
    to_date = (
        CallLine.objects.filter(
            commitment=OuterRef("commitment"), call__fund=call.fund_id, call__number__lte=call.number
        )
        .order_by()
        .values("commitment")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return (
        call.lines.select_related("commitment__lp__contact__organization")
        .annotate(called_to_date=Subquery(to_date, output_field=DecimalField(**MONEY)))
        .order_by("commitment__lp__contact__last_name", "commitment__lp__contact__first_name", "pk")
    )
