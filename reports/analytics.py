"""The Reports page's analytics: one function per report, returning plain data (rows and totals).

The page renders these objects and the CSV/XLSX export writes ``report.table()`` of the same
object, so what a partner sees and what the spreadsheet says cannot disagree. Each report
runs a fixed number of queries whatever the data size, aggregating in the database (window
functions over the stage history); Python only walks the few grouped rows that come back.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    RowRange,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, Greatest, Lead, TruncMonth
from django.utils import timezone

from contacts.models import Communication, CommunicationType, OrganizationType
from crm.lib.money import money_short
from crm.lib.sql import Seconds
from crm.models import User
from lps.models import (
    COMMITTED_STATUSES,
    LADDER,
    Commitment,
    CommitmentStatus,
    Fund,
    LPProfile,
    ladder_aggregates,
    ladder_figures,
)
from pipeline.models import Opportunity, Stage, StageOutcome
from reports.charts import Column, ColumnChart, ReferenceLine, Segment, StepChart, StepSeries, month_label
from reports.dashboard import soft_url

ZERO = Decimal("0")
PERIODS = (3, 6, 12)
DEFAULT_PERIOD = 6
# Beyond ten years of months (a mistyped date), the month table keeps only months with activity.
MAX_MONTH_ROWS = 120
TOP_LPS = 10
NO_REASON = "No reason given"


def first_of_month(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def add_months(month: datetime.date, count: int) -> datetime.date:
    years, index = divmod(month.month - 1 + count, 12)
    return datetime.date(month.year + years, index + 1, 1)


def month_range(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    months, month = [], first_of_month(first)
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


def percent(part: Decimal | int, whole: Decimal | int | None) -> Decimal | None:
    """``part`` as a per cent of ``whole`` to one decimal place, or None without a whole."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


# --- Filters ---------------------------------------------------------------------------------------


@dataclass
class ReportFilters:
    """The fund and the period the page shows, with a message for each value that was refused."""

    funds: list[Fund]
    fund: Fund | None
    months: int
    problems: list[str] = field(default_factory=list)

    @property
    def query(self) -> dict[str, Any]:
        return {"fund": self.fund.pk if self.fund else None, "months": self.months}


def report_filters(user, data) -> ReportFilters:
    """Read ``fund`` and ``months`` from a query dict. A value that is not one of the choices
    falls back to the default (the fund being raised, six months) and says so. Two queries."""
    funds = list(Fund.objects.visible_to(user).order_by("-vintage_year", "name"))
    problems = []
    fund = None
    raw_fund = (data.get("fund") or "").strip()
    if raw_fund:
        fund = next((f for f in funds if str(f.pk) == raw_fund), None)
        if fund is None:
            problems.append("That fund does not exist (any more): showing the fund being raised instead.")
    if fund is None:
        fund = Fund.objects.visible_to(user).current()
    raw_months = (data.get("months") or "").strip()
    months = DEFAULT_PERIOD
    if raw_months:
        if raw_months in {str(period) for period in PERIODS}:
            months = int(raw_months)
        else:
            choices = ", ".join(str(p) for p in PERIODS[:-1]) + f" or {PERIODS[-1]}"
            problems.append(f"The period can be {choices} months: showing the last {DEFAULT_PERIOD}.")
    return ReportFilters(funds=funds, fund=fund, months=months, problems=problems)


# --- 1. Fundraising progress -------------------------------------------------------------------


@dataclass
class FundraisingMonth:
    month: datetime.date | None  # None for the "no date" row
    label: str
    committed: Decimal = ZERO  # hard circle and beyond, dated this month
    committed_count: int = 0
    soft: Decimal = ZERO  # soft circles, never part of "committed"
    soft_count: int = 0
    cumulative: Decimal = ZERO
    cumulative_soft: Decimal = ZERO
    percent_of_target: Decimal | None = None

    @property
    def is_quiet(self) -> bool:
        return not (self.committed_count or self.soft_count)


@dataclass
class FundraisingReport:
    fund: Fund | None
    months: list[FundraisingMonth]
    undated: FundraisingMonth | None
    committed: Decimal
    committed_count: int
    lp_count: int
    soft: Decimal
    soft_count: int
    uncounted: Decimal  # withdrawn (or any status outside the two above): counts toward nothing
    uncounted_count: int
    chart: StepChart | None

    title = "Fundraising progress"
    slug = "fundraising"
    headers = [
        "Month",
        "New commitments",
        "Committed in month",
        "Cumulative committed",
        "% of target",
        "New soft circles",
        "Soft circled in month",
        "Cumulative soft circles",
    ]

    @property
    def currency(self) -> str:
        return self.fund.currency if self.fund else "USD"

    @property
    def target(self) -> Decimal | None:
        return self.fund.target_size if self.fund else None

    @property
    def hard_cap(self) -> Decimal | None:
        return self.fund.hard_cap if self.fund else None

    @property
    def percent_of_target(self) -> Decimal | None:
        return percent(self.committed, self.target)

    @property
    def to_target(self) -> Decimal | None:
        return max(self.target - self.committed, ZERO) if self.target else None

    @property
    def to_hard_cap(self) -> Decimal | None:
        return max(self.hard_cap - self.committed, ZERO) if self.hard_cap else None

    @property
    def rows(self) -> list[FundraisingMonth]:
        return self.months + ([self.undated] if self.undated else [])

    @property
    def is_empty(self) -> bool:
        return not (self.committed_count or self.soft_count)

    def table(self) -> list[list]:
        rows = [
            [
                row.month or row.label,
                row.committed_count,
                row.committed,
                row.cumulative if row.month else None,
                row.percent_of_target if row.month else None,
                row.soft_count,
                row.soft,
                row.cumulative_soft if row.month else None,
            ]
            for row in self.rows
        ]
        rows.append(
            ["Total", self.committed_count, self.committed, self.committed, self.percent_of_target,
             self.soft_count, self.soft, self.soft]
        )  # fmt: skip
        return rows


def fundraising(user, fund: Fund | None, today: datetime.date | None = None) -> FundraisingReport:
    """Committed (hard circle and beyond) and soft circles per month of commitment, cumulative,
    against the fund's target and hard cap. Two queries.

    A commitment's month is its commitment date, else its signed date; one with neither is
    counted in the totals and listed as "No date". Withdrawn commitments count toward nothing.
    """
    today = today or timezone.localdate()
    empty = FundraisingReport(fund, [], None, ZERO, 0, 0, ZERO, 0, ZERO, 0, None)
    if fund is None:
        return empty
    commitments = Commitment.objects.visible_to(user).filter(fund=fund)
    rows = (
        commitments.annotate(month=TruncMonth(Coalesce("commitment_date", "signed_date")))
        .values("month", "status")
        .annotate(amount=Sum("commitment_amount"), n=Count("pk"))
        .order_by()
    )
    committed_lps = commitments.filter(status__in=COMMITTED_STATUSES).aggregate(n=Count("lp_id", distinct=True))["n"]

    by_month: dict[datetime.date | None, FundraisingMonth] = {}
    uncounted, uncounted_count = ZERO, 0
    for row in rows:
        month = row["month"]
        if isinstance(month, datetime.datetime):  # some backends answer a datetime for a date
            month = month.date()
        entry = by_month.setdefault(month, FundraisingMonth(month, month_label(month, True) if month else "No date"))
        amount = row["amount"] or ZERO
        if row["status"] in COMMITTED_STATUSES:
            entry.committed += amount
            entry.committed_count += row["n"]
        elif row["status"] == CommitmentStatus.SOFT_CIRCLE:
            entry.soft += amount
            entry.soft_count += row["n"]
        else:
            uncounted += amount
            uncounted_count += row["n"]
    undated = by_month.pop(None, None)
    if undated and undated.is_quiet:
        undated = None
    dated = sorted(month for month, entry in by_month.items() if not entry.is_quiet)
    months: list[FundraisingMonth] = []
    if dated:
        # A raise runs to this month while the fund is raising; a closed fund's story ends
        # with its last commitment.
        last = max(dated[-1], first_of_month(today)) if fund.status == "raising" else dated[-1]
        span = month_range(dated[0], last)
        if len(span) > MAX_MONTH_ROWS:
            span = dated
        cumulative = cumulative_soft = ZERO
        for month in span:
            entry = by_month.get(month) or FundraisingMonth(month, month_label(month, True))
            cumulative += entry.committed
            cumulative_soft += entry.soft
            entry.cumulative, entry.cumulative_soft = cumulative, cumulative_soft
            entry.percent_of_target = percent(cumulative, fund.target_size)
            months.append(entry)

    committed = sum((m.committed for m in months), ZERO) + (undated.committed if undated else ZERO)
    soft = sum((m.soft for m in months), ZERO) + (undated.soft if undated else ZERO)
    report = FundraisingReport(
        fund=fund,
        months=months,
        undated=undated,
        committed=committed,
        committed_count=sum(m.committed_count for m in months) + (undated.committed_count if undated else 0),
        lp_count=committed_lps,
        soft=soft,
        soft_count=sum(m.soft_count for m in months) + (undated.soft_count if undated else 0),
        uncounted=uncounted,
        uncounted_count=uncounted_count,
        chart=None,
    )
    if months:
        report.chart = fundraising_chart(report)
    return report


def fundraising_chart(report: FundraisingReport) -> StepChart:
    fund, currency = report.fund, report.currency
    references = []
    if fund.target_size:
        references.append(ReferenceLine("target", "Target", fund.target_size))
    if fund.hard_cap:
        references.append(ReferenceLine("cap", "Hard cap", fund.hard_cap))
    series = [StepSeries("committed", "Committed", [m.cumulative for m in report.months], filled=True)]
    if any(m.soft for m in report.months):
        series.append(StepSeries("soft", "Soft circles", [m.cumulative_soft for m in report.months]))
    last = report.months[-1]
    summary = f"{money_short(last.cumulative, currency)} committed by {last.label}"
    if fund.target_size:
        summary += f", {last.percent_of_target}% of the {money_short(fund.target_size, currency)} target"
    if fund.hard_cap:
        summary += f" (hard cap {money_short(fund.hard_cap, currency)})"
    summary += f", starting {report.months[0].label}."
    if len(series) > 1:
        summary += f" Soft circles, counted apart: {money_short(last.cumulative_soft, currency)}."
    return StepChart(
        title=f"{fund.name}: committed capital by month",
        slug="fundraising",
        months=[m.month for m in report.months],
        series=series,
        references=references,
        currency=currency,
        summary=summary,
    )


# --- 2. Pipeline conversion ----------------------------------------------------------------------


@dataclass
class StageRow:
    stage: Stage
    reached: int = 0  # were in this stage or got further
    moved_on: int = 0  # got further than this stage
    lost_here: int = 0  # lost with this as the furthest stage they reached
    in_stage: int = 0  # open, with this as the furthest stage so far
    won_here: int = 0  # won, and this is as far as they went
    stay_count: int = 0  # completed stays
    stay_seconds: float = 0.0  # their length in all
    current_count: int = 0  # stays still running (open deals)
    current_seconds: float = 0.0
    share: Decimal | None = None  # reached, per cent of the opportunities that entered the pipeline
    url: str | None = None
    final: bool = False  # the last stage: nowhere further to move on to

    @property
    def conversion(self) -> Decimal | None:
        return None if self.final else percent(self.moved_on, self.reached)

    @property
    def average_days(self) -> Decimal | None:
        return _mean_days(self.stay_seconds, self.stay_count)

    @property
    def average_current_days(self) -> Decimal | None:
        return _mean_days(self.current_seconds, self.current_count)


def _mean_days(seconds: float, count: int) -> Decimal | None:
    if not count:
        return None
    return Decimal(str(seconds / 86400 / count)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass
class LostReason:
    reason: str
    count: int
    amount: Decimal
    share: Decimal | None = None


@dataclass
class ConversionReport:
    fund: Fund | None
    stages: list[StageRow]
    total: int  # opportunities in the fund
    entered: int  # of which reached an open or won stage at some point
    lost_at_entry: int  # created straight into a lost stage: no stage to charge the loss to
    won: int
    won_amount: Decimal
    lost: int
    lost_amount: Decimal
    open: int
    open_amount: Decimal
    reasons: list[LostReason]
    links: dict[str, str | None] = field(default_factory=dict)

    title = "Pipeline conversion"
    slug = "conversion"
    headers = [
        "Section",
        "Stage / outcome / reason",
        "Reached",
        "Moved on",
        "Conversion %",
        "Lost here",
        "In stage now",
        "Reached % of entered",
        "Avg. days in stage",
        "Avg. days so far (open)",
        "Opportunities",
        "Amount",
    ]

    @property
    def currency(self) -> str:
        return self.fund.currency if self.fund else "USD"

    @property
    def win_rate(self) -> Decimal | None:
        return percent(self.won, self.won + self.lost)

    @property
    def is_empty(self) -> bool:
        return not self.total

    def table(self) -> list[list]:
        blank = [None] * 8
        rows: list[list] = [
            [
                "Stages",
                row.stage.name,
                row.reached,
                row.moved_on,
                row.conversion,
                row.lost_here,
                row.in_stage,
                row.share,
                row.average_days,
                row.average_current_days,
                None,
                None,
            ]
            for row in self.stages
        ]
        if self.lost_at_entry:
            rows.append(["Stages", "Lost, no earlier stage", None, None, None, self.lost_at_entry, *blank[:6]])
        rows += [
            ["Outcome", "Won", *blank, self.won, self.won_amount],
            ["Outcome", "Lost", *blank, self.lost, self.lost_amount],
            ["Outcome", "Open", *blank, self.open, self.open_amount],
            ["Outcome", "Win rate %", *blank, self.win_rate, None],
        ]
        rows += [["Lost reasons", reason.reason, *blank, reason.count, reason.amount] for reason in self.reasons]
        return rows


def conversion(user, fund: Fund | None, now: datetime.datetime | None = None) -> ConversionReport:
    """How far the fund's opportunities got, stage by stage, from their stage history. Three queries.

    An opportunity *reached* a stage when it was in it or in any later open or won stage
    (deals skip columns: one that went Lead → Meeting also got past Outreach). Its furthest
    stage is where it is charged: lost there, still open there, or won there. Days in a
    stage are measured between the history rows that moved the deal in and out of it.

    Everything is counted in SQL: one grouped query over the opportunities (current stage ×
    furthest stage × lost reason) and one aggregate over their history rows, so the Python
    below walks a few dozen groups, never the fund's opportunities or their history.
    """
    now = now or timezone.now()
    stages = list(Stage.objects.visible_to(user).order_by("order", "pk"))
    empty = ConversionReport(fund, [], 0, 0, 0, 0, ZERO, 0, ZERO, 0, ZERO, [])
    if fund is None:
        return empty
    by_id = {stage.pk: stage for stage in stages}
    rank = {stage.pk: index for index, stage in enumerate(stages)}
    funnel = [stage for stage in stages if stage.outcome != StageOutcome.LOST]
    rows = {
        stage.pk: StageRow(stage, url=soft_url("opportunity_list", fund=fund.pk, stage=stage.pk)) for stage in funnel
    }
    stage_at_rank = {rank[stage.pk]: stage.pk for stage in funnel}
    opportunities = Opportunity.objects.visible_to(user).filter(fund=fund)

    won = lost = still_open = lost_at_entry = total = 0
    won_amount = lost_amount = open_amount = ZERO
    reasons: dict[str, LostReason] = {}
    spellings: dict[str, Counter] = defaultdict(Counter)
    for group in _conversion_groups(opportunities, stages, funnel, rank, now):
        n = group["n"]
        total += n
        stage = by_id.get(group["stage_id"])
        if stage is None:
            continue
        furthest = stage_at_rank.get(group["furthest"])
        if furthest is not None:
            for row in rows.values():
                if rank[row.stage.pk] <= rank[furthest]:
                    row.reached += n
                    if rank[row.stage.pk] < rank[furthest]:
                        row.moved_on += n
        amount = group["expected"] or ZERO
        if stage.outcome == StageOutcome.LOST:
            lost += n
            lost_amount += amount
            if furthest is None:
                lost_at_entry += n
            else:
                rows[furthest].lost_here += n
            text = " ".join((group["reason"] or "").split()) or NO_REASON
            key = text.casefold()
            spellings[key][text] += n
            reason = reasons.setdefault(key, LostReason(text, 0, ZERO))
            reason.count += n
            reason.amount += amount
        elif stage.outcome == StageOutcome.WON:
            won += n
            won_amount += group["won_amount"] or ZERO
            rows[furthest].won_here += n
        else:
            still_open += n
            open_amount += amount
            rows[furthest].in_stage += n
            row = rows[stage.pk]
            row.current_count += n
            row.current_seconds += float(group["open_seconds"] or 0)

    for stage_id, (count, seconds) in _completed_stays(opportunities, funnel).items():
        rows[stage_id].stay_count, rows[stage_id].stay_seconds = count, seconds

    entered = total - lost_at_entry
    if funnel:
        rows[funnel[-1].pk].final = True
    for row in rows.values():
        row.share = percent(row.reached, entered)
    for key, reason in reasons.items():
        # The spelling most deals use; among equals, the first in alphabetical order.
        reason.reason = min(spellings[key].items(), key=lambda item: (-item[1], item[0]))[0]
        reason.share = percent(reason.count, lost)
    ordered_reasons = sorted(reasons.values(), key=lambda r: (r.reason == NO_REASON, -r.count, -r.amount, r.reason))
    return ConversionReport(
        fund=fund,
        stages=[rows[stage.pk] for stage in funnel],
        total=total,
        entered=entered,
        lost_at_entry=lost_at_entry,
        won=won,
        won_amount=won_amount,
        lost=lost,
        lost_amount=lost_amount,
        open=still_open,
        open_amount=open_amount,
        reasons=ordered_reasons,
        links={
            outcome: soft_url("opportunity_list", fund=fund.pk, outcome=outcome)
            for outcome in (StageOutcome.WON, StageOutcome.LOST, StageOutcome.OPEN)
        },
    )


def _rank_of(field_name: str, funnel: list[Stage], rank: dict[int, int]) -> Case:
    """The stage's place in the page's stage order, for funnel stages; NULL for lost ones."""
    return Case(
        *[When(**{field_name: stage.pk}, then=Value(rank[stage.pk])) for stage in funnel],
        default=None,
        output_field=IntegerField(),
    )


def _conversion_groups(opportunities, stages, funnel, rank, now) -> list[dict]:
    """The fund's opportunities counted by current stage, furthest funnel stage reached
    (its rank, -1 for none) and, for lost ones, lost reason: one query.

    The furthest stage is the highest ranked of the current stage and every stage in the
    opportunity's history (a correlated MAX down the history table's ``id`` index).
    """
    history = Opportunity.history.model
    funnel_ids = [stage.pk for stage in funnel]
    lost_ids = [stage.pk for stage in stages if stage.outcome == StageOutcome.LOST]
    furthest_in_history = (
        history.objects.filter(id=OuterRef("pk"), stage_id__in=funnel_ids)
        .values("id")
        .annotate(top=Max(_rank_of("stage_id", funnel, rank)))
        .values("top")
    )
    since_move = Seconds(Value(now, output_field=DateTimeField()), F("stage_changed_at"))
    return list(
        opportunities.annotate(
            furthest=Greatest(
                Coalesce(Subquery(furthest_in_history, output_field=IntegerField()), Value(-1)),
                Coalesce(_rank_of("stage_id", funnel, rank), Value(-1)),
            ),
            reason=Case(When(stage_id__in=lost_ids, then=F("lost_reason")), default=Value("")),
        )
        .values("stage_id", "furthest", "reason")
        .annotate(
            n=Count("pk"),
            expected=Sum("expected_amount"),
            won_amount=Sum(Coalesce("commitment_amount", "expected_amount")),
            # Time in the current stage so far; a stage date imported from the future counts as none.
            open_seconds=Sum(Case(When(stage_changed_at__gt=now, then=Value(0.0)), default=since_move)),
        )
        .order_by()
    )


def _completed_stays(opportunities, funnel) -> dict[int, tuple[int, float]]:
    """(number of completed stays, their seconds in all) per funnel stage: one query.

    A *stay* is a run of consecutive history rows in one stage; it is completed when a later
    row is in another stage, and lasts from its first row to the first row of the next stay.
    Each row is looked at with its successor (LEAD) and the stages of all rows after it (MIN
    and MAX over the rest of the partition): a row before a stage change ends a stay, and a
    row in a completed stay adds the time to its successor. A history that ends in another
    stage than the opportunity's current one (a move written without history) ends that
    last stay at once, with no time: what is certain is only that the deal left it.
    """
    history = Opportunity.history.model
    order = ["history_date", "history_id"]
    rest = RowRange(start=1, end=None)
    rows = history.objects.filter(id__in=opportunities.values("pk")).annotate(
        next_stage=Window(Lead("stage_id"), partition_by=[F("id")], order_by=order),
        span=Seconds(Window(Lead("history_date"), partition_by=[F("id")], order_by=order), F("history_date")),
        later_min=Window(Min("stage_id"), partition_by=[F("id")], order_by=order, frame=rest),
        later_max=Window(Max("stage_id"), partition_by=[F("id")], order_by=order, frame=rest),
        current_stage=Subquery(Opportunity.objects.filter(pk=OuterRef("id")).order_by().values("stage_id")),
    )
    ends = (Q(next_stage__isnull=False) & ~Q(next_stage=F("stage_id"))) | (
        Q(next_stage__isnull=True) & ~Q(current_stage=F("stage_id"))
    )
    completed = Q(later_min__isnull=False) & (~Q(later_min=F("stage_id")) | ~Q(later_max=F("stage_id")))
    figures = {}
    for stage in funnel:
        figures[f"n{stage.pk}"] = Count("pk", filter=Q(stage_id=stage.pk) & ends)
        figures[f"s{stage.pk}"] = Sum("span", filter=Q(stage_id=stage.pk) & completed)
    sums = rows.aggregate(**figures) if figures else {}
    return {
        stage.pk: (sums[f"n{stage.pk}"] or 0, float(sums[f"s{stage.pk}"] or 0))
        for stage in funnel
        if sums[f"n{stage.pk}"]
    }


# --- 3. Team activity ----------------------------------------------------------------------------

TYPE_ORDER = [CommunicationType.MEETING, CommunicationType.CALL, CommunicationType.EMAIL, CommunicationType.TEXT,
              CommunicationType.NOTE]  # fmt: skip


@dataclass
class MemberActivity:
    user: User | None  # None: communications nobody is recorded as logging (imports, deleted users)
    by_month: list[int]
    by_type: list[int]
    open_actions: int = 0
    overdue_actions: int = 0
    month_urls: list[str | None] = field(default_factory=list)
    heat: list[int] = field(default_factory=list)  # 0–4 per month, against the busiest cell
    url: str | None = None

    @property
    def cells(self) -> list[tuple[int, str | None, int]]:
        """(count, link to those communications, heat) per month, for the table."""
        return list(zip(self.by_month, self.month_urls, self.heat, strict=True))

    @property
    def name(self) -> str:
        return self.user.display_name if self.user else "Not recorded"

    @property
    def total(self) -> int:
        return sum(self.by_month)

    @property
    def is_idle(self) -> bool:
        return not (self.total or self.open_actions)


@dataclass
class TeamReport:
    months: list[datetime.date]
    types: list[tuple[str, str]]
    members: list[MemberActivity]
    chart: ColumnChart
    start: datetime.date
    today: datetime.date
    actions_url: str | None = None

    title = "Team activity"
    slug = "team"

    @property
    def month_labels(self) -> list[str]:
        return [month_label(month) for month in self.months]

    @property
    def headers(self) -> list[str]:
        return (
            ["Team member"]
            + [month.strftime("%Y-%m") for month in self.months]
            + ["Total"]
            + [label for _, label in self.types]
            + ["Open next actions", "Overdue next actions"]
        )

    @property
    def month_totals(self) -> list[int]:
        return [sum(column) for column in zip(*(m.by_month for m in self.members), strict=True)] or [0] * len(
            self.months
        )

    @property
    def type_totals(self) -> list[int]:
        return [sum(column) for column in zip(*(m.by_type for m in self.members), strict=True)] or [0] * len(self.types)

    @property
    def total(self) -> int:
        return sum(m.total for m in self.members)

    @property
    def open_actions(self) -> int:
        return sum(m.open_actions for m in self.members)

    @property
    def overdue_actions(self) -> int:
        return sum(m.overdue_actions for m in self.members)

    @property
    def is_empty(self) -> bool:
        return not (self.total or self.open_actions)

    def table(self) -> list[list]:
        rows = [[m.name, *m.by_month, m.total, *m.by_type, m.open_actions, m.overdue_actions] for m in self.members]
        rows.append(
            ["Team", *self.month_totals, self.total, *self.type_totals, self.open_actions, self.overdue_actions]
        )
        return rows


def team_activity(user, months: int = DEFAULT_PERIOD, today: datetime.date | None = None) -> TeamReport:
    """Communications each team member logged per month and by type over the last ``months``
    months (this one included), with their open and overdue next actions. Three queries."""
    today = today or timezone.localdate()
    current = first_of_month(today)
    span = [add_months(current, offset) for offset in range(1 - months, 1)]
    zone = timezone.get_current_timezone()
    start = datetime.datetime.combine(span[0], datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(add_months(current, 1), datetime.time.min, tzinfo=zone)
    types = [(value, CommunicationType(value).label) for value in TYPE_ORDER]
    type_index = {value: index for index, (value, _) in enumerate(types)}

    visible = Communication.objects.visible_to(user)
    # Months are told apart by their first instants in the team's time zone, compared in SQL:
    # TruncMonth on SQLite calls a Python function for every row.
    bounds = [datetime.datetime.combine(month, datetime.time.min, tzinfo=zone) for month in span] + [end]
    month_of = Case(
        *[
            When(communication_date__gte=bounds[i], communication_date__lt=bounds[i + 1], then=Value(i))
            for i in range(len(span))
        ],
        output_field=IntegerField(),
    )
    counts = (
        visible.filter(communication_date__gte=start, communication_date__lt=end)
        .annotate(month=month_of)
        .values("created_by", "month", "type")
        .annotate(n=Count("pk"))
        .order_by()
    )
    actions = (
        visible.open_actions()
        .values("created_by")
        .annotate(open=Count("pk"), overdue=Count("pk", filter=Q(next_action_date__lt=today)))
        .order_by()
    )
    grid: dict[int | None, MemberActivity] = {}

    def member(user_id: int | None) -> MemberActivity:
        if user_id not in grid:
            grid[user_id] = MemberActivity(None, [0] * len(span), [0] * len(types))
        return grid[user_id]

    by_month_type: Counter[tuple[int, int]] = Counter()
    for row in counts:
        if row["month"] is None:
            continue
        i, j = row["month"], type_index.get(row["type"], len(types) - 1)
        entry = member(row["created_by"])
        entry.by_month[i] += row["n"]
        entry.by_type[j] += row["n"]
        by_month_type[(i, j)] += row["n"]
    for row in actions:
        entry = member(row["created_by"])
        entry.open_actions, entry.overdue_actions = row["open"], row["overdue"]

    # The whole active team is listed, so a quiet month shows as a zero rather than a gap.
    ids = [pk for pk in grid if pk is not None]
    people = User.objects.filter(Q(is_active=True) | Q(pk__in=ids)).order_by("full_name", "username")
    members = []
    for person in people:
        entry = member(person.pk)
        entry.user = person
        members.append(entry)
    if None in grid:
        members.append(grid[None])
    members.sort(key=lambda m: (m.user is None, -m.total, m.name.casefold()))

    busiest = max((count for entry in members for count in entry.by_month), default=0)
    for entry in members:
        entry.heat = [0 if not count else 1 + min(3, count * 4 // (busiest + 1)) for count in entry.by_month]
        logged_by = entry.user.pk if entry.user else None
        if logged_by:
            entry.url = soft_url("communication_list", logged_by=logged_by, date_from=span[0].isoformat())
        entry.month_urls = [
            soft_url(
                "communication_list",
                logged_by=logged_by,
                date_from=month.isoformat(),
                date_to=(add_months(month, 1) - datetime.timedelta(days=1)).isoformat(),
            )
            if logged_by and count
            else None
            for month, count in zip(span, entry.by_month, strict=True)
        ]

    columns = [
        Column(
            label=month_label(month),
            long_label=month_label(month, long=True),
            segments=[Segment(kind, label, by_month_type[(i, j)]) for j, (kind, label) in enumerate(types)],
        )
        for i, month in enumerate(span)
    ]
    chart = ColumnChart(
        title=f"Communications logged per month, last {months} months",
        slug="team",
        columns=columns,
        legend=types,
        noun=("communication", "communications"),
    )
    return TeamReport(
        months=span,
        types=types,
        members=members,
        chart=chart,
        start=span[0],
        today=today,
        actions_url=soft_url("actions", who="everyone"),
    )


# --- 4. LP concentration -------------------------------------------------------------------------


@dataclass
class TopLP:
    rank: int
    lp: LPProfile
    amount: Decimal
    commitments: int
    share: Decimal | None
    cumulative_share: Decimal | None

    @property
    def organization(self) -> str:
        organization = self.lp.contact.organization
        return organization.name if organization else ""


@dataclass
class InvestorTypeRow:
    investor_type: str
    label: str
    lp_count: int
    amount: Decimal
    share: Decimal | None
    url: str | None = None


@dataclass
class ConcentrationReport:
    fund: Fund | None
    top: list[TopLP]
    committed: Decimal
    lp_count: int
    by_type: list[InvestorTypeRow]
    dashboard_url: str | None = None
    lp_list_url: str | None = None

    title = "LP concentration"
    slug = "concentration"
    headers = ["Section", "Rank", "LP", "Organization", "Investor type", "LPs", "Committed", "% of fund",
               "Cumulative %"]  # fmt: skip

    @property
    def currency(self) -> str:
        return self.fund.currency if self.fund else "USD"

    def share_of_top(self, count: int) -> Decimal | None:
        return self.top[min(count, len(self.top)) - 1].cumulative_share if self.top else None

    @property
    def top_one(self) -> Decimal | None:
        return self.share_of_top(1)

    @property
    def top_five(self) -> Decimal | None:
        return self.share_of_top(5)

    @property
    def top_ten(self) -> Decimal | None:
        return self.share_of_top(TOP_LPS)

    @property
    def is_empty(self) -> bool:
        return not self.lp_count

    def table(self) -> list[list]:
        rows = [
            [
                f"Top {TOP_LPS} LPs",
                row.rank,
                row.lp.contact.full_name,
                row.organization,
                row.lp.get_investor_type_display(),
                None,
                row.amount,
                row.share,
                row.cumulative_share,
            ]
            for row in self.top
        ]
        rows += [
            ["By investor type", None, None, None, row.label, row.lp_count, row.amount, row.share, None]
            for row in self.by_type
        ]
        rows.append(["Total", None, None, None, None, self.lp_count, self.committed, Decimal("100.0") if
                     self.committed else None, None])  # fmt: skip
        return rows


def concentration(user, fund: Fund | None) -> ConcentrationReport:
    """The fund's ten largest LPs by committed amount (hard circle and beyond) with their share of
    the fund, and committed money per investor type. Four queries."""
    empty = ConcentrationReport(fund, [], ZERO, 0, [])
    if fund is None:
        return empty
    committed = Commitment.objects.visible_to(user).filter(fund=fund).committed()
    totals = committed.aggregate(total=Sum("commitment_amount"), lps=Count("lp_id", distinct=True))
    total = totals["total"] or ZERO
    leaders = list(
        committed.values("lp_id")
        .annotate(amount=Sum("commitment_amount"), n=Count("pk"))
        .order_by("-amount", "lp_id")[:TOP_LPS]
    )
    profiles = (
        LPProfile.objects.visible_to(user)
        .select_related("contact__organization")
        .in_bulk([row["lp_id"] for row in leaders])
    )
    top, running = [], ZERO
    for rank, row in enumerate(leaders, start=1):
        if row["lp_id"] not in profiles:
            continue
        running += row["amount"]
        top.append(
            TopLP(rank, profiles[row["lp_id"]], row["amount"], row["n"], percent(row["amount"], total),
                  percent(running, total))
        )  # fmt: skip
    labels = dict(OrganizationType.choices)
    by_type = [
        InvestorTypeRow(
            investor_type=row["lp__investor_type"],
            label=labels.get(row["lp__investor_type"], row["lp__investor_type"]),
            lp_count=row["lps"],
            amount=row["amount"] or ZERO,
            share=percent(row["amount"] or ZERO, total),
            url=soft_url("lp_list", fund=fund.pk, investor_type=row["lp__investor_type"]),
        )
        for row in committed.values("lp__investor_type")
        .annotate(amount=Sum("commitment_amount"), lps=Count("lp_id", distinct=True))
        .order_by("-amount", "lp__investor_type")
    ]
    return ConcentrationReport(
        fund=fund,
        top=top,
        committed=total,
        lp_count=totals["lps"],
        by_type=by_type,
        dashboard_url=soft_url("dashboard"),
        lp_list_url=soft_url("lp_list", fund=fund.pk),
    )


# --- Commitment ladder -----------------------------------------------------------------------------

NO_OWNER = "No owner"


@dataclass
class LadderLevel:
    status: str
    label: str
    count: int
    amount: Decimal
    # Of the level below: the share of its commitments that got here, and of its dollars.
    count_share: Decimal | None
    amount_share: Decimal | None


def ladder_levels(row: dict[str, Any]) -> list[LadderLevel]:
    """The rungs of one row of ``ladder_aggregates``, each against the rung below it."""
    labels = dict(CommitmentStatus.choices)
    labels[CommitmentStatus.CLOSED] = "Accepted at a close"
    levels: list[LadderLevel] = []
    for status, _amount, _date in LADDER:
        count, amount = row[f"{status}_count"], row[f"{status}_amount"]
        below = levels[-1] if levels else None
        levels.append(
            LadderLevel(
                status,
                labels[status],
                count,
                amount,
                percent(count, below.count) if below else None,
                percent(amount, below.amount) if below else None,
            )
        )
    return levels


@dataclass
class LadderOwner:
    name: str
    levels: list[LadderLevel]
    withdrawn: int

    @property
    def soft_to_signed(self) -> Decimal | None:
        """Of the dollars first soft-circled, the share signed: the owner's whole ladder in one figure."""
        return percent(self.levels[2].amount, self.levels[0].amount)


@dataclass
class LadderReport:
    fund: Fund | None
    levels: list[LadderLevel]
    withdrawn_count: int
    withdrawn_amount: Decimal
    owners: list[LadderOwner]

    title = "Commitment ladder"
    slug = "ladder"
    headers = ["Section", "Level", "Commitments", "Amount", "Of the level below (count %)",
               "Of the level below ($ %)"]  # fmt: skip

    @property
    def currency(self) -> str:
        return self.fund.currency if self.fund else "USD"

    @property
    def is_empty(self) -> bool:
        return not self.levels or not self.levels[0].count

    def table(self) -> list[list]:
        def rows(section: str, levels: list[LadderLevel]) -> list[list]:
            return [[section, v.label, v.count, v.amount, v.count_share, v.amount_share] for v in levels]

        table = rows("Fund", self.levels)
        table.append(["Fund", "Withdrawn or declined", self.withdrawn_count, self.withdrawn_amount, None, None])
        for owner in self.owners:
            table += rows(f"Owner: {owner.name}", owner.levels)
        return table


def ladder(user, fund: Fund | None) -> LadderReport:
    """How commitments to the fund climbed the ladder (soft → hard → signed → accepted), in
    count and dollars, each level against the one below: shrinkage as well as conversion.
    Per relationship owner (the LP's contact's owner) too. Two queries."""
    if fund is None:
        return LadderReport(None, [], 0, ZERO, [])
    commitments = Commitment.objects.visible_to(user).filter(fund=fund)
    totals = ladder_figures(commitments.order_by().aggregate(**ladder_aggregates()))
    by_owner = (
        commitments.order_by()
        .values("lp__contact__owner", "lp__contact__owner__full_name", "lp__contact__owner__username")
        .annotate(**ladder_aggregates())
    )
    owners = [
        LadderOwner(
            (row["lp__contact__owner__full_name"] or row["lp__contact__owner__username"] or NO_OWNER)
            if row["lp__contact__owner"]
            else NO_OWNER,
            ladder_levels(ladder_figures(row)),
            row["withdrawn_count"],
        )
        for row in by_owner
    ]
    owners.sort(key=lambda owner: (owner.name == NO_OWNER, -owner.levels[0].amount, owner.name))
    return LadderReport(fund, ladder_levels(totals), totals["withdrawn_count"], totals["withdrawn_amount"], owners)


REPORTS = {
    "fundraising": lambda user, filters: fundraising(user, filters.fund),
    "conversion": lambda user, filters: conversion(user, filters.fund),
    "team": lambda user, filters: team_activity(user, filters.months),
    "concentration": lambda user, filters: concentration(user, filters.fund),
    "ladder": lambda user, filters: ladder(user, filters.fund),
}
