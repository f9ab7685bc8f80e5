from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.lib.export import export_response
from crm.lib.htmx import close_dialog, empty_fragment, is_fragment_request, posted, render_page_or_fragment
from crm.lib.listing import PER_PAGE, export_format
from crm.permissions import Capability, can
from crm.roles import capability_required
from lps.forms import ReupAskForm
from lps.models import Close, Fund, LPProfile
from reports import analytics, closes, reups
from reports.dashboard import dashboard_context, export_rows

REPORTS_TEMPLATE = "reports/reports.html"
REUPS_TEMPLATE = "reports/reup_list.html"
REUP_ASK_TEMPLATE = "reports/reup_ask_form.html"
REUPS_CHANGED = "reupsChanged"


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    # Always the whole page: the cards that refresh themselves pick their part with hx-select.
    return render(request, "reports/dashboard.html", dashboard_context(request.user))


@require_GET
def dashboard_export(request: HttpRequest) -> HttpResponse:
    fmt = export_format(request)
    rows = export_rows(dashboard_context(request.user))
    return export_response(fmt, "dashboard", ["Section", "Item", "Count", "Amount"], rows)


@require_GET
def reports_index(request: HttpRequest) -> HttpResponse:
    """The four reports for one fund and period; htmx swaps in #reports-body when a filter changes."""
    filters = analytics.report_filters(request.user, request.GET)
    reports = {slug: build(request.user, filters) for slug, build in analytics.REPORTS.items()}
    context = {
        "filters": filters,
        "periods": analytics.PERIODS,
        "today": timezone.localdate(),
        "can_export": request.user.can_bulk_export,
        **reports,
    }
    return render_page_or_fragment(request, REPORTS_TEMPLATE, "reports-body", context)


@require_GET
def report_export(request: HttpRequest, report: str) -> HttpResponse:
    """One report as CSV or XLSX: the very rows its table on the page shows (managers and admins)."""
    fmt = export_format(request)
    if report not in analytics.REPORTS:
        raise Http404("No such report.")
    filters = analytics.report_filters(request.user, request.GET)
    data = analytics.REPORTS[report](request.user, filters)
    scope = f"last-{filters.months}-months" if report == "team" else slugify(filters.fund.name if filters.fund else "")
    filename = "-".join(part for part in ("report", report, scope) if part)
    return export_response(fmt, filename, data.headers, data.table())


@require_GET
def close_planner(request: HttpRequest) -> HttpResponse:
    """Per close of the chosen fund: signed against the minimum, the gap, the commitments
    expected, the deals that could fill it, and what later LPs owe to equalise."""
    filters = analytics.report_filters(request.user, request.GET)
    today = timezone.localdate()
    context = {
        "filters": filters,
        "planner": closes.plan(request.user, filters.fund, today),
        "today": today,
        "can_hold": can(request.user, Capability.CONFIGURE_FUNDS) and can(request.user, Capability.CHANGE_COMMITMENTS),
    }
    return render_page_or_fragment(request, "reports/close_planner.html", "planner-body", context)


@require_POST
@capability_required(Capability.CONFIGURE_FUNDS)
def close_hold(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark a close held: its signed commitments are accepted at it, each with history."""
    close = Close.objects.select_related("fund").get_for_user(request.user, pk, write=True)
    if close.is_held:
        messages.info(request, f"{close.name} of {close.fund} is already held.")
    else:
        accepted = closes.hold(close, request.user, timezone.localdate())
        messages.success(
            request,
            f"{close.name} of {close.fund} held: {accepted} signed commitment{'s' if accepted != 1 else ''} accepted.",
        )
    return redirect(f"{reverse('close_planner')}?fund={close.fund_id}")


# --- The re-up cockpit ----------------------------------------------------------------------


@require_GET
def reup_list(request: HttpRequest) -> HttpResponse:
    """Every LP of an earlier fund with their ask, re-up status, deal, owner and last touch."""
    form = reups.ReupFilterForm(request.GET, user=request.user)
    data = reups.cockpit(request.user, form)
    context = {
        "form": form,
        "cockpit": data,
        "page_obj": Paginator(data.rows, PER_PAGE).get_page(request.GET.get("page")),
        "can_edit": can(request.user, Capability.CHANGE_COMMITMENTS),
        "today": timezone.localdate(),
    }
    return render_page_or_fragment(request, REUPS_TEMPLATE, "reup-body", context)


@require_GET
def reup_export(request: HttpRequest) -> HttpResponse:
    """The cockpit's rows as CSV or XLSX, filtered as the page is (managers and admins)."""
    fmt = export_format(request)
    form = reups.ReupFilterForm(request.GET, user=request.user)
    data = reups.cockpit(request.user, form)
    filename = "-".join(part for part in ("re-ups", slugify(data.fund.name if data.fund else "")) if part)
    return export_response(fmt, filename, reups.EXPORT_HEADERS, reups.export_rows(data))


def _raised_fund(request: HttpRequest) -> Fund:
    raw = request.POST.get("fund") or request.GET.get("fund")
    if raw:
        return Fund.objects.get_for_user(request.user, raw)
    fund = Fund.objects.visible_to(request.user).current()
    if fund is None:
        raise Http404("No fund is being raised.")
    return fund


def _reups_url(fund: Fund) -> str:
    return f"{reverse('reup_list')}?fund={fund.pk}"


@require_http_methods(["GET", "POST"])
@capability_required(Capability.CHANGE_COMMITMENTS)
def reup_ask_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Set an LP's ask for the fund raised (amount, date asked, a decline), with history."""
    profile = LPProfile.objects.select_related("contact").get_for_user(request.user, pk)
    fund = _raised_fund(request)
    ask = reups.ask_for(request.user, profile, fund)
    form = ReupAskForm(posted(request), instance=ask, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Saved the {fund} ask to {profile.contact}.")
        if is_fragment_request(request):
            return close_dialog(empty_fragment(request), REUPS_CHANGED)
        return redirect(_reups_url(fund))
    context = {"form": form, "profile": profile, "fund": fund}
    return render_page_or_fragment(request, REUP_ASK_TEMPLATE, "reup-ask-form", context)


@require_POST
def reup_opportunity_create(request: HttpRequest, pk: int) -> HttpResponse:
    """One click: the LP's deal in the fund raised, in the first open stage, expecting the ask."""
    profile = LPProfile.objects.select_related("contact__owner").get_for_user(request.user, pk)
    fund = _raised_fund(request)
    try:
        opportunity = reups.create_opportunity(request.user, profile, fund)
    except reups.NoOpportunity as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Added {opportunity.name} in {opportunity.stage.name}.")
    return redirect(_reups_url(fund))
