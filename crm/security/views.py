"""The second step of sign-in, and setting up or removing two-factor authentication."""

from __future__ import annotations

from urllib.parse import urlencode

import django_otp
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_static.models import StaticDevice

from crm.lib.htmx import posted, safe_next
from crm.security import passkeys, services
from crm.security.forms import ConfirmAuthenticatorForm, PasskeyNameForm, RemoveSecondFactorForm, SecondStepForm

NEW_CODES_SESSION_KEY = services.NEW_CODES_SESSION_KEY
SETTINGS_SECTION = "two-factor"


def _next_url(request: HttpRequest) -> str:
    """Where to go after the step: the page asked for, if it is on this site."""
    return safe_next(request) or resolve_url(settings.LOGIN_REDIRECT_URL)


def _settings_url() -> str:
    return reverse("settings") + f"#{SETTINGS_SECTION}"


@never_cache
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Second step of sign-in: a code from the authenticator app or a recovery code, or a passkey.

    The passkey is checked by its own endpoints (crm.security.passkeys), which the page's
    script calls; this view takes the codes.
    """
    if request.user.is_verified() or not services.two_factor_state(request.user).has_device:
        return redirect(_next_url(request))
    has_authenticator = services.authenticator_for(request.user) is not None
    form = SecondStepForm(request.user, posted(request), has_authenticator=has_authenticator)
    if request.method == "POST" and form.is_valid():
        django_otp.login(request, form.result.device)
        request.session.cycle_key()  # a new session id for the now fully signed-in session
        if isinstance(form.result.device, StaticDevice):
            left = services.recovery_codes_left(request.user)
            messages.warning(
                request,
                f"You used a recovery code; {left} left. Each works once: make new ones in Settings when few are left.",
            )
        return redirect(_next_url(request))
    has_passkey = services.has_passkey(request.user)
    context = {
        "form": form,
        "next": _next_url(request),
        "has_authenticator": has_authenticator,
        "has_passkey": has_passkey,
        "has_recovery_codes": services.has_recovery_codes(request.user),
        "passkey_config": passkeys.script_config(request) if has_passkey else None,
    }
    return render(request, "crm/two_factor_verify.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """Add an authenticator app: scan the QR code (or type the key), confirm with its first code.

    The page also offers a passkey instead (crm.security.passkeys), for a user the policy sends here.
    """
    user = request.user
    if services.authenticator_for(user) is not None:
        messages.info(request, "You already have an authenticator app. Remove it first to set up another one.")
        return redirect(_settings_url())
    device = services.pending_authenticator(user, create=True)
    form = ConfirmAuthenticatorForm(device, posted(request))
    if request.method == "POST" and form.is_valid():
        codes = services.confirm_authenticator(user, device)
        django_otp.login(request, device)
        request.session[NEW_CODES_SESSION_KEY] = codes
        messages.success(request, "Two-factor authentication is on. Sign-ins now ask for a code from your app.")
        return redirect(f"{reverse('two_factor_recovery_codes')}?{urlencode({'next': _next_url(request)})}")
    context = {
        "form": form,
        "qr_code": services.qr_code_data_uri(device),
        "secret": services.secret_for_display(device),
        "required": services.two_factor_state(user).required,
        "next": _next_url(request),
        "passkey_config": passkeys.script_config(request),
    }
    return render(request, "crm/two_factor_enrol.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """Show new recovery codes once (GET right after they were made), or make new ones (POST)."""
    user = request.user
    if services.authenticator_for(user) is None and not services.has_passkey(user):
        messages.info(request, "Recovery codes come with an authenticator app or a passkey: set one up first.")
        return redirect(_settings_url())
    if request.method == "POST":
        request.session[NEW_CODES_SESSION_KEY] = services.new_recovery_codes(user)
        messages.success(request, "Made new recovery codes. The old ones no longer work.")
        return redirect("two_factor_recovery_codes")
    codes = request.session.pop(NEW_CODES_SESSION_KEY, None)
    context = {"codes": codes, "codes_left": services.recovery_codes_left(user), "next": _next_url(request)}
    return render(request, "crm/two_factor_recovery_codes.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def remove(request: HttpRequest) -> HttpResponse:
    """Remove one's authenticator app, after the password or a code again.

    The recovery codes go with it unless a passkey remains.
    """
    device = services.authenticator_for(request.user)
    if device is None:
        messages.info(request, "You have no authenticator app to remove.")
        return redirect(_settings_url())
    keeps_passkeys = services.has_passkey(request.user)
    form = RemoveSecondFactorForm(request.user, posted(request))
    if request.method == "POST" and form.is_valid():
        services.remove_authenticator(request.user)
        return _after_removal(request, "your authenticator app")
    return render(
        request, "crm/two_factor_remove.html", {"form": form, "device": device, "keeps_passkeys": keeps_passkeys}
    )


def _after_removal(request: HttpRequest, what: str) -> HttpResponse:
    state = services.two_factor_state(request.user)
    if state.has_device:
        # The session passed its second step with a device that may be the one just removed;
        # django-otp would then hold it at the second step again on the next page. It did pass.
        if not services.device_exists(request.user.otp_device):
            django_otp.login(request, services.any_second_factor(request.user))
        messages.success(request, f"Removed {what}.")
        return redirect(_settings_url())
    if state.required:
        messages.warning(request, f"Removed {what}. Your team requires a second factor: set up a new one now.")
        return redirect("two_factor_enrol")
    messages.success(request, f"Removed {what} and your recovery codes. Sign-in needs the password only.")
    return redirect(_settings_url())


def _passkey_for(request: HttpRequest, pk: int):
    """One of the signed-in user's own passkeys; anyone else's is a 404 like a missing one."""
    return get_object_or_404(services.passkeys_for(request.user), pk=pk)


@never_cache
@require_http_methods(["GET", "POST"])
def passkey_rename(request: HttpRequest, pk: int) -> HttpResponse:
    """Name a passkey: right after adding it (the page's script comes here), or later."""
    passkey = _passkey_for(request, pk)
    form = PasskeyNameForm(posted(request), instance=passkey)
    if request.method == "POST" and form.is_valid():
        form.save()
        if NEW_CODES_SESSION_KEY in request.session:
            messages.success(request, f"Added the passkey “{passkey.name}”. Save these recovery codes too.")
            return redirect("two_factor_recovery_codes")
        messages.success(request, f"Saved the passkey “{passkey.name}”.")
        return redirect(_settings_url())
    return render(request, "crm/passkey_rename.html", {"form": form, "passkey": passkey})


@never_cache
@require_http_methods(["GET", "POST"])
def passkey_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove one of one's passkeys, after the password or a code again."""
    passkey = _passkey_for(request, pk)
    last_factor = services.authenticator_for(request.user) is None and services.passkeys_for(request.user).count() == 1
    form = RemoveSecondFactorForm(request.user, posted(request))
    if request.method == "POST" and form.is_valid():
        services.remove_passkey(request.user, passkey)
        return _after_removal(request, f"the passkey “{passkey.name}”")
    context = {"form": form, "passkey": passkey, "last_factor": last_factor}
    return render(request, "crm/passkey_remove.html", context)
