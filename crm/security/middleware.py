from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from crm.security.services import two_factor_state

# Reachable by a signed-in session in any state: signing in again or out, and what the
# browser fetches on every page. Static files never get here (WhiteNoise answers first).
# The calendar feed authenticates by its token, not the session (a browser may hold both).
ALWAYS_OPEN = frozenset({"login", "logout", "health", "favicon", "calendar_feed", "admin:login", "admin:logout"})
# Only the step the session owes is open besides: a session that owes a code must not
# reach the enrolment pages, or a stolen password could add its own authenticator.
OPEN_WHILE_OWING_CODE = ALWAYS_OPEN | {"two_factor_verify", "passkey_verify_begin", "passkey_verify_complete"}
# Enrolling may add a passkey instead of the authenticator (the session has then passed).
OPEN_WHILE_ENROLLING = ALWAYS_OPEN | {
    "two_factor_enrol",
    "two_factor_recovery_codes",
    "passkey_register_begin",
    "passkey_register_complete",
}


class TwoFactorMiddleware:
    """Hold a signed-in session at the second step until it is done.

    A user with a confirmed second factor must enter a code before any other page (the
    Django admin included); a user the security policy requires to have one, and who has
    none yet, must set it up first. Sessions that passed the second step
    (``user.is_verified()``, from django-otp's OTPMiddleware) pay nothing here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        view_name = request.resolver_match.view_name if request.resolver_match else ""
        if view_name in ALWAYS_OPEN:
            return None
        state = two_factor_state(user, fresh=False)
        if state.has_device:
            target, open_names = "two_factor_verify", OPEN_WHILE_OWING_CODE
        elif state.required:
            target, open_names = "two_factor_enrol", OPEN_WHILE_ENROLLING
        else:
            return None
        if view_name in open_names:
            return None
        url = f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}"
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(url)
        return redirect(url)
