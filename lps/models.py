"""Funds, LP profiles and their per-fund commitments."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import Count, Q, Sum
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from contacts.models import ContactType, OrganizationType
from crm.lib.money import MONEY
from crm.lib.scoping import ScopedQuerySet
from crm.lib.text import NAME_MAX, NOTE_MAX, SHORT_NAME_MAX, LengthLimit
from crm.models import CustomFieldEntity, CustomFieldsModel, TimeStampedModel
from crm.permissions import ANY_FIELD, OPEN, Capability, GuardedModel, require_write
from lps.documents import document_path, document_storage, remove_file_on_commit


class FundStatus(models.TextChoices):
    RAISING = "raising", "Raising"
    CLOSED = "closed", "Closed"


class FundQuerySet(ScopedQuerySet):
    def current(self) -> Fund | None:
        """The fund being raised (the newest raising fund), else the newest fund. A fund without
        a vintage year comes after those with one, on every database: PostgreSQL would put
        NULL first in a descending order, SQLite last."""
        return self.order_by(
            models.Case(models.When(status=FundStatus.RAISING, then=0), default=1),
            models.F("vintage_year").desc(nulls_last=True),
            "-pk",
        ).first()


class Fund(GuardedModel, TimeStampedModel):
    """A fund: raised through the pipeline, invested in through commitments."""

    # The fund set-up (names, targets, closes) frames every commitment and total.
    WRITE_RULES = {ANY_FIELD: Capability.CONFIGURE_FUNDS}

    name = models.CharField(max_length=SHORT_NAME_MAX, unique=True)
    vintage_year = models.PositiveSmallIntegerField(null=True, blank=True)
    target_size = models.DecimalField(**MONEY, null=True, blank=True)
    hard_cap = models.DecimalField(**MONEY, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    first_close_date = models.DateField(null=True, blank=True)
    final_close_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=FundStatus.choices, default=FundStatus.RAISING)
    late_close_interest_rate = models.DecimalField(
        "late-close interest (% a year)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
        help_text="Charged to an LP admitted at a later close on their share of capital already called, "
        "from the first close to their admission (simple interest, actual/365).",
    )
    wire_instructions = models.TextField(
        blank=True,
        max_length=NOTE_MAX,
        validators=[LengthLimit(NOTE_MAX)],
        help_text="Bank, account name and number, reference: printed on every capital call notice.",
    )

    objects = FundQuerySet.as_manager()
    # The tables keep the names they had when funds lived in pipeline: the move (lps 0004,
    # pipeline 0004) changed only where the model is declared, and no data moved.
    history = HistoricalRecords(table_name="pipeline_historicalfund")

    class Meta:
        db_table = "pipeline_fund"
        ordering = ["-vintage_year", "name"]

    def __str__(self) -> str:
        return self.name


class CloseState(models.TextChoices):
    PLANNED = "planned", "Planned"
    HELD = "held", "Held"


class Close(GuardedModel, TimeStampedModel):
    """One of a fund's closes (first, interim…, final): commitments are admitted at a close."""

    WRITE_RULES = {ANY_FIELD: Capability.CONFIGURE_FUNDS}

    fund = models.ForeignKey(Fund, on_delete=models.CASCADE, related_name="closes")
    name = models.CharField(max_length=SHORT_NAME_MAX, help_text="e.g. First close, Second close, Final close.")
    date = models.DateField()
    minimum_amount = models.DecimalField(
        "minimum or target", **MONEY, null=True, blank=True, help_text="What must be signed to hold this close."
    )
    state = models.CharField(max_length=10, choices=CloseState.choices, default=CloseState.PLANNED)

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["fund", "date", "pk"]
        constraints = [models.UniqueConstraint(fields=["fund", "name"], name="close_name_unique_per_fund")]

    def __str__(self) -> str:
        return f"{self.fund} · {self.name}"

    @property
    def is_held(self) -> bool:
        return self.state == CloseState.HELD


class CallPurpose(models.TextChoices):
    INVESTMENTS = "investments", "Investments"
    FEES = "fees", "Management fees"
    EXPENSES = "expenses", "Fund expenses"
    MIXED = "mixed", "Investments, fees and expenses"
    # What LPs had paid in before the CRM kept calls (lps 0009): one per fund, number 0.
    OPENING = "opening", "Pre-system contributions"


class CapitalCall(GuardedModel, TimeStampedModel):
    """A capital call of a fund: its lines ask each admitted commitment for its pro-rata share."""

    WRITE_RULES = {ANY_FIELD: Capability.CHANGE_COMMITMENTS}

    fund = models.ForeignKey(Fund, on_delete=models.PROTECT, related_name="capital_calls")
    number = models.PositiveSmallIntegerField(help_text="Call 1, 2, 3… of the fund (0: pre-system contributions).")
    notice_date = models.DateField()
    due_date = models.DateField()
    purpose = models.CharField(max_length=12, choices=CallPurpose.choices, default=CallPurpose.INVESTMENTS)
    amount = models.DecimalField("total called", **MONEY, validators=[MinValueValidator(0)])
    percent = models.DecimalField(
        "per cent of commitments",
        max_digits=7,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Set when the call was made as a percentage of commitments; the total follows from it.",
    )
    notes = models.TextField(blank=True, max_length=NOTE_MAX, validators=[LengthLimit(NOTE_MAX)])

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["fund", "number"]
        constraints = [models.UniqueConstraint(fields=["fund", "number"], name="capital_call_number_unique_per_fund")]

    def __str__(self) -> str:
        return f"{self.fund} · call {self.number}" if self.number else f"{self.fund} · pre-system contributions"


class CallLine(GuardedModel, TimeStampedModel):
    """One commitment's share of a capital call, and what the LP has paid of it (partly, maybe)."""

    WRITE_RULES = {ANY_FIELD: Capability.CHANGE_COMMITMENTS}

    call = models.ForeignKey(CapitalCall, on_delete=models.CASCADE, related_name="lines")
    commitment = models.ForeignKey("lps.Commitment", on_delete=models.PROTECT, related_name="call_lines")
    amount = models.DecimalField("called", **MONEY, validators=[MinValueValidator(0)])
    received_amount = models.DecimalField("received", **MONEY, default=Decimal("0"), validators=[MinValueValidator(0)])
    received_date = models.DateField("last received on", null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = "capital call line"
        ordering = ["call", "pk"]
        constraints = [models.UniqueConstraint(fields=["call", "commitment"], name="call_line_one_per_commitment")]

    def __str__(self) -> str:
        return f"{self.call} · {self.commitment.lp}"

    @property
    def outstanding(self) -> Decimal:
        return max(self.amount - self.received_amount, Decimal("0"))


class DistributionBasis(models.TextChoices):
    PAID_IN = "paid_in", "Pro rata to paid-in capital"
    COMMITMENTS = "commitments", "Pro rata to commitments"


class DistributionKind(models.TextChoices):
    """The three parts of a distribution, each allocated on its own (the field names match)."""

    RETURN_OF_CAPITAL = "return_of_capital", "Return of capital"
    GAIN = "gain", "Gain"
    INCOME = "income", "Income"


DISTRIBUTION_KINDS = [kind.value for kind in DistributionKind]


class Distribution(GuardedModel, TimeStampedModel):
    """Money a fund pays out to its admitted commitments, split by kind; its lines give each LP its share."""

    WRITE_RULES = {ANY_FIELD: Capability.CHANGE_COMMITMENTS}

    fund = models.ForeignKey(Fund, on_delete=models.PROTECT, related_name="distributions")
    number = models.PositiveSmallIntegerField(help_text="Distribution 1, 2, 3… of the fund.")
    date = models.DateField("paid on")
    amount = models.DecimalField("total distributed", **MONEY, validators=[MinValueValidator(0)])
    return_of_capital = models.DecimalField(**MONEY, default=Decimal("0"), validators=[MinValueValidator(0)])
    gain = models.DecimalField(**MONEY, default=Decimal("0"), validators=[MinValueValidator(0)])
    income = models.DecimalField(**MONEY, default=Decimal("0"), validators=[MinValueValidator(0)])
    basis = models.CharField(max_length=12, choices=DistributionBasis.choices, default=DistributionBasis.PAID_IN)
    notes = models.TextField(blank=True, max_length=NOTE_MAX, validators=[LengthLimit(NOTE_MAX)])

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["fund", "number"]
        # That the kinds add up to the total is checked where a distribution is made
        # (lps.distributions), not by a CHECK: SQLite compares decimals as floating point.
        constraints = [models.UniqueConstraint(fields=["fund", "number"], name="distribution_number_unique_per_fund")]

    def __str__(self) -> str:
        return f"{self.fund} · distribution {self.number}"


class DistributionLine(GuardedModel, TimeStampedModel):
    """One commitment's share of a distribution, per kind; ``amount`` is their sum."""

    WRITE_RULES = {ANY_FIELD: Capability.CHANGE_COMMITMENTS}

    distribution = models.ForeignKey(Distribution, on_delete=models.CASCADE, related_name="lines")
    commitment = models.ForeignKey("lps.Commitment", on_delete=models.PROTECT, related_name="distribution_lines")
    amount = models.DecimalField("distributed", **MONEY, validators=[MinValueValidator(0)])
    return_of_capital = models.DecimalField(**MONEY, default=Decimal("0"), validators=[MinValueValidator(0)])
    gain = models.DecimalField(**MONEY, default=Decimal("0"), validators=[MinValueValidator(0)])
    income = models.DecimalField(**MONEY, default=Decimal("0"), validators=[MinValueValidator(0)])

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = "distribution line"
        ordering = ["distribution", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["distribution", "commitment"], name="distribution_line_one_per_commitment")
        ]

    def __str__(self) -> str:
        return f"{self.distribution} · {self.commitment.lp}"


class LPProfile(GuardedModel, CustomFieldsModel, TimeStampedModel):
    """An investor's profile; one per contact. Creating one makes the contact an investor."""

    # Compliance flags are a manager's call; the rest is everyday relationship work.
    WRITE_RULES = {
        "id": OPEN,
        "created_at": OPEN,
        "updated_at": OPEN,
        "custom_fields": OPEN,
        "contact": OPEN,
        "investor_type": OPEN,
        "accredited": Capability.CHANGE_COMPLIANCE,
        "qualified_purchaser": Capability.CHANGE_COMPLIANCE,
        "preferred_communication": OPEN,
        "notes": OPEN,
    }

    CUSTOM_FIELD_ENTITY = CustomFieldEntity.LP_PROFILE

    contact = models.OneToOneField("contacts.Contact", on_delete=models.CASCADE, related_name="lp_profile")
    investor_type = models.CharField(
        max_length=20, choices=OrganizationType.choices, default=OrganizationType.INDIVIDUAL
    )
    accredited = models.BooleanField("accredited investor", default=False)
    qualified_purchaser = models.BooleanField(default=False)
    preferred_communication = models.CharField(max_length=SHORT_NAME_MAX, blank=True)
    notes = models.TextField(blank=True, max_length=NOTE_MAX, validators=[LengthLimit(NOTE_MAX)])

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = "LP profile"
        ordering = ["contact__last_name", "contact__first_name"]
        indexes = [models.Index(fields=["investor_type"])]

    def __str__(self) -> str:
        return str(self.contact)

    def save(self, *args: Any, keep_contact_type: bool = False, **kwargs: Any) -> None:
        """Save; the contact becomes an investor unless ``keep_contact_type`` says otherwise.

        Only an import passes ``keep_contact_type``: when its file gave the person a type
        explicitly (a “Relationship” column), or the profile only holds a soft circle or a
        withdrawn commitment, the file's word stands (see lps.resources).
        """
        flags = self.guarded_changes() & set(FLAG_KINDS)
        with transaction.atomic():
            super().save(*args, **kwargs)
            for flag in sorted(flags):
                ComplianceCheck.follow_flag(self, flag)
            contact = self.contact
            if not keep_contact_type and contact.contact_type != ContactType.INVESTOR:
                contact.contact_type = ContactType.INVESTOR
                # Carry the acting user over, so the contact's history names who did it.
                if hasattr(self, "_history_user"):
                    contact._history_user = self._history_user
                contact.save(update_fields=["contact_type", "updated_at"])

    def get_absolute_url(self) -> str:
        return reverse("lp_detail", args=[self.pk])

    @classmethod
    def after_bulk_write(cls, profiles: list[LPProfile], user: Any, reason: str = "") -> None:
        """The import wrote these profiles in bulk (no save()): their checks follow their flags,
        with the import's change reason in their history (its undo takes them back with the profiles)."""
        ComplianceCheck.follow_flags_in_bulk(profiles, user, reason)


class CommitmentStatus(models.TextChoices):
    SOFT_CIRCLE = "soft_circle", "Soft circle"
    HARD_CIRCLE = "hard_circle", "Hard circle"
    SIGNED = "signed", "Signed"
    CLOSED = "closed", "Closed"
    # The LP pulled out. The row keeps the amount once indicated (the record of what
    # happened) but counts toward no total: not committed, not soft-circled, not funded.
    WITHDRAWN = "withdrawn", "Withdrawn"


# Soft circles are non-binding: "committed" counts hard circle and beyond, always.
COMMITTED_STATUSES = (CommitmentStatus.HARD_CIRCLE, CommitmentStatus.SIGNED, CommitmentStatus.CLOSED)

# The ladder a commitment climbs, lowest first, with the amount and date fields that keep
# each rung: reaching a rung records its own amount, so moving up never overwrites the one
# below and soft-to-hard-to-signed slippage stays visible. (The signed rung's date is the
# date the subscription documents were signed, a field that predates the ladder.)
LADDER = (
    (CommitmentStatus.SOFT_CIRCLE, "soft_amount", "soft_date"),
    (CommitmentStatus.HARD_CIRCLE, "hard_amount", "hard_date"),
    (CommitmentStatus.SIGNED, "signed_amount", "signed_date"),
    (CommitmentStatus.CLOSED, "closed_amount", "closed_date"),
)
RUNG_STATUSES = [status for status, _amount, _date in LADDER]
LADDER_FIELDS = [name for _status, *names in LADDER for name in names] + ["withdrawn_date", "withdrawn_reason"]


def ladder_aggregates() -> dict[str, Any]:
    """``<status>_count`` and ``<status>_amount`` per rung reached, and ``withdrawn_count`` and
    ``withdrawn_amount`` (the amount a withdrawn commitment last had): for ``aggregate`` or,
    grouped by owner or fund, ``values(...).annotate``."""
    aggregates: dict[str, Any] = {}
    for status, amount_field, _date in LADDER:
        aggregates[f"{status}_count"] = Count("pk", filter=Q(**{f"{amount_field}__isnull": False}))
        aggregates[f"{status}_amount"] = Sum(amount_field)
    withdrawn = Q(status=CommitmentStatus.WITHDRAWN)
    aggregates["withdrawn_count"] = Count("pk", filter=withdrawn)
    aggregates["withdrawn_amount"] = Sum("commitment_amount", filter=withdrawn)
    return aggregates


def ladder_figures(row: dict[str, Any]) -> dict[str, Any]:
    """A row of ``ladder_aggregates`` with the empty sums as 0."""
    zero = {key: 0 if key.endswith("_count") else Decimal("0") for key in row}
    return {key: zero[key] if value is None else value for key, value in row.items()}


@dataclass(frozen=True)
class Rung:
    status: str
    label: str
    amount: Decimal | None
    date: datetime.date | None

    @property
    def reached(self) -> bool:
        return self.amount is not None


def climb_ladder(commitment: Commitment, *, adding: bool, today: datetime.date) -> None:
    """Record the commitment's status and amount on its rung of the ladder.

    What every write path runs before saving (``Commitment.save`` and the import's bulk
    writer): the current rung takes today's amount (a revised hard circle is still a hard
    circle); rungs below that were skipped (entered straight as signed) are filled with the
    same amount and date, so each rung reached implies the ones below; rungs above are
    cleared, because moving a commitment back down is a correction. A withdrawal keeps
    every rung as it was and records when: the record of how far the LP got.
    """
    status = commitment.status
    # A commitment entered already on a rung reached it when its commitment date says, if
    # it says (an import's past, or a commitment written down late); a move up, today.
    first_date = commitment.commitment_date if adding else today
    if status == CommitmentStatus.WITHDRAWN:
        commitment.withdrawn_date = commitment.withdrawn_date or first_date
        if commitment.soft_amount is None:
            commitment.soft_amount, commitment.soft_date = commitment.commitment_amount, first_date
        return
    commitment.withdrawn_date, commitment.withdrawn_reason = None, ""
    level = RUNG_STATUSES.index(status) if status in RUNG_STATUSES else 0
    _status, amount_field, date_field = LADDER[level]
    setattr(commitment, amount_field, commitment.commitment_amount)
    reached_on = getattr(commitment, date_field) or first_date
    setattr(commitment, date_field, reached_on)
    for _status, amount_field, date_field in LADDER[:level]:
        if getattr(commitment, amount_field) is None:
            setattr(commitment, amount_field, commitment.commitment_amount)
            if getattr(commitment, date_field) is None:
                setattr(commitment, date_field, reached_on)
    for _status, amount_field, date_field in LADDER[level + 1 :]:
        setattr(commitment, amount_field, None)
        if amount_field != "signed_amount":
            # signed_date doubles as the paperwork's date, which a correction leaves alone.
            setattr(commitment, date_field, None)


class CommitmentQuerySet(ScopedQuerySet):
    def for_tracker(self) -> CommitmentQuerySet:
        """What a row of the LP tracker (and the API's list) shows, and % funded to sort by.

        ``k1_sent``: whether the K-1 of the latest tax year (``latest_tax_year``) has been sent,
        a subquery so the tracker's column, filter and export read it without a query per row."""
        money = models.DecimalField(max_digits=19, decimal_places=4)
        percent = models.ExpressionWrapper(
            models.F("funded_amount") * 100 / models.F("commitment_amount"), output_field=money
        )
        sent = K1Delivery.objects.filter(
            commitment=models.OuterRef("pk"), tax_year=latest_tax_year(), sent_on__isnull=False
        )
        return self.select_related("lp__contact__organization", "fund").annotate(
            pct_funded=models.Case(
                models.When(commitment_amount__gt=0, then=percent), default=None, output_field=money
            ),
            k1_sent=models.Exists(sent),
        )

    def committed(self) -> CommitmentQuerySet:
        return self.filter(status__in=COMMITTED_STATUSES)

    def soft_circled(self) -> CommitmentQuerySet:
        return self.filter(status=CommitmentStatus.SOFT_CIRCLE)

    def withdrawn(self) -> CommitmentQuerySet:
        return self.filter(status=CommitmentStatus.WITHDRAWN)

    def totals(self) -> dict[str, Decimal]:
        """committed, soft_circled, funded and withdrawn sums in one query.

        Each status counts in one figure at most: committed (hard circle, signed, closed)
        and funded from those; soft circles apart; withdrawn amounts only in ``withdrawn``.
        """
        zero = Decimal("0")
        sums = self.order_by().aggregate(
            committed=Sum("commitment_amount", filter=Q(status__in=COMMITTED_STATUSES)),
            soft_circled=Sum("commitment_amount", filter=Q(status=CommitmentStatus.SOFT_CIRCLE)),
            funded=Sum("funded_amount", filter=Q(status__in=COMMITTED_STATUSES)),
            withdrawn=Sum("commitment_amount", filter=Q(status=CommitmentStatus.WITHDRAWN)),
        )
        return {key: value or zero for key, value in sums.items()}

    def ladder_totals(self) -> dict[str, Decimal | int]:
        """Per rung, how many commitments reached it and the dollars they had there, in one query.

        Keys as ``ladder_aggregates`` names them; a rung nobody reached counts 0 and $0.
        """
        return ladder_figures(self.order_by().aggregate(**ladder_aggregates()))

    def main_for(self, fund: Any, *, lp: Any = None, contact: Any = None) -> Commitment | None:
        """The commitment a deal for ``fund`` means: the one without an investing entity, else the only one.

        ``fund``, ``lp`` (an LPProfile) and ``contact`` may be instances or ids; give ``lp``
        or ``contact``. Withdrawn commitments are looked at only when the LP has nothing
        else in the fund. An LP who invests through several entities in one fund (an
        individual account and a trust) has no single commitment a deal could mean: None
        then, so that nobody guesses.
        """
        lookup = {"lp": lp} if lp is not None else {"lp__contact": contact}
        candidates = list(self.filter(fund=fund, **lookup).select_related("lp__contact", "fund").order_by("pk")[:50])
        pool = [c for c in candidates if not c.is_withdrawn] or candidates
        blank = [c for c in pool if not c.investing_entity]
        if blank:
            return blank[0]
        return pool[0] if len(pool) == 1 else None


class Commitment(GuardedModel, TimeStampedModel):
    # Every part of a commitment is money or its paperwork.
    WRITE_RULES = {ANY_FIELD: Capability.CHANGE_COMMITMENTS}

    lp = models.ForeignKey(LPProfile, on_delete=models.CASCADE, related_name="commitments", verbose_name="LP")
    fund = models.ForeignKey(Fund, on_delete=models.PROTECT, related_name="commitments")
    investing_entity = models.CharField(
        max_length=NAME_MAX,
        blank=True,
        help_text="The legal vehicle the LP invests through, e.g. “Trust / IRA” or an LLC's name. Needed only "
        "to tell apart two commitments of one LP to the same fund.",
    )
    status = models.CharField(max_length=12, choices=CommitmentStatus.choices, default=CommitmentStatus.SOFT_CIRCLE)
    commitment_amount = models.DecimalField(**MONEY, validators=[MinValueValidator(0)])
    funded_amount = models.DecimalField(**MONEY, default=Decimal("0"), validators=[MinValueValidator(0)])
    commitment_date = models.DateField(null=True, blank=True)
    legal_docs_signed = models.BooleanField(default=False)
    signed_date = models.DateField(null=True, blank=True)
    wire_received = models.BooleanField(default=False)
    wire_date = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True, max_length=NOTE_MAX, validators=[LengthLimit(NOTE_MAX)])
    # The ladder (see LADDER and climb_ladder): the amount and date at each rung reached.
    soft_amount = models.DecimalField("soft-circle amount", **MONEY, null=True, blank=True)
    soft_date = models.DateField("soft-circled on", null=True, blank=True)
    hard_amount = models.DecimalField("hard-circle amount", **MONEY, null=True, blank=True)
    hard_date = models.DateField("hard-circled on", null=True, blank=True)
    signed_amount = models.DecimalField("signed amount", **MONEY, null=True, blank=True)
    closed_amount = models.DecimalField("amount accepted at the close", **MONEY, null=True, blank=True)
    closed_date = models.DateField("accepted on", null=True, blank=True)
    close = models.ForeignKey(
        Close,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="commitments",
        verbose_name="admitted at close",
        help_text="The close this commitment is expected at, or was accepted at.",
    )
    withdrawn_date = models.DateField("withdrawn on", null=True, blank=True)
    withdrawn_reason = models.CharField(
        "why withdrawn or declined", max_length=NAME_MAX, blank=True, help_text="Needed when the LP withdraws."
    )

    objects = CommitmentQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["fund", "lp__contact__last_name"]
        # One commitment per LP per fund and investing entity: an LP normally has one per
        # fund (blank entity); a second one, through a trust or an LLC, names its entity.
        constraints = [
            models.UniqueConstraint(fields=["lp", "fund", "investing_entity"], name="commitment_one_per_lp_fund_entity")
        ]
        indexes = [models.Index(fields=["fund", "status"])]

    def __str__(self) -> str:
        entity = f" ({self.investing_entity})" if self.investing_entity else ""
        return f"{self.lp} — {self.fund}{entity}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        climb_ladder(self, adding=self._state.adding, today=timezone.localdate())
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"status", "commitment_amount"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, *LADDER_FIELDS}
        super().save(*args, **kwargs)

    @property
    def ladder(self) -> list[Rung]:
        """Every rung with what was recorded there (amount None: not reached)."""
        labels = dict(CommitmentStatus.choices)
        return [
            Rung(status, labels[status], getattr(self, amount), getattr(self, date)) for status, amount, date in LADDER
        ]

    def clean(self) -> None:
        if (
            self.funded_amount is not None
            and self.commitment_amount is not None
            and self.funded_amount > self.commitment_amount
        ):
            raise ValidationError({"funded_amount": "Funded cannot exceed the commitment."})
        if self.close_id is not None and self.fund_id is not None and self.close.fund_id != self.fund_id:
            raise ValidationError({"close": "Choose one of this fund's closes."})

    @property
    def is_committed(self) -> bool:
        return self.status in COMMITTED_STATUSES

    @property
    def is_soft(self) -> bool:
        return self.status == CommitmentStatus.SOFT_CIRCLE

    @property
    def is_withdrawn(self) -> bool:
        return self.status == CommitmentStatus.WITHDRAWN

    @property
    def unfunded_amount(self) -> Decimal:
        return max(self.commitment_amount - self.funded_amount, Decimal("0"))

    @property
    def percent_funded(self) -> Decimal | None:
        if not self.commitment_amount:
            return None
        return (self.funded_amount / self.commitment_amount * 100).quantize(Decimal("0.1"))


class ReupStatus(models.TextChoices):
    NOT_ASKED = "not_asked", "Not asked"
    ASKED = "asked", "Asked"
    SOFT = "soft", "Soft circle"
    HARD = "hard", "Hard circle"
    SIGNED = "signed", "Signed"
    DECLINED = "declined", "Declined"


# What a commitment to the fund being raised says about an LP's re-up. A withdrawn one is a
# decline: the LP was asked and said no, and the commitment keeps the reason.
REUP_STATUS_OF_COMMITMENT = {
    CommitmentStatus.SOFT_CIRCLE: ReupStatus.SOFT,
    CommitmentStatus.HARD_CIRCLE: ReupStatus.HARD,
    CommitmentStatus.SIGNED: ReupStatus.SIGNED,
    CommitmentStatus.CLOSED: ReupStatus.SIGNED,
    CommitmentStatus.WITHDRAWN: ReupStatus.DECLINED,
}
REUP_RANK = [ReupStatus.DECLINED, ReupStatus.SOFT, ReupStatus.HARD, ReupStatus.SIGNED]
# The states a person sets by hand: the ladder levels come from the LP's commitment.
REUP_OVERRIDES = (ReupStatus.ASKED, ReupStatus.DECLINED)


def reup_status(ask: ReupAsk | None, commitment_statuses: list[str]) -> str:
    """An LP's re-up status in the fund being raised.

    The LP's commitment to that fund decides when there is one (its ladder level; withdrawn
    is declined; of several, through different entities, the highest), because money
    recorded outranks a note. Without one, the ask says: declined by hand, or asked (a date
    asked or marked asked), else not asked.
    """
    levels = [REUP_STATUS_OF_COMMITMENT[s] for s in commitment_statuses if s in REUP_STATUS_OF_COMMITMENT]
    if levels:
        return max(levels, key=REUP_RANK.index)
    if ask is None:
        return ReupStatus.NOT_ASKED
    if ask.status_override:
        return ask.status_override
    return ReupStatus.ASKED if ask.asked_on else ReupStatus.NOT_ASKED


class ReupAsk(GuardedModel, TimeStampedModel):
    """What an LP of an earlier fund is asked to commit to the fund being raised.

    Without one, the ask is the LP's prior commitment (the re-up cockpit shows that); a row
    exists once somebody sets the amount, the date asked, or a decline.
    """

    # The ask is money the forecast plans on, like a commitment.
    WRITE_RULES = {ANY_FIELD: Capability.CHANGE_COMMITMENTS}

    lp = models.ForeignKey(LPProfile, on_delete=models.CASCADE, related_name="reup_asks", verbose_name="LP")
    fund = models.ForeignKey(Fund, on_delete=models.CASCADE, related_name="reup_asks")
    amount = models.DecimalField("ask", **MONEY, validators=[MinValueValidator(0)])
    asked_on = models.DateField("asked on", null=True, blank=True)
    status_override = models.CharField(
        "status",
        max_length=10,
        blank=True,
        choices=[(s.value, s.label) for s in REUP_OVERRIDES],
        help_text="Blank: from the date asked and the LP's commitment. Declined: said no without a commitment.",
    )

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = "re-up ask"
        ordering = ["fund", "lp"]
        constraints = [models.UniqueConstraint(fields=["lp", "fund"], name="reup_ask_one_per_lp_fund")]

    def __str__(self) -> str:
        return f"{self.lp} — {self.fund} ask"


# --- Side letters and MFN election rounds ------------------------------------------------------


class ProvisionCategory(models.TextChoices):
    FEES = "fees", "Fee or carry terms"
    MFN = "mfn", "MFN"
    CO_INVESTMENT = "co_investment", "Co-investment rights"
    REPORTING = "reporting", "Reporting"
    TRANSFER = "transfer", "Transfer"
    EXCUSE = "excuse", "Excuse / exclusion"
    OTHER = "other", "Other"


class SideLetter(GuardedModel, TimeStampedModel):
    """A side letter to one commitment: what the LP was granted beyond the fund's documents."""

    # Side letters change the economics and rights of a commitment: a manager's, like the commitment.
    WRITE_RULES = {ANY_FIELD: Capability.CHANGE_COMMITMENTS}

    commitment = models.ForeignKey(Commitment, on_delete=models.CASCADE, related_name="side_letters")
    signed_date = models.DateField("signed on", null=True, blank=True)
    notes = models.TextField(blank=True, max_length=NOTE_MAX, validators=[LengthLimit(NOTE_MAX)])

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["commitment", "signed_date", "pk"]

    def __str__(self) -> str:
        return f"Side letter · {self.commitment}"


class SideLetterProvision(GuardedModel, TimeStampedModel):
    """One term of a side letter, filed under a category so the register can list them across LPs."""

    WRITE_RULES = {ANY_FIELD: Capability.CHANGE_COMMITMENTS}

    side_letter = models.ForeignKey(SideLetter, on_delete=models.CASCADE, related_name="provisions")
    category = models.CharField(max_length=16, choices=ProvisionCategory.choices, default=ProvisionCategory.OTHER)
    text = models.TextField(max_length=NOTE_MAX, validators=[LengthLimit(NOTE_MAX)])

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = "side letter provision"
        ordering = ["side_letter", "pk"]
        indexes = [models.Index(fields=["category"])]

    def __str__(self) -> str:
        return f"{self.get_category_display()} · {self.side_letter.commitment}"


class MFNRound(GuardedModel, TimeStampedModel):
    """An MFN election round of a fund: the compendium of side-letter terms sent to the LPs
    whose side letter has an MFN provision, who elect the terms they want by the deadline."""

    WRITE_RULES = {ANY_FIELD: Capability.CHANGE_COMMITMENTS}

    fund = models.ForeignKey(Fund, on_delete=models.PROTECT, related_name="mfn_rounds")
    sent_date = models.DateField("sent on")
    deadline = models.DateField("elections due by")
    notes = models.TextField(blank=True, max_length=NOTE_MAX, validators=[LengthLimit(NOTE_MAX)])

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = "MFN election round"
        ordering = ["-deadline", "-pk"]

    def __str__(self) -> str:
        return f"{self.fund} · MFN round sent {self.sent_date:%b %-d, %Y}"

    def get_absolute_url(self) -> str:
        return reverse("mfn_round_detail", args=[self.pk])


class ElectionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ELECTED = "elected", "Elected"
    DECLINED = "declined", "Declined"


class MFNElection(GuardedModel, TimeStampedModel):
    """One eligible commitment's answer to an MFN round: the provisions it elected, or a decline."""

    WRITE_RULES = {ANY_FIELD: Capability.CHANGE_COMMITMENTS}

    round = models.ForeignKey(MFNRound, on_delete=models.CASCADE, related_name="elections")
    commitment = models.ForeignKey(Commitment, on_delete=models.CASCADE, related_name="mfn_elections")
    status = models.CharField(max_length=10, choices=ElectionStatus.choices, default=ElectionStatus.PENDING)
    elected_provisions = models.ManyToManyField(SideLetterProvision, blank=True, related_name="elections")
    decided_on = models.DateField("decided on", null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords(m2m_fields=[elected_provisions])

    class Meta:
        verbose_name = "MFN election"
        ordering = ["round", "pk"]
        constraints = [models.UniqueConstraint(fields=["round", "commitment"], name="mfn_election_one_per_commitment")]

    def __str__(self) -> str:
        return f"{self.round} · {self.commitment.lp}"

    def days_left(self, today: datetime.date) -> int:
        """Days until the round's deadline (0 on the day, negative once it has passed)."""
        return (self.round.deadline - today).days


# --- Compliance --------------------------------------------------------------------------------


class ComplianceKind(models.TextChoices):
    ACCREDITATION = "accreditation", "Accredited investor"
    QUALIFIED_PURCHASER = "qualified_purchaser", "Qualified purchaser"
    KYC_AML = "kyc_aml", "KYC / AML"


# The LP profile's two older flags, and the check each one mirrors (see ComplianceCheck.save).
FLAG_KINDS = {"accredited": ComplianceKind.ACCREDITATION, "qualified_purchaser": ComplianceKind.QUALIFIED_PURCHASER}


class ComplianceStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    PENDING = "pending", "Pending"
    VERIFIED = "verified", "Verified"
    EXPIRED = "expired", "Expired"


class ComplianceCheck(GuardedModel, TimeStampedModel):
    """One of an LP's compliance checks (accreditation, qualified purchaser, KYC/AML): its status,
    when it was verified and when the verification runs out. No row means not started."""

    WRITE_RULES = {ANY_FIELD: Capability.CHANGE_COMPLIANCE}

    lp = models.ForeignKey(LPProfile, on_delete=models.CASCADE, related_name="compliance_checks", verbose_name="LP")
    kind = models.CharField(max_length=20, choices=ComplianceKind.choices)
    status = models.CharField(max_length=12, choices=ComplianceStatus.choices, default=ComplianceStatus.NOT_STARTED)
    verified_on = models.DateField("verified on", null=True, blank=True)
    expires_on = models.DateField("expires on", null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = "compliance check"
        ordering = ["lp", "kind"]
        constraints = [models.UniqueConstraint(fields=["lp", "kind"], name="compliance_check_one_per_lp_kind")]
        indexes = [models.Index(fields=["kind", "status"]), models.Index(fields=["expires_on"])]

    def __str__(self) -> str:
        return f"{self.lp} · {self.get_kind_display()}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic():
            super().save(*args, **kwargs)
            flag = {kind: flag for flag, kind in FLAG_KINDS.items()}.get(self.kind)
            if flag is not None:
                # The profile's flag mirrors the check (the import and the API read and write
                # it); update() writes no profile history: the check's own history says it.
                LPProfile.objects.filter(pk=self.lp_id).update(**{flag: self.status == ComplianceStatus.VERIFIED})

    @classmethod
    def follow_flag(cls, profile: LPProfile, flag: str) -> None:
        """A profile's flag was ticked or cleared (the form, the tracker, a merge): its check follows,
        verified or back to not started, keeping any dates."""
        check = cls.objects.filter(lp=profile, kind=FLAG_KINDS[flag]).first() or cls(lp=profile, kind=FLAG_KINDS[flag])
        ticked = getattr(profile, flag)
        if ticked and check.status != ComplianceStatus.VERIFIED:
            check.status = ComplianceStatus.VERIFIED
        elif not ticked and check.status == ComplianceStatus.VERIFIED:
            check.status = ComplianceStatus.NOT_STARTED
        else:
            return
        if hasattr(profile, "_history_user"):
            check._history_user = profile._history_user
        check.save()

    @classmethod
    def follow_flags_in_bulk(cls, profiles: list[LPProfile], user: Any, reason: str = "") -> None:
        """``follow_flag`` for many profiles in a few queries, with history (an import's rows)."""
        existing = {
            (check.lp_id, check.kind): check
            for check in cls.objects.filter(lp__in=[p.pk for p in profiles], kind__in=FLAG_KINDS.values())
        }
        created, updated = [], []
        for profile in profiles:
            for flag, kind in FLAG_KINDS.items():
                ticked, check = getattr(profile, flag), existing.get((profile.pk, kind))
                if check is None:
                    if ticked:
                        created.append(cls(lp_id=profile.pk, kind=kind, status=ComplianceStatus.VERIFIED))
                elif ticked != (check.status == ComplianceStatus.VERIFIED):
                    check.status = ComplianceStatus.VERIFIED if ticked else ComplianceStatus.NOT_STARTED
                    updated.append(check)
        if created or updated:
            require_write(cls, user, None)  # a bulk write sends no pre_save: check here
        if created:
            bulk_create_with_history(
                created, cls, batch_size=500, default_user=user, default_change_reason=reason or None
            )
        if updated:
            bulk_update_with_history(
                updated, cls, ["status"], batch_size=500, default_user=user, default_change_reason=reason or None
            )

    def current_status(self, today: datetime.date) -> str:
        """The status as of ``today``: a verification past its expiry date is expired, whatever was stored."""
        if self.status == ComplianceStatus.VERIFIED and self.expires_on is not None and self.expires_on < today:
            return ComplianceStatus.EXPIRED
        return self.status

    def clean(self) -> None:
        if self.verified_on and self.expires_on and self.expires_on < self.verified_on:
            raise ValidationError({"expires_on": "The expiry cannot be before the verification."})


# --- K-1s and documents ---------------------------------------------------------------------


def latest_tax_year(today: datetime.date | None = None) -> int:
    """The tax year whose K-1s are being prepared and sent: the last completed one.

    Funds here keep calendar tax years, so it is the year before today's (in 2026, the 2025
    K-1s are due). lps 0012 records the old single "K-1 sent" tick as this year's delivery.
    """
    return (today or timezone.localdate()).year - 1


class K1Method(models.TextChoices):
    EMAIL = "email", "Email"
    PORTAL = "portal", "Investor portal"
    POST = "post", "Post"
    OTHER = "other", "Other"


class K1Delivery(GuardedModel, TimeStampedModel):
    """A commitment's K-1 for one tax year: when it was prepared, when and how it was sent."""

    # K-1s are the fund's tax reporting to its LPs: a manager's, like the commitment itself.
    WRITE_RULES = {ANY_FIELD: Capability.CHANGE_COMMITMENTS}

    commitment = models.ForeignKey(Commitment, on_delete=models.CASCADE, related_name="k1_deliveries")
    tax_year = models.PositiveSmallIntegerField(validators=[MinValueValidator(1900)])
    prepared_on = models.DateField(null=True, blank=True)
    sent_on = models.DateField(null=True, blank=True)
    method = models.CharField(max_length=10, choices=K1Method.choices, blank=True)
    notes = models.TextField(blank=True, max_length=NOTE_MAX, validators=[LengthLimit(NOTE_MAX)])

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = "K-1 delivery"
        verbose_name_plural = "K-1 deliveries"
        ordering = ["-tax_year", "commitment"]
        constraints = [
            models.UniqueConstraint(fields=["commitment", "tax_year"], name="k1_delivery_one_per_commitment_year")
        ]

    def __str__(self) -> str:
        return f"{self.commitment} · K-1 {self.tax_year}"

    @property
    def is_sent(self) -> bool:
        return self.sent_on is not None


class DocumentKind(models.TextChoices):
    SUBSCRIPTION = "subscription", "Subscription documents"
    SIDE_LETTER = "side_letter", "Side letter"
    NOTICE = "notice", "Notice"
    K1 = "k1", "K-1"
    OTHER = "other", "Other"


# What a document can belong to, exactly one each (the check constraint below). A new owner
# (a side letter, say) is one more nullable foreign key and its name here, and a migration.
DOCUMENT_OWNERS = ("lp", "commitment", "call_line", "side_letter")


def _exactly_one_owner() -> Q:
    return Q(
        *[Q(**{f"{other}__isnull": other != owner for other in DOCUMENT_OWNERS}) for owner in DOCUMENT_OWNERS],
        _connector=Q.OR,
    )


class DocumentQuerySet(ScopedQuerySet):
    def visible_to(self, user: Any) -> DocumentQuerySet:
        """The documents whose owner the user may see: a document is scoped as what it belongs to."""
        return (
            super()
            .visible_to(user)
            .filter(
                Q(lp__in=LPProfile.objects.visible_to(user).values("pk"))
                | Q(commitment__in=Commitment.objects.visible_to(user).values("pk"))
                | Q(call_line__in=CallLine.objects.visible_to(user).values("pk"))
                | Q(side_letter__in=SideLetter.objects.visible_to(user).values("pk"))
            )
        )


class Document(GuardedModel, TimeStampedModel):
    """A file attached to an LP, a commitment, a capital call line or a side letter (lps.documents stores it)."""

    # Subscription documents, K-1s and notices are the fund's paperwork: a manager's to add
    # or remove; members read and download them.
    WRITE_RULES = {ANY_FIELD: Capability.CHANGE_COMMITMENTS}

    file = models.FileField(upload_to=document_path, storage=document_storage, max_length=200)
    # Not "kind": the audit log's union of history tables names its own column so.
    document_type = models.CharField("kind", max_length=16, choices=DocumentKind.choices, default=DocumentKind.OTHER)
    title = models.CharField(max_length=NAME_MAX)
    original_name = models.CharField("file name", max_length=NAME_MAX)
    size = models.PositiveBigIntegerField("size (bytes)")
    content_type = models.CharField(max_length=100)
    uploaded_by = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    lp = models.ForeignKey(
        LPProfile, on_delete=models.CASCADE, null=True, blank=True, related_name="documents", verbose_name="LP"
    )
    commitment = models.ForeignKey(
        Commitment, on_delete=models.CASCADE, null=True, blank=True, related_name="documents"
    )
    call_line = models.ForeignKey(CallLine, on_delete=models.CASCADE, null=True, blank=True, related_name="documents")
    side_letter = models.ForeignKey(
        SideLetter, on_delete=models.CASCADE, null=True, blank=True, related_name="documents"
    )
    k1_delivery = models.ForeignKey(
        K1Delivery,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="documents",
        verbose_name="K-1 delivery",
        help_text="The K-1 this file is, when it is one.",
    )

    objects = DocumentQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.CheckConstraint(condition=_exactly_one_owner(), name="document_exactly_one_owner")]

    def __str__(self) -> str:
        return self.title

    @property
    def uploaded_at(self) -> datetime.datetime:
        return self.created_at

    @property
    def is_pdf(self) -> bool:
        return self.content_type == "application/pdf"


@receiver(post_delete, sender=Document)
def _document_file_goes_with_its_row(sender: type, instance: Document, **kwargs: Any) -> None:
    """Cascades (an LP deleted with its documents) delete rows without calling delete()."""
    remove_file_on_commit(instance.file.name)
