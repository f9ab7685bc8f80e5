from __future__ import annotations

from django import forms
from django.core.validators import MaxValueValidator
from django.utils import timezone
from django.utils.html import format_html

from contacts.models import Communication, Contact, Organization, Tag
from contacts.pickers import ContactMultiPickerField, ContactPicker, ContactPickerField, PickerSearch
from crm.lib.custom_field_forms import CustomFieldsFormMixin
from crm.lib.text import collapse_spaces
from crm.models import User
from pipeline.models import Opportunity


class OrganizationForm(CustomFieldsFormMixin, forms.ModelForm):
    # Django 6's default now: a typed "atlas.example" becomes https://. Left to the model
    # field, the form warns RemovedInDjango60Warning at import (an error under pytest).
    website = forms.URLField(max_length=300, required=False, assume_scheme="https")

    class Meta:
        model = Organization
        fields = [
            "name",
            "type",
            "industry",
            "website",
            "phone",
            "email",
            "address",
            "city",
            "state",
            "country",
            "tags",
            "description",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "tags": forms.CheckboxSelectMultiple,
        }

    def clean_name(self) -> str:
        name = collapse_spaces(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError("Give the organization a name.")
        clash = Organization.objects.matching_name(name).exclude(pk=self.instance.pk).first()
        if clash is not None:
            raise forms.ValidationError(
                format_html(
                    'An organization with this name already exists: <a href="{}">{}</a>.',
                    clash.get_absolute_url() or "#",
                    clash.name,
                )
            )
        return name


class TagForm(forms.ModelForm):
    """Create, rename or recolour a tag. Names are unique ignoring case and spacing."""

    class Meta:
        model = Tag
        fields = ["name", "colour"]
        widgets = {"colour": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update({"autocomplete": "off", "placeholder": "e.g. Warm intro"})

    def clean_name(self) -> str:
        name = collapse_spaces(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError("Give the tag a name.")
        clash = Tag.objects.filter(name__iexact=name).exclude(pk=self.instance.pk).first()
        if clash is not None:
            raise forms.ValidationError(
                f"There is already a tag named “{clash.name}”. Use that one or pick another name."
            )
        return name


# --- Communications (issue 5) -----------------------------------------------------------


def _local_now_minute():
    """Now in the team's time zone (settings.TIME_ZONE), to the minute, for a datetime-local input."""
    return timezone.localtime().replace(second=0, microsecond=0)


class CommunicationForm(forms.ModelForm):
    """Log or edit a communication.

    ``fixed_contact`` / ``fixed_opportunity`` (from ``?contact=`` / ``?opportunity=``) pin those
    fields: they are shown, posted back as hidden inputs, and cannot be changed.
    """

    contact = ContactPickerField(
        label="Contact", widget=ContactPicker(event="contactPicked"), error_messages={"required": "Choose a contact."}
    )
    communication_date = forms.DateTimeField(
        label="Date and time",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": "Enter a date and time like 2025-03-14 15:30."},
    )
    next_action_date = forms.DateField(
        label="Due",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date like 2025-03-14."},
    )
    contact_attendees = ContactMultiPickerField(
        label="Other contacts present",
        required=False,
        widget=ContactPicker(multiple=True, placeholder="Add someone else who was there…"),
    )

    class Meta:
        model = Communication
        fields = [
            "contact",
            "type",
            "communication_date",
            "duration_minutes",
            "subject",
            "body",
            "outcome",
            "next_action",
            "next_action_date",
            "team_attendees",
            "contact_attendees",
            "opportunity",
        ]
        labels = {
            "duration_minutes": "Duration (minutes)",
            "body": "Notes",
            "next_action": "Next action",
            "team_attendees": "Team members present",
            "opportunity": "Linked opportunity",
        }
        widgets = {
            "type": forms.RadioSelect,
            "body": forms.Textarea(attrs={"rows": 8}),
            "team_attendees": forms.CheckboxSelectMultiple,
            "subject": forms.TextInput(attrs={"placeholder": "What was it about?"}),
            "next_action": forms.TextInput(attrs={"placeholder": "e.g. Send the Fund II deck"}),
        }

    def __init__(
        self,
        *args,
        user: User,
        fixed_contact: Contact | None = None,
        fixed_opportunity: Opportunity | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fixed_contact = fixed_opportunity.contact if fixed_opportunity else fixed_contact
        self.fixed_opportunity = fixed_opportunity
        contacts = Contact.objects.visible_to(user)
        self.fields["contact"].queryset = contacts
        self.fields["contact_attendees"].queryset = contacts
        self.fields["team_attendees"].queryset = User.objects.team()
        self.fields["team_attendees"].label_from_instance = lambda u: u.display_name
        self.fields["duration_minutes"].widget.attrs.update({"min": 0, "max": 1440, "step": 5})
        self.fields["duration_minutes"].validators.append(MaxValueValidator(7 * 24 * 60))
        if not self.instance.pk:
            self.fields["communication_date"].initial = _local_now_minute
            self.fields["team_attendees"].initial = [user.pk]
        if self.fixed_contact is not None:
            self.fields["contact"].disabled = True
            self.fields["contact"].initial = self.fixed_contact.pk
            self.fields["contact"].widget.fixed = True
        opportunity = self.fields["opportunity"]
        opportunity.queryset = self.opportunity_choices(user, self.chosen_contact_id())
        opportunity.label_from_instance = lambda o: f"{o.name} · {o.fund.name} · {o.stage.name}"
        opportunity.empty_label = "None" if self.chosen_contact_id() else "Choose a contact first"
        if self.fixed_opportunity is not None:
            opportunity.disabled = True
            opportunity.initial = self.fixed_opportunity.pk

    @staticmethod
    def opportunity_choices(user: User, contact_id: int | None):
        if not contact_id:
            return Opportunity.objects.none()
        return (
            Opportunity.objects.visible_to(user)
            .filter(contact_id=contact_id)
            .select_related("fund", "stage")
            .order_by("stage__outcome", "-fund__vintage_year", "stage__order", "name")
        )

    def chosen_contact_id(self) -> int | None:
        """The contact the opportunity list is limited to, before validation has run."""
        if self.fixed_contact is not None:
            return self.fixed_contact.pk
        if self.is_bound:
            raw = self.fields["contact"].widget.value_from_datadict(self.data, self.files, self.add_prefix("contact"))
            return int(raw) if isinstance(raw, str) and not isinstance(raw, PickerSearch) and raw.isdigit() else None
        initial = self.initial.get("contact") or self.instance.contact_id
        return getattr(initial, "pk", initial)

    def clean_subject(self) -> str:
        return collapse_spaces(self.cleaned_data.get("subject"))

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("subject") or (cleaned.get("body") or "").strip() or cleaned.get("outcome")):
            self.add_error("subject", "Add a subject, notes or an outcome, so the log says what happened.")
        if cleaned.get("next_action_date") and not (cleaned.get("next_action") or "").strip():
            self.add_error("next_action", "Say what the next action is, or clear its date.")
        contact, opportunity = cleaned.get("contact"), cleaned.get("opportunity")
        if contact and opportunity and opportunity.contact_id != contact.pk:
            self.add_error("opportunity", "This opportunity belongs to another contact.")
        if contact and contact in (cleaned.get("contact_attendees") or []):
            cleaned["contact_attendees"] = [c for c in cleaned["contact_attendees"] if c.pk != contact.pk]
        return cleaned

    def save(self, commit: bool = True) -> Communication:
        communication = super().save(commit=False)
        # A different next action is a new one: not done yet.
        if "next_action" in self.changed_data and communication.next_action_done:
            communication.next_action_done = False
            communication.next_action_done_at = None
            communication.next_action_done_by = None
        if not communication.pk:
            communication.created_by = self.user
        if commit:
            communication.save()
            self._save_m2m()
        return communication


class RescheduleForm(forms.Form):
    next_action_date = forms.DateField(
        label="New date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"required": "Pick the new date.", "invalid": "Enter a date like 2025-03-14."},
    )
