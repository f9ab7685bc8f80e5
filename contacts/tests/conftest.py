"""Fixtures for contact tests: two funds, the first stage and three tags, built with the shared factories."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contacts.models import Tag
from crm.testing import factories
from lps.models import Fund
from pipeline.models import Stage


@pytest.fixture
def fund(db) -> Fund:
    return factories.fund("Fund II", vintage_year=2025, target_size=Decimal("150000000"))


@pytest.fixture
def other_fund(db) -> Fund:
    return factories.fund("Fund I", vintage_year=2019, status="closed")


@pytest.fixture
def stage(db) -> Stage:
    return factories.stage("Lead")


@pytest.fixture
def tags(db) -> dict[str, Tag]:
    return {
        name: factories.tag(name, colour=colour)
        for name, colour in [("Warm intro", "green"), ("Fund I LP", "blue"), ("Cold", "slate")]
    }
