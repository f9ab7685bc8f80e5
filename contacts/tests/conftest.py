"""Fixtures for contact tests: two funds, the first stage and three tags, built with the shared factories."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contacts.models import CaptureExclusion, Tag
from crm.testing import factories, mailseed
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


# --- A real IMAP server for email capture (issue 17) -------------------------------------


@pytest.fixture(scope="session")
def imap_server():
    """Debian's dovecot on a free loopback port, with ana's and ben's mailboxes seeded (crm/testing/mailseed.py).

    Installed with apt-get when missing, like the browser tests' Chromium; stopped and its
    mail directory removed at the end of the session. The tests only read it.
    """
    from crm.testing import dovecot, mailseed

    server = dovecot.start(mailseed.USERS)
    try:
        mailseed.seed(server.host, server.port)
        yield server
    finally:
        server.stop()


@pytest.fixture
def people(db):
    """The contacts the seeded mail is with: Ada has one open deal, Bo two, Cy is never captured, Dee is excluded."""
    fund = factories.fund("Fund III")
    ada = factories.contact("Okafor", first_name="Ada", email=mailseed.ADA)
    bo = factories.contact("Li", first_name="Bo", email=mailseed.BO)
    cy = factories.contact("Cedar", first_name="Cy", email=mailseed.CY, never_capture=True)
    dee = factories.contact("Day", first_name="Dee", email=mailseed.DEE)
    CaptureExclusion.objects.create(value="personal.example", note="personal")
    deal = factories.opportunity(ada, fund)
    factories.opportunity(bo, fund)
    factories.opportunity(bo, fund)
    return {"ada": ada, "bo": bo, "cy": cy, "dee": dee, "deal": deal}
