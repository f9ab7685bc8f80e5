"""The pieces django-axes calls back into: the client's address and the lockout response."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# One message for every lockout, whether the username exists or not, and whether the
# username or the address tripped it: the page must not tell an attacker which accounts exist.
LOCKED_OUT_MESSAGE = (
    "Too many failed sign-in attempts. Try again in {minutes} minutes, or ask an admin of your team to unlock it."
)


def locked_out_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return LOCKED_OUT_MESSAGE.format(minutes=minutes)


def client_ip(request: HttpRequest) -> str | None:
    """The address a sign-in comes from, as far as this server can trust it.

    REMOTE_ADDR by default. Behind CRM_TRUSTED_PROXIES reverse proxies (nginx, Caddy,
    ``tailscale serve``), REMOTE_ADDR is the nearest proxy and each proxy appends what it saw
    to X-Forwarded-For: the client is the entry that many places from the end. Entries further
    left were written by the client and prove nothing, so they are never used.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.CRM_TRUSTED_PROXIES
    if not proxies:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    chain = [*forwarded, remote] if remote else forwarded
    if len(chain) > proxies:
        return chain[-1 - proxies]
    return chain[0] if chain else None


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """Keep the sign-in page the form rendered (it shows the lockout message), marked 429.

    SignInForm and AdminSignInForm put the message on the form when axes flags the request, so
    the user sees the normal page with one clear error instead of a bare error page.
    """
    if original_response is not None and original_response.status_code == 200:
        original_response.status_code = settings.AXES_HTTP_RESPONSE_CODE
        return original_response
    return HttpResponse(locked_out_message(), status=settings.AXES_HTTP_RESPONSE_CODE, content_type="text/plain")
