from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from crm.lib.export import export_response
from crm.lib.listing import export_format
from reports.dashboard import dashboard_context, export_rows


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    # Always the whole page: the cards that refresh themselves pick their part with hx-select.
    return render(request, "reports/dashboard.html", dashboard_context(request.user))


@require_GET
def dashboard_export(request: HttpRequest) -> HttpResponse:
    fmt = export_format(request)
    rows = export_rows(dashboard_context(request.user))
    return export_response(fmt, "dashboard", ["Section", "Item", "Count", "Amount"], rows)
