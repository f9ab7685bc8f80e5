from __future__ import annotations

import datetime

from django import forms
from django.core.validators import MaxValueValidator
from django.utils import timezone
from django.utils.html import format_html

from contacts.models import Communication, Contact, ContactStatus, Mailbox, Organization, SharedMailbox, Tag
from contacts.pickers import ContactMultiPickerField, ContactPicker, ContactPickerField, PickerSearch
from contacts.services import BOTH, MERGE_FIELDS
from crm.lib.custom_field_forms import CustomFieldsFormMixin
from crm.lib.text import NAME_MAX, PASSWORD_MAX, URL_MAX, LengthLimitsMixin, collapse_spaces, normalize_email
from crm.models import User
from pipeline.models import Opportunity


class OrganizationForm(CustomFieldsFormMixin, forms.ModelForm):
    # Django 6's default now: a typed "atlas.example" becomes https://. Left to the model
    # field, the form warns RemovedInDjango60Warning at import (an error under pytest).
    website = forms.URLField(max_length=URL_MAX, required=False, assume_scheme="https")

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


class TagForm(LengthLimitsMixin, forms.ModelForm):
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


# --- Contacts ----------------------------------------------------------------------------


def _contact_link(contact: Contact) -> str:
    url = contact.get_absolute_url() or "#"
    return format_html(
        '<a href="{}" hx-get="{}" hx-target="#dialog-body" data-dialog="panel">{}</a>', url, url, contact.full_name
    )


class ContactForm(CustomFieldsFormMixin, forms.ModelForm):
    """Add or edit a contact. The organization is typed by name, with suggestions.

    A select of every organization stops working at a few thousand; a name matched ignoring
    case and spacing does not, and an unknown name can be created on purpose.
    """

    organization_name = forms.CharField(
        label="Organization",
        max_length=NAME_MAX,
        required=False,
        widget=forms.TextInput(attrs={"list": "organization-options", "autocomplete": "off"}),
    )
    create_organization = forms.BooleanField(label="Create it as a new organization", required=False)
    linkedin_url = forms.URLField(label="LinkedIn URL", max_length=URL_MAX, required=False, assume_scheme="https")
    save_anyway = forms.BooleanField(label="None of these is the same person: save anyway", required=False)

    class Meta:
        model = Contact
        fields = [
            "name_prefix",
            "first_name",
            "last_name",
            "name_suffix",
            "email",
            "phone",
            "mobile",
            "title",
            "contact_type",
            "status",
            "owner",
            "source",
            "tags",
            "location",
            "preferred_contact",
            "do_not_email",
            "never_capture",
            "linkedin_url",
            "notes",
        ]
        widgets = {
            "notes": forms.Textarea(attrs={"rows": 4}),
            "tags": forms.CheckboxSelectMultiple,
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
        }

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user  # who creates an organization typed here
        self.fields["owner"].queryset = User.objects.team()
        self.fields["owner"].empty_label = "No owner"
        self.fields["tags"].queryset = Tag.objects.visible_to(user)
        if self.instance.organization_id and not self.is_bound:
            self.initial["organization_name"] = self.instance.organization.name
        self.new_organization_name = ""

    def clean_email(self) -> str:
        email = normalize_email(self.cleaned_data.get("email"))
        clash = Contact.objects.matching_email(email).exclude(pk=self.instance.pk).first()
        if clash is not None:
            raise forms.ValidationError(format_html("{} already has this email address.", _contact_link(clash)))
        return email

    def clean_last_name(self) -> str:
        name = collapse_spaces(self.cleaned_data.get("last_name"))
        if not name:
            raise forms.ValidationError("Give the contact a last name (or the one name they go by).")
        return name

    def clean_organization_name(self) -> str:
        name = collapse_spaces(self.cleaned_data.get("organization_name"))
        self.instance.organization = None
        if not name:
            return name
        organization = Organization.objects.matching_name(name).first()
        if organization is not None:
            self.instance.organization = organization
        elif self.data.get(self.add_prefix("create_organization")):
            self.new_organization_name = name
        else:
            raise forms.ValidationError(
                f"There is no organization called “{name}”. Check the spelling, or tick "
                "“Create it as a new organization” below."
            )
        return name

    @property
    def offers_new_organization(self) -> bool:
        return bool(self.new_organization_name) or "organization_name" in self.errors

    def save(self, commit: bool = True) -> Contact:
        if self.new_organization_name:
            organization = Organization(name=self.new_organization_name, created_by=self.user)
            organization.save()
            self.instance.organization = organization
        return super().save(commit=commit)

    def likely_duplicates(self, queryset) -> list[tuple[Contact, list[str]]]:
        data = self.cleaned_data
        return queryset.likely_duplicates(
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            email=data.get("email", ""),
            organization=self.instance.organization,
            phones=(data.get("phone", ""), data.get("mobile", "")),
            exclude_pk=self.instance.pk,
        )

    def tag_options(self) -> list[tuple[Tag, bool]]:
        """Every tag with whether it is ticked, for the form's coloured tag chips."""
        chosen = {str(value) for value in (self["tags"].value() or [])}
        return [(tag, str(tag.pk) in chosen) for tag in self.fields["tags"].queryset]

    def grouped_fields(self) -> list[tuple[str, list]]:
        """The form's sections, in the order a person fills them in."""
        groups = [
            ("Name", ["name_prefix", "first_name", "last_name", "name_suffix"]),
            (
                "Reach them",
                ["email", "phone", "mobile", "preferred_contact", "do_not_email", "never_capture", "linkedin_url"],
            ),
            ("Work", ["organization_name", "title", "location"]),
            ("Relationship", ["contact_type", "status", "owner", "source", "tags"]),
            ("Notes", ["notes"]),
        ]
        return [(title, [self[name] for name in names]) for title, names in groups]


class ContactBulkForm(forms.Form):
    """One bulk action on the selected rows, or on every row the list's filter matches."""

    ACTIONS = [
        ("add_tag", "Add tag"),
        ("remove_tag", "Remove tag"),
        ("owner", "Assign owner"),
        ("status", "Change status"),
        ("export_csv", "Export CSV"),
        ("export_xlsx", "Export XLSX"),
        ("merge", "Merge"),
    ]
    NO_OWNER = "none"
    MAX_IDS = 5000

    action = forms.ChoiceField(choices=ACTIONS)
    ids = forms.CharField(required=False, widget=forms.MultipleHiddenInput)
    select_all = forms.BooleanField(required=False)
    query = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
    tag = forms.ModelChoiceField(queryset=Tag.objects.none(), required=False, empty_label="Tag…")
    owner = forms.ChoiceField(
        required=False, error_messages={"invalid_choice": "That person is not an active member of the team."}
    )
    status = forms.ChoiceField(choices=[("", "Status…"), *ContactStatus.choices], required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tag"].queryset = Tag.objects.visible_to(user)
        self.fields["owner"].choices = [
            ("", "Owner…"),
            (self.NO_OWNER, "No owner"),
            *[(str(user.pk), user.display_name) for user in User.objects.team()],
        ]

    def clean_ids(self) -> list[int]:
        raw = self.data.getlist(self.add_prefix("ids")) if hasattr(self.data, "getlist") else []
        try:
            ids = sorted({int(value) for value in raw})
        except (TypeError, ValueError):
            raise forms.ValidationError("The selection was not understood. Select the rows again.") from None
        if len(ids) > self.MAX_IDS:
            raise forms.ValidationError(f"Select at most {self.MAX_IDS} rows, or use “select all matching” for more.")
        return ids

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if not data.get("select_all") and not data.get("ids") and "ids" not in self.errors:
            raise forms.ValidationError("Select at least one contact first.")
        needs = {"add_tag": ("tag", "Choose the tag."), "remove_tag": ("tag", "Choose the tag.")}
        needs["owner"] = ("owner", "Choose the owner, or “No owner”.")
        needs["status"] = ("status", "Choose the status.")
        if action in needs:
            name, message = needs[action]
            if not data.get(name) and name not in self.errors:
                self.add_error(name, message)
        if action == "merge" and (data.get("select_all") or len(data.get("ids") or []) != 2):
            raise forms.ValidationError("Select exactly two contacts to merge.")
        return data

    def owner_user(self):
        """The chosen owner, or None for "No owner" (the choices hold only the active team)."""
        value = self.cleaned_data.get("owner")
        if value in ("", self.NO_OWNER, None):
            return None
        return User.objects.team().get(pk=value)


class ContactMergeForm(forms.Form):
    """Two contacts side by side: which one survives, and per field whose value it keeps."""

    survivor = forms.ChoiceField(
        choices=[("a", "Keep the first"), ("b", "Keep the second")], widget=forms.RadioSelect, initial="a"
    )

    def __init__(self, *args, a: Contact, b: Contact, **kwargs):
        super().__init__(*args, **kwargs)
        self.a, self.b = a, b
        self.rows = []  # (field name, label, a display, b display) for the fields that differ
        for name in MERGE_FIELDS:
            model_field = Contact._meta.get_field(name)
            va, vb = getattr(a, model_field.attname), getattr(b, model_field.attname)
            if va == vb or (va in (None, "") and vb in (None, "")):
                continue
            choices = [("a", "First"), ("b", "Second")]
            if name == "notes" and va and vb:
                choices.append((BOTH, "Both"))
                initial = BOTH
            else:
                initial = "b" if va in (None, "", False) and vb not in (None, "") else "a"
            self.fields[f"pick_{name}"] = forms.ChoiceField(
                choices=choices,
                widget=forms.RadioSelect,
                initial=initial,
                label=model_field.verbose_name,
                required=False,  # not posted: the default shown (the value that is filled in)
            )
            self.rows.append(
                (f"pick_{name}", str(model_field.verbose_name).capitalize(), _show(a, name), _show(b, name))
            )
        self.custom_rows = []
        definitions = {d.key: d for d in a.custom_field_definitions()}
        ca, cb = a.custom_fields or {}, b.custom_fields or {}
        for key in sorted(set(ca) & set(cb)):
            if ca[key] in (None, "", []) or cb[key] in (None, "", []) or ca[key] == cb[key]:
                continue
            label = definitions[key].name if key in definitions else key
            self.fields[f"cf_{key}"] = forms.ChoiceField(
                choices=[("a", "First"), ("b", "Second")],
                widget=forms.RadioSelect,
                initial="a",
                label=label,
                required=False,
            )
            self.custom_rows.append((f"cf_{key}", label, _plain(ca[key]), _plain(cb[key])))

    def bound_rows(self):
        return [(self[name], label, va, vb) for name, label, va, vb in self.rows + self.custom_rows]

    def survivor_and_other(self) -> tuple[Contact, Contact]:
        return (self.a, self.b) if self.cleaned_data["survivor"] == "a" else (self.b, self.a)

    def picks(self) -> tuple[dict[str, str], dict[str, str]]:
        """Per-field choices in the service's terms: "survivor", "other" or "both"."""
        keep = self.cleaned_data["survivor"]

        def side(value: str) -> str:
            return value if value == BOTH else ("survivor" if value == keep else "other")

        picks, custom = {}, {}
        for name, value in self.cleaned_data.items():
            value = value or self.fields[name].initial
            if name.startswith("pick_"):
                picks[name.removeprefix("pick_")] = side(value)
            elif name.startswith("cf_"):
                custom[name.removeprefix("cf_")] = side(value)
        # Fields that were equal on both (so not asked) keep the survivor's value.
        return picks, custom


def _show(contact: Contact, name: str) -> str:
    model_field = Contact._meta.get_field(name)
    value = getattr(contact, model_field.attname)
    if value in (None, ""):
        return "—"
    if model_field.choices:
        return str(getattr(contact, f"get_{name}_display")())
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if model_field.is_relation:
        return str(getattr(contact, name))
    return str(value)


def _plain(value) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


# --- Communications (issue 5) -----------------------------------------------------------


def _local_now_minute():
    """Now in the team's time zone (settings.TIME_ZONE), to the minute, for a datetime-local input."""
    return timezone.localtime().replace(second=0, microsecond=0)


class CommunicationForm(LengthLimitsMixin, forms.ModelForm):
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


class MailboxForm(LengthLimitsMixin, forms.ModelForm):
    """Connect or edit one's own mailbox for email capture. The app password is written, never read back:
    left empty on an edit, the stored one stays."""

    password = forms.CharField(
        label="App password",
        required=False,
        max_length=PASSWORD_MAX,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="An app password made for the CRM in your mail account's security settings. "
        "Stored encrypted; it is never shown again.",
    )

    class Meta:
        model = Mailbox
        fields = ["host", "port", "use_tls", "username", "password", "folders", "start_date", "enabled"]
        widgets = {
            "folders": forms.Textarea(attrs={"rows": 2}),
            "start_date": forms.DateInput(attrs={"type": "date"}),
            "username": forms.TextInput(attrs={"autocomplete": "off"}),
        }
        error_messages = {"folders": {"required": "Name at least one folder, e.g. INBOX."}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.password_encrypted:
            self.fields[
                "password"
            ].help_text = "Stored encrypted. Leave empty to keep it; type a new one to replace it."
        else:
            self.initial.setdefault("start_date", timezone.localdate() - datetime.timedelta(days=30))

    def clean_host(self) -> str:
        host = self.cleaned_data["host"].strip().lower()
        if not host or any(ch.isspace() or ch in "/:@" for ch in host):
            raise forms.ValidationError("The server's name only, e.g. imap.fastmail.com (no https://, no port).")
        return host

    def clean_port(self) -> int:
        port = self.cleaned_data["port"]
        if not 1 <= port <= 65535:
            raise forms.ValidationError("A port between 1 and 65535 (993 with TLS, 143 without).")
        return port

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip()

    def clean_folders(self) -> str:
        names = list(dict.fromkeys(n.strip() for n in self.cleaned_data["folders"].splitlines() if n.strip()))
        if not names:
            raise forms.ValidationError("Name at least one folder, e.g. INBOX.")
        return "\n".join(names)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("password") and not self.instance.password_encrypted:
            self.add_error("password", "Enter the app password the CRM signs in with.")
        return cleaned

    def save(self, commit: bool = True) -> Mailbox:
        mailbox = super().save(commit=False)
        if self.cleaned_data.get("password"):
            mailbox.set_password(self.cleaned_data["password"])
        if {"host", "port", "username", "start_date"} & set(self.changed_data):
            # Another account, or an earlier start: read every folder again (Message-IDs keep it from doubling).
            mailbox.folder_state = {}
        if commit:
            mailbox.save()
        return mailbox


class SharedMailboxForm(MailboxForm):
    """The team's shared BCC/forward mailbox, on the admin site; saved through contacts.services."""

    class Meta(MailboxForm.Meta):
        model = SharedMailbox
        help_texts = {
            "username": "The shared address's sign-in, e.g. crm@fund.example.",
            "folders": "The folders to read, one a line: usually INBOX only.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            self.initial.setdefault("folders", "INBOX")
        self.fields["password"].help_text = self.fields["password"].help_text.replace(
            "your mail account", "its account"
        )
