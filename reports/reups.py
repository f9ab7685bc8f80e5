"""The re-up cockpit: every LP of an earlier fund, with what they are asked for the fund being
raised, how far their re-up has got, the deal that tracks it, and who owns the relationship.

Here rather than in lps because it reads the pipeline (each LP's deal in the fund raised, and
the one-click deal for an LP who has none), which sits above the LP tracker in the layers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.db import transaction
from django.db.models import Case, IntegerField, QuerySet, Value, When

from contacts.models import Contact
from crm.lib.filters import every_word_matches
from crm.models import User
from lps.models import (
    COMMITTED_STATUSES,
    Commitment,
    CommitmentStatus,
    Fund,
    LPProfile,
    ReupAsk,
    ReupStatus,
    reup_status,
)
from pipeline import services
from pipeline.forms import OpportunityForm
from pipeline.models import Opportunity, Priority, Stage, StageOutcome

ZERO = Decimal("0")
# Re-upped: committed to the fund raised, i.e. hard circle or beyond (soft circles never count).
REUPPED = (ReupStatus.HARD, ReupStatus.SIGNED)
SIGNED_OR_BEYOND = (CommitmentStatus.SIGNED, CommitmentStatus.CLOSED)


class ReupFilterForm(forms.Form):
    """The cockpit's filters: one form drives the page, the htmx refresh and the export."""

    fund = forms.ModelChoiceField(queryset=Fund.objects.none(), required=False, empty_label=None, label="Fund raised")
    status = forms.ChoiceField(choices=[("", "Any status"), *ReupStatus.choices], required=False)
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False, empty_label="Any owner")
    q = forms.CharField(required=False, max_length=200, label="Search")

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["fund"].queryset = Fund.objects.visible_to(user).order_by("-vintage_year", "name")
        self.fields["owner"].queryset = User.objects.team()
        self.fields["owner"].label_from_instance = lambda u: u.display_name

    def value(self, name: str) -> Any:
        return self.cleaned_data.get(name) if self.is_valid() else None

    @property
    def is_filtered(self) -> bool:
        return any(self.data.get(name) for name in ("status", "owner", "q"))


@dataclass
class ReupRow:
    contact: Contact  # with last_touch, next_action and next_action_date
    profile: LPProfile
    prior_amount: Decimal
    prior_funds: list[str]
    ask: ReupAsk | None
    commitments: list[Commitment]  # to the fund raised, withdrawn ones included
    opportunity: Opportunity | None
    status: str = field(init=False)

    def __post_init__(self) -> None:
        self.status = reup_status(self.ask, [c.status for c in self.commitments])

    @property
    def ask_amount(self) -> Decimal:
        """The ask: what was set, else the prior commitment again."""
        return self.ask.amount if self.ask is not None else self.prior_amount

    @property
    def status_label(self) -> str:
        return ReupStatus(self.status).label

    @property
    def committed(self) -> Decimal:
        """Hard circle and beyond in the fund raised: the re-up dollars."""
        return sum((c.commitment_amount for c in self.commitments if c.status in COMMITTED_STATUSES), ZERO)

    @property
    def signed(self) -> Decimal:
        return sum((c.commitment_amount for c in self.commitments if c.status in SIGNED_OR_BEYOND), ZERO)

    @property
    def soft(self) -> Decimal:
        return sum((c.commitment_amount for c in self.commitments if c.status == CommitmentStatus.SOFT_CIRCLE), ZERO)

    @property
    def reupped(self) -> bool:
        return self.status in REUPPED


@dataclass
class Cockpit:
    fund: Fund | None
    rows: list[ReupRow]

    @property
    def currency(self) -> str:
        return self.fund.currency if self.fund else "USD"

    @property
    def prior_dollars(self) -> Decimal:
        return sum((row.prior_amount for row in self.rows), ZERO)

    @property
    def ask_dollars(self) -> Decimal:
        return sum((row.ask_amount for row in self.rows), ZERO)

    @property
    def reup_dollars(self) -> Decimal:
        return sum((row.committed for row in self.rows), ZERO)

    @property
    def signed_dollars(self) -> Decimal:
        return sum((row.signed for row in self.rows), ZERO)

    @property
    def soft_dollars(self) -> Decimal:
        return sum((row.soft for row in self.rows), ZERO)

    @property
    def lp_count(self) -> int:
        return len(self.rows)

    @property
    def reupped_count(self) -> int:
        return sum(1 for row in self.rows if row.reupped)

    @property
    def reupped_share(self) -> int:
        """Per cent of the prior LPs shown who have re-upped (hard circle or signed)."""
        return int(self.reupped_count * 100 / self.lp_count) if self.lp_count else 0

    @property
    def dollars_share(self) -> int:
        return int(self.reup_dollars * 100 / self.prior_dollars) if self.prior_dollars else 0


def raised_fund(user: Any, form: ReupFilterForm) -> Fund | None:
    """The fund chosen in the filter, else the one being raised now."""
    return form.value("fund") or Fund.objects.visible_to(user).current()


def _prior_lps(user: Any, fund: Fund) -> QuerySet[Commitment]:
    """Commitments to any other fund that count (hard circle and beyond): what makes a prior LP."""
    return Commitment.objects.visible_to(user).committed().exclude(fund=fund)


def _contacts(user: Any, fund: Fund, form: ReupFilterForm) -> QuerySet[Contact]:
    contacts = Contact.objects.visible_to(user).filter(lp_profile__in=_prior_lps(user, fund).values("lp"))
    if owner := form.value("owner"):
        contacts = contacts.filter(owner=owner)
    if q := form.value("q"):
        contacts = every_word_matches(contacts, q, ("first_name", "last_name", "email", "organization__name"))
    return contacts


def cockpit(user: Any, form: ReupFilterForm) -> Cockpit:
    """Every prior LP for the fund raised, filtered, in a fixed number of queries whatever
    their number: the contacts (with their activity), their prior commitments, their
    commitments to the fund raised, their asks, and their deals in it."""
    fund = raised_fund(user, form)
    if fund is None:
        return Cockpit(None, [])
    chosen = _contacts(user, fund, form)
    contacts = list(
        chosen.with_activity()
        .select_related("lp_profile", "owner", "organization")
        .order_by("last_name", "first_name", "pk")
    )
    # The same selection as a subquery, not a list of ids: no parameter limit, whatever the size.
    lp_ids = chosen.values("lp_profile")
    prior: dict[int, list[Commitment]] = {}
    for commitment in _prior_lps(user, fund).filter(lp__in=lp_ids).select_related("fund").order_by("fund__name"):
        prior.setdefault(commitment.lp_id, []).append(commitment)
    current: dict[int, list[Commitment]] = {}
    for commitment in Commitment.objects.visible_to(user).filter(fund=fund, lp__in=lp_ids).order_by("pk"):
        current.setdefault(commitment.lp_id, []).append(commitment)
    asks = {ask.lp_id: ask for ask in ReupAsk.objects.visible_to(user).filter(fund=fund, lp__in=lp_ids)}
    deals = linked_opportunities(user, fund, chosen.values("pk"))
    rows = []
    for contact in contacts:
        profile = contact.lp_profile
        earlier = prior.get(profile.pk, [])
        funds = list(dict.fromkeys(c.fund.name for c in earlier))
        row = ReupRow(
            contact,
            profile,
            sum((c.commitment_amount for c in earlier), ZERO),
            funds,
            asks.get(profile.pk),
            current.get(profile.pk, []),
            deals.get(contact.pk),
        )
        rows.append(row)
    status = form.value("status")
    if status:
        rows = [row for row in rows if row.status == status]
    return Cockpit(fund, rows)


def linked_opportunities(user: Any, fund: Fund, contact_ids: Any) -> dict[int, Opportunity]:
    """Each contact's deal in ``fund``: a won one first, else the open one most recently touched."""
    won_first = Case(
        When(stage__outcome=StageOutcome.WON, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    deals: dict[int, Opportunity] = {}
    queryset = (
        Opportunity.objects.visible_to(user)
        .active()
        .filter(fund=fund, contact__in=contact_ids)
        .select_related("stage")
        .order_by(won_first, "-updated_at", "-pk")
    )
    for opportunity in queryset:
        deals.setdefault(opportunity.contact_id, opportunity)
    return deals


def ask_for(user: Any, profile: LPProfile, fund: Fund) -> ReupAsk:
    """The LP's ask for ``fund``: the stored one, else an unsaved one at the prior amount."""
    stored = ReupAsk.objects.visible_to(user).filter(lp=profile, fund=fund).first()
    if stored is not None:
        return stored
    prior = _prior_lps(user, fund).filter(lp=profile).values_list("commitment_amount", flat=True)
    return ReupAsk(lp=profile, fund=fund, amount=sum(prior, ZERO))


class NoOpportunity(Exception):
    """The one-click deal could not be made; the message says why."""


def first_open_stage(user: Any) -> Stage | None:
    return Stage.objects.visible_to(user).filter(outcome=StageOutcome.OPEN).order_by("order", "pk").first()


@transaction.atomic
def create_opportunity(user: Any, profile: LPProfile, fund: Fund) -> Opportunity:
    """The LP's deal in ``fund``, in the first open stage, expecting the ask.

    Made through the pipeline's own form and service, so it is checked and recorded exactly
    like a deal added by hand (history, position, probability). Refused when the LP already
    has an open or won deal in the fund.
    """
    contact = profile.contact
    if linked_opportunities(user, fund, [contact.pk]):
        raise NoOpportunity(f"{contact} already has a deal in {fund}.")
    stage = first_open_stage(user)
    if stage is None:
        raise NoOpportunity("There is no open pipeline stage to put the deal in.")
    owner = contact.owner if contact.owner_id and contact.owner.is_active else None
    data = {
        "contact": contact.pk,
        "fund": fund.pk,
        "stage": stage.pk,
        "expected_amount": str(ask_for(user, profile, fund).amount),
        "owner": owner.pk if owner else "",
        "priority": Priority.MEDIUM,
        "name": "",
        "source": "Re-up",
    }
    form = OpportunityForm(data, user=user)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        raise NoOpportunity(f"The deal needs more than one click: {problems}")
    opportunity = form.save(commit=False)
    opportunity.created_by = user
    try:
        return services.save_with_stage_effects(opportunity, user, previous_stage=None)
    except services.MoveRefused as refusal:
        raise NoOpportunity(str(refusal)) from None


EXPORT_HEADERS = [
    "LP",
    "Email",
    "Organization",
    "Prior funds",
    "Prior commitment",
    "Fund raised",
    "Ask",
    "Asked on",
    "Re-up status",
    "Committed in fund raised",
    "Signed in fund raised",
    "Opportunity",
    "Opportunity stage",
    "Owner",
    "Last touch",
    "Next action",
    "Next action date",
]


def export_rows(data: Cockpit) -> Iterator[list[Any]]:
    """The table's rows, cell for cell, as the export writes them."""
    for row in data.rows:
        contact, deal = row.contact, row.opportunity
        yield [
            contact.full_name,
            contact.email,
            contact.organization.name if contact.organization else "",
            ", ".join(row.prior_funds),
            row.prior_amount,
            data.fund.name if data.fund else "",
            row.ask_amount,
            row.ask.asked_on if row.ask else None,
            row.status_label,
            row.committed,
            row.signed,
            deal.name if deal else "",
            deal.stage.name if deal else "",
            contact.owner.display_name if contact.owner else "",
            contact.last_touch,
            contact.next_action or "",
            contact.next_action_date,
        ]
