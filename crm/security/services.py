"""Second factors: who owes one, enrolling a TOTP authenticator, passkeys, recovery codes, removal.

A user's second factors are django-otp devices: at most one TOTP authenticator (the app on
a phone), any number of passkeys (WebAuthn credentials, crm/security/passkeys.py) and,
beside them, one static device holding ten single-use recovery codes. Only confirmed devices
count; an authenticator stays unconfirmed until the user has typed a code from it, so a
half-finished enrolment never locks anyone out. A passkey is saved only once the browser has
proved it holds the key, so it is confirmed from the start.
"""

from __future__ import annotations

from base64 import b32encode
from dataclasses import dataclass

import segno
from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery
from django_otp import devices_for_user
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from crm.models import Role, SecurityPolicy, TwoFactorPolicy, User

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_CODES_NAME = "Recovery codes"
PASSKEY_NAME = "Passkey"
# Recovery codes are shown once: the view that makes them leaves them here for the next page.
NEW_CODES_SESSION_KEY = "crm_new_recovery_codes"


@dataclass(frozen=True)
class TwoFactorState:
    has_device: bool
    required: bool


def with_two_factor_state(users):
    """Annotate ``users`` with what two_factor_state() needs, so loading a user answers it too."""
    return users.annotate(
        has_totp_device=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
        has_static_device=Exists(StaticDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
        has_passkey=Exists(WebAuthnCredential.objects.filter(user=OuterRef("pk"), confirmed=True)),
        stored_two_factor_policy=Subquery(
            SecurityPolicy.objects.filter(pk=SecurityPolicy.SINGLETON_PK).values("two_factor_required")[:1]
        ),
    )


def two_factor_state(user: User, *, fresh: bool = True) -> TwoFactorState:
    """Does ``user`` have a confirmed second factor, and does the policy require one?

    With ``fresh=False`` the annotations loaded with the request's user are used when present
    (crm.security.backends), so the middleware asks nothing more of the database on each request.
    """
    if fresh or not hasattr(user, "has_totp_device"):
        loaded = with_two_factor_state(User.objects.filter(pk=user.pk)).first()
        if loaded is None:
            return TwoFactorState(has_device=False, required=False)
        user = loaded
    level = SecurityPolicy.stricter(user.stored_two_factor_policy or TwoFactorPolicy.OFF)
    has_device = user.has_totp_device or user.has_static_device or user.has_passkey
    return TwoFactorState(has_device=has_device, required=SecurityPolicy.covers(level, user))


def authenticator_for(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def passkeys_for(user: User):
    return WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("created_at", "pk")


def has_passkey(user: User) -> bool:
    return passkeys_for(user).exists()


def has_recovery_codes(user: User) -> bool:
    return StaticDevice.objects.filter(user=user, confirmed=True).exists()


def default_passkey_name(user: User) -> str:
    """ "Passkey", then "Passkey 2", "Passkey 3"…: the user renames it right after adding it."""
    count = WebAuthnCredential.objects.filter(user=user).count()
    return PASSKEY_NAME if count == 0 else f"{PASSKEY_NAME} {count + 1}"


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def pending_authenticator(user: User, *, create: bool) -> TOTPDevice | None:
    """The authenticator being set up: the same secret on every reload until it is confirmed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None and create:
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
    return device


def secret_for_display(device: TOTPDevice) -> str:
    """The key as authenticator apps ask for it when typed in: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_code_data_uri(device: TOTPDevice) -> str:
    """The otpauth:// link as a QR code in an SVG data: URI, drawn here (no other host sees the key).

    Dark on white whatever the page theme: phone cameras read that best.
    """
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2, dark="#000", light="#fff")


@transaction.atomic
def confirm_authenticator(user: User, device: TOTPDevice) -> list[str]:
    """Activate ``device`` (its code was checked) and return a fresh set of recovery codes."""
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return new_recovery_codes(user)


@transaction.atomic
def new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes with ten new ones; the old ones stop working."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_CODES_NAME, defaults={"confirmed": True})
    StaticDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def normalize_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


@dataclass(frozen=True)
class CodeCheck:
    device: Device | None
    throttled: bool = False


def check_code(user: User, code: str) -> CodeCheck:
    """Try ``code`` on each confirmed device of ``user``: the authenticator, then a recovery code.

    A used recovery code is deleted; a TOTP code cannot be used twice. Each wrong code makes
    that device wait longer before the next try (django-otp's throttling).
    """
    code = normalize_code(code)
    throttled = False
    with transaction.atomic():
        for device in devices_for_user(user, for_verify=True):
            allowed, _ = device.verify_is_allowed()
            if not allowed:
                throttled = True
                continue
            if device.verify_token(code):
                return CodeCheck(device)
    return CodeCheck(None, throttled=throttled)


def device_exists(device: Device | None) -> bool:
    return device is not None and type(device).objects.filter(pk=device.pk).exists()


def any_second_factor(user: User) -> Device | None:
    return next(devices_for_user(user, confirmed=True), None)


def _delete(devices) -> int:
    count = devices.count()
    devices.delete()
    return count


def _drop_lone_recovery_codes(user: User) -> int:
    """Recovery codes left without an authenticator or a passkey would be a second factor
    nobody means to keep: they go with the last of them."""
    if authenticator_for(user) is not None or has_passkey(user):
        return 0
    return _delete(StaticDevice.objects.filter(user=user))


@transaction.atomic
def remove_authenticator(user: User) -> int:
    """Remove the authenticator app (and the recovery codes, if no passkey keeps them)."""
    return _delete(TOTPDevice.objects.filter(user=user)) + _drop_lone_recovery_codes(user)


@transaction.atomic
def remove_passkey(user: User, passkey: WebAuthnCredential) -> int:
    """Remove one of the user's passkeys (and the recovery codes, if it was the last factor)."""
    return _delete(WebAuthnCredential.objects.filter(user=user, pk=passkey.pk)) + _drop_lone_recovery_codes(user)


@transaction.atomic
def remove_second_factors(user: User) -> int:
    """Remove every second factor of ``user`` (an admin's reset); returns how many devices went."""
    return sum(_delete(model.objects.filter(user=user)) for model in (TOTPDevice, WebAuthnCredential, StaticDevice))


def admins_without_second_factor():
    """Active admins who sign in with a password alone (for `check --deploy`)."""
    return (
        User.objects.filter(is_active=True, role=Role.ADMIN)
        .exclude(Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)))
        .exclude(Exists(WebAuthnCredential.objects.filter(user=OuterRef("pk"), confirmed=True)))
        .order_by("username")
    )
