"""The audit page and its CSV: admins and managers (crm/audit/services.py decides)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from crm.audit import services
from crm.lib.export import csv_response
from crm.lib.htmx import render_page_or_fragment


def _filters(request: HttpRequest) -> tuple[services.AuditFilterForm, dict | None]:
    form = services.AuditFilterForm(request.GET or None)
    if not request.GET:
        return form, {}
    # Bad input shows field errors and no rows rather than a log that ignores a filter.
    return form, (form.cleaned_data if form.is_valid() else None)


@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    form, filters = _filters(request)
    if filters is None:
        services.log_rows(request.user, {})  # the permission check, whatever the input
        page, entries = None, []
    else:
        page, entries = services.log_page(request.user, filters, request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page_obj": page, "entries": entries, "export_query": query.urlencode()}
    return render_page_or_fragment(request, "crm/audit.html", "audit-table", context)


@require_GET
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    _form, filters = _filters(request)
    if filters is None:
        services.log_rows(request.user, {})  # the permission check, whatever the input
        rows = iter(())
    else:
        rows = services.export_rows(request.user, filters)
    stamp = timezone.localdate().isoformat()
    return csv_response(f"audit-log-{stamp}", services.EXPORT_HEADERS, rows)
