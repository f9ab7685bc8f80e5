"""The fundraising pipeline: the per-fund board, the opportunity list, and opportunities."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import RowNumber
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.defaultfilters import urlencode as urlencode_filter
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from contacts.models import Communication
from crm.lib.export import export_response
from crm.lib.history import history_entries
from crm.lib.htmx import (
    close_dialog,
    empty_fragment,
    is_fragment_request,
    render_page_or_fragment,
    safe_next,
    saved,
    with_messages,
)
from crm.lib.listing import export_format, paginate
from crm.lib.urls import pk_url
from crm.permissions import Capability, can
from crm.roles import capability_required, manager_required
from lps.models import Commitment, Fund, FundStatus
from pipeline import calibration, replay, services, todo
from pipeline.filters import BoardFilter, OpportunityFilter
from pipeline.forms import MoveForm, OpportunityForm
from pipeline.models import (
    WEIGHTED_X100,
    Opportunity,
    Stage,
    StageOutcome,
    weighted_from_x100,
)

BOARD_TEMPLATE = "pipeline/board.html"
LIST_TEMPLATE = "pipeline/opportunity_list.html"
DETAIL_TEMPLATE = "pipeline/opportunity_detail.html"
FORM_TEMPLATE = "pipeline/opportunity_form.html"
MOVE_TEMPLATE = "pipeline/opportunity_move.html"
DELETE_TEMPLATE = "pipeline/opportunity_delete.html"
# Lists, the board and open panels refresh themselves on this event.
CHANGED_EVENT = "pipelineChanged"
CHANGES_TEMPLATE = "pipeline/changes.html"
# "Changes since" opens on the week before today: the Monday meeting's question.
CHANGES_DEFAULT_DAYS = 7
BOARD_FILTERS = ("q", "owner", "priority")
# Cards drawn per column, by position; "Load more" fetches the next as many. The column's
# header still counts and sums all of it. A fund's biggest column holds thousands.
BOARD_PAGE = 50
# However far "Load more" (or ?shown=) is pushed, one column never draws more than this;
# the list view pages through the rest.
BOARD_MAX_SHOWN = 1000


def _annotated(queryset: QuerySet) -> QuerySet:
    return queryset.with_list_figures()


# --- the board ---------------------------------------------------------------------------


@dataclass
class Column:
    stage: Stage
    cards: list[Opportunity] = field(default_factory=list)
    count: int = 0
    expected: Decimal = Decimal("0")
    weighted: Decimal = Decimal("0")
    accepts_cards: bool = True  # False: the user may not move deals in (a won stage, for a member)
    offset: int = 0  # cards drawn before these ("Load more" answers with the next ones only)

    @property
    def collapsed(self) -> bool:
        return self.stage.outcome == StageOutcome.LOST

    @property
    def drawn(self) -> int:
        return self.offset + len(self.cards)

    @property
    def remaining(self) -> int:
        """Cards of the column (as filtered) not drawn yet: what "Load more" would fetch."""
        return 0 if self.collapsed else max(self.count - self.drawn, 0)


@dataclass
class FundHeader:
    fund: Fund
    committed: Decimal
    soft_circled: Decimal
    funded: Decimal
    pipeline_count: int
    pipeline_expected: Decimal
    pipeline_weighted: Decimal

    @property
    def forecast(self) -> Decimal:
        return self.committed + self.pipeline_weighted

    def _percent(self, total: Decimal | None, amount: Decimal) -> int | None:
        return int(amount / total * 100) if total else None

    @property
    def percent_of_target(self) -> int | None:
        return self._percent(self.fund.target_size, self.committed)

    @property
    def forecast_percent_of_target(self) -> int | None:
        return self._percent(self.fund.target_size, self.forecast)

    @property
    def percent_of_hard_cap(self) -> int | None:
        return self._percent(self.fund.hard_cap, self.committed)


def fund_header(user: Any, fund: Fund) -> FundHeader:
    """The fund's figures, unfiltered: two queries. Soft circles never count as committed."""
    commitments = Commitment.objects.visible_to(user).filter(fund=fund).totals()
    pipeline = Opportunity.objects.visible_to(user).filter(fund=fund).open().totals()
    return FundHeader(
        fund=fund,
        committed=commitments["committed"],
        soft_circled=commitments["soft_circled"],
        funded=commitments["funded"],
        pipeline_count=pipeline["count"],
        pipeline_expected=pipeline["expected"],
        pipeline_weighted=pipeline["weighted"],
    )


def _board_funds(request: HttpRequest) -> list[Fund]:
    """The fund picker's choices: the funds being raised first, then the newest."""
    return sorted(
        Fund.objects.visible_to(request.user),
        key=lambda f: (f.status != FundStatus.RAISING, -(f.vintage_year or 0), f.name),
    )


def _resolve_fund(request: HttpRequest, funds: list[Fund], wanted: str | None) -> Fund | None:
    if wanted:
        for fund in funds:
            if str(fund.pk) == str(wanted).strip():
                return fund
    return Fund.objects.visible_to(request.user).current() if funds else None


def _shown(value: Any) -> int:
    """How many cards a column draws: whole pages, at least one, at most BOARD_MAX_SHOWN."""
    pages = -(-max(_int(value), BOARD_PAGE) // BOARD_PAGE)
    return min(pages * BOARD_PAGE, BOARD_MAX_SHOWN)


class CardUrls:
    """The URLs every card needs, each pattern reversed once per response, not per card."""

    def __init__(self, board_url: str):
        self.detail = pk_url("opportunity_detail")
        self.move = pk_url("opportunity_move")
        self.next = urlencode_filter(board_url)

    def apply(self, card: Opportunity) -> Opportunity:
        card.detail_url = self.detail(card.pk)
        card.move_url = self.move(card.pk)
        return card


def _card_queryset(filtered: QuerySet) -> QuerySet:
    return filtered.exclude(stage__outcome=StageOutcome.LOST).select_related("contact", "organization", "owner")


def board_columns(
    request: HttpRequest,
    fund: Fund,
    filterset: BoardFilter,
    card_stage_ids: set[int] | None = None,
    *,
    shown: dict[int, int] | None = None,
    urls: CardUrls | None = None,
) -> list[Column]:
    """Every stage as a column with its first (filtered) cards and whole-column totals:
    three queries in all, however big the fund.

    Each column draws its first BOARD_PAGE cards by position, or ``shown[stage_id]`` of
    them. ``card_stage_ids`` limits the cards loaded to those columns (a drop re-renders two).
    """
    stages = list(Stage.objects.visible_to(request.user))
    filtered = filterset.qs
    sums = {
        row["stage_id"]: row
        for row in filtered.order_by()
        .values("stage_id")
        .annotate(count=Count("pk"), expected=Sum("expected_amount"), weighted_x100=Sum(WEIGHTED_X100))
    }
    limit: Any = Value(BOARD_PAGE)
    if shown:
        limit = Case(
            *(When(stage_id=stage_id, then=Value(count)) for stage_id, count in shown.items()),
            default=Value(BOARD_PAGE),
            output_field=IntegerField(),
        )
    # Ranking needs only ids: the rows themselves (with their joins) are read for the
    # drawn cards alone.
    drawn = (
        filtered.exclude(stage__outcome=StageOutcome.LOST)
        .filter(**({"stage_id__in": card_stage_ids} if card_stage_ids is not None else {}))
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("stage_id")], order_by=[F("position").asc(), F("pk").asc()]),
            shown_limit=limit,
        )
        .filter(rank__lte=F("shown_limit"))
        .values("pk")
    )
    cards = _card_queryset(Opportunity.objects.visible_to(request.user).filter(pk__in=drawn)).order_by(
        "stage__order", "stage_id", "position", "pk"
    )
    columns = {stage.pk: Column(stage, accepts_cards=services.may_enter(stage, request.user)) for stage in stages}
    urls = urls or CardUrls(reverse("pipeline_board"))
    for card in cards:
        column = columns[card.stage_id]
        card.stage = column.stage  # the column's own: effective_probability, is_close_overdue read it, no query
        column.cards.append(urls.apply(card))
    for stage_id, row in sums.items():
        column = columns.get(stage_id)
        if column is not None:
            column.count = row["count"]
            column.expected = row["expected"] or Decimal("0")
            column.weighted = weighted_from_x100(row["weighted_x100"])
    return list(columns.values())


def _board_query(fund: Fund | None, data: Any) -> str:
    params = [("fund", fund.pk)] if fund else []
    params += [(name, data.get(name)) for name in BOARD_FILTERS if data.get(name)]
    return urlencode(params)


def _board_context(
    request: HttpRequest, data: Any, card_stage_ids: set[int] | None = None, shown: dict[int, int] | None = None
) -> dict:
    funds = _board_funds(request)
    fund = _resolve_fund(request, funds, data.get("fund"))
    queryset = Opportunity.objects.visible_to(request.user).filter(fund=fund)
    filterset = BoardFilter(data or None, queryset=queryset, request=request)
    query = _board_query(fund, data)
    board_url = f"{reverse('pipeline_board')}?{query}"
    urls = CardUrls(board_url)
    context = {
        "funds": funds,
        "fund": fund,
        "filter": filterset,
        "board_query": query,
        "board_url": board_url,
        "board_next": urls.next,
        "cards_url": reverse("pipeline_board_cards"),
        "list_url": f"{reverse('opportunity_list')}?{query}",
        "today": timezone.localdate(),
    }
    if fund is not None:
        context["columns"] = board_columns(request, fund, filterset, card_stage_ids, shown=shown, urls=urls)
        context["header"] = fund_header(request.user, fund)
    return context


def _past_date(value: Any) -> datetime.date | None:
    """A date before today from ``YYYY-MM-DD``; anything else (blank, junk, today, the future) is None."""
    try:
        day = datetime.date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None
    return day if day < timezone.localdate() else None


def _as_of_context(request: HttpRequest, data: Any, day: datetime.date) -> dict:
    """The board at the end of ``day``, replayed from history: read-only. The owner, priority
    and search filters apply to each deal as it stood then (its owner then, not today's);
    ``?column=<stage>&shown=<n>`` draws more of one column."""
    funds = _board_funds(request)
    fund = _resolve_fund(request, funds, data.get("fund"))
    filterset = BoardFilter(data or None, queryset=Opportunity.objects.none(), request=request)
    query = _board_query(fund, data)
    board_url = f"{reverse('pipeline_board')}?{query}&as_of={day.isoformat()}"
    context = {
        "funds": funds,
        "fund": fund,
        "filter": filterset,
        "as_of": day,
        "board_page": BOARD_PAGE,
        "board_query": query,
        "board_url": board_url,
        "present_url": f"{reverse('pipeline_board')}?{query}",
        "changes_url": f"{reverse('pipeline_changes')}?{query}&since={(day + datetime.timedelta(days=1)).isoformat()}",
        "list_url": f"{reverse('opportunity_list')}?{query}",
        "today": timezone.localdate(),
    }
    if fund is not None:
        stages = list(Stage.objects.visible_to(request.user))
        wanted = filterset.form.cleaned_data if filterset.is_bound and filterset.is_valid() else {}
        column = _int(data.get("column"))
        owner = wanted.get("owner")  # django-filter's null choice cleans to its "null" value
        unassigned = isinstance(owner, str)
        context["replayed"] = replay.board_as_of(
            request.user,
            fund,
            stages,
            day,
            BOARD_PAGE,
            shown={column: _shown(data.get("shown"))} if column else None,
            owner=None if unassigned else owner,
            unassigned=unassigned,
            priority=wanted.get("priority") or "",
            search=wanted.get("q") or "",
        )
    return context


@require_GET
def stage_calibration(request: HttpRequest) -> HttpResponse:
    """Typed stage probabilities beside the ones the other funds' history calibrates, and the
    chosen fund's forecast both ways."""
    funds = _board_funds(request)
    fund = _resolve_fund(request, funds, request.GET.get("fund"))
    context = {
        "funds": funds,
        "fund": fund,
        "calibration": calibration.calibrate(request.user, fund),
        "min_sample": calibration.MIN_SAMPLE,
        "can_adopt": can(request.user, Capability.CONFIGURE_FUNDS),
    }
    if fund is not None and is_fragment_request(request):
        # The board's header asks for its calibrated forecast once the board is drawn: reading
        # the other funds' history is the costly part, and the board need not wait for it.
        header = fund_header(request.user, fund)
        calibrated = header.committed + context["calibration"].calibrated_forecast
        percent = int(calibrated / fund.target_size * 100) if fund.target_size else None
        context |= {"header": header, "calibrated": calibrated, "percent": percent}
        return render(request, "pipeline/calibration.html#board-calibrated", context)
    return render(request, "pipeline/calibration.html", context)


@require_POST
@capability_required(Capability.CONFIGURE_FUNDS)
def stage_calibration_adopt(request: HttpRequest) -> HttpResponse:
    """Adopt every calibrated probability drawn from enough deals, with history."""
    fund = _resolve_fund(request, _board_funds(request), request.POST.get("fund"))
    changed = calibration.adopt(calibration.calibrate(request.user, fund), request.user)
    if changed:
        names = ", ".join(f"{stage.name} {stage.default_probability}%" for stage in changed)
        messages.success(request, f"Adopted the calibrated probabilities: {names}.")
    else:
        messages.info(request, "Nothing to adopt: every stage with enough history already has its calibrated value.")
    return redirect(f"{reverse('stage_calibration')}?fund={fund.pk}" if fund else reverse("stage_calibration"))


@require_GET
def pipeline_board(request: HttpRequest) -> HttpResponse:
    """The board; ``?column=<stage>&shown=<n>`` draws more of one column (the no-JS "Load more").

    ``?as_of=YYYY-MM-DD`` (a past date) replays the board as it stood at the end of that day.
    """
    as_of = _past_date(request.GET.get("as_of"))
    if as_of is not None:
        context = _as_of_context(request, request.GET, as_of)
        return render_page_or_fragment(request, BOARD_TEMPLATE, "board-body", context)
    column = _int(request.GET.get("column"))
    shown = {column: _shown(request.GET.get("shown"))} if column else None
    context = _board_context(request, request.GET, shown=shown)
    return render_page_or_fragment(request, BOARD_TEMPLATE, "board-body", context)


@require_GET
def pipeline_changes(request: HttpRequest) -> HttpResponse:
    """What changed in a fund's pipeline since a date (``?since=``, a week ago by default):
    the weekly meeting's page, printable."""
    today = timezone.localdate()
    since = _past_date(request.GET.get("since")) or today - datetime.timedelta(days=CHANGES_DEFAULT_DAYS)
    funds = _board_funds(request)
    fund = _resolve_fund(request, funds, request.GET.get("fund"))
    query = _board_query(fund, {})
    context = {
        "funds": funds,
        "fund": fund,
        "since": since,
        "today": today,
        "board_url": f"{reverse('pipeline_board')}?{query}",
        "as_of_url": f"{reverse('pipeline_board')}?{query}&as_of={(since - datetime.timedelta(days=1)).isoformat()}",
    }
    if fund is not None:
        stages = list(Stage.objects.visible_to(request.user))
        context["changes"] = replay.changes_since(request.user, fund, stages, since)
    return render_page_or_fragment(request, CHANGES_TEMPLATE, "changes-body", context)


@require_GET
def pipeline_board_cards(request: HttpRequest) -> HttpResponse:
    """ "Load more" in one column: its next BOARD_PAGE cards (``?offset=``), as filtered.

    With htmx the answer is the cards, appended to the column's list, and the column's
    "Load more" control again out-of-band. Without JavaScript it is the board with that
    column drawn that far.
    """
    fund = Fund.objects.visible_to(request.user).filter(pk=_int(request.GET.get("fund"))).first()
    stage = (
        Stage.objects.visible_to(request.user)
        .exclude(outcome=StageOutcome.LOST)
        .filter(pk=_int(request.GET.get("stage")))
        .first()
    )
    offset = min(max(_int(request.GET.get("offset")), 0), BOARD_MAX_SHOWN)
    if not is_fragment_request(request):
        if fund is None or stage is None:
            return redirect("pipeline_board")
        query = _board_query(fund, request.GET)
        shown = _shown(offset + BOARD_PAGE)
        return redirect(f"{reverse('pipeline_board')}?{query}&column={stage.pk}&shown={shown}#column-{stage.pk}")
    if fund is None or stage is None:
        raise Http404("No such fund or column.")
    queryset = Opportunity.objects.visible_to(request.user).filter(fund=fund)
    filterset = BoardFilter(request.GET, queryset=queryset, request=request)
    query = _board_query(fund, request.GET)
    urls = CardUrls(f"{reverse('pipeline_board')}?{query}")
    end = min(offset + BOARD_PAGE, BOARD_MAX_SHOWN)
    column_cards = _card_queryset(filterset.qs).filter(stage=stage)
    page = list(column_cards.order_by("position", "pk")[offset:end])
    for card in page:
        card.stage = stage  # as on the board: no query per card for its outcome
    column = Column(stage, cards=[urls.apply(card) for card in page], offset=offset)
    column.count = column_cards.count()
    context = {
        "fund": fund,
        "column": column,
        "board_query": query,
        "board_next": urls.next,
        "cards_url": reverse("pipeline_board_cards"),
        "oob": True,
    }
    response = render(request, f"{BOARD_TEMPLATE}#board-more", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _column_html(request: HttpRequest, context: dict, column: Column, *, oob: bool) -> str:
    return render_to_string(
        f"{BOARD_TEMPLATE}#board-column", {**context, "column": column, "oob": oob}, request=request
    )


@require_http_methods(["GET", "POST"])
def pipeline_reorder(request: HttpRequest) -> HttpResponse:
    """A dropped column posts its fund, stage and full card order (``order``, repeated).

    The answer is the column re-rendered, plus the columns cards came from and the fund
    header out-of-band. A card that needs an answer first stays put and the move form
    opens in the dialog, asking.
    """
    if request.method == "GET":
        return redirect("pipeline_board")
    fund = Fund.objects.get_for_user(request.user, request.POST.get("fund"))
    stage = Stage.objects.get_for_user(request.user, request.POST.get("stage"))
    ids = services.parse_ids(request.POST.getlist("order"))
    result = services.reorder_column(request.user, fund, stage, ids)
    for opportunity in result.moved:
        messages.success(request, f"Moved {opportunity.contact} to {stage.name}.")
    for opportunity, reason in result.refused:
        messages.error(request, f"{opportunity.contact} stayed where they were. {reason}")
    board_query = _board_query(fund, request.POST)

    if not is_fragment_request(request):
        if result.pending:
            move = result.pending[0]
            url = reverse("opportunity_move", args=[move.opportunity.pk])
            return redirect(f"{url}?{urlencode({'stage': stage.pk, 'order': _csv(ids)})}")
        return HttpResponseRedirect(f"{reverse('pipeline_board')}?{board_query}")

    data = request.POST.copy()
    data["fund"] = str(fund.pk)
    # The dropped column comes back as far as the user had loaded it (its posted cards).
    shown = {stage.pk: min(max(len(ids), BOARD_PAGE), BOARD_MAX_SHOWN)}
    context = _board_context(request, data, card_stage_ids={stage.pk, *result.source_stage_ids}, shown=shown)
    by_stage = {column.stage.pk: column for column in context["columns"]}
    # With a question pending, the dialog is the main content and every column goes out-of-band.
    parts = [_column_html(request, context, by_stage[stage.pk], oob=bool(result.pending))]
    for stage_id in sorted(result.source_stage_ids - {stage.pk}):
        if stage_id in by_stage:
            parts.append(_column_html(request, context, by_stage[stage_id], oob=True))
    parts.append(render_to_string(f"{BOARD_TEMPLATE}#board-header", {**context, "oob": True}, request=request))

    if result.pending:
        # The drop needs an answer: the columns go back out-of-band, the question into the dialog.
        move = result.pending[0]
        form = MoveForm(
            initial={"stage": stage, "order": _csv(ids), "next": context["board_url"]},
            opportunity=move.opportunity,
            user=request.user,
        )
        form.asks_reason = move.needs_reason
        form.asks_commitment = move.commitment is not None
        dialog = render_to_string(
            f"{MOVE_TEMPLATE}#opportunity-move",
            _move_context(move.opportunity, form, target=stage, commitment=move.commitment),
            request=request,
        )
        response = HttpResponse(dialog + "".join(parts))
        return with_messages(request, reswap(retarget(response, "#dialog-body"), "innerHTML"))
    response = HttpResponse("".join(parts))
    return with_messages(request, response)


def _dialog_closed(request: HttpRequest) -> HttpResponse:
    """Close the dialog and let the board and lists refresh; flash messages ride along.

    Nothing is swapped into #dialog-body: app.js opens the dialog after any swap there,
    which would re-open it empty. The (out-of-band) messages are the only content.
    """
    response = reswap(retarget(empty_fragment(request), "#messages"), "none")
    return close_dialog(response, CHANGED_EVENT)


def _int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0


def _csv(ids: list[int]) -> str:
    return ",".join(str(pk) for pk in ids)


# --- the list and its export -----------------------------------------------------------


def _filtered(request: HttpRequest) -> OpportunityFilter:
    queryset = _annotated(
        Opportunity.objects.visible_to(request.user).select_related("contact", "organization", "fund", "stage", "owner")
    )
    return OpportunityFilter(request.GET or None, queryset=queryset, request=request)


@require_GET
def opportunity_list(request: HttpRequest) -> HttpResponse:
    filterset = _filtered(request)
    page_obj = paginate(request, filterset.qs)
    totals = list_totals(filterset)
    context = {"filter": filterset, "page_obj": page_obj, "totals": totals, "board_url": _list_board_url(request)}
    return render_page_or_fragment(request, LIST_TEMPLATE, "opportunity-table", context)


def list_totals(filterset: OpportunityFilter) -> dict[str, Any]:
    """The list's footer in one query: every matching row is counted, but passed deals add to
    the expected and weighted totals only when the filter asks for them (``passed`` says how
    many were left out)."""
    lost = Q(stage__outcome=StageOutcome.LOST)
    counted = None if filterset.includes_lost else ~lost
    totals = filterset.qs.order_by().aggregate(
        count=Count("pk"),
        passed=Count("pk", filter=lost),
        expected=Sum("expected_amount", filter=counted),
        weighted_x100=Sum(WEIGHTED_X100, filter=counted),
    )
    if filterset.includes_lost:
        totals["passed"] = 0
    totals["weighted"] = weighted_from_x100(totals.pop("weighted_x100"))
    return totals


def _list_board_url(request: HttpRequest) -> str:
    params = [(name, request.GET.get(name)) for name in ("fund", *BOARD_FILTERS) if request.GET.get(name)]
    return f"{reverse('pipeline_board')}?{urlencode(params)}" if params else reverse("pipeline_board")


EXPORT_HEADERS = [
    "Opportunity",
    "Contact",
    "Contact email",
    "Organization",
    "Fund",
    "Stage",
    "Outcome",
    "Expected amount",
    "Probability %",
    "Weighted amount",
    "Commitment amount",
    "Expected close",
    "Owner",
    "Priority",
    "Next step",
    "Next step date",
    "Days in stage",
    "Source",
    "Lost reason",
    "Created",
    "Updated",
]


@require_GET
def opportunity_export(request: HttpRequest) -> HttpResponse:
    fmt = export_format(request)
    rows = (
        [
            opp.name,
            opp.contact.full_name,
            opp.contact.email,
            opp.organization.name if opp.organization else "",
            opp.fund.name,
            opp.stage.name,
            opp.stage.get_outcome_display(),
            opp.expected_amount,
            opp.probability,
            opp.weighted_amount,
            opp.commitment_amount,
            opp.expected_close_date,
            opp.owner.display_name if opp.owner else "",
            opp.get_priority_display(),
            opp.next_step,
            opp.next_step_date,
            opp.days_in_stage,
            opp.source,
            opp.lost_reason,
            opp.created_at,
            opp.updated_at,
        ]
        for opp in _filtered(request).qs.iterator(chunk_size=500)
    )
    return export_response(fmt, "opportunities", EXPORT_HEADERS, rows)


# --- one opportunity -------------------------------------------------------------------


@dataclass
class StageSpan:
    stage: str
    outcome: str
    start: datetime.datetime
    end: datetime.datetime | None
    who: Any
    reason: str

    @property
    def duration(self) -> datetime.timedelta:
        return (self.end or timezone.now()) - self.start


def stage_history(opportunity: Opportunity, user: Any) -> list[StageSpan]:
    """When the opportunity entered each stage, who moved it, and how long it stayed (two queries).

    Built from django-simple-history; the current stage starts at ``stage_changed_at``,
    which also covers records imported or seeded with an earlier stage date.
    """
    records = list(
        opportunity.history.select_related("history_user")
        .order_by("history_date", "history_id")
        .only("history_date", "stage_id", "history_user", "history_change_reason", "history_type")
    )
    stages = {stage.pk: stage for stage in Stage.objects.visible_to(user)}
    spans: list[StageSpan] = []
    last_stage = None
    for record in records:
        if record.stage_id == last_stage:
            continue
        stage = stages.get(record.stage_id)
        if spans:
            spans[-1].end = record.history_date
        spans.append(
            StageSpan(
                stage=stage.name if stage else f"Stage #{record.stage_id} (deleted)",
                outcome=stage.outcome if stage else "",
                start=record.history_date,
                end=None,
                who=record.history_user,
                reason=record.history_change_reason or "",
            )
        )
        last_stage = record.stage_id
    if not spans or last_stage != opportunity.stage_id:
        stage = opportunity.stage
        spans.append(StageSpan(stage.name, stage.outcome, opportunity.stage_changed_at, None, None, ""))
    current = spans[-1]
    if opportunity.stage_changed_at and (len(spans) == 1 or opportunity.stage_changed_at > spans[-2].start):
        current.start = opportunity.stage_changed_at
    return spans


def _detail_queryset(user: Any) -> QuerySet:
    return _annotated(
        Opportunity.objects.visible_to(user).select_related(
            "contact", "contact__organization", "organization", "fund", "stage", "owner", "created_by"
        )
    )


def _detail_context(request: HttpRequest, opportunity: Opportunity) -> dict:
    user = request.user
    return {
        "opportunity": opportunity,
        "custom_fields": opportunity.custom_field_display(),
        "communications": Communication.objects.visible_to(user)
        .filter(opportunity=opportunity)
        .select_related("contact", "created_by")
        .order_by("-communication_date", "-pk")[:25],
        "commitment": services.commitment_for(opportunity, user),
        "stage_history": stage_history(opportunity, user),
        "history": history_entries(opportunity),
        "task_section": todo.task_section(user, "opportunity", opportunity),
    }


def _panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The opportunity's panel, read fresh from the database."""
    opportunity = _detail_queryset(request.user).get_for_user(request.user, pk)
    return render_page_or_fragment(request, DETAIL_TEMPLATE, "opportunity-panel", _detail_context(request, opportunity))


@require_GET
def opportunity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _panel(request, pk)


def _saved_response(request: HttpRequest, opportunity: Opportunity, message: str) -> HttpResponse:
    return saved(
        request, message, redirect_to=opportunity, panel=lambda: _panel(request, opportunity.pk), event=CHANGED_EVENT
    )


def _initial_from_query(request: HttpRequest) -> dict:
    initial: dict[str, Any] = {"owner": request.user.pk}
    user = request.user
    fund = Fund.objects.visible_to(user).filter(pk=_int(request.GET.get("fund"))).first()
    initial["fund"] = fund or Fund.objects.visible_to(user).current()
    stage = Stage.objects.visible_to(user).filter(pk=_int(request.GET.get("stage"))).first()
    initial["stage"] = stage or Stage.objects.visible_to(user).filter(outcome=StageOutcome.OPEN).first()
    contact_id = _int(request.GET.get("contact"))
    if contact_id:
        initial["contact"] = contact_id
    return initial


@require_http_methods(["GET", "POST"])
def opportunity_create(request: HttpRequest) -> HttpResponse:
    form = OpportunityForm(request.POST or None, initial=_initial_from_query(request), user=request.user)
    if request.method == "POST" and form.is_valid():
        opportunity = form.save(commit=False)
        opportunity.created_by = request.user
        services.save_with_stage_effects(opportunity, request.user, previous_stage=None)
        form.instance = opportunity
        return _saved_response(request, opportunity, f"Added {opportunity.name} in {opportunity.stage.name}.")
    return render_page_or_fragment(request, FORM_TEMPLATE, "opportunity-form", {"form": form})


@require_http_methods(["GET", "POST"])
def opportunity_edit(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = Opportunity.objects.select_related("stage").get_for_user(request.user, pk, write=True)
    form = OpportunityForm(request.POST or None, instance=opportunity, user=request.user)
    if request.method == "POST" and form.is_valid():
        opportunity = form.save(commit=False)
        try:
            services.save_with_stage_effects(
                opportunity,
                request.user,
                previous_stage=form.previous_stage,
                commitment_action=form.cleaned_data.get("commitment_action") or "",
                follow_probability=False,
                sync_commitment=bool({"commitment_amount", "expected_amount"} & set(form.changed_data)),
            )
        except services.MoveRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            return _saved_response(request, opportunity, f"Saved {opportunity.name}.")
    return render_page_or_fragment(
        request, FORM_TEMPLATE, "opportunity-form", {"form": form, "opportunity": opportunity}
    )


def _move_context(
    opportunity: Opportunity, form: MoveForm, *, target: Stage | None = None, commitment: Commitment | None = None
) -> dict:
    return {
        "opportunity": opportunity,
        "form": form,
        "target": target,
        "commitment": commitment or form.commitment,
    }


@require_http_methods(["GET", "POST"])
def opportunity_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move one card to another stage: the keyboard and no-JavaScript path, and the place a
    drag that needs an answer (a lost reason, a commitment decision) is confirmed."""
    opportunity = Opportunity.objects.select_related("stage", "fund", "contact").get_for_user(
        request.user, pk, write=True
    )
    if request.method == "POST":
        form = MoveForm(request.POST, opportunity=opportunity, user=request.user)
        if form.is_valid():
            stage = form.cleaned_data["stage"]
            try:
                services.move_opportunity(
                    opportunity,
                    stage,
                    request.user,
                    lost_reason=form.cleaned_data["lost_reason"],
                    commitment_action=form.cleaned_data["commitment_action"],
                )
            except services.MoveRefused as refusal:
                form.add_error(None, str(refusal))
            else:
                order = services.parse_ids((form.cleaned_data["order"] or "").split(","))
                if order and opportunity.pk in order:
                    services.reorder_column(request.user, opportunity.fund, stage, order)
                messages.success(request, f"Moved {opportunity.contact} to {stage.name}.")
                if is_fragment_request(request):
                    return _dialog_closed(request)
                target = safe_next(request, form.cleaned_data["next"])
                return HttpResponseRedirect(target or f"{reverse('pipeline_board')}?fund={opportunity.fund_id}")
        target = form.cleaned_data.get("stage") if hasattr(form, "cleaned_data") else None
        return render_page_or_fragment(
            request, MOVE_TEMPLATE, "opportunity-move", _move_context(opportunity, form, target=target)
        )
    stage = Stage.objects.visible_to(request.user).filter(pk=_int(request.GET.get("stage"))).first()
    initial = {
        "stage": stage or opportunity.stage,
        "order": request.GET.get("order", ""),
        "next": safe_next(request, request.GET.get("next")) or "",
    }
    form = MoveForm(initial=initial, opportunity=opportunity, user=request.user)
    if stage is not None and stage != opportunity.stage:
        form.asks_reason = stage.outcome == StageOutcome.LOST
        form.asks_commitment = form.commitment is not None and services.leaves_won(opportunity.stage, stage)
    return render_page_or_fragment(
        request, MOVE_TEMPLATE, "opportunity-move", _move_context(opportunity, form, target=stage)
    )


@require_http_methods(["GET", "POST"])
@manager_required
def opportunity_delete(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = Opportunity.objects.select_related("fund", "stage", "contact").get_for_user(
        request.user, pk, write=True
    )
    if request.method == "POST":
        name, fund_id = opportunity.name, opportunity.fund_id
        opportunity._history_user = request.user
        opportunity.delete()
        messages.success(request, f"Deleted {name}. Its communications were kept.")
        if is_fragment_request(request):
            return _dialog_closed(request)
        return HttpResponseRedirect(f"{reverse('pipeline_board')}?fund={fund_id}")
    context = {
        "opportunity": opportunity,
        "communication_count": Communication.objects.visible_to(request.user).filter(opportunity=opportunity).count(),
        "commitment": services.commitment_for(opportunity, request.user),
    }
    return render_page_or_fragment(request, DELETE_TEMPLATE, "opportunity-delete", context)
