"""Fixtures the LP tests share: the fund being raised and one LP in it."""

from __future__ import annotations

import pytest

from crm.testing.factories import contact, fund, lp


@pytest.fixture
def fund_two(db):
    return fund("Fund II", vintage_year=2025)


@pytest.fixture
def ada(db):
    return lp(contact("Gillespie", first_name="Ada"))
