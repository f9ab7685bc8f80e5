"""Builders for contact tests: records made in code, each with only what a test needs."""

from __future__ import annotations

import datetime
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone

from contacts.models import Communication, Contact, Organization, Tag
from lps.models import Commitment, CommitmentStatus, Fund, LPProfile
from pipeline.models import Opportunity, Stage

_serial = count(1)


def make_org(name: str | None = None, **extra) -> Organization:
    return Organization.objects.create(name=name or f"Org {next(_serial)}", **extra)


def make_contact(last_name: str | None = None, **extra) -> Contact:
    n = next(_serial)
    extra.setdefault("first_name", f"First{n}")
    return Contact.objects.create(last_name=last_name or f"Last{n}", **extra)


def make_comm(contact: Contact, days_ago: float = 1, **extra) -> Communication:
    return Communication.objects.create(
        contact=contact, communication_date=timezone.now() - datetime.timedelta(days=days_ago), **extra
    )


@pytest.fixture
def fund(db) -> Fund:
    return Fund.objects.create(name="Fund II", vintage_year=2025, target_size=Decimal("150000000"))


@pytest.fixture
def other_fund(db) -> Fund:
    return Fund.objects.create(name="Fund I", vintage_year=2019, status="closed")


@pytest.fixture
def stage(db) -> Stage:
    return Stage.objects.order_by("order").first() or Stage.objects.create(name="Lead", order=1)


def make_opportunity(contact: Contact, fund: Fund, stage: Stage, **extra) -> Opportunity:
    extra.setdefault("name", f"{contact} into {fund}")
    extra.setdefault("expected_amount", Decimal("1000000"))
    return Opportunity.objects.create(contact=contact, fund=fund, stage=stage, **extra)


def make_lp(contact: Contact, *funds_and_amounts: tuple[Fund, str], **extra) -> LPProfile:
    lp = LPProfile.objects.create(contact=contact, **extra)
    for fund, amount in funds_and_amounts:
        Commitment.objects.create(lp=lp, fund=fund, status=CommitmentStatus.SIGNED, commitment_amount=Decimal(amount))
    return lp


@pytest.fixture
def tags(db) -> dict[str, Tag]:
    return {
        name: Tag.objects.create(name=name, colour=colour)
        for name, colour in [("Warm intro", "green"), ("Fund I LP", "blue"), ("Cold", "slate")]
    }
