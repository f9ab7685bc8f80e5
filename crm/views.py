from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
@login_not_required
def health(request: HttpRequest) -> HttpResponse:
    """For uptime checks and load balancers: is the database reachable, which version runs."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        database_ok = True
    except DatabaseError:
        database_ok = False
    return JsonResponse(
        {"status": "ok" if database_ok else "error", "database": database_ok, "version": settings.VERSION},
        status=200 if database_ok else 503,
    )
