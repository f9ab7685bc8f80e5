"""The dashboard's figures, each computed by a fixed number of queries whatever the data size."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from contacts.models import Communication, Contact, ContactType, OrganizationType
from contacts.services import dashboard_actions
from lps.calls import overdue_lines
from lps.models import COMMITTED_STATUSES, Commitment, CommitmentStatus, Fund, LPProfile
from pipeline.models import Opportunity, Stage, StageOutcome
from reports.charts import Bar, BarChart

RECENT_COMMUNICATIONS = 8
UPCOMING_ACTIONS = 8
STAGE_CHANGES = 8


def soft_url(name: str, *args, **query) -> str:
    """The URL of a page with a query string, leaving out blank values."""
    url = reverse(name, args=args)
    query = {key: value for key, value in query.items() if value not in (None, "")}
    return f"{url}?{urlencode(query)}" if query else url


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

    @property
    def url(self) -> str:
        return soft_url("lp_list", fund=self.fund.pk)


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


def pipeline_chart(user, fund: Fund | None) -> BarChart | None:
    """The fund's opportunities per stage, count and expected amount: two queries."""
    if fund is None:
        return None
    stages = list(Stage.objects.visible_to(user).order_by("order", "pk"))
    rows = {
        row["stage_id"]: row
        for row in Opportunity.objects.visible_to(user)
        .filter(fund=fund)
        .values("stage_id")
        .annotate(n=Count("pk"), expected=Sum("expected_amount"))
        .order_by()
    }
    bars = [
        Bar(
            label=stage.name,
            value=rows.get(stage.pk, {}).get("expected") or Decimal("0"),
            count=rows.get(stage.pk, {}).get("n") or 0,
            href=soft_url("opportunity_list", fund=fund.pk, stage=stage.pk),
            kind=stage.outcome,
        )
        for stage in stages
    ]
    return BarChart(
        title=f"{fund.name} pipeline by stage",
        slug="pipeline",
        currency=fund.currency,
        count_label=("opportunity", "opportunities"),
        bars=bars,
    )


def investor_type_chart(user) -> BarChart:
    """Committed money (hard circle and beyond, all funds) per investor type: one query."""
    rows = (
        Commitment.objects.visible_to(user)
        .committed()
        .values("lp__investor_type")
        .annotate(total=Sum("commitment_amount"), lps=Count("lp_id", distinct=True))
        .order_by("-total")
    )
    labels = dict(OrganizationType.choices)
    bars = [
        Bar(
            label=labels.get(row["lp__investor_type"], row["lp__investor_type"]),
            value=row["total"] or Decimal("0"),
            count=row["lps"],
            href=soft_url("lp_list", investor_type=row["lp__investor_type"]),
            kind="committed",
        )
        for row in rows
    ]
    return BarChart(title="Commitments by investor type", slug="investor-types", count_label=("LP", "LPs"), bars=bars)


@dataclass
class StageChange:
    when: datetime.datetime
    who: object
    name: str
    url: str | None
    from_stage: str
    to_stage: str
    to_outcome: str


def recent_stage_changes(user, limit: int = STAGE_CHANGES) -> list[StageChange]:
    """Who moved which opportunity from which stage to which, newest first: one query.

    History rows are read newest first down the ``history_date`` index, each compared with
    the opportunity's previous row (a correlated subquery on the ``id`` index), and the scan
    stops at ``limit`` changes; a window over every history row would grow with all time.
    """
    history = Opportunity.history.model
    earlier = history.objects.filter(id=OuterRef("id")).filter(
        Q(history_date__lt=OuterRef("history_date"))
        | Q(history_date=OuterRef("history_date"), history_id__lt=OuterRef("history_id"))
    )
    previous = earlier.order_by("-history_date", "-history_id")
    rows = (
        history.objects.filter(Exists(Opportunity.objects.visible_to(user).filter(pk=OuterRef("id"))))
        .annotate(
            previous_stage=Subquery(previous.values("stage_id")[:1]),
            previous_stage_name=Subquery(previous.values("stage__name")[:1]),
        )
        .filter(previous_stage__isnull=False)
        .exclude(previous_stage=F("stage_id"))
        .select_related("history_user", "stage")
        .order_by("-history_date", "-history_id")[:limit]
    )
    return [
        StageChange(
            when=row.history_date,
            who=row.history_user,
            name=row.name,
            url=reverse("opportunity_detail", args=[row.id]),
            from_stage=row.previous_stage_name or "—",
            to_stage=row.stage.name if row.stage else "—",
            to_outcome=row.stage.outcome if row.stage else StageOutcome.OPEN,
        )
        for row in rows
    ]


def overdue_capital(user, today: datetime.date) -> dict:
    """Call lines past due with money unpaid, among the commitments the user sees: how many,
    from how many LPs, and how much is outstanding, in one query."""
    lines = overdue_lines(today).filter(commitment__in=Commitment.objects.visible_to(user).values("pk"))
    sums = lines.order_by().aggregate(
        count=Count("pk"),
        lps=Count("commitment__lp_id", distinct=True),
        outstanding=Sum(F("amount") - F("received_amount")),
    )
    return {"count": sums["count"], "lps": sums["lps"], "outstanding": sums["outstanding"] or Decimal("0")}


def month_start(now: datetime.datetime | None = None) -> datetime.datetime:
    """The first moment of this month in the team's time zone."""
    local = timezone.localtime(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def dashboard_context(user) -> dict:
    today = timezone.localdate()
    start = month_start()
    current_fund = Fund.objects.visible_to(user).current()
    pipeline = (
        Opportunity.objects.visible_to(user).filter(fund=current_fund).open().totals()
        if current_fund
        else {"count": 0, "expected": Decimal("0"), "weighted": Decimal("0")}
    )
    counts = Contact.objects.visible_to(user).aggregate(
        prospects=Count("pk", filter=Q(contact_type=ContactType.PROSPECT)),
    )
    # One query for both: every open deal, and those whose expected close date is past.
    open_counts = (
        Opportunity.objects.visible_to(user)
        .open()
        .aggregate(
            open=Count("pk"),
            overdue_close=Count("pk", filter=Q(pk__in=Opportunity.objects.overdue_close().values("pk"))),
        )
    )
    funds = fund_figures(user)
    # Stale relationships (issue 17): the user's own first, then the team's; two queries.
    stale = (
        Contact.objects.visible_to(user)
        .stale(today)
        .order_by()
        .aggregate(all=Count("pk"), mine=Count("pk", filter=Q(owner=user)))
    )
    return {
        "stale": stale,
        "current_fund": current_fund,
        "funds": funds,
        "committed_funds": [row for row in funds if row.committed or row.soft_circled or row.fund == current_fund],
        "lp_count": LPProfile.objects.visible_to(user).count(),
        "pipeline": pipeline,
        "open_opportunities": open_counts["open"],
        "overdue_close": open_counts["overdue_close"],
        "overdue_capital": overdue_capital(user, today),
        "prospect_count": counts["prospects"],
        "communications_this_month": Communication.objects.visible_to(user)
        .filter(communication_date__gte=start)
        .count(),
        "month_start": start,
        "recent_communications": Communication.objects.visible_to(user)
        .select_related("contact", "contact__organization", "created_by")
        .order_by("-communication_date", "-pk")[:RECENT_COMMUNICATIONS],
        # Mine, then the team's, each by due date: two labelled lists, so the second run of
        # dates starting over does not read as an unsorted list.
        "upcoming_actions": (upcoming := dashboard_actions(user, today, UPCOMING_ACTIONS)),
        "my_actions": [item for item in upcoming if item.created_by_id == user.pk],
        "team_actions": [item for item in upcoming if item.created_by_id != user.pk],
        "pipeline_chart": pipeline_chart(user, current_fund),
        "investor_chart": investor_type_chart(user),
        "stage_changes": recent_stage_changes(user),
        "today": today,
        "links": {
            "lps": soft_url("lp_list"),
            "pipeline": soft_url("pipeline_board", fund=current_fund.pk) if current_fund else None,
            "opportunities": soft_url("opportunity_list", outcome=StageOutcome.OPEN),
            "overdue_close": soft_url("opportunity_list", overdue_close="on"),
            "prospects": soft_url("contact_list", type=ContactType.PROSPECT),
            "stale": soft_url("contact_list", stale="true"),
            "stale_mine": soft_url("contact_list", stale="true", owner=user.pk),
            "communications": soft_url("communication_list", date_from=start.date().isoformat()),
            "actions": soft_url("actions"),
            "log": soft_url("communication_list"),
        },
    }


def export_rows(context: dict) -> list[list]:
    """The dashboard's figures as (section, item, count, amount) rows for CSV/XLSX."""
    rows: list[list] = [
        ["Overview", "LPs", context["lp_count"], None],
        ["Overview", "Open opportunities (all funds)", context["open_opportunities"], None],
        ["Overview", "Open opportunities past their expected close", context["overdue_close"], None],
        ["Overview", "Prospects", context["prospect_count"], None],
        [
            "Overview",
            "Capital call payments past due",
            context["overdue_capital"]["count"],
            context["overdue_capital"]["outstanding"],
        ],  # fmt: skip
        [
            "Overview",
            f"Communications since {context['month_start']:%Y-%m-%d}",
            context["communications_this_month"],
            None,
        ],
    ]
    fund = context["current_fund"]
    if fund:
        pipeline = context["pipeline"]
        rows.append([f"{fund.name} pipeline", "Expected", pipeline["count"], pipeline["expected"]])
        rows.append([f"{fund.name} pipeline", "Weighted", pipeline["count"], pipeline["weighted"]])
    for row in context["funds"]:
        rows.append([row.fund.name, "Committed", row.lp_count, row.committed])
        rows.append([row.fund.name, "Funded", None, row.funded])
        rows.append([row.fund.name, "Soft circles", None, row.soft_circled])
    if context["pipeline_chart"]:
        for bar in context["pipeline_chart"].bars:
            rows.append([context["pipeline_chart"].title, bar.label, bar.count, bar.value])
    for bar in context["investor_chart"].bars:
        rows.append([context["investor_chart"].title, bar.label, bar.count, bar.value])
    return rows
