"""K-1s per tax year: recording a commitment's delivery, and who is still missing one.

A K-1 is owed for every commitment admitted to the fund (accepted at a close), once per tax
year. Every write is one record saved through its guard (a manager's), so each change is in
the history with who made it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from lps.models import Commitment, CommitmentStatus, Fund, K1Delivery, latest_tax_year

UNSET = object()


@transaction.atomic
def record_k1(
    commitment: Commitment,
    tax_year: int,
    user: Any,
    *,
    prepared_on: datetime.date | None | object = UNSET,
    sent_on: datetime.date | None | object = UNSET,
    method: str | object = UNSET,
    notes: str | object = UNSET,
) -> K1Delivery:
    """Create or update the commitment's K-1 for ``tax_year``; only the values given change."""
    delivery = K1Delivery.objects.select_for_update().filter(
        commitment=commitment, tax_year=tax_year
    ).first() or K1Delivery(commitment=commitment, tax_year=tax_year)
    for name, value in (("prepared_on", prepared_on), ("sent_on", sent_on), ("method", method), ("notes", notes)):
        if value is not UNSET:
            setattr(delivery, name, value)
    if delivery.sent_on is not None and delivery.prepared_on is None:
        delivery.prepared_on = delivery.sent_on  # a K-1 sent was prepared, by then at the latest
    delivery._history_user = user
    delivery.full_clean(validate_unique=False)
    delivery.save()
    return delivery


def toggle_latest_sent(commitment: Commitment, user: Any, today: datetime.date) -> bool:
    """The tracker's K-1 check mark: mark the latest tax year's K-1 sent today, or unsent.
    Returns whether it is now sent."""
    year = latest_tax_year(today)
    current = K1Delivery.objects.filter(commitment=commitment, tax_year=year).first()
    sent = current is None or current.sent_on is None
    record_k1(commitment, year, user, sent_on=today if sent else None)
    return sent


@dataclass(frozen=True)
class K1Row:
    commitment: Commitment
    delivery: K1Delivery | None

    @property
    def status(self) -> str:
        if self.delivery is None or (self.delivery.prepared_on is None and self.delivery.sent_on is None):
            return "missing"
        return "sent" if self.delivery.sent_on else "prepared"


def k1_rows(fund: Fund, tax_year: int, user: Any) -> list[K1Row]:
    """Every admitted commitment of the fund with its K-1 for the year (None: nothing yet), in two queries."""
    commitments = list(
        Commitment.objects.visible_to(user)
        .filter(fund=fund, status=CommitmentStatus.CLOSED)
        .select_related("lp__contact__organization", "fund")
        .order_by("lp__contact__last_name", "lp__contact__first_name", "pk")
    )
    deliveries = {
        d.commitment_id: d
        for d in K1Delivery.objects.visible_to(user).filter(
            tax_year=tax_year, commitment__fund=fund, commitment__status=CommitmentStatus.CLOSED
        )
    }
    return [K1Row(c, deliveries.get(c.pk)) for c in commitments]
