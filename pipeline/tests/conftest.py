"""Pipeline fixtures: a fund being raised, the migration's standard stages, and a card factory.

The records are built with the shared factories (crm/testing/factories.py); the fixtures add the
pipeline's defaults: a family office behind each contact, the next position in the column.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from contacts.models import Contact, Organization, OrganizationType
from crm.testing import factories
from lps.models import Fund, FundStatus
from pipeline.models import Opportunity, Priority, Stage


@pytest.fixture
def fund(db) -> Fund:
    return factories.fund(
        "Fund II",
        vintage_year=2025,
        target_size=Decimal("150000000"),
        hard_cap=Decimal("200000000"),
        status=FundStatus.RAISING,
    )


@pytest.fixture
def other_fund(db) -> Fund:
    return factories.fund("Fund I", vintage_year=2019, status=FundStatus.CLOSED)


@pytest.fixture
def stages(db) -> dict[str, Stage]:
    """The standard stages the migration seeds: Lead … Due diligence, Committed and Funded (won), Passed (lost)."""
    return {stage.name: stage for stage in Stage.objects.all()}


@pytest.fixture
def make_contact(db):
    def make(first: str = "", last: str = "", organization: str | None = "", **extra) -> Contact:
        n = factories.serial()
        org = None
        if organization is not None:
            name = organization or f"Org {n}"
            # Contacts named with the same organization share it.
            org = Organization.objects.filter(name=name).first() or factories.org(
                name, type=OrganizationType.FAMILY_OFFICE
            )
        return factories.contact(last or f"Investor {n}", first_name=first or "Pat", organization=org, **extra)

    return make


@pytest.fixture
def make_opportunity(db, fund, stages, make_contact):
    def make(stage: str | Stage = "Lead", *, fund_obj: Fund | None = None, contact: Contact | None = None, **extra):
        stage_obj = stage if isinstance(stage, Stage) else stages[stage]
        the_fund = fund_obj or fund
        contact = contact or make_contact()
        if "position" not in extra:
            extra["position"] = Opportunity.objects.filter(fund=the_fund, stage=stage_obj).count()
        extra.setdefault("priority", Priority.MEDIUM)
        if stage_obj.outcome == "lost":
            extra.setdefault("lost_reason", "Not now")
        extra.setdefault("name", f"{contact.organization or contact.short_name} — {the_fund.name}")
        return factories.opportunity(contact, the_fund, stage_obj, organization=contact.organization, **extra)

    return make


def column_ids(fund: Fund, stage: Stage) -> list[int]:
    return list(
        Opportunity.objects.filter(fund=fund, stage=stage).order_by("position", "pk").values_list("pk", flat=True)
    )


def days_ago(days: int) -> datetime.datetime:
    # A minute more, so "N days in stage" cannot read N-1 when the database clock (SQLite
    # keeps milliseconds) trails Python's by a fraction of a second.
    return timezone.now() - datetime.timedelta(days=days, minutes=1)
