"""The dashboard's figures, from the same functions the dashboard page uses."""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpRequest
from ninja import Router, Schema

from reports.dashboard import dashboard_context

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
