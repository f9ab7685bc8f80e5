from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from crm.lib.export import export_response
from crm.lib.htmx import render_page_or_fragment
from crm.lib.listing import export_format
from reports import analytics
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
