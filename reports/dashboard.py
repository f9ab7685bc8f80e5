"""The dashboard's figures, each computed by a fixed number of queries whatever the data size."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Case, Count, Q, Sum, When
from django.utils import timezone

from contacts.models import Communication, Contact, ContactType
from lps.models import COMMITTED_STATUSES, Commitment, CommitmentStatus, LPProfile
from pipeline.models import Fund, Opportunity


@dataclass
class FundFigures:
    fund: Fund
    committed: Decimal
    soft_circled: Decimal
    funded: Decimal
    lp_count: int

    @property
    def percent_of_target(self) -> int | None:
        if not self.fund.target_size:
            return None
        return int(self.committed / self.fund.target_size * 100)


def fund_figures(user) -> list[FundFigures]:
    """Committed (hard circle and beyond), soft circles and funded per fund: two queries."""
    funds = list(Fund.objects.visible_to(user).order_by("vintage_year", "name"))
    rows = (
        Commitment.objects.visible_to(user)
        .values("fund_id")
        .annotate(
            committed=Sum("commitment_amount", filter=Q(status__in=COMMITTED_STATUSES)),
            soft=Sum("commitment_amount", filter=Q(status=CommitmentStatus.SOFT_CIRCLE)),
            funded=Sum("funded_amount", filter=Q(status__in=COMMITTED_STATUSES)),
            lps=Count("lp_id", filter=Q(status__in=COMMITTED_STATUSES), distinct=True),
        )
        .order_by()
    )
    by_fund = {row["fund_id"]: row for row in rows}
    zero = Decimal("0")
    figures = []
    for fund in funds:
        row = by_fund.get(fund.pk, {})
        figures.append(
            FundFigures(
                fund=fund,
                committed=row.get("committed") or zero,
                soft_circled=row.get("soft") or zero,
                funded=row.get("funded") or zero,
                lp_count=row.get("lps") or 0,
            )
        )
    return figures


def dashboard_context(user) -> dict:
    now = timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    current_fund = Fund.objects.visible_to(user).current()
    pipeline = (
        Opportunity.objects.visible_to(user).filter(fund=current_fund).active().totals()
        if current_fund
        else {"count": 0, "expected": Decimal("0"), "weighted": Decimal("0")}
    )
    contact_counts = Contact.objects.visible_to(user).aggregate(
        prospects=Count("pk", filter=Q(contact_type=ContactType.PROSPECT)),
    )
    today = timezone.localdate()
    upcoming = (
        Communication.objects.visible_to(user)
        .open_actions()
        .filter(next_action_date__isnull=False, next_action_date__lte=today + datetime.timedelta(days=14))
        .select_related("contact", "created_by")
        .order_by(Case(When(created_by=user, then=0), default=1), "next_action_date", "pk")[:8]
    )
    return {
        "current_fund": current_fund,
        "funds": fund_figures(user),
        "lp_count": LPProfile.objects.visible_to(user).count(),
        "pipeline": pipeline,
        "prospect_count": contact_counts["prospects"],
        "communications_this_month": Communication.objects.visible_to(user)
        .filter(communication_date__gte=month_start)
        .count(),
        "recent_communications": Communication.objects.visible_to(user)
        .select_related("contact", "contact__organization", "created_by")
        .order_by("-communication_date", "-pk")[:8],
        "upcoming_actions": upcoming,
        "today": today,
    }
