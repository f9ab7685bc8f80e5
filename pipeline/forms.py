from __future__ import annotations

from typing import Any

from django import forms

from contacts.models import Contact, Organization
from contacts.pickers import ContactPicker, ContactPickerField, OrganizationPicker, OrganizationPickerField
from crm.lib.custom_field_forms import CustomFieldsFormMixin
from crm.lib.text import LINE_MAX, NAME_MAX, LengthLimitsMixin, collapse_spaces
from crm.models import User
from lps.models import Fund
from pipeline.models import Opportunity, Stage, StageOutcome, Task
from pipeline.services import (
    COMMITMENT_ACTIONS,
    DELETE,
    KEEP,
    commitment_for,
    entry_refusal,
    leaves_won,
    may_delete_commitments,
    may_enter,
)

COMMITMENT_CHOICES = [(KEEP, "Keep the commitment"), (DELETE, "Delete the commitment")]


def offer_only_allowed_stages(field: forms.ModelChoiceField, user: Any, current: Stage | None) -> None:
    """Show only the stages ``user`` may move a deal into (plus where it is now).

    The queryset stays whole, so a posted stage the user may not enter gets the clear
    reason from ``check_stage_entry`` rather than "not one of the available choices".
    """
    field.widget.choices = [
        (value, label)
        for value, label in field.choices
        if not hasattr(value, "instance") or value.instance == current or may_enter(value.instance, user)
    ]


def check_stage_entry(stage: Stage | None, user: Any, current: Stage | None) -> Stage | None:
    if stage is not None and stage != current and not may_enter(stage, user):
        raise forms.ValidationError(entry_refusal(stage))
    return stage


DELETE_REFUSAL = "Only a manager or admin may delete a commitment. Keep it; they can delete it in the LP tracker."


def check_commitment_action(action: str, user: Any) -> str:
    if action == DELETE and not may_delete_commitments(user):
        raise forms.ValidationError(DELETE_REFUSAL)
    return action


class StageOptionsMixin:
    """Stage options carry their outcome and default probability as data- attributes, for
    the stylesheet (the lost-reason field shows when a lost stage is picked) and the form's
    probability hint. No inline script: behaviour reads these."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        stage = getattr(value, "instance", None)
        if isinstance(stage, Stage):
            option["attrs"]["data-outcome"] = stage.outcome
            option["attrs"]["data-probability"] = stage.default_probability
        return option


class StageSelect(StageOptionsMixin, forms.Select):
    pass


class StageRadioSelect(StageOptionsMixin, forms.RadioSelect):
    pass


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return obj.display_name


class OpportunityForm(CustomFieldsFormMixin, forms.ModelForm):
    """Add and edit. Probability left blank takes the stage's default (so it follows the
    stage when the stage changes later); a typed value overrides it."""

    name = forms.CharField(
        max_length=NAME_MAX, required=False, help_text="Blank names it after the organization (or contact) and fund."
    )
    # Pickers, not selects: the team's contacts and organizations run to tens of thousands.
    contact = ContactPickerField(
        label="LP or prospect",
        widget=ContactPicker(placeholder="Type a name, organization or email…"),
        error_messages={"required": "Choose a contact."},
    )
    organization = OrganizationPickerField(
        queryset=Organization.objects.none(),
        required=False,
        widget=OrganizationPicker(placeholder="Same as the contact's"),
    )
    owner = OwnerChoiceField(queryset=User.objects.none(), required=False, empty_label="Unassigned")
    commitment_action = forms.ChoiceField(
        choices=COMMITMENT_CHOICES,
        required=False,
        widget=forms.RadioSelect,
        label="Its commitment",
    )

    class Meta:
        model = Opportunity
        fields = [
            "contact",
            "name",
            "organization",
            "fund",
            "stage",
            "probability",
            "expected_amount",
            "commitment_amount",
            "expected_close_date",
            "owner",
            "priority",
            "next_step",
            "next_step_date",
            "source",
            "lost_reason",
            "description",
        ]
        widgets = {
            "stage": StageSelect,
            "expected_close_date": forms.DateInput(attrs={"type": "date"}),
            "next_step_date": forms.DateInput(attrs={"type": "date"}),
            "description": forms.Textarea(attrs={"rows": 3}),
            "expected_amount": forms.NumberInput(attrs={"min": "0", "step": "any"}),
            "commitment_amount": forms.NumberInput(attrs={"min": "0", "step": "any"}),
        }
        labels = {"next_step_date": "Next step date", "expected_amount": "Expected amount"}
        help_texts = {
            "commitment_amount": "What they committed, once known. Winning the opportunity fills it in.",
            "lost_reason": "Required when the stage is a lost one (e.g. Passed).",
        }

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.previous_stage = self.instance.stage if self.instance.pk else None
        self.fields["contact"].queryset = (
            Contact.objects.visible_to(user).select_related("organization").order_by("last_name", "first_name")
        )
        self.fields["organization"].queryset = Organization.objects.visible_to(user)
        self.fields["organization"].help_text = "Blank takes the contact's organization."
        self.fields["fund"].queryset = Fund.objects.visible_to(user)
        self.fields["stage"].queryset = Stage.objects.visible_to(user)
        self.fields["owner"].queryset = User.objects.team()
        self.fields["expected_amount"].required = False
        self.fields["stage"].empty_label = None
        offer_only_allowed_stages(self.fields["stage"], user, self.previous_stage)
        if self.previous_stage is not None and not may_enter(self.previous_stage, user):
            # A won deal's amount is its commitment's: a member may not rewrite it from here.
            self.fields["commitment_amount"].disabled = True
            self.fields[
                "commitment_amount"
            ].help_text = "The commitment's amount: only a manager or admin may change it (in the LP tracker)."
        if not self.instance.pk:
            self.initial["expected_amount"] = None  # blank, not a misleading $0
        self.fields[
            "probability"
        ].help_text = (
            "Per cent. Leave blank for the stage's default, which then follows the stage; a number overrides it."
        )
        self.fields["probability"].widget.attrs.update({"min": "0", "max": "100", "data-stage-probability": ""})
        stage = self.instance.stage if self.instance.pk else self.initial.get("stage")
        if isinstance(stage, Stage):
            self.fields["probability"].widget.attrs["placeholder"] = f"{stage.default_probability} (stage default)"
        if self.instance.pk and self.instance.probability == self.instance.stage.default_probability:
            # Shown blank, so a later stage change takes that stage's default.
            self.initial["probability"] = None
        # Asked only when a won opportunity with a commitment leaves its won stage.
        self.asks_commitment = False
        self.commitment = None
        if self.previous_stage is not None and self.previous_stage.outcome == StageOutcome.WON:
            self.commitment = commitment_for(self.instance, user)
        if self.commitment is None:
            del self.fields["commitment_action"]
        self.offers_delete = may_delete_commitments(user)

    def standard_bound_fields(self) -> list:
        return [f for f in super().standard_bound_fields() if f.name != "commitment_action"]

    def clean_name(self) -> str:
        return collapse_spaces(self.cleaned_data.get("name") or "")

    def clean_next_step(self) -> str:
        return collapse_spaces(self.cleaned_data.get("next_step") or "")

    def clean_stage(self) -> Stage | None:
        return check_stage_entry(self.cleaned_data.get("stage"), self.user, self.previous_stage)

    def clean_commitment_action(self) -> str:
        return check_commitment_action(self.cleaned_data.get("commitment_action") or "", self.user)

    def clean_lost_reason(self) -> str:
        return collapse_spaces(self.cleaned_data.get("lost_reason") or "")

    def clean(self) -> dict:
        data = super().clean()
        stage = data.get("stage")
        contact = data.get("contact")
        if data.get("expected_amount") is None and "expected_amount" not in self.errors:
            data["expected_amount"] = self.instance.expected_amount if self.instance.pk else 0
            self.instance.expected_amount = data["expected_amount"]
        if stage is not None and stage.outcome == StageOutcome.LOST and not data.get("lost_reason"):
            self.add_error("lost_reason", f"Say why they passed: {stage.name} needs a reason.")
        if contact is not None and not data.get("organization") and contact.organization_id:
            data["organization"] = contact.organization
            self.instance.organization = contact.organization
        if contact is not None and not data.get("name"):
            who = contact.organization.name if contact.organization_id else contact.short_name
            fund = data.get("fund")
            data["name"] = f"{who} — {fund.name}" if fund else who
            self.instance.name = data["name"]
        if (
            self.commitment is not None
            and stage is not None
            and leaves_won(self.previous_stage, stage)
            and data.get("commitment_action") not in COMMITMENT_ACTIONS
        ):
            self.asks_commitment = True
            self.add_error(
                "commitment_action",
                f"{self.commitment.lp} has a {self.commitment.get_status_display().lower()} commitment to "
                f"{self.commitment.fund}. Keep it or delete it?",
            )
        return data


class MoveForm(LengthLimitsMixin, forms.Form):
    """The "Move to…" control, and the questions a drag may need answered first."""

    stage = forms.ModelChoiceField(
        queryset=Stage.objects.none(), widget=StageRadioSelect, empty_label=None, label="Move to"
    )
    lost_reason = forms.CharField(
        max_length=LINE_MAX,
        required=False,
        label="Why did they pass?",
        help_text="Required for a lost stage.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Over-allocated to venture this year"}),
    )
    commitment_action = forms.ChoiceField(choices=COMMITMENT_CHOICES, required=False, widget=forms.RadioSelect)
    # The column order a drag posted, so a confirmed move lands where the card was dropped.
    order = forms.CharField(required=False, widget=forms.HiddenInput, max_length=20000)
    next = forms.CharField(required=False, widget=forms.HiddenInput, max_length=2000)

    def __init__(self, *args: Any, opportunity: Opportunity, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opportunity = opportunity
        self.user = user
        self.fields["stage"].queryset = Stage.objects.visible_to(user)
        offer_only_allowed_stages(self.fields["stage"], user, opportunity.stage)
        self.offers_delete = may_delete_commitments(user)
        self.commitment = None
        if opportunity.stage.outcome == StageOutcome.WON:
            self.commitment = commitment_for(opportunity, user)
        self.asks_commitment = False
        self.asks_reason = False

    def clean_lost_reason(self) -> str:
        return collapse_spaces(self.cleaned_data.get("lost_reason") or "")

    def clean_stage(self) -> Stage | None:
        return check_stage_entry(self.cleaned_data.get("stage"), self.user, self.opportunity.stage)

    def clean_commitment_action(self) -> str:
        return check_commitment_action(self.cleaned_data.get("commitment_action") or "", self.user)

    def clean(self) -> dict:
        data = super().clean()
        stage = data.get("stage")
        if stage is None:
            return data
        if stage.outcome == StageOutcome.LOST and not data.get("lost_reason") and stage != self.opportunity.stage:
            self.asks_reason = True
            self.add_error("lost_reason", f"Say why they passed; the card moves to {stage.name} once you do.")
        if (
            self.commitment is not None
            and leaves_won(self.opportunity.stage, stage)
            and data.get("commitment_action") not in COMMITMENT_ACTIONS
        ):
            self.asks_commitment = True
            self.add_error("commitment_action", "Choose whether to keep or delete the commitment.")
        return data


class TaskForm(LengthLimitsMixin, forms.ModelForm):
    """A task for anyone active on the team. The contact is a picker; an opportunity, LP or
    commitment link comes with the page the form was opened from (hidden, checked against
    what the user may see, so a past or hidden id is a field error, not a link)."""

    owner = forms.ModelChoiceField(
        queryset=User.objects.none(),
        label="For",
        error_messages={
            "required": "Choose who should do it.",
            "invalid_choice": "Choose an active team member.",
        },
    )
    contact = ContactPickerField(
        required=False, label="Contact", widget=ContactPicker(placeholder="Type a name, organization or email…")
    )

    class Meta:
        model = Task
        fields = ["title", "owner", "due_date", "contact", "opportunity", "lp_profile", "commitment", "notes"]
        widgets = {
            "due_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "opportunity": forms.HiddenInput,
            "lp_profile": forms.HiddenInput,
            "commitment": forms.HiddenInput,
            "notes": forms.Textarea(attrs={"rows": 3}),
        }
        error_messages = {
            "title": {"required": "Say what is to be done."},
            "opportunity": {"invalid_choice": "That opportunity is gone or not yours to see."},
            "lp_profile": {"invalid_choice": "That LP is gone or not yours to see."},
            "commitment": {"invalid_choice": "That commitment is gone or not yours to see."},
        }

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        from lps.models import Commitment, LPProfile

        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["owner"].queryset = User.objects.team()
        self.fields["owner"].label_from_instance = lambda member: member.display_name
        self.fields["contact"].queryset = (
            Contact.objects.visible_to(user).select_related("organization").order_by("last_name", "first_name")
        )
        self.fields["opportunity"].queryset = Opportunity.objects.visible_to(user)
        self.fields["lp_profile"].queryset = LPProfile.objects.visible_to(user).select_related("contact")
        self.fields["commitment"].queryset = Commitment.objects.visible_to(user)

    def links(self) -> list[Any]:
        """The linked records the hidden fields carry, to name them on the form."""
        out = []
        for name in ("opportunity", "lp_profile", "commitment"):
            value = self.initial.get(name) if not self.is_bound else None
            if self.is_bound and not self.errors.get(name):
                value = self.data.get(name)
            if hasattr(value, "pk"):
                out.append(value)
            elif value:
                record = self.fields[name].queryset.filter(pk=value).first() if str(value).isdigit() else None
                if record is not None:
                    out.append(record)
        return out


class SnoozeForm(forms.Form):
    until = forms.DateField(
        label="Snooze until",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"required": "Pick the day it should come back.", "invalid": "Enter a date like 2025-03-14."},
    )
