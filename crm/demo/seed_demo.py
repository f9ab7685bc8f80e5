"""The demo data set the team knows: two admins, eight LP organizations, Fund I closed and Fund II raising.

``load_demo()`` is idempotent: every record is found by its natural key and created only when
missing, and nothing that exists is touched, so a re-run changes nothing (not even a demo
password someone has since changed). After a load into an empty database the dashboard shows
6 LPs, $83M committed and funded in Fund I and $40M expected in the Fund II pipeline; Fund II
has three closes (the first held) and the Fund I LPs' re-ups at each level of the ladder, with their asks.
Two Fund I LPs have side letters with an MFN clause and an MFN round is open (one election
pending, due in nine days); every LP's KYC/AML is verified, Marcus Chen's expiring in 20 days.
"""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models, transaction
from django.utils import timezone

from contacts import strength
from contacts.models import (
    Communication,
    CommunicationType,
    Contact,
    ContactType,
    Organization,
    OrganizationType,
    Tag,
    TagColour,
)
from crm.models import Role, User
from crm.permissions import as_system
from lps import calls
from lps import distributions as lp_distributions
from lps import side_letters as side_letter_services
from lps.documents import save_document, tiny_pdf
from lps.models import (
    Close,
    CloseState,
    Commitment,
    CommitmentStatus,
    ComplianceCheck,
    ComplianceKind,
    ComplianceStatus,
    Document,
    DocumentKind,
    Fund,
    FundStatus,
    K1Delivery,
    K1Method,
    LPProfile,
    ReupAsk,
    SideLetter,
    SideLetterProvision,
    latest_tax_year,
)
from pipeline.models import Opportunity, Priority, Stage, StageOutcome, Task

TEAM_DOMAIN = "fund.example"

# (username, full name); passwords come from settings.CRM_DEMO_PASSWORDS, the same table
# `check --deploy` uses to warn while a demo password is still in place.
USERS = [
    ("admin", "Avery Admin"),
    ("grant", "Grant Whitaker"),
]

TAGS = [
    ("High Priority", TagColour.RED),
    ("Fund I LP", TagColour.GREEN),
    ("Fund II Prospect", TagColour.BLUE),
    ("Family Office", TagColour.PURPLE),
    ("Institutional", TagColour.INDIGO),
    ("Re-up Target", TagColour.AMBER),
]

# (name, type, city, state, country, website, tags). There is no sovereign-wealth
# organization type (the LP profile has one), so that organization is "Other".
ORGANIZATIONS = [
    ("Sovereign Wealth Holdings", OrganizationType.SOVEREIGN_WEALTH, "Singapore", "", "Singapore",
     "https://sovereignwealth.example", ["Institutional"]),
    ("Pacific Capital Partners", OrganizationType.FUND_OF_FUNDS, "San Francisco", "CA", "United States",
     "https://pacificcapital.example", ["Institutional"]),
    ("Northeast Pension Fund", OrganizationType.PENSION, "Boston", "MA", "United States",
     "https://northeastpension.example", ["Institutional"]),
    ("Redwood Endowment", OrganizationType.ENDOWMENT, "Palo Alto", "CA", "United States",
     "https://redwoodendowment.example", ["Institutional"]),
    ("Atlas Family Office", OrganizationType.FAMILY_OFFICE, "New York", "NY", "United States",
     "https://atlasfamily.example", ["Family Office"]),
    ("Summit Insurance Group", OrganizationType.INSURANCE, "Hartford", "CT", "United States",
     "https://summitinsurance.example", ["Institutional"]),
    ("Cascade Wealth Management", OrganizationType.WEALTH_MANAGER, "Seattle", "WA", "United States",
     "https://cascadewealth.example", []),
    ("Blue Harbor Foundation", OrganizationType.FOUNDATION, "Chicago", "IL", "United States",
     "https://blueharbor.example", []),
]  # fmt: skip


@dataclass(frozen=True)
class DemoContact:
    first_name: str
    last_name: str
    email: str
    title: str
    organization: str | None
    contact_type: str
    owner: str
    tags: tuple[str, ...]
    phone: str = ""
    location: str = ""
    source: str = ""
    name_prefix: str = ""


CONTACTS = [
    # Fund I LPs.
    DemoContact("Amira", "Haddad", "amira.haddad@sovereignwealth.example", "Director, Private Markets",
                "Sovereign Wealth Holdings", ContactType.INVESTOR, "grant",
                ("Fund I LP", "Re-up Target", "High Priority", "Institutional"),
                "+65 5550 0101", "Singapore", "Conference"),
    DemoContact("Daniel", "Okafor", "daniel.okafor@northeastpension.example", "Senior Investment Officer",
                "Northeast Pension Fund", ContactType.INVESTOR, "admin",
                ("Fund I LP", "Re-up Target", "Institutional"),
                "+1 617 555 0102", "Boston, United States", "Placement agent"),
    DemoContact("Priya", "Raman", "priya.raman@redwoodendowment.example", "Managing Director",
                "Redwood Endowment", ContactType.INVESTOR, "grant",
                ("Fund I LP", "Re-up Target", "Institutional"),
                "+1 650 555 0103", "Palo Alto, United States", "Referral"),
    DemoContact("Thomas", "Lindqvist", "thomas.lindqvist@pacificcapital.example", "Partner",
                "Pacific Capital Partners", ContactType.INVESTOR, "admin", ("Fund I LP",),
                "+1 415 555 0104", "San Francisco, United States", "Referral"),
    DemoContact("Eleanor", "Vance", "eleanor.vance@atlasfamily.example", "Chief Investment Officer",
                "Atlas Family Office", ContactType.INVESTOR, "grant", ("Fund I LP", "Family Office"),
                "+1 212 555 0105", "New York, United States", "Referral"),
    DemoContact("Marcus", "Chen", "marcus.chen@summitinsurance.example", "Head of Alternatives",
                "Summit Insurance Group", ContactType.INVESTOR, "admin", ("Fund I LP", "Institutional"),
                "+1 860 555 0106", "Hartford, United States", "Conference"),
    # Fund II prospects.
    DemoContact("Sofia", "Alvarez", "sofia.alvarez@cascadewealth.example", "Portfolio Manager",
                "Cascade Wealth Management", ContactType.PROSPECT, "admin", ("Fund II Prospect",),
                "+1 206 555 0107", "Seattle, United States", "Inbound"),
    DemoContact("James", "Whitfield", "james.whitfield@blueharbor.example", "Chief Investment Officer",
                "Blue Harbor Foundation", ContactType.PROSPECT, "grant", ("Fund II Prospect", "High Priority"),
                "+1 312 555 0108", "Chicago, United States", "Conference"),
    DemoContact("Naomi", "Brooks", "naomi.brooks@blueharbor.example", "Investment Associate",
                "Blue Harbor Foundation", ContactType.PROSPECT, "grant", (),
                "+1 312 555 0109", "Chicago, United States", "Conference"),
    DemoContact("Rachel", "Kim", "rachel.kim@cascadewealth.example", "Director of Alternatives",
                "Cascade Wealth Management", ContactType.PROSPECT, "admin", (),
                "+1 206 555 0110", "Seattle, United States", "Inbound"),
    DemoContact("Benjamin", "Hart", "benjamin.hart@northeastpension.example", "Investment Analyst",
                "Northeast Pension Fund", ContactType.PROSPECT, "admin", ("Institutional",),
                "+1 617 555 0111", "Boston, United States", "Placement agent"),
    DemoContact("Helen", "Park", "helen.park@example.com", "Angel investor", None, ContactType.PROSPECT,
                "grant", ("Fund II Prospect",), "+1 408 555 0112", "San Jose, United States", "Referral",
                name_prefix="Dr."),
]  # fmt: skip

FUNDS = [
    {
        "name": "Fund I",
        "vintage_year": 2020,
        "status": FundStatus.CLOSED,
        "target_size": Decimal("75000000"),
        "hard_cap": Decimal("100000000"),
        "first_close_date": datetime.date(2020, 9, 30),
        "final_close_date": datetime.date(2021, 6, 30),
        "wire_instructions": "Bank: First Republic Trust (demo)\nAccount name: Venture Fund I, L.P.\n"
        "Account: 000123456789 · ABA: 021000021\nSWIFT: DEMOUS33",
    },
    {
        "name": "Fund II",
        "vintage_year": 2025,
        "status": FundStatus.RAISING,
        "target_size": Decimal("150000000"),
        "hard_cap": Decimal("200000000"),
        "first_close_date": datetime.date(2026, 6, 30),
        "final_close_date": datetime.date(2027, 6, 30),
        "late_close_interest_rate": Decimal("8"),
    },
]

# Fund I's capital calls: (per cent of commitments, notice date). They add up to 100%.
FUND_ONE_CALLS = [("40", (2020, 10, 1)), ("35", (2022, 3, 1)), ("25", (2023, 9, 1))]
# Fund II's closes: (name, date, minimum, state). The first is held.
FUND_TWO_CLOSES = [
    ("First close", datetime.date(2026, 6, 30), "50000000", CloseState.HELD),
    ("Second close", datetime.date(2027, 1, 29), "90000000", CloseState.PLANNED),
    ("Final close", datetime.date(2027, 6, 30), "150000000", CloseState.PLANNED),
]
# Fund I LPs re-upping into Fund II, up the ladder: (email, status, amount now, soft-circled,
# hard-circled, close, funded, withdrawal reason). Soft circles shrink on the way up, one LP
# declined, and the second close's signed LP owes equalisation for the first close's call.
FUND_TWO_COMMITMENTS = [
    ("amira.haddad@sovereignwealth.example", CommitmentStatus.CLOSED, "25000000", "30000000", "30000000",
     "First close", "0", ""),
    ("daniel.okafor@northeastpension.example", CommitmentStatus.HARD_CIRCLE, "15000000", "20000000", None,
     "Second close", "0", ""),
    ("priya.raman@redwoodendowment.example", CommitmentStatus.SOFT_CIRCLE, "15000000", None, None,
     "Second close", "0", ""),
    ("thomas.lindqvist@pacificcapital.example", CommitmentStatus.SIGNED, "10000000", "12000000", "10000000",
     "Second close", "0", ""),
    ("eleanor.vance@atlasfamily.example", CommitmentStatus.WITHDRAWN, "8000000", None, None,
     None, "0", "Cutting her venture allocation this year"),
]  # fmt: skip

# The Fund II asks to Fund I LPs: (email, ask, asked on). Daniel is asked for his Fund I
# $20M although he hard-circled $15M; Marcus is asked and has not answered; Eleanor's
# withdrawn commitment shows her as declined in the re-up cockpit.
REUP_ASKS = [
    ("amira.haddad@sovereignwealth.example", "30000000", datetime.date(2026, 1, 12)),
    ("daniel.okafor@northeastpension.example", "20000000", datetime.date(2026, 1, 19)),
    ("priya.raman@redwoodendowment.example", "15000000", datetime.date(2026, 2, 2)),
    ("eleanor.vance@atlasfamily.example", "8000000", datetime.date(2026, 2, 9)),
    ("marcus.chen@summitinsurance.example", "6000000", datetime.date(2026, 11, 16)),
]

# Fund I: (contact email, investor type, amount, commitment date, wire date). Sum: $83,000,000.
LP_COMMITMENTS = [
    ("amira.haddad@sovereignwealth.example", OrganizationType.SOVEREIGN_WEALTH, "25000000", (2020, 7, 15), (2020, 10, 9)),  # noqa: E501
    ("daniel.okafor@northeastpension.example", OrganizationType.PENSION, "20000000", (2020, 8, 3), (2020, 10, 12)),
    ("priya.raman@redwoodendowment.example", OrganizationType.ENDOWMENT, "15000000", (2020, 8, 20), (2020, 10, 14)),
    ("thomas.lindqvist@pacificcapital.example", OrganizationType.FUND_OF_FUNDS, "10000000", (2020, 11, 2), (2021, 1, 20)),  # noqa: E501
    ("eleanor.vance@atlasfamily.example", OrganizationType.FAMILY_OFFICE, "8000000", (2021, 2, 10), (2021, 4, 6)),
    ("marcus.chen@summitinsurance.example", OrganizationType.INSURANCE, "5000000", (2021, 4, 1), (2021, 6, 18)),
]  # fmt: skip

# Fund I's side letters: (contact email, signed on, provisions). Both have an MFN clause, so
# both LPs are eligible for the fund's MFN election round.
FUND_ONE_SIDE_LETTERS = [
    ("amira.haddad@sovereignwealth.example", (2020, 7, 30), [
        ("mfn", "Most favoured nation: may elect any term granted to an LP of $25M or less."),
        ("co_investment", "Offered co-investment alongside the fund in deals over $10M, no fee or carry."),
        ("excuse", "Excused from investments in gaming, alcohol and tobacco."),
    ]),
    ("daniel.okafor@northeastpension.example", (2020, 8, 17), [
        ("mfn", "Most favoured nation, economic terms only."),
        ("fees", "Management fee of 1.75% (not 2%) during the investment period."),
        ("reporting", "Quarterly ILPA template and an annual ESG report."),
    ]),
]  # fmt: skip

# Fund II: (contact email, open-stage index, expected amount, priority, owner, next step,
# next step in days from today, expected close). Only open stages, so no Fund II money is
# implied committed. Sum: $40,000,000. Index 0..3 are Lead, Outreach, Meeting, Due diligence.
OPPORTUNITIES = [
    ("amira.haddad@sovereignwealth.example", 3, "12000000", Priority.HIGH, "grant",
     "Answer the DDQ follow-up questions", 4, datetime.date(2026, 6, 30)),
    ("daniel.okafor@northeastpension.example", 2, "10000000", Priority.HIGH, "admin",
     "Present to the pension's investment committee", 9, datetime.date(2026, 9, 30)),
    ("priya.raman@redwoodendowment.example", 1, "5000000", Priority.MEDIUM, "grant",
     "Send the Fund II re-up pack", -4, datetime.date(2026, 9, 30)),
    ("james.whitfield@blueharbor.example", 2, "6000000", Priority.MEDIUM, "grant",
     "Arrange a follow-up meeting with the CIO", 6, datetime.date(2026, 12, 15)),
    ("sofia.alvarez@cascadewealth.example", 0, "4000000", Priority.LOW, "admin",
     "Qualify interest and ticket size", 12, datetime.date(2027, 3, 31)),
    ("helen.park@example.com", 0, "3000000", Priority.LOW, "grant",
     "Intro call with the managing partner", 20, datetime.date(2027, 3, 31)),
]  # fmt: skip


@dataclass(frozen=True)
class DemoCommunication:
    contact: str
    type: str
    subject: str
    days_ago: int
    created_by: str
    body: str = ""
    outcome: str = ""
    duration_minutes: int | None = None
    next_action: str = ""
    next_action_in_days: int | None = None
    next_action_done: bool = False
    this_month: bool = False  # keep it inside the current month whatever today's date
    with_opportunity: bool = False
    # Captured from a mailbox (issue 17): its Message-ID, inbound or outbound, and what it answers.
    message_id: str = ""
    direction: str = ""
    in_reply_to: str = ""
    attachment_names: str = ""


COMMUNICATIONS = [
    DemoCommunication("amira.haddad@sovereignwealth.example", CommunicationType.MEETING,
                      "Fund II due diligence session", 2, "grant",
                      body="Walked through Fund I marks, the Fund II pipeline and the team's time allocation.",
                      outcome="Positive; DDQ follow-ups to come", duration_minutes=90,
                      next_action="Send data room access and the reference list", next_action_in_days=3,
                      this_month=True, with_opportunity=True),
    DemoCommunication("daniel.okafor@northeastpension.example", CommunicationType.CALL,
                      "Re-up call: Fund II timing", 4, "admin",
                      body="Daniel expects an IC slot next quarter if the materials land this month.",
                      outcome="Re-up likely at or above Fund I size", duration_minutes=30,
                      next_action="Book the investment committee presentation", next_action_in_days=7,
                      this_month=True, with_opportunity=True),
    DemoCommunication("eleanor.vance@atlasfamily.example", CommunicationType.EMAIL,
                      "Q3 LP letter and capital account statement", 1, "admin",
                      body="Sent the quarterly letter and her capital account statement.", this_month=True,
                      message_id="<q3-letter.vance@venture-crm.example>", direction="out",
                      attachment_names="Q3 LP letter.pdf\nCapital account statement - Atlas.pdf"),
    DemoCommunication("eleanor.vance@atlasfamily.example", CommunicationType.EMAIL,
                      "Re: Q3 LP letter and capital account statement", 0, "admin",
                      body="Thank you, received both. Could we schedule the annual review for next month?",
                      this_month=True, message_id="<reply.q3-letter@atlasfamily.example>", direction="in",
                      in_reply_to="<q3-letter.vance@venture-crm.example>"),
    DemoCommunication("helen.park@example.com", CommunicationType.MEETING, "Coffee with Helen Park", 3, "grant",
                      body="Met at the founders' breakfast; interested in the seed programme.",
                      outcome="Wants an intro to a portfolio CEO", duration_minutes=45,
                      next_action="Introduce Helen to a portfolio CEO", next_action_in_days=10, this_month=True),
    DemoCommunication("james.whitfield@blueharbor.example", CommunicationType.CALL, "Intro call with Blue Harbor",
                      12, "grant", body="First call; the foundation is adding venture to its allocation.",
                      outcome="Asked for the deck and track record", duration_minutes=25,
                      next_action="Send the Fund II deck and Fund I track record", next_action_in_days=-2,
                      with_opportunity=True),
    DemoCommunication("sofia.alvarez@cascadewealth.example", CommunicationType.CALL,
                      "Intro call with Cascade Wealth", 8, "admin",
                      body="Cascade pools client money into a feeder; minimums matter.", duration_minutes=20,
                      next_action="Send the Fund II PPM", next_action_in_days=12, with_opportunity=True),
    DemoCommunication("thomas.lindqvist@pacificcapital.example", CommunicationType.NOTE,
                      "Pacific Capital re-up: notes", 20, "admin",
                      body="Fund-of-funds is over-allocated to venture this year; revisit in the new year."),
    DemoCommunication("marcus.chen@summitinsurance.example", CommunicationType.EMAIL,
                      "Annual meeting invitation", 35, "admin",
                      body="Invited Marcus to the annual LP meeting.",
                      next_action="Confirm attendance at the annual meeting", next_action_in_days=-21,
                      next_action_done=True),
]  # fmt: skip


class DemoError(Exception):
    """The database cannot take the demo set (e.g. no open pipeline stages)."""


@dataclass
class DemoResult:
    created: Counter[str] = field(default_factory=Counter)
    existing: int = 0

    @property
    def created_total(self) -> int:
        return sum(self.created.values())

    def summary(self) -> str:
        if not self.created_total:
            return f"Demo data already present: nothing created ({self.existing} records found)."
        parts = ", ".join(f"{count} {label}" for label, count in self.created.items())
        return f"Demo data loaded: created {parts}; {self.existing} records already existed."


def is_empty_database() -> bool:
    """True when there are no users and no CRM records: a fresh install, safe to seed."""
    return not any(model.objects.exists() for model in (User, Organization, Contact, Opportunity, Communication))


def load_demo(now: datetime.datetime | None = None) -> DemoResult:
    """Create whatever part of the demo set is missing, in one transaction."""
    now = now or timezone.now()
    with transaction.atomic(), as_system():
        result = _Loader(now).run()
        # Relationship strength is derived from the touches just written (issue 17).
        strength.recompute_all(now)
        return result


class _Loader:
    def __init__(self, now: datetime.datetime) -> None:
        self.now = now
        self.today = timezone.localdate(now)
        self.result = DemoResult()
        self.actor: User | None = None

    def run(self) -> DemoResult:
        users = self.users()
        tags = {name: self.ensure(Tag, {"name__iexact": name}, name=name, colour=colour)[0] for name, colour in TAGS}
        organizations = self.organizations(tags)
        contacts = self.contacts(users, organizations, tags)
        funds = {spec["name"]: self.ensure(Fund, {"name": spec["name"]}, **spec)[0] for spec in FUNDS}
        self.commitments(contacts, funds["Fund I"])
        self.fund_one_calls(funds["Fund I"])
        self.fund_one_distribution(funds["Fund I"])
        self.side_letters(funds["Fund I"])
        self.compliance(contacts)
        self.fund_one_k1s(funds["Fund I"])
        self.fund_one_documents(funds["Fund I"])
        self.fund_two_raise(contacts, funds["Fund II"])
        opportunities = self.opportunities(users, contacts, funds["Fund II"])
        self.communications(users, contacts, opportunities)
        self.tasks(users, contacts)
        return self.result

    def tasks(self, users: dict[str, User], contacts: dict[str, Contact]) -> None:
        """A handful of tasks across the team (issue 17), two of them overdue."""
        admin, grant = users["admin"], users["grant"]
        people = list(contacts.values())
        specs = [
            ("Send Fund II PPM to the family office list", grant, admin, -3),
            ("Chase the signed subscription documents", admin, grant, -1),
            ("Prepare the annual meeting agenda", admin, admin, 0),
            ("Draft the Q4 LP letter", grant, grant, 6),
            ("Book the Fund II due diligence call", grant, admin, None),
        ]
        for i, (title, owner, creator, days) in enumerate(specs):
            due = self.today + datetime.timedelta(days=days) if days is not None else None
            contact = people[i % len(people)] if people else None
            values = {"owner": owner, "created_by": creator, "due_date": due, "contact": contact}
            self.ensure(Task, {"title": title}, title=title, **values)

    def ensure(self, model: type[models.Model], lookup: dict[str, Any], **values: Any) -> tuple[Any, bool]:
        """The record matching ``lookup``, created from ``values`` when missing; existing ones are left alone."""
        obj = model._default_manager.filter(**lookup).first()
        if obj is not None:
            self.result.existing += 1
            return obj, False
        obj = model(**values)
        obj._history_user = self.actor
        obj.save()
        self.result.created[str(model._meta.verbose_name_plural)] += 1
        return obj, True

    def users(self) -> dict[str, User]:
        users = {}
        for username, full_name in USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                email = f"{username}@{TEAM_DOMAIN}"
                if User.objects.filter(email__iexact=email).exists():
                    email = ""  # someone already uses the address; the account still works without it
                user = User(username=username, full_name=full_name, email=email, role=Role.ADMIN)
                # Demo passwords are deliberately weak: set directly, bypassing the validators.
                user.set_password(settings.CRM_DEMO_PASSWORDS[username])
                user._history_user = self.actor or user  # the first admin creates itself
                user.save()
                self.result.created["users"] += 1
            else:
                self.result.existing += 1
            users[username] = user
            self.actor = self.actor or user
        return users

    def organizations(self, tags: dict[str, Tag]) -> dict[str, Organization]:
        organizations = {}
        for name, org_type, city, state, country, website, tag_names in ORGANIZATIONS:
            org, created = self.ensure(
                Organization,
                {"name__iexact": name},
                name=name,
                type=org_type,
                city=city,
                state=state,
                country=country,
                website=website,
                created_by=self.actor,
            )
            if created and tag_names:
                org.tags.set([tags[t] for t in tag_names])  # m2m history names the actor via _history_user
            organizations[name] = org
        return organizations

    def contacts(
        self, users: dict[str, User], organizations: dict[str, Organization], tags: dict[str, Tag]
    ) -> dict[str, Contact]:
        contacts = {}
        for spec in CONTACTS:
            contact, created = self.ensure(
                Contact,
                {"email__iexact": spec.email},
                name_prefix=spec.name_prefix,
                first_name=spec.first_name,
                last_name=spec.last_name,
                email=spec.email,
                phone=spec.phone,
                title=spec.title,
                organization=organizations[spec.organization] if spec.organization else None,
                contact_type=spec.contact_type,
                source=spec.source,
                location=spec.location,
                owner=users[spec.owner],
                created_by=self.actor,
            )
            if created and spec.tags:
                contact.tags.set([tags[t] for t in spec.tags])
            contacts[spec.email] = contact
        return contacts

    def commitments(self, contacts: dict[str, Contact], fund: Fund) -> None:
        for email, investor_type, amount, committed_on, wired_on in LP_COMMITMENTS:
            contact = contacts[email]
            lp, _ = self.ensure(
                LPProfile,
                {"contact": contact},
                contact=contact,
                investor_type=investor_type,
                accredited=True,
                qualified_purchaser=True,
                preferred_communication="Email",
            )
            self.ensure(
                Commitment,
                {"lp": lp, "fund": fund},
                lp=lp,
                fund=fund,
                status=CommitmentStatus.CLOSED,
                commitment_amount=Decimal(amount),
                # Paid in through Fund I's calls (fund_one_calls), which make up the funded amount.
                commitment_date=datetime.date(*committed_on),
                legal_docs_signed=True,
                signed_date=datetime.date(*committed_on) + datetime.timedelta(days=14),
                wire_received=True,
                wire_date=datetime.date(*wired_on),
            )

    def fund_one_calls(self, fund: Fund) -> None:
        """Fund I's three capital calls, 100% of commitments between them, each paid in full."""
        if fund.capital_calls.exists():
            return
        for number, (percent, noticed) in enumerate(FUND_ONE_CALLS, start=1):
            notice_date = datetime.date(*noticed)
            due_date = notice_date + datetime.timedelta(days=14)
            call = calls.issue_call(
                fund, self.actor, notice_date=notice_date, due_date=due_date, percent=Decimal(percent)
            )
            for line in call.lines.order_by("pk"):
                calls.record_receipt(line, self.actor, line.amount, due_date - datetime.timedelta(days=number))
            self.result.created["capital calls"] += 1

    def fund_one_distribution(self, fund: Fund) -> None:
        """Fund I's first distribution (an exit): $12.45M pro rata to paid-in capital."""
        if fund.distributions.exists() or not fund.capital_calls.exists():
            return
        lp_distributions.make_distribution(
            fund, self.actor, date=datetime.date(2025, 12, 15), return_of_capital=Decimal("8300000"),
            gain=Decimal("4000000"), income=Decimal("150000"), notes="Proceeds of the Northwind sale.",
        )  # fmt: skip
        self.result.created["distributions"] += 1

    def side_letters(self, fund: Fund) -> None:
        """Two Fund I side letters, both with an MFN clause, and the MFN round sent on them:
        one LP has elected, the other is still pending with the deadline nine days out (so it
        shows in next actions)."""
        letters = {}
        for email, signed, provisions in FUND_ONE_SIDE_LETTERS:
            commitment = Commitment.objects.get(fund=fund, lp__contact__email=email)
            letters[email], created = self.ensure(
                SideLetter, {"commitment": commitment}, commitment=commitment, signed_date=datetime.date(*signed)
            )
            if created:
                for category, text in provisions:
                    provision = SideLetterProvision(side_letter=letters[email], category=category, text=text)
                    provision._history_user = self.actor
                    provision.save()
        if fund.mfn_rounds.exists():
            return
        mfn_round = side_letter_services.create_round(
            fund,
            self.actor,
            sent_date=self.today - datetime.timedelta(days=21),
            deadline=self.today + datetime.timedelta(days=9),
            notes="Compendium of the Fund I side letters, sent to the LPs with an MFN clause.",
        )
        self.result.created["MFN election rounds"] += 1
        amira = mfn_round.elections.get(commitment__lp__contact__email="amira.haddad@sovereignwealth.example")
        reporting = SideLetterProvision.objects.get(side_letter__commitment__fund=fund, category="reporting")
        side_letter_services.record_election(
            amira,
            self.actor,
            status="elected",
            provisions=[reporting],
            decided_on=self.today - datetime.timedelta(days=4),
        )

    def compliance(self, contacts: dict[str, Contact]) -> None:
        """KYC/AML for every LP, verified a year ago; Marcus Chen's runs out in three weeks."""
        for email, *_rest in LP_COMMITMENTS:
            lp = LPProfile.objects.get(contact=contacts[email])
            expires = self.today + datetime.timedelta(days=20 if email.startswith("marcus.") else 400)
            self.ensure(
                ComplianceCheck,
                {"lp": lp, "kind": ComplianceKind.KYC_AML},
                lp=lp,
                kind=ComplianceKind.KYC_AML,
                status=ComplianceStatus.VERIFIED,
                verified_on=expires - datetime.timedelta(days=365),
                expires_on=expires,
            )

    def fund_one_k1s(self, fund: Fund) -> None:
        """Fund I's K-1s for the last two tax years: all sent for the earlier one; for the latest,
        every LP's but the smallest commitment's (the one the K-1 page shows as missing)."""
        latest = latest_tax_year(self.today)
        commitments = list(fund.commitments.filter(status=CommitmentStatus.CLOSED).order_by("-commitment_amount", "pk"))
        for year in (latest - 1, latest):
            sent_on = datetime.date(year + 1, 3, 14)
            for index, commitment in enumerate(commitments):
                if year == latest and index == len(commitments) - 1:
                    continue
                _delivery, created = self.ensure(
                    K1Delivery,
                    {"commitment": commitment, "tax_year": year},
                    commitment=commitment,
                    tax_year=year,
                    prepared_on=sent_on - datetime.timedelta(days=10),
                    sent_on=min(sent_on, self.today),
                    method=K1Method.PORTAL if index % 2 else K1Method.EMAIL,
                )

    def fund_one_documents(self, fund: Fund) -> None:
        """Two small files, generated here (no binaries in git): the largest Fund I LP's signed
        subscription agreement (a one-page PDF) and a wire confirmation on its line of call 1."""
        largest = fund.commitments.filter(status=CommitmentStatus.CLOSED).order_by("-commitment_amount", "pk").first()
        if largest is None or Document.objects.filter(commitment=largest).exists():
            return
        pdf = SimpleUploadedFile(
            "Subscription agreement (signed).pdf", tiny_pdf(f"{largest.lp} - {fund} subscription agreement")
        )
        save_document(Document(commitment=largest, document_type=DocumentKind.SUBSCRIPTION), pdf, self.actor)
        line = largest.call_lines.filter(call__number=1).first()
        if line is not None:
            text = f"Wire received from {largest.lp} for {line.call}: {line.received_amount} on {line.received_date}.\n"
            upload = SimpleUploadedFile("Wire confirmation.txt", text.encode())
            save_document(Document(call_line=line, document_type=DocumentKind.OTHER), upload, self.actor)
        self.result.created["documents"] += 2 if line is not None else 1

    def fund_two_raise(self, contacts: dict[str, Contact], fund: Fund) -> None:
        """Fund II's closes and the Fund I LPs' re-ups, at every level of the ladder."""
        closes = {}
        for name, day, minimum, state in FUND_TWO_CLOSES:
            closes[name], _ = self.ensure(
                Close, {"fund": fund, "name": name}, fund=fund, name=name, date=day,
                minimum_amount=Decimal(minimum), state=state,
            )  # fmt: skip
        for email, status, amount, soft, hard, close, funded, reason in FUND_TWO_COMMITMENTS:
            lp = LPProfile.objects.filter(contact=contacts[email]).first()
            if lp is None:
                continue
            accepted = status == CommitmentStatus.CLOSED
            self.ensure(
                Commitment,
                {"lp": lp, "fund": fund},
                lp=lp,
                fund=fund,
                status=status,
                commitment_amount=Decimal(amount),
                soft_amount=Decimal(soft) if soft else None,
                hard_amount=Decimal(hard) if hard else None,
                funded_amount=Decimal(funded),
                close=closes[close] if close else None,
                commitment_date=datetime.date(2026, 3, 2),
                legal_docs_signed=status in (CommitmentStatus.SIGNED, CommitmentStatus.CLOSED),
                signed_date=datetime.date(2026, 6, 12)
                if status in (CommitmentStatus.SIGNED, CommitmentStatus.CLOSED)
                else None,
                closed_date=datetime.date(2026, 6, 30) if accepted else None,
                wire_received=Decimal(funded) > 0,
                wire_date=datetime.date(2026, 7, 20) if Decimal(funded) > 0 else None,
                withdrawn_reason=reason,
            )
        if not fund.capital_calls.exists() and Commitment.objects.filter(fund=fund, status=CommitmentStatus.CLOSED):
            # The first close's LPs answered a 20% call; the second close's owe equalisation for it.
            call = calls.issue_call(
                fund, self.actor, notice_date=datetime.date(2026, 7, 6), due_date=datetime.date(2026, 7, 20),
                percent=Decimal("20"),
            )  # fmt: skip
            for line in call.lines.order_by("pk"):
                calls.record_receipt(line, self.actor, line.amount, datetime.date(2026, 7, 20))
        for email, amount, asked_on in REUP_ASKS:
            lp = LPProfile.objects.filter(contact=contacts[email]).first()
            if lp is not None:
                self.ensure(
                    ReupAsk, {"lp": lp, "fund": fund}, lp=lp, fund=fund, amount=Decimal(amount), asked_on=asked_on
                )

    def opportunities(self, users: dict[str, User], contacts: dict[str, Contact], fund: Fund) -> dict[str, Opportunity]:
        open_stages = list(Stage.objects.filter(outcome=StageOutcome.OPEN).order_by("order", "pk"))
        if not open_stages:
            raise DemoError("There are no open pipeline stages; run `manage.py migrate` to create the defaults.")
        positions: Counter[int] = Counter()
        opportunities = {}
        for email, stage_index, amount, priority, owner, next_step, next_in_days, close in OPPORTUNITIES:
            contact = contacts[email]
            # An install with fewer open stages than the defaults still gets every deal, in its last open column.
            stage = open_stages[min(stage_index, len(open_stages) - 1)]
            name = f"{contact.organization or contact.short_name} — {fund.name}"
            position = positions[stage.pk] or (
                (Opportunity.objects.filter(fund=fund, stage=stage).aggregate(p=models.Max("position"))["p"] or 0) + 1
            )
            opportunity, created = self.ensure(
                Opportunity,
                {"name": name, "fund": fund},
                name=name,
                contact=contact,
                organization=contact.organization,
                fund=fund,
                stage=stage,
                position=position,
                expected_amount=Decimal(amount),
                # probability stays blank so save() takes the stage's default
                expected_close_date=close,
                next_step=next_step,
                next_step_date=self.today + datetime.timedelta(days=next_in_days),
                source=contact.source,
                owner=users[owner],
                priority=priority,
                stage_changed_at=self.now - datetime.timedelta(days=7 + 5 * stage_index),
                created_by=self.actor,
            )
            if created:
                positions[stage.pk] = position + 1
                self.stage_moves(opportunity, open_stages[: min(stage_index, len(open_stages) - 1) + 1], users[owner])
            opportunities[email] = opportunity
        return opportunities

    def stage_moves(self, opportunity: Opportunity, path: list[Stage], mover: User) -> None:
        """Give a new demo deal the board moves that brought it to its stage, in its history.

        The dashboard's recent stage changes, the panel's time-in-stage and the conversion
        report read history; a demo deal born in its final column would show none of them.
        """
        if len(path) < 2:
            return
        created = opportunity.history.earliest("history_date")
        step = datetime.timedelta(days=5)
        start = opportunity.stage_changed_at - step * (len(path) - 1)
        created.stage = path[0]
        created.history_date = start
        created.save()
        # Bookkeeping only (no history): the record was created when its history says.
        Opportunity.objects.filter(pk=opportunity.pk).update(created_at=start)
        for index, stage in enumerate(path[1:], start=1):
            created.history_id = None  # save() then inserts a copy: the deal as it was after the move
            created.stage = stage
            created.history_type = "~"
            created.history_user = mover
            created.history_date = start + step * index
            created.save()

    def communications(
        self, users: dict[str, User], contacts: dict[str, Contact], opportunities: dict[str, Opportunity]
    ) -> None:
        # The dashboard counts "this month" from the UTC month start; local time may start later.
        utc_now = self.now.astimezone(datetime.UTC)
        month_start = max(
            utc_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
            timezone.localtime(self.now).replace(day=1, hour=0, minute=0, second=0, microsecond=0),
        )
        for spec in COMMUNICATIONS:
            contact = contacts[spec.contact]
            when = self.now - datetime.timedelta(days=spec.days_ago, hours=2)
            if spec.this_month:
                when = max(when, month_start)
            author = users[spec.created_by]
            done = spec.next_action_done
            self.ensure(
                Communication,
                {"subject": spec.subject, "contact": contact},
                contact=contact,
                opportunity=opportunities.get(spec.contact) if spec.with_opportunity else None,
                type=spec.type,
                subject=spec.subject,
                body=spec.body,
                communication_date=when,
                duration_minutes=spec.duration_minutes,
                outcome=spec.outcome,
                next_action=spec.next_action,
                next_action_date=(
                    self.today + datetime.timedelta(days=spec.next_action_in_days)
                    if spec.next_action_in_days is not None
                    else None
                ),
                next_action_done=done,
                next_action_done_at=when + datetime.timedelta(days=3) if done else None,
                next_action_done_by=author if done else None,
                created_by=author,
                message_id=spec.message_id,
                direction=spec.direction,
                in_reply_to=spec.in_reply_to,
                references=spec.in_reply_to,
                parent=Communication.objects.filter(message_id=spec.in_reply_to).first() if spec.in_reply_to else None,
                attachment_names=spec.attachment_names,
            )
