"""Who an API request acts as: a personal token's user, or the signed-in session (with CSRF)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required, login_required
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer
from ninja.throttling import SimpleRateThrottle
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record

from crm.api.errors import problem
from crm.models import ApiToken

VIA_API = "API"


def _acting(request: HttpRequest, user: Any) -> Any:
    """The request acts as ``user`` from here on: scoping, permission checks and history."""
    request.user = user
    request.crm_via_api = True
    return user


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = ApiToken.authenticate(token.strip(), timezone.now())
        if found is None:
            return None
        request.api_token = found
        return _acting(request, found.user)


class SessionAuth(APIKeyCookie):
    """The browser's own session, for same-origin scripts and the docs page; CSRF is checked."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if "Authorization" in request.headers:  # a token that failed is refused, not covered by a cookie
            return None
        user = request.user
        if user.is_authenticated and user.is_active:
            return _acting(request, user)
        return None


class PerTokenThrottle(SimpleRateThrottle):
    """CRM_API_RATE requests per token (per user for a session); the counts live in the cache."""

    def __init__(self) -> None:
        super().__init__(settings.CRM_API_RATE)

    def allow_request(self, request: HttpRequest) -> bool:
        self.num_requests, self.duration = self.parse_rate(settings.CRM_API_RATE)  # read per request
        return super().allow_request(request)

    def get_cache_key(self, request: HttpRequest) -> str | None:
        token = getattr(request, "api_token", None)
        ident = f"token-{token.pk}" if token is not None else f"user-{getattr(request.user, 'pk', None)}"
        return f"crm-api-throttle-{ident}"


def signed_in_or_token(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The docs page and the schema: a signed-in session (else the sign-in page, as everywhere),
    or a valid token, so tools that read the schema (schemathesis, code generators) can fetch it."""
    session_view = login_required(view)

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        if not header:
            return session_view(request, *args, **kwargs)
        scheme, _, raw = header.partition(" ")
        token = ApiToken.authenticate(raw.strip(), timezone.now()) if scheme.lower() == "bearer" else None
        if token is None:
            return problem(request, 401, "Send a valid API token as “Authorization: Bearer <token>”, or sign in.")
        request.user = token.user
        return view(request, *args, **kwargs)

    return login_not_required(wrapped)


def _mark_history(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    """History rows written during an API request say so in their change reason."""
    request = getattr(HistoricalRecords.context, "request", None)
    if getattr(request, "crm_via_api", False):
        reason = history_instance.history_change_reason or ""
        history_instance.history_change_reason = f"{reason} ({VIA_API})" if reason else VIA_API


pre_create_historical_record.connect(_mark_history, dispatch_uid="crm-api-history-reason")
