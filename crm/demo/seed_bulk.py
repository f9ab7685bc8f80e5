"""Realistic volumes for demos and benchmarks: ``seed_bulk(N)`` adds N organizations, 2.5·N contacts,
1.5·N opportunities, 10·N communications, and LP profiles with commitments for ~30% of the investors.

The data is a pure function of N and the reference date (default: today): the random generator is
seeded with N and every date is an offset from the reference date, so the same N on the same day
(or with the same ``as_of``) produces the same names, amounts and dates. Pin ``as_of`` for
byte-for-byte repeatable benchmarks.

Rows are written with bulk inserts and their history rows (acting user: the first active admin)
in one transaction; a failure leaves nothing behind.
"""

from __future__ import annotations

import datetime
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from simple_history.models import HistoricalRecords
from simple_history.utils import bulk_create_with_history

from contacts import strength
from contacts.models import (
    Communication,
    CommunicationType,
    Contact,
    ContactStatus,
    ContactType,
    Organization,
    OrganizationType,
    PreferredContact,
    Tag,
    TagColour,
    refresh_last_touch,
)
from crm.demo import seed_demo
from crm.models import Role, User
from crm.permissions import as_system
from lps.models import Commitment, CommitmentStatus, Fund, FundStatus, LPProfile, climb_ladder
from pipeline.models import Opportunity, Priority, Stage, StageOutcome

BATCH_SIZE = 1000
MAX_SCALE = 100_000
MIN_TEAM = 3
LP_SHARE = 0.3


def _words(text: str) -> list[str]:
    return text.split()


TEAM = [("analyst1", "Jordan Blake"), ("analyst2", "Casey Morgan"), ("analyst3", "Riley Chen")]

TAGS = [name for name, _ in seed_demo.TAGS] + [
    "Co-invest Interest",
    "ESG Mandate",
    "Emerging Manager Programme",
    "Warm Intro",
    "Annual Meeting 2025",
    "Needs DDQ",
]

FIRST_NAMES = _words("""
Aaron Abigail Adam Adrian Aisha Alan Alexander Alice Amelia Ana Andrew Anna Anthony Arjun Ava Benjamin Bianca
Brian Caleb Camila Carlos Caroline Charles Charlotte Chloe Christopher Claire Daniel David Diana Dmitri Elena
Elijah Elizabeth Emily Emma Ethan Evelyn Fatima Felix Fiona Gabriel Grace Hannah Harper Hassan Henry Hiroshi
Isabella Isaac Jack Jacob James Jasmine Javier Jessica John Julia Kai Katherine Kenji Laura Leah Leo Liam Lily
Lucas Lucia Maria Mark Mateo Matthew Maya Mei Michael Mia Mohammed Naomi Nathan Nina Noah Olivia Omar Owen
Paul Priya Rachel Rafael Rebecca Richard Rohan Ruth Samuel Sarah Sebastian Sofia Sophie Stephen Thomas Valentina
Victoria William Yara Yusuf Zoe
""")

LAST_NAMES = _words("""
Abbott Adams Agarwal Alvarez Anderson Bailey Baker Banerjee Barnes Bell Bennett Brooks Brown Campbell Carter
Castillo Chen Clark Collins Cooper Cruz Davies Diaz Edwards Evans Fischer Foster Garcia Gomez Gonzalez Graham
Green Gupta Hall Hansen Harris Hayes Hernandez Hill Howard Hughes Ibrahim Ito Jackson Jensen Johnson Jones Kaur
Kelly Khan Kim King Kowalski Kumar Larsen Lee Lewis Lopez Martin Martinez Mehta Miller Mitchell Moore Morales
Morgan Murphy Nakamura Nguyen Novak Okafor Olsen Ortiz Park Patel Perez Peterson Phillips Price Ramirez Reed
Reyes Richardson Rivera Roberts Robinson Rodriguez Rossi Russell Sanchez Santos Schmidt Scott Shah Silva Singh
Smith Sullivan Suzuki Tanaka Taylor Thomas Thompson Torres Turner Walker Wang Ward Watson White Williams Wilson
Wong Wright Yamamoto Young Zhang
""")

NAME_STEMS_A = _words("""
Alder Amber Anchor Arbor Aspen Beacon Birch Bluewater Boulder Bramble Brook Cedar Clear Cobalt Copper Crescent
Crystal Eagle Elm Ember Falcon Fern Fox Glacier Golden Granite Harbor Hawthorn Heron Highland Horizon Iron Juniper
Keystone Lake Laurel Linden Maple Meadow Mesa Millbrook Northgate Oak Orchard Osprey Pine Prairie Quarry Raven
Ridgeway Riverside Rowan Sage Sandstone Silver Spruce Stone Sycamore Timber Valley Willow
""")

NAME_STEMS_B = _words("""
Bay Bend Bluff Bridge Canyon Creek Crest Crossing Dale Field Ford Gate Glen Grove Haven Hill Hollow Island
Landing Lane Ledge Mill Park Peak Point Pond Reach Ridge Rock Run Shore Spring Springs Street Summit Vale
View Wood
""")

# (organization type, which is also its LPs' investor type; name suffixes; weight)
ORG_KINDS = [
    (
        OrganizationType.FAMILY_OFFICE,
        ["Family Office", "Family Partners", "Private Office"],
        22,
    ),
    (OrganizationType.ENDOWMENT, ["Endowment", "University Endowment", "College Endowment"], 8),
    (
        OrganizationType.FOUNDATION,
        ["Foundation", "Charitable Trust", "Community Foundation"],
        10,
    ),
    (OrganizationType.PENSION, ["Pension Fund", "Retirement System", "Pension Trust"], 6),
    (
        OrganizationType.FUND_OF_FUNDS,
        ["Capital Partners", "Fund Partners", "Investment Partners"],
        10,
    ),
    (OrganizationType.CORPORATE, ["Holdings", "Industries", "Group"], 8),
    (
        OrganizationType.WEALTH_MANAGER,
        ["Wealth Management", "Wealth Advisors", "Private Wealth"],
        20,
    ),
    (OrganizationType.INSURANCE, ["Insurance Group", "Mutual Insurance", "Life Assurance"], 5),
    (OrganizationType.BANK, ["Bank", "Trust Company", "Private Bank"], 4),
    (OrganizationType.OTHER, ["Ventures", "Capital", "Investment Office"], 7),
]

CITIES = [
    ("New York", "NY", "United States"), ("Boston", "MA", "United States"), ("San Francisco", "CA", "United States"),
    ("Palo Alto", "CA", "United States"), ("Los Angeles", "CA", "United States"), ("Chicago", "IL", "United States"),
    ("Austin", "TX", "United States"), ("Dallas", "TX", "United States"), ("Seattle", "WA", "United States"),
    ("Denver", "CO", "United States"), ("Miami", "FL", "United States"), ("Greenwich", "CT", "United States"),
    ("Toronto", "ON", "Canada"), ("London", "", "United Kingdom"), ("Zurich", "", "Switzerland"),
    ("Geneva", "", "Switzerland"), ("Singapore", "", "Singapore"), ("Hong Kong", "", "Hong Kong"),
    ("Tokyo", "", "Japan"), ("Sydney", "NSW", "Australia"), ("Dubai", "", "United Arab Emirates"),
    ("Frankfurt", "", "Germany"), ("Stockholm", "", "Sweden"), ("Amsterdam", "", "Netherlands"),
]  # fmt: skip

TITLES = [
    "Chief Investment Officer", "Managing Director", "Partner", "Principal", "Director of Private Markets",
    "Head of Alternatives", "Senior Investment Officer", "Portfolio Manager", "Investment Director",
    "Vice President", "Investment Associate", "Investment Analyst", "Founder", "Trustee", "Chief Executive Officer",
]  # fmt: skip

SOURCES = ["Referral", "Conference", "Inbound", "Placement agent", "LinkedIn", "Existing LP", "Event"]

# Cheque sizes, weighted towards the typical LP ticket.
AMOUNTS = [250_000, 500_000, 1_000_000, 2_000_000, 2_500_000, 3_000_000, 5_000_000, 7_500_000, 10_000_000, 15_000_000]
AMOUNT_WEIGHTS = [10, 16, 20, 14, 10, 8, 10, 5, 5, 2]

# Fund I is closed, so its deals sit in the won and lost columns; Fund II is raising.
STAGE_WEIGHTS = {
    FundStatus.CLOSED: {StageOutcome.OPEN: 0, StageOutcome.WON: 70, StageOutcome.LOST: 30},
    FundStatus.RAISING: {StageOutcome.OPEN: 75, StageOutcome.WON: 10, StageOutcome.LOST: 15},
}

NEXT_STEPS = [
    "Send the deck and track record", "Schedule an intro call", "Follow up on the DDQ", "Share the data room",
    "Book a meeting with the partners", "Send the PPM and subscription docs", "Reference calls with existing LPs",
    "Answer the fee and terms questions", "Confirm the allocation size", "Invite to the annual meeting",
]  # fmt: skip

LOST_REASONS = ["Allocation full this year", "Prefers later-stage funds", "Ticket size too small", "Went quiet"]

SUBJECTS = {
    CommunicationType.EMAIL: [
        "Fund update for {org}",
        "Quarterly letter",
        "Follow-up on our call",
        "Deck and one-pager",
        "Data room access",
        "Capital call notice",
        "Annual meeting invitation",
    ],
    CommunicationType.CALL: ["Intro call", "Catch-up call", "Re-up call", "Diligence call", "Reference call"],
    CommunicationType.MEETING: ["Meeting at {org}", "Partner meeting", "Diligence session", "Lunch", "Annual meeting"],
    CommunicationType.NOTE: ["Notes on {org}", "Allocation notes", "Internal note", "Feedback from the IC"],
    CommunicationType.TEXT: ["Quick check-in", "Running late", "Thanks for today"],
}
COMM_TYPE_WEIGHTS = {
    CommunicationType.EMAIL: 45,
    CommunicationType.CALL: 25,
    CommunicationType.MEETING: 15,
    CommunicationType.NOTE: 12,
    CommunicationType.TEXT: 3,
}
OUTCOMES = ["", "", "Positive", "Needs more information", "Interested in Fund II", "Not a fit right now"]
ACTIONS = [
    "Send follow-up email",
    "Schedule next meeting",
    "Share the latest quarterly report",
    "Call back",
    "Send the DDQ answers",
    "Introduce to a portfolio founder",
]


class BulkSeedError(Exception):
    """The bulk data cannot be added to this database (already seeded, no stages, …)."""


@dataclass
class BulkSeedResult:
    scale: int
    as_of: datetime.date
    created: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        parts = ", ".join(f"{count:,} {label}" for label, count in self.created.items() if count)
        return f"Seeded scale {self.scale:,} (as of {self.as_of.isoformat()}): {parts}."


def seed_bulk(scale: int, *, as_of: datetime.date | None = None, batch_size: int = BATCH_SIZE) -> BulkSeedResult:
    """Add a deterministic data set of size ``scale``; raises BulkSeedError instead of writing a partial one."""
    if not 1 <= scale <= MAX_SCALE:
        raise BulkSeedError(f"--scale must be between 1 and {MAX_SCALE:,}.")
    if not connection.features.can_return_rows_from_bulk_insert:
        # Foreign keys to just-inserted rows and their history need the ids back from each insert.
        raise BulkSeedError(
            "seed_bulk needs a database that returns ids from bulk inserts (SQLite ≥ 3.35, PostgreSQL)."
        )
    with transaction.atomic(), as_system():
        result = _Seeder(scale, as_of or timezone.localdate(), batch_size).run()
        # bulk_create skipped the signals: the stored relationship strengths and last touches, in bulk.
        strength.recompute_all()
        refresh_last_touch()
        return result


class _Seeder:
    def __init__(self, scale: int, as_of: datetime.date, batch_size: int) -> None:
        self.scale = scale
        self.rng = random.Random(scale)
        self.as_of = as_of
        # A fixed time of day keeps datetimes identical between runs on the same reference date.
        self.as_of_dt = timezone.make_aware(datetime.datetime.combine(as_of, datetime.time(12, 0)))
        self.batch_size = batch_size
        self.result = BulkSeedResult(scale, as_of)
        self.actor: User | None = None

    # --- helpers --------------------------------------------------------------------------

    def insert(self, model: type[models.Model], objs: list[Any], tag_ids: list[list[int]] | None = None) -> list[Any]:
        """Bulk insert ``objs`` with one history row each (and their tag links, when given).

        With tags, the steps of bulk_create_with_history are taken apart so the links exist
        before the history rows are written: the "+" row then carries the tag snapshot, as a
        save() followed by tags.set() would have left it.
        """
        if tag_ids is None:
            created = bulk_create_with_history(objs, model, batch_size=self.batch_size, default_user=self.actor)
            self.result.created[str(model._meta.verbose_name_plural)] += len(created)
            return created
        created = model._default_manager.bulk_create(objs, batch_size=self.batch_size)
        tag_field = model._meta.get_field("tags")
        through = tag_field.remote_field.through
        own_fk = f"{tag_field.m2m_field_name()}_id"
        links = [
            through(**{own_fk: obj.pk, "tag_id": tag_id})
            for obj, ids in zip(created, tag_ids, strict=True)
            for tag_id in ids
        ]
        links = through.objects.bulk_create(links, batch_size=self.batch_size)
        history = model.history.bulk_history_create(created, batch_size=self.batch_size, default_user=self.actor)
        if links:
            self.insert_tag_history(model, history, links)
        self.result.created[str(model._meta.verbose_name_plural)] += len(created)
        return created

    def insert_tag_history(self, model: type[models.Model], history: list[Any], links: list[Any]) -> None:
        tag_field = model._meta.get_field("tags")
        # simple_history keeps the generated m2m history models in this registry keyed by field.
        m2m_history = HistoricalRecords.m2m_models[tag_field]
        own_fk = f"{tag_field.m2m_field_name()}_id"
        history_id_by_pk = {row.id: row.history_id for row in history}
        rows = [
            m2m_history(
                id=link.pk,
                history_id=history_id_by_pk[getattr(link, own_fk)],
                tag_id=link.tag_id,
                **{own_fk: getattr(link, own_fk)},
            )
            for link in links
        ]
        m2m_history.objects.bulk_create(rows, batch_size=self.batch_size)

    def save_one(self, obj: models.Model) -> None:
        obj._history_user = self.actor
        obj.save()

    def days(self, low: int, high: int) -> datetime.date:
        return self.as_of + datetime.timedelta(days=self.rng.randint(low, high))

    def amount(self) -> Decimal:
        return Decimal(self.rng.choices(AMOUNTS, AMOUNT_WEIGHTS)[0])

    # --- steps ----------------------------------------------------------------------------

    def run(self) -> BulkSeedResult:
        # Draw everything that must be unique first, so a clash refuses before anything is written.
        org_plan = self.plan_organizations()
        contact_plan = self.plan_contacts(org_plan)
        self.refuse_clashes(org_plan, contact_plan)
        stages = list(Stage.objects.order_by("order", "pk"))
        if not stages:
            raise BulkSeedError(
                "There are no pipeline stages: add them in the admin (a fresh migrate creates the defaults)."
            )

        team = self.team()
        tags = self.tags()
        funds = self.funds()
        orgs = self.organizations(org_plan, tags)
        contacts = self.contacts(contact_plan, orgs, team, tags)
        self.lps(contacts, orgs, funds)
        opportunities = self.opportunities(contacts, team, funds, stages)
        self.communications(contacts, team, opportunities)
        return self.result

    def plan_organizations(self) -> list[dict[str, Any]]:
        # Names are unique case-insensitively, and must not take the demo set's names either.
        taken = {demo_name.casefold() for demo_name, *_ in seed_demo.ORGANIZATIONS}
        kinds = list(ORG_KINDS)
        weights = [kind[2] for kind in ORG_KINDS]
        plan = []
        for index in range(self.scale):
            kind = self.rng.choices(kinds, weights)[0]
            for _attempt in range(20):
                stem = f"{self.rng.choice(NAME_STEMS_A)} {self.rng.choice(NAME_STEMS_B)}"
                name = f"{stem} {self.rng.choice(kind[1])}"
                if name.casefold() not in taken:
                    break
            else:
                name = f"{name} {index + 1}"  # the word lists hold no digits, so this is unique
            taken.add(name.casefold())
            plan.append({"name": name, "kind": kind, "domain": re.sub(r"[^a-z0-9]+", "-", name.lower()) + ".example"})
        return plan

    def plan_contacts(self, org_plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
        count = self.scale * 5 // 2
        used_local_parts: dict[int, Counter[str]] = defaultdict(Counter)
        plan = []
        for index in range(count):
            # Every organization gets one contact; the rest land anywhere.
            org_index = index if index < self.scale else self.rng.randrange(self.scale)
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            local = f"{first}.{last}".lower()
            used_local_parts[org_index][local] += 1
            seen = used_local_parts[org_index][local]
            if seen > 1:
                local = f"{local}{seen}"
            plan.append(
                {
                    "first_name": first,
                    "last_name": last,
                    "org_index": org_index,
                    "email": f"{local}@{org_plan[org_index]['domain']}",
                }
            )
        return plan

    def refuse_clashes(self, org_plan: list[dict[str, Any]], contact_plan: list[dict[str, Any]]) -> None:
        existing_names = set(Organization.objects.values_list(Lower("name"), flat=True))
        clashes = [p["name"] for p in org_plan if p["name"].lower() in existing_names]
        if not clashes:
            existing_emails = set(Contact.objects.exclude(email="").values_list(Lower("email"), flat=True))
            clashes = [p["email"] for p in contact_plan if p["email"] in existing_emails]
        if clashes:
            raise BulkSeedError(
                f"seed_bulk --scale {self.scale} would create {len(clashes):,} records that already exist "
                f"(e.g. {clashes[0]!r}): this database already holds bulk-seeded data. "
                "Run it against a fresh database (a new CRM_DATA_DIR, then migrate), or use another --scale."
            )

    def team(self) -> list[User]:
        active = User.objects.filter(is_active=True)
        self.actor = active.filter(role=Role.ADMIN).order_by("pk").first() or active.order_by("pk").first()
        missing = MIN_TEAM - active.count()
        taken = set(User.objects.values_list("username", flat=True))
        for username, full_name in TEAM:
            if missing <= 0:
                break
            if username in taken:
                continue
            user = User(username=username, full_name=full_name, role=Role.MEMBER)
            user.set_unusable_password()  # sign-in only after an admin sets a password
            user._history_user = self.actor or user
            user.save()
            self.actor = self.actor or user
            self.result.created["users"] += 1
            missing -= 1
        return list(User.objects.filter(is_active=True).order_by("pk"))

    def tags(self) -> list[Tag]:
        existing = {tag.name.casefold(): tag for tag in Tag.objects.all()}
        colours = list(TagColour.values)
        new = [
            Tag(name=name, colour=colours[index % len(colours)])
            for index, name in enumerate(TAGS)
            if name.casefold() not in existing
        ]
        if new:
            self.insert(Tag, new)
        by_name = {tag.name.casefold(): tag for tag in Tag.objects.all()}
        return [by_name[name.casefold()] for name in TAGS]

    def funds(self) -> dict[str, Fund]:
        funds = {}
        for spec in seed_demo.FUNDS:
            fund = Fund.objects.filter(name=spec["name"]).first()
            if fund is None:
                fund = Fund(**spec)
                self.save_one(fund)
                self.result.created["funds"] += 1
            funds[spec["name"]] = fund
        return funds

    def pick_tags(self, tags: list[Tag], most: int) -> list[int]:
        return sorted(tag.pk for tag in self.rng.sample(tags, self.rng.randint(0, most)))

    def organizations(self, plan: list[dict[str, Any]], tags: list[Tag]) -> list[Organization]:
        objs, tag_ids = [], []
        for row in plan:
            city, state, country = self.rng.choice(CITIES)
            objs.append(
                Organization(
                    name=row["name"],
                    type=row["kind"][0],
                    website=f"https://www.{row['domain']}",
                    phone=f"+1 555 01{self.rng.randint(0, 99):02d} {self.rng.randint(0, 9999):04d}",
                    email=f"info@{row['domain']}",
                    city=city,
                    state=state,
                    country=country,
                    created_by=self.actor,
                )
            )
            tag_ids.append(self.pick_tags(tags, 2))
        return self.insert(Organization, objs, tag_ids)

    def contacts(
        self, plan: list[dict[str, Any]], orgs: list[Organization], team: list[User], tags: list[Tag]
    ) -> list[Contact]:
        types = [ContactType.INVESTOR, ContactType.PROSPECT, ContactType.ADVISOR, ContactType.OTHER]
        statuses = list(ContactStatus.values)
        objs, tag_ids = [], []
        for row in plan:
            org = orgs[row["org_index"]]
            objs.append(
                Contact(
                    first_name=row["first_name"],
                    last_name=row["last_name"],
                    email=row["email"],
                    phone=f"+1 555 01{self.rng.randint(0, 99):02d} {self.rng.randint(0, 9999):04d}",
                    title=self.rng.choice(TITLES),
                    organization=org,
                    contact_type=self.rng.choices(types, [35, 55, 6, 4])[0],
                    status=self.rng.choices(statuses, [70, 20, 8, 2])[0],
                    source=self.rng.choice(SOURCES),
                    location=", ".join(part for part in (org.city, org.country) if part),
                    preferred_contact=self.rng.choice(PreferredContact.values),
                    owner=self.rng.choice(team),
                    created_by=self.actor,
                )
            )
            tag_ids.append(self.pick_tags(tags, 3))
        return self.insert(Contact, objs, tag_ids)

    def lps(self, contacts: list[Contact], orgs: list[Organization], funds: dict[str, Fund]) -> None:
        investors = [c for c in contacts if c.contact_type == ContactType.INVESTOR]
        chosen = sorted(self.rng.sample(investors, round(len(investors) * LP_SHARE)), key=lambda c: c.pk)
        investor_type = {org.pk: org.type for org in orgs}
        profiles = self.insert(
            LPProfile,
            [
                LPProfile(
                    contact=contact,
                    investor_type=investor_type[contact.organization_id],
                    accredited=True,
                    qualified_purchaser=self.rng.random() < 0.7,
                    preferred_communication=self.rng.choice(["Email", "Phone", "Quarterly letter only"]),
                )
                for contact in chosen
            ],
        )
        commitments = []
        fund_one, fund_two = funds["Fund I"], funds["Fund II"]
        for lp in profiles:
            in_one = self.rng.random() < 0.8
            in_two = self.rng.random() < 0.5 or not in_one
            if in_one:
                commitments.append(self.fund_one_commitment(lp, fund_one))
            if in_two:
                commitments.append(self.fund_two_commitment(lp, fund_two))
        self.insert(Commitment, commitments)

    def fund_one_commitment(self, lp: LPProfile, fund: Fund) -> Commitment:
        amount = self.amount()
        status = self.rng.choices([CommitmentStatus.CLOSED, CommitmentStatus.SIGNED], [85, 15])[0]
        share = Decimal(self.rng.choice(["0.55", "0.70", "0.85", "1"]))
        first_close = fund.first_close_date or datetime.date(fund.vintage_year or self.as_of.year - 5, 9, 30)
        committed_on = first_close + datetime.timedelta(days=self.rng.randint(-120, 270))
        return self.climbed(
            Commitment(
                lp=lp,
                fund=fund,
                status=status,
                commitment_amount=amount,
                funded_amount=(amount * share).quantize(Decimal("0.01")),
                commitment_date=committed_on,
                legal_docs_signed=True,
                signed_date=committed_on + datetime.timedelta(days=self.rng.randint(7, 30)),
                wire_received=True,
                wire_date=committed_on + datetime.timedelta(days=self.rng.randint(30, 90)),
            )
        )

    def fund_two_commitment(self, lp: LPProfile, fund: Fund) -> Commitment:
        amount = self.amount()
        status = self.rng.choices(
            [CommitmentStatus.SOFT_CIRCLE, CommitmentStatus.HARD_CIRCLE, CommitmentStatus.SIGNED], [40, 35, 25]
        )[0]
        signed = status == CommitmentStatus.SIGNED
        # A first capital call has gone out to some signed LPs.
        funded = (amount * Decimal(self.rng.choice(["0", "0.10", "0.20"]))).quantize(Decimal("0.01")) if signed else 0
        committed_on = self.days(-240, -5)
        commitment = Commitment(
            lp=lp,
            fund=fund,
            status=status,
            commitment_amount=amount,
            funded_amount=Decimal(funded),
            commitment_date=committed_on,
            legal_docs_signed=signed,
            signed_date=committed_on + datetime.timedelta(days=self.rng.randint(3, 20)) if signed else None,
            wire_received=bool(funded),
            wire_date=committed_on + datetime.timedelta(days=self.rng.randint(25, 60)) if funded else None,
        )
        if status != CommitmentStatus.SOFT_CIRCLE:
            # Soft circles shrink on the way up: up to 45% more was indicated first. From the
            # date, not the generator, so the rest of the seeded data stays as it was.
            commitment.soft_amount = (amount * (1 + Decimal(committed_on.toordinal() % 4) * Decimal("0.15"))).quantize(
                Decimal("1000")
            )
            commitment.soft_date = committed_on - datetime.timedelta(days=30)
        return self.climbed(commitment)

    def climbed(self, commitment: Commitment) -> Commitment:
        """What Commitment.save() records on the ladder, which the bulk insert skips."""
        climb_ladder(commitment, adding=True, today=self.as_of)
        return commitment

    def opportunities(
        self, contacts: list[Contact], team: list[User], funds: dict[str, Fund], stages: list[Stage]
    ) -> dict[int, list[Opportunity]]:
        candidates = [c for c in contacts if c.contact_type in (ContactType.INVESTOR, ContactType.PROSPECT)] or contacts
        fund_list = [funds["Fund I"], funds["Fund II"]]
        stage_weights = {fund.pk: _stage_weights(stages, fund.status) for fund in fund_list}
        # New cards go below whatever each (fund, stage) column already holds.
        next_position: Counter[tuple[int, int]] = Counter()
        for row in Opportunity.objects.values("fund_id", "stage_id").annotate(top=models.Max("position")).order_by():
            next_position[(row["fund_id"], row["stage_id"])] = row["top"] + 1
        objs = []
        for _ in range(self.scale * 3 // 2):
            contact = self.rng.choice(candidates)
            fund = self.rng.choices(fund_list, [35, 65])[0]
            stage = self.rng.choices(stages, stage_weights[fund.pk])[0]
            column = (fund.pk, stage.pk)
            expected = self.amount()
            is_open = stage.outcome == StageOutcome.OPEN
            if fund.status == FundStatus.CLOSED:
                anchor = fund.final_close_date or fund.first_close_date or self.as_of
                close = anchor - datetime.timedelta(days=self.rng.randint(0, 270))
            else:
                close = self.days(30, 400)
            objs.append(
                Opportunity(
                    name=f"{contact.organization.name if contact.organization else contact.short_name} — {fund.name}",
                    contact=contact,
                    organization=contact.organization,
                    fund=fund,
                    stage=stage,
                    position=next_position[column],
                    expected_amount=expected,
                    commitment_amount=expected if stage.outcome == StageOutcome.WON else None,
                    # bulk_create skips save(), which would fill this from the stage
                    probability=stage.default_probability,
                    expected_close_date=close,
                    next_step=self.rng.choice(NEXT_STEPS) if is_open else "",
                    next_step_date=self.days(-10, 30) if is_open else None,
                    source=contact.source,
                    owner=self.rng.choice(team),
                    priority=self.rng.choices(list(Priority.values), [30, 50, 20])[0],
                    lost_reason=self.rng.choice(LOST_REASONS) if stage.outcome == StageOutcome.LOST else "",
                    stage_changed_at=self.as_of_dt - datetime.timedelta(days=self.rng.randint(0, 180)),
                    created_by=self.actor,
                )
            )
            next_position[column] += 1
        by_contact: dict[int, list[Opportunity]] = defaultdict(list)
        for opportunity in self.insert(Opportunity, objs):
            by_contact[opportunity.contact_id].append(opportunity)
        return by_contact

    def communications(
        self, contacts: list[Contact], team: list[User], opportunities: dict[int, list[Opportunity]]
    ) -> None:
        types = list(COMM_TYPE_WEIGHTS)
        weights = list(COMM_TYPE_WEIGHTS.values())
        objs = []
        for _ in range(self.scale * 10):
            contact = self.rng.choice(contacts)
            kind = self.rng.choices(types, weights)[0]
            when = self.as_of_dt - datetime.timedelta(minutes=self.rng.randint(0, 2 * 365 * 24 * 60))
            org_name = contact.organization.name if contact.organization else contact.short_name
            linked = opportunities.get(contact.pk)
            has_action = self.rng.random() < 0.2
            action_date = self.days(-20, 30) if has_action else None
            done = has_action and action_date < self.as_of and self.rng.random() < 0.5
            author = self.rng.choice(team)
            objs.append(
                Communication(
                    contact=contact,
                    opportunity=self.rng.choice(linked) if linked and self.rng.random() < 0.5 else None,
                    type=kind,
                    subject=self.rng.choice(SUBJECTS[kind]).format(org=org_name),
                    body=f"{kind.label} with {contact.short_name} of {org_name}.",
                    communication_date=when,
                    duration_minutes=(
                        self.rng.choice([15, 30, 45, 60, 90])
                        if kind in (CommunicationType.CALL, CommunicationType.MEETING)
                        else None
                    ),
                    outcome=self.rng.choice(OUTCOMES),
                    next_action=self.rng.choice(ACTIONS) if has_action else "",
                    next_action_date=action_date,
                    next_action_done=done,
                    next_action_done_at=(
                        timezone.make_aware(datetime.datetime.combine(action_date, datetime.time(17, 0)))
                        if done
                        else None
                    ),
                    next_action_done_by=author if done else None,
                    created_by=author,
                )
            )
        self.insert(Communication, objs)


def _stage_weights(stages: list[Stage], fund_status: str) -> list[float]:
    """How likely a new deal of this fund sits in each stage: the outcome's share split over its
    columns, tapering towards the later open columns as a real funnel does."""
    shares = STAGE_WEIGHTS.get(fund_status, STAGE_WEIGHTS[FundStatus.RAISING])
    by_outcome: dict[str, list[Stage]] = defaultdict(list)
    for stage in stages:
        by_outcome[stage.outcome].append(stage)
    weights = []
    for stage in stages:
        group = by_outcome[stage.outcome]
        if stage.outcome == StageOutcome.OPEN:
            rank = len(group) - group.index(stage)
            weights.append(shares.get(stage.outcome, 0) * rank / sum(range(1, len(group) + 1)))
        else:
            weights.append(shares.get(stage.outcome, 0) / len(group))
    return weights if any(weights) else [1.0] * len(stages)
