"""Passkeys (WebAuthn) as a second factor, on django-otp-webauthn.

The package does the ceremonies (challenges in the session, py_webauthn's checks) and ships
the browser script; this module fits them to the CRM: the relying party is the host the CRM
is reached on, a passkey is asked for only after the password (passwordless sign-in is off
in settings), a new passkey gets a name and, if the user has none yet, recovery codes.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.middleware import csrf
from django.urls import reverse
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.views import (
    BeginCredentialAuthenticationView,
    BeginCredentialRegistrationView,
    CompleteCredentialAuthenticationView,
    CompleteCredentialRegistrationView,
)

from crm.security import services


def _host_without_port(request: HttpRequest) -> str:
    host = request.get_host()
    if host.startswith("["):  # an IPv6 literal: "[::1]:8000"
        return host[: host.index("]") + 1]
    return host.rsplit(":", 1)[0]


def relying_party_id(request: HttpRequest) -> str:
    """CRM_WEBAUTHN_RP_ID, or the host this request came to (ALLOWED_HOSTS vouches for it).

    Browsers accept a domain name only (``localhost`` included), never an IP address.
    """
    return settings.CRM_WEBAUTHN_RP_ID or _host_without_port(request)


class PasskeyHelper(WebAuthnHelper):
    def get_allowed_origins(self) -> list[str]:
        # The origin the browser signed must be the one this page was served from. Behind a
        # TLS proxy the scheme comes from CRM_BEHIND_TLS_PROXY (SECURE_PROXY_SSL_HEADER).
        return [f"{self.request.scheme}://{self.request.get_host()}"]

    def create_credential(self, user, response, parsed_credential, original_data):
        device = super().create_credential(user, response, parsed_credential, original_data)
        device.name = services.default_passkey_name(user)
        return device


def script_config(request: HttpRequest) -> dict:
    """What the package's browser script reads from the page (json_script "otp_webauthn_config")."""
    return {
        "autocompleteLoginFieldSelector": None,
        "nextFieldSelector": "input[name='next']",
        "csrfToken": csrf.get_token(request),
        "beginAuthenticationUrl": reverse("passkey_verify_begin"),
        "completeAuthenticationUrl": reverse("passkey_verify_complete"),
        "beginRegistrationUrl": reverse("passkey_register_begin"),
        "completeRegistrationUrl": reverse("passkey_register_complete"),
    }


class RegisterBegin(BeginCredentialRegistrationView):
    """Options for a new passkey (JSON). The package refuses a session that owes its second step."""


class RegisterComplete(CompleteCredentialRegistrationView):
    """Check and save the new passkey; a first second factor comes with recovery codes."""

    def post(self, *args, **kwargs):
        response = super().post(*args, **kwargs)
        user = self.request.user
        if not services.has_recovery_codes(user):
            self.request.session[services.NEW_CODES_SESSION_KEY] = services.new_recovery_codes(user)
        return response


class VerifyBegin(BeginCredentialAuthenticationView):
    """Options for signing the second step with one of the signed-in user's passkeys (JSON)."""


class VerifyComplete(CompleteCredentialAuthenticationView):
    """Check the passkey's signature and mark the session as past the second step."""

    def complete_auth(self, device):
        super().complete_auth(device)
        self.request.session.cycle_key()  # a new session id for the now fully signed-in session
