"""LP profiles and their per-fund commitments."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import Q, Sum
from simple_history.models import HistoricalRecords

from contacts.models import ContactType, ScopedQuerySet, url_or_none
from crm.models import CustomFieldEntity, CustomFieldsModel, TimeStampedModel
from pipeline.models import MONEY


class InvestorType(models.TextChoices):
    INDIVIDUAL = "individual", "Individual"
    FAMILY_OFFICE = "family_office", "Family office"
    ENDOWMENT = "endowment", "Endowment"
    FOUNDATION = "foundation", "Foundation"
    PENSION = "pension", "Pension"
    FUND_OF_FUNDS = "fund_of_funds", "Fund of funds"
    CORPORATE = "corporate", "Corporate"
    WEALTH_MANAGER = "wealth_manager", "RIA / wealth manager"
    INSURANCE = "insurance", "Insurance"
    SOVEREIGN_WEALTH = "sovereign_wealth", "Sovereign wealth"
    BANK = "bank", "Bank"
    OTHER = "other", "Other"


class LPProfile(CustomFieldsModel, TimeStampedModel):
    """An investor's profile; one per contact. Creating one makes the contact an investor."""

    CUSTOM_FIELD_ENTITY = CustomFieldEntity.LP_PROFILE

    contact = models.OneToOneField("contacts.Contact", on_delete=models.CASCADE, related_name="lp_profile")
    investor_type = models.CharField(max_length=20, choices=InvestorType.choices, default=InvestorType.INDIVIDUAL)
    accredited = models.BooleanField("accredited investor", default=False)
    qualified_purchaser = models.BooleanField(default=False)
    preferred_communication = models.CharField(max_length=100, blank=True)
    notes = models.TextField(blank=True)

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = "LP profile"
        ordering = ["contact__last_name", "contact__first_name"]
        indexes = [models.Index(fields=["investor_type"])]

    def __str__(self) -> str:
        return str(self.contact)

    def save(self, *args: Any, **kwargs: Any) -> None:
        with transaction.atomic():
            super().save(*args, **kwargs)
            contact = self.contact
            if contact.contact_type != ContactType.INVESTOR:
                contact.contact_type = ContactType.INVESTOR
                # Carry the acting user over, so the contact's history names who did it.
                if hasattr(self, "_history_user"):
                    contact._history_user = self._history_user
                contact.save(update_fields=["contact_type", "updated_at"])

    def get_absolute_url(self) -> str | None:
        return url_or_none("lp_detail", self.pk)


class CommitmentStatus(models.TextChoices):
    SOFT_CIRCLE = "soft_circle", "Soft circle"
    HARD_CIRCLE = "hard_circle", "Hard circle"
    SIGNED = "signed", "Signed"
    CLOSED = "closed", "Closed"


# Soft circles are non-binding: "committed" counts hard circle and beyond, always.
COMMITTED_STATUSES = (CommitmentStatus.HARD_CIRCLE, CommitmentStatus.SIGNED, CommitmentStatus.CLOSED)


class CommitmentQuerySet(ScopedQuerySet):
    def committed(self) -> CommitmentQuerySet:
        return self.filter(status__in=COMMITTED_STATUSES)

    def soft_circled(self) -> CommitmentQuerySet:
        return self.filter(status=CommitmentStatus.SOFT_CIRCLE)

    def totals(self) -> dict[str, Decimal]:
        """committed, soft_circled and funded sums in one query."""
        zero = Decimal("0")
        sums = self.aggregate(
            committed=Sum("commitment_amount", filter=Q(status__in=COMMITTED_STATUSES)),
            soft_circled=Sum("commitment_amount", filter=Q(status=CommitmentStatus.SOFT_CIRCLE)),
            funded=Sum("funded_amount", filter=Q(status__in=COMMITTED_STATUSES)),
        )
        return {key: value or zero for key, value in sums.items()}


class Commitment(TimeStampedModel):
    lp = models.ForeignKey(LPProfile, on_delete=models.CASCADE, related_name="commitments", verbose_name="LP")
    fund = models.ForeignKey("pipeline.Fund", on_delete=models.PROTECT, related_name="commitments")
    status = models.CharField(max_length=12, choices=CommitmentStatus.choices, default=CommitmentStatus.SOFT_CIRCLE)
    commitment_amount = models.DecimalField(**MONEY, validators=[MinValueValidator(0)])
    funded_amount = models.DecimalField(**MONEY, default=Decimal("0"), validators=[MinValueValidator(0)])
    commitment_date = models.DateField(null=True, blank=True)
    legal_docs_signed = models.BooleanField(default=False)
    signed_date = models.DateField(null=True, blank=True)
    wire_received = models.BooleanField(default=False)
    wire_date = models.DateField(null=True, blank=True)
    k1_sent = models.BooleanField("K-1 sent", default=False)
    notes = models.TextField(blank=True)

    objects = CommitmentQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["fund", "lp__contact__last_name"]
        constraints = [models.UniqueConstraint(fields=["lp", "fund"], name="commitment_one_per_lp_per_fund")]
        indexes = [models.Index(fields=["fund", "status"])]

    def __str__(self) -> str:
        return f"{self.lp} — {self.fund}"

    def clean(self) -> None:
        if (
            self.funded_amount is not None
            and self.commitment_amount is not None
            and self.funded_amount > self.commitment_amount
        ):
            raise ValidationError({"funded_amount": "Funded cannot exceed the commitment."})

    @property
    def is_committed(self) -> bool:
        return self.status in COMMITTED_STATUSES

    @property
    def unfunded_amount(self) -> Decimal:
        return max(self.commitment_amount - self.funded_amount, Decimal("0"))

    @property
    def percent_funded(self) -> Decimal | None:
        if not self.commitment_amount:
            return None
        return (self.funded_amount / self.commitment_amount * 100).quantize(Decimal("0.1"))
