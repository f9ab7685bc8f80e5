"""The dashboard's and the reports' figures, from the same functions their pages use."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Annotated, Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema

from crm.api.common import PathId
from crm.api.errors import Problem
from lps.models import Fund
from reports import analytics, closes
from reports.dashboard import dashboard_context

# Any other name is "no such report" (404), not invalid input.
ReportName = Annotated[str, Path(description="One of: " + ", ".join(analytics.REPORTS) + ".")]

router = Router(tags=["reports"])


class FundFiguresOut(Schema):
    fund_id: int
    fund: str
    lp_count: int
    committed: Decimal
    funded: Decimal
    soft_circled: Decimal
    target_size: Decimal | None


class PipelineOut(Schema):
    fund_id: int | None
    count: int
    expected: Decimal
    weighted: Decimal


class DashboardOut(Schema):
    lp_count: int
    open_opportunities: int
    overdue_close: int
    prospect_count: int
    communications_this_month: int
    current_fund_pipeline: PipelineOut
    funds: list[FundFiguresOut]


@router.get("/reports/dashboard", response=DashboardOut, url_name="api_dashboard")
def dashboard(request: HttpRequest) -> dict:
    """The dashboard's headline figures: what the dashboard page shows every member."""
    context = dashboard_context(request.user)
    pipeline = context["pipeline"]
    current = context["current_fund"]
    return {
        "lp_count": context["lp_count"],
        "open_opportunities": context["open_opportunities"],
        "overdue_close": context["overdue_close"],
        "prospect_count": context["prospect_count"],
        "communications_this_month": context["communications_this_month"],
        "current_fund_pipeline": {
            "fund_id": current.pk if current else None,
            "count": pipeline["count"] or 0,
            "expected": pipeline["expected"] or Decimal("0"),
            "weighted": pipeline["weighted"] or Decimal("0"),
        },
        "funds": [
            {
                "fund_id": row.fund.pk,
                "fund": row.fund.name,
                "lp_count": row.lp_count or 0,
                "committed": row.committed or Decimal("0"),
                "funded": row.funded or Decimal("0"),
                "soft_circled": row.soft_circled or Decimal("0"),
                "target_size": row.fund.target_size,
            }
            for row in context["funds"]
        ],
    }


class ReportQuery(Schema):
    fund: int | None = Field(None, ge=1, le=2**63 - 1, description="A fund's id; default: the fund being raised.")
    months: int | None = Field(None, description=f"The team report's period: one of {list(analytics.PERIODS)}.")


class ReportOut(Schema):
    report: str
    fund_id: int | None
    months: int
    headers: list[str]
    rows: list[list[Any]]


@router.get("/reports/{report}", response=ReportOut, url_name="api_report")
def report(request: HttpRequest, report: ReportName, query: Query[ReportQuery]) -> dict:
    """One report's table — the very rows the Reports page shows and its export writes."""
    if report not in analytics.REPORTS:
        raise Http404("No such report.")
    given = {name: str(value) for name, value in query.dict().items() if value is not None}
    filters = analytics.report_filters(request.user, given)
    if filters.problems:
        raise Problem(422, " ".join(filters.problems), {"": filters.problems})
    data = analytics.REPORTS[report](request.user, filters)
    return {
        "report": report,
        "fund_id": filters.fund.pk if filters.fund else None,
        "months": filters.months,
        "headers": [str(header) for header in data.headers],
        "rows": [list(row) for row in data.table()],
    }


# --- the raise: the commitment ladder and the closes, from the report pages' own functions ----------


class LadderLevelOut(Schema):
    status: str
    label: str
    count: int
    amount: Decimal
    count_share: Decimal | None = Field(description="Per cent of the level below's commitments that got here.")
    amount_share: Decimal | None = Field(description="Per cent of the level below's dollars.")


class LadderOwnerOut(Schema):
    name: str
    levels: list[LadderLevelOut]
    withdrawn: int
    soft_to_signed: Decimal | None


class LadderOut(Schema):
    fund_id: int
    currency: str
    levels: list[LadderLevelOut]
    withdrawn_count: int
    withdrawn_amount: Decimal
    owners: list[LadderOwnerOut]


@router.get("/funds/{pk}/ladder", response=LadderOut, url_name="api_fund_ladder", tags=["reports"])
def fund_ladder(request: HttpRequest, pk: PathId) -> dict:
    """How the fund's commitments climbed soft → hard → signed → accepted, overall and per owner:
    the commitment-ladder report's figures."""
    fund = Fund.objects.get_for_user(request.user, pk)
    report = analytics.ladder(request.user, fund)
    return {
        "fund_id": fund.pk,
        "currency": report.currency,
        "levels": report.levels,
        "withdrawn_count": report.withdrawn_count,
        "withdrawn_amount": report.withdrawn_amount,
        "owners": report.owners,
    }


class ClosePlanOut(Schema):
    id: int
    name: str
    date: datetime.date
    state: str
    held: bool
    minimum_amount: Decimal | None
    signed: Decimal = Field(description="Signed (or accepted) commitments expected at this close.")
    hard: Decimal
    soft: Decimal
    gap: Decimal | None = Field(description="What must still be signed to reach the minimum; null: no minimum.")
    gap_if_hard_signs: Decimal | None
    percent_signed: int | None
    days_left: int
    commitment_ids: list[int]


class ClosesOut(Schema):
    fund_id: int
    currency: str
    closes: list[ClosePlanOut]
    unassigned: int = Field(description="Commitments not expected at any close yet.")
    unassigned_amount: Decimal


@router.get("/funds/{pk}/closes", response=ClosesOut, url_name="api_fund_closes", tags=["reports"])
def fund_closes(request: HttpRequest, pk: PathId) -> dict:
    """Each close of the fund: its minimum, what is signed and hard-circled against it, and the gap,
    as the close planner shows them."""
    fund = Fund.objects.get_for_user(request.user, pk)
    planner = closes.plan(request.user, fund, timezone.localdate())
    return {
        "fund_id": fund.pk,
        "currency": planner.currency,
        "closes": [
            {
                "id": row.close.pk,
                "name": row.close.name,
                "date": row.close.date,
                "state": row.close.state,
                "held": row.close.is_held,
                "minimum_amount": row.close.minimum_amount,
                "signed": row.signed,
                "hard": row.hard,
                "soft": row.soft,
                "gap": row.gap,
                "gap_if_hard_signs": row.gap_if_hard_signs,
                "percent_signed": row.percent_signed,
                "days_left": row.days_left,
                "commitment_ids": [planned.commitment.pk for planned in row.commitments],
            }
            for row in planner.closes
        ],
        "unassigned": planner.unassigned,
        "unassigned_amount": planner.unassigned_amount,
    }
