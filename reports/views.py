from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from reports.dashboard import dashboard_context


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/dashboard.html", dashboard_context(request.user))
