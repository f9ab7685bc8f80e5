"""Second factors: who owes one, enrolling a TOTP authenticator, recovery codes, removal.

A user's second factors are django-otp devices: at most one TOTP authenticator (the app on
a phone) and, beside it, one static device holding ten single-use recovery codes. Only
confirmed devices count; an authenticator stays unconfirmed until the user has typed a code
from it, so a half-finished enrolment never locks anyone out.
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

from crm.models import Role, SecurityPolicy, TwoFactorPolicy, User

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_CODES_NAME = "Recovery codes"


@dataclass(frozen=True)
class TwoFactorState:
    has_device: bool
    required: bool


def with_two_factor_state(users):
    """Annotate ``users`` with what two_factor_state() needs, so loading a user answers it too."""
    return users.annotate(
        has_totp_device=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
        has_static_device=Exists(StaticDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
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
    has_device = user.has_totp_device or user.has_static_device
    return TwoFactorState(has_device=has_device, required=SecurityPolicy.covers(level, user))


def authenticator_for(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


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


@transaction.atomic
def remove_second_factors(user: User) -> int:
    """Remove the authenticator and the recovery codes; returns how many devices went.

    The recovery codes go with the authenticator: alone they would be a second factor
    nobody means to keep.
    """
    removed = 0
    for model in (TOTPDevice, StaticDevice):
        devices = model.objects.filter(user=user)
        removed += devices.count()
        devices.delete()
    return removed


def admins_without_second_factor():
    """Active admins who sign in with a password alone (for `check --deploy`)."""
    return (
        User.objects.filter(is_active=True, role=Role.ADMIN)
        .exclude(Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)))
        .order_by("username")
    )
