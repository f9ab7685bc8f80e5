from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from crm.lib.export import export_response
from crm.lib.htmx import render_page_or_fragment
from crm.lib.listing import export_format
from crm.permissions import Capability, can
from crm.roles import capability_required
from lps.models import Close
from reports import analytics, closes
from reports.dashboard import dashboard_context, export_rows

REPORTS_TEMPLATE = "reports/reports.html"


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
