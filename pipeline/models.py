"""Funds, the configurable pipeline stages, and fundraising opportunities."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from crm.lib.money import MONEY
from crm.lib.scoping import ScopedQuerySet
from crm.lib.text import LABEL_MAX, LINE_MAX, NAME_MAX, NOTE_MAX, SHORT_NAME_MAX, LengthLimit
from crm.models import CustomFieldEntity, CustomFieldsModel, Role, TimeStampedModel
from crm.permissions import ANY_FIELD, Capability, GuardedModel, acting_user
from lps.models import Fund


class StageOutcome(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Stage(GuardedModel, TimeStampedModel):
    """A pipeline column. Admins edit names, order and probabilities; the board follows."""

    # A stage's outcome decides what a move does to commitments: set-up, not everyday work.
    WRITE_RULES = {ANY_FIELD: Capability.CONFIGURE_FUNDS}

    name = models.CharField(max_length=LABEL_MAX, unique=True)
    order = models.PositiveSmallIntegerField(default=0)
    default_probability = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], help_text="Per cent, 0–100."
    )
    outcome = models.CharField(max_length=5, choices=StageOutcome.choices, default=StageOutcome.OPEN)

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "pk"]

    def __str__(self) -> str:
        return self.name


class Priority(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


# What a deal weighs in the forecast, in per cent: the outcome of its stage first. A won deal
# is in the bag whatever probability it was typed with, a lost one is out; only an open deal
# weighs its own probability. Every weighted figure (board, list, dashboard, exports) reads
# these two expressions or ``Opportunity.effective_probability``, so they cannot disagree.
EFFECTIVE_PROBABILITY = models.Case(
    models.When(stage__outcome=StageOutcome.WON, then=models.Value(100)),
    models.When(stage__outcome=StageOutcome.LOST, then=models.Value(0)),
    default=Coalesce(models.F("probability"), models.Value(0)),
    output_field=models.IntegerField(),
)
# The weighted amount times 100 (amount × per cent), summed in SQL and divided in Python:
# SQLite keeps whole-dollar amounts as integers and would divide them as integers, dropping
# the cents ($1,000,001 at 33%). The product orders rows exactly as the weighted amount does.
WEIGHTED_X100 = models.ExpressionWrapper(
    models.F("expected_amount") * EFFECTIVE_PROBABILITY,
    output_field=models.DecimalField(max_digits=19, decimal_places=2),
)


def weighted_from_x100(value: Decimal | int | None) -> Decimal:
    """A (summed) WEIGHTED_X100 as money: divided by 100, to the cent."""
    return (Decimal(value or 0) / 100).quantize(Decimal("0.01"))


# Sorting by priority: high, medium, low, in that order (the list page's and the API's "o=priority").
PRIORITY_RANK = models.Case(
    models.When(priority=Priority.HIGH, then=models.Value(3)),
    models.When(priority=Priority.MEDIUM, then=models.Value(2)),
    models.When(priority=Priority.LOW, then=models.Value(1)),
    default=models.Value(0),
    output_field=models.IntegerField(),
)


class OpportunityQuerySet(ScopedQuerySet):
    def with_list_figures(self) -> OpportunityQuerySet:
        """What the opportunities list shows and sorts by: forecast, weighted amount, priority rank."""
        return self.annotate(
            forecast_probability=EFFECTIVE_PROBABILITY, weighted_x100=WEIGHTED_X100, priority_rank=PRIORITY_RANK
        )

    def open(self) -> OpportunityQuerySet:
        return self.filter(stage__outcome=StageOutcome.OPEN)

    def won(self) -> OpportunityQuerySet:
        return self.filter(stage__outcome=StageOutcome.WON)

    def active(self) -> OpportunityQuerySet:
        """Everything not passed on: the open stages plus the won ones."""
        return self.exclude(stage__outcome=StageOutcome.LOST)

    def overdue_close(self) -> OpportunityQuerySet:
        """Open deals whose expected close date is already past (a deal due today is not)."""
        return self.open().filter(expected_close_date__lt=timezone.localdate())

    def totals(self) -> dict[str, Decimal | int]:
        """count, expected and weighted amounts (won at 100%, lost at 0%) in one query."""
        sums = self.order_by().aggregate(
            count=models.Count("pk"),
            expected=models.Sum("expected_amount"),
            weighted_x100=models.Sum(WEIGHTED_X100),
        )
        expected = sums["expected"] or Decimal("0")
        return {"count": sums["count"], "expected": expected, "weighted": weighted_from_x100(sums["weighted_x100"])}


class Opportunity(CustomFieldsModel, TimeStampedModel):
    CUSTOM_FIELD_ENTITY = CustomFieldEntity.OPPORTUNITY

    name = models.CharField(max_length=NAME_MAX)
    contact = models.ForeignKey("contacts.Contact", on_delete=models.PROTECT, related_name="opportunities")
    organization = models.ForeignKey(
        "contacts.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="opportunities"
    )
    fund = models.ForeignKey(Fund, on_delete=models.PROTECT, related_name="opportunities")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="opportunities")
    position = models.PositiveIntegerField(default=0, help_text="Order within the stage's column.")
    expected_amount = models.DecimalField(**MONEY, default=Decimal("0"), validators=[MinValueValidator(0)])
    commitment_amount = models.DecimalField(**MONEY, null=True, blank=True, validators=[MinValueValidator(0)])
    probability = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(100)], help_text="Per cent; blank takes the stage's."
    )
    expected_close_date = models.DateField(null=True, blank=True)
    description = models.TextField(blank=True, max_length=NOTE_MAX, validators=[LengthLimit(NOTE_MAX)])
    next_step = models.CharField(max_length=LINE_MAX, blank=True)
    next_step_date = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=SHORT_NAME_MAX, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="opportunities"
    )
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    lost_reason = models.CharField(max_length=LINE_MAX, blank=True)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = OpportunityQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["stage__order", "position", "pk"]
        verbose_name_plural = "opportunities"
        indexes = [models.Index(fields=["fund", "stage", "position"])]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.probability is None and self.stage_id:
            self.probability = self.stage.default_probability
        if self.pk:
            previous_stage = type(self).objects.filter(pk=self.pk).values_list("stage_id", flat=True).first()
            if previous_stage is not None and previous_stage != self.stage_id:
                self.stage_changed_at = timezone.now()
        super().save(*args, **kwargs)

    @property
    def days_in_stage(self) -> int:
        """Whole days in the current stage; never negative (a stage date imported from the future).

        In Python, not SQL: on SQLite the date subtraction is a Python function the board's
        window query would call for every card of the fund, drawn or not.
        """
        if self.stage_changed_at is None:
            return 0
        return max((timezone.now() - self.stage_changed_at).days, 0)

    @property
    def is_overdue(self) -> bool:
        return bool(self.next_step_date and self.next_step_date < timezone.localdate())

    @property
    def is_close_overdue(self) -> bool:
        """An open deal whose expected close date is before today: the forecast is stale."""
        return bool(
            self.expected_close_date
            and self.expected_close_date < timezone.localdate()
            and self.stage.outcome == StageOutcome.OPEN
        )

    @property
    def effective_probability(self) -> int:
        """EFFECTIVE_PROBABILITY for one loaded row: won 100, lost 0, open its own."""
        if self.stage.outcome == StageOutcome.WON:
            return 100
        if self.stage.outcome == StageOutcome.LOST:
            return 0
        return self.probability or 0

    @property
    def weighted_amount(self) -> Decimal:
        """WEIGHTED_X100 for one loaded row, to the cent."""
        return weighted_from_x100((self.expected_amount or Decimal("0")) * self.effective_probability)

    def get_absolute_url(self) -> str:
        return reverse("opportunity_detail", args=[self.pk])


# --- Tasks (issue 17) --------------------------------------------------------------------
# A to-do for one team member, set by anyone on the team, optionally about a contact, an
# opportunity, an LP or a commitment. It lives here, the lowest app that may import all
# four. Who may change a task is per record (its owner, its creator, managers and admins),
# not per capability, so it is checked in ``save``/``delete`` rather than by WRITE_RULES;
# the services in pipeline/todo.py are the way in.


class TaskQuerySet(ScopedQuerySet):
    def open(self) -> TaskQuerySet:
        return self.filter(done=False)

    def unsnoozed(self, today: Any) -> TaskQuerySet:
        return self.filter(models.Q(snoozed_until__isnull=True) | models.Q(snoozed_until__lte=today))


class Task(TimeStampedModel):
    title = models.CharField(max_length=LINE_MAX)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tasks")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_date = models.DateField(null=True, blank=True)
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    opportunity = models.ForeignKey(Opportunity, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    lp_profile = models.ForeignKey(
        "lps.LPProfile", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks", verbose_name="LP"
    )
    commitment = models.ForeignKey(
        "lps.Commitment", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    notes = models.TextField(blank=True, max_length=NOTE_MAX, validators=[LengthLimit(NOTE_MAX)])
    snoozed_until = models.DateField(null=True, blank=True)
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TaskQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = [models.F("due_date").asc(nulls_last=True), "pk"]
        indexes = [
            # "Assigned to me", the badge and the digest: one owner's open tasks by due date.
            models.Index(fields=["owner", "due_date"], condition=models.Q(done=False), name="task_open_owner_idx"),
            models.Index(fields=["due_date"], condition=models.Q(done=False), name="task_open_due_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("actions") + f"#task-{self.pk}"

    def may_change(self, user: Any) -> bool:
        """The owner, the creator, managers and admins; None (the system) always."""
        if user is None:
            return True
        if not getattr(user, "is_active", False):
            return False
        if user.has_role(Role.MANAGER):
            return True
        return user.pk in (self.owner_id, self.created_by_id)

    def refuse_write(self, user: Any) -> None:
        if not self.may_change(user):
            raise PermissionDenied("Only the task's owner, its creator, a manager or an admin may change it.")

    def _stored(self) -> Task | None:
        if self._state.adding or self.pk is None:
            return None
        return type(self)._base_manager.filter(pk=self.pk).only("owner_id", "created_by_id").first()

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Checked against the stored owner and creator: reassigning a task to oneself does not
        # make it one's own to change.
        stored = self._stored()
        if stored is not None:
            stored.refuse_write(acting_user(self))
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        (self._stored() or self).refuse_write(acting_user(self))
        return super().delete(*args, **kwargs)
