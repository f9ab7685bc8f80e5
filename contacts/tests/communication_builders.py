"""Builders for the communications, next-actions, LP and dashboard tests (issue 5)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from itertools import count

from django.utils import timezone

from contacts.models import Communication, Contact, Organization
from lps.models import Commitment, CommitmentStatus, Fund, LPProfile
from pipeline.models import Opportunity, Stage

HX_DIALOG = {"HX-Request": "true", "HX-Target": "dialog-body"}

_serial = count(1)


def org(name: str | None = None, **extra) -> Organization:
    return Organization.objects.create(name=name or f"Builder Org {next(_serial)}", **extra)


def contact(last_name: str | None = None, **extra) -> Contact:
    n = next(_serial)
    extra.setdefault("first_name", f"Ada{n}")
    return Contact.objects.create(last_name=last_name or f"Lovelace{n}", **extra)


def comm(person: Contact, days_ago: float = 1, **extra) -> Communication:
    extra.setdefault("subject", f"Catch-up {next(_serial)}")
    return Communication.objects.create(
        contact=person, communication_date=timezone.now() - datetime.timedelta(days=days_ago), **extra
    )


def action(person: Contact, due_in_days: int | None, by=None, **extra) -> Communication:
    """A communication with an open next action due ``due_in_days`` from today (None: undated)."""
    due = timezone.localdate() + datetime.timedelta(days=due_in_days) if due_in_days is not None else None
    extra.setdefault("next_action", f"Follow up {next(_serial)}")
    return comm(person, next_action_date=due, created_by=by, **extra)


def fund(name: str = "Fund II", **extra) -> Fund:
    extra.setdefault("vintage_year", 2025)
    return Fund.objects.create(name=name, **extra)


def stage(name: str = "Lead") -> Stage:
    return Stage.objects.get(name=name)


def opportunity(person: Contact, in_fund: Fund, at_stage: Stage | None = None, **extra) -> Opportunity:
    extra.setdefault("name", f"{person} into {in_fund} {next(_serial)}")
    extra.setdefault("expected_amount", Decimal("1000000"))
    return Opportunity.objects.create(contact=person, fund=in_fund, stage=at_stage or stage(), **extra)


def lp(person: Contact | None = None, **extra) -> LPProfile:
    return LPProfile.objects.create(contact=person or contact(), **extra)


def commitment(profile: LPProfile, in_fund: Fund, amount: str = "1000000", **extra) -> Commitment:
    extra.setdefault("status", CommitmentStatus.SIGNED)
    return Commitment.objects.create(lp=profile, fund=in_fund, commitment_amount=Decimal(amount), **extra)
