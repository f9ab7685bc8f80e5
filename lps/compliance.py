"""LP compliance checks (accreditation, qualified purchaser, KYC/AML): saving and expiry.

Writes are guarded by CHANGE_COMPLIANCE on the model. An LP has at most one check per kind;
no row is "not started".
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse

from crm.lib.next_actions import SOURCE_LIMIT, ActionItem, SourceGroup
from lps.models import ComplianceCheck, ComplianceKind, ComplianceStatus, LPProfile

# Checks show in next actions from this many days before they expire (and once expired).
EXPIRY_WARNING_DAYS = 30


def checks_by_kind(profile: LPProfile) -> dict[str, ComplianceCheck]:
    """Every kind with its check; a kind with no row gets an unsaved "not started" one."""
    stored = {check.kind: check for check in profile.compliance_checks.all()}
    return {kind: stored.get(kind) or ComplianceCheck(lp=profile, kind=kind) for kind in ComplianceKind.values}


def save_checks(profile: LPProfile, user: Any, values: dict[str, dict[str, Any]]) -> list[ComplianceCheck]:
    """Save each kind's ``status``, ``verified_on`` and ``expires_on``; unchanged checks are not rewritten."""
    changed = []
    with transaction.atomic():
        current = checks_by_kind(profile)
        for kind, fields in values.items():
            check = current[kind]
            if (
                check.pk is None
                and fields.get("status") == ComplianceStatus.NOT_STARTED
                and not any(fields.get(name) for name in ("verified_on", "expires_on"))
            ):
                continue  # nothing to record: no row is "not started"
            if check.pk is not None and all(getattr(check, name) == value for name, value in fields.items()):
                continue
            for name, value in fields.items():
                setattr(check, name, value)
            check._history_user = user
            check.save()
            changed.append(check)
    return changed


def verified(kind: str, today: datetime.date | None = None, *, lp: str = "pk") -> Exists:
    """An ``Exists`` for an LP queryset (``lp="lp"`` for one reaching it through ``lp``): a
    verified ``kind`` check, not past its expiry when ``today`` is given."""
    checks = ComplianceCheck.objects.filter(lp=OuterRef(lp), kind=kind, status=ComplianceStatus.VERIFIED)
    if today is not None:
        checks = checks.exclude(expires_on__lt=today)
    return Exists(checks)


def expiring(user: Any, today: datetime.date) -> QuerySet[ComplianceCheck]:
    """Verified checks expiring within EXPIRY_WARNING_DAYS, and expired ones."""
    horizon = today + datetime.timedelta(days=EXPIRY_WARNING_DAYS)
    return ComplianceCheck.objects.visible_to(user).filter(
        Q(status=ComplianceStatus.VERIFIED, expires_on__lte=horizon) | Q(status=ComplianceStatus.EXPIRED)
    )


def compliance_action_group(user: Any, today: datetime.date) -> SourceGroup:
    """Next actions' compliance group: two queries (the count and the first SOURCE_LIMIT items)."""
    checks = expiring(user, today)
    group = SourceGroup(
        key="compliance",
        label="Compliance to renew",
        explanation=f"Verifications expiring within {EXPIRY_WARNING_DAYS} days, and expired ones.",
        total=checks.count(),
    )
    rows = checks.select_related("lp__contact").order_by("expires_on", "pk")
    for check in rows[:SOURCE_LIMIT]:
        if check.expires_on is None:
            when = "expired"
        elif check.expires_on < today:
            when = f"expired {check.expires_on:%b %-d, %Y}"
        else:
            when = f"expires {check.expires_on:%b %-d, %Y}"
        group.items.append(
            ActionItem(
                title=f"Renew {check.get_kind_display()}: {check.lp}",
                detail=when,
                due=check.expires_on,
                url=reverse("lp_detail", args=[check.lp_id]),
            )
        )
    return group
