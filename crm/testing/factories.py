"""The one set of test builders: each makes a record with only what a test asks for, plus the fields
the database needs.

Plain functions rather than a factory library: a dozen models, each a line or two, and a test
reads what it builds. Names that must not collide get a running number. Fixtures in the
conftest.py files build through these too.

    from crm.testing.factories import contact, lp, fund
    profile = lp(contact("Okafor", first_name="Ada"), (fund(), "5000000"), investor_type="pension")
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from itertools import count

from django.utils import timezone

from contacts.models import Communication, Contact, Organization, Tag
from lps.models import Commitment, CommitmentStatus, Fund, K1Delivery, LPProfile, latest_tax_year
from pipeline.models import Opportunity, Stage

_serial = count(1)


def serial() -> int:
    """A number no other builder call in this test run has had: for unique names."""
    return next(_serial)


def org(name: str | None = None, **extra) -> Organization:
    return Organization.objects.create(name=name or f"Org {serial()}", **extra)


def contact(last_name: str | None = None, **extra) -> Contact:
    n = serial()
    extra.setdefault("first_name", f"Ada{n}")
    return Contact.objects.create(last_name=last_name or f"Lovelace{n}", **extra)


def comm(person: Contact, days_ago: float = 1, **extra) -> Communication:
    """A communication with ``person``, ``days_ago`` days before now."""
    extra.setdefault("subject", f"Catch-up {serial()}")
    return Communication.objects.create(
        contact=person, communication_date=timezone.now() - datetime.timedelta(days=days_ago), **extra
    )


def action(person: Contact, due_in_days: int | None, by=None, **extra) -> Communication:
    """A communication with an open next action due ``due_in_days`` from today (None: undated)."""
    due = timezone.localdate() + datetime.timedelta(days=due_in_days) if due_in_days is not None else None
    extra.setdefault("next_action", f"Follow up {serial()}")
    return comm(person, next_action_date=due, created_by=by, **extra)


def tag(name: str | None = None, **extra) -> Tag:
    return Tag.objects.create(name=name or f"Tag {serial()}", **extra)


def fund(name: str = "Fund II", **extra) -> Fund:
    extra.setdefault("vintage_year", 2025)
    return Fund.objects.create(name=name, **extra)


def stage(name: str = "Lead") -> Stage:
    """One of the standard stages the pipeline's migration seeds (Lead … Passed)."""
    return Stage.objects.get(name=name)


def opportunity(person: Contact, in_fund: Fund, at_stage: Stage | None = None, **extra) -> Opportunity:
    extra.setdefault("name", f"{person} into {in_fund} {serial()}")
    extra.setdefault("expected_amount", Decimal("1000000"))
    return Opportunity.objects.create(contact=person, fund=in_fund, stage=at_stage or stage(), **extra)


def lp(person: Contact | None = None, *signed: tuple[Fund, str], **extra) -> LPProfile:
    """An LP profile for ``person`` (a new contact if None), with a signed commitment per (fund, amount)."""
    profile = LPProfile.objects.create(contact=person or contact(), **extra)
    for in_fund, amount in signed:
        commitment(profile, in_fund, amount)
    return profile


def commitment(profile: LPProfile, in_fund: Fund, amount: str = "1000000", **extra) -> Commitment:
    """``k1_sent=True``: with the latest tax year's K-1 recorded as sent (what the old flag meant)."""
    extra.setdefault("status", CommitmentStatus.SIGNED)
    k1_sent = extra.pop("k1_sent", False)
    made = Commitment.objects.create(lp=profile, fund=in_fund, commitment_amount=Decimal(amount), **extra)
    if k1_sent:
        today = timezone.localdate()
        K1Delivery.objects.create(commitment=made, tax_year=latest_tax_year(today), prepared_on=today, sent_on=today)
    return made
