"""The dashboard's figures, from the same functions the dashboard page uses."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from django.http import Http404, HttpRequest
from ninja import Field, Path, Query, Router, Schema

from crm.api.errors import Problem
from reports import analytics
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
