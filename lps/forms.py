"""Forms for LP profiles and commitments."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from contacts.models import Contact
from contacts.pickers import ContactPicker, ContactPickerField
from crm.lib.custom_field_forms import CustomFieldsFormMixin
from crm.lib.text import NOTE_MAX, LengthLimitsMixin
from crm.permissions import can
from lps import documents
from lps.models import (
    CallPurpose,
    Close,
    Commitment,
    CommitmentStatus,
    ComplianceCheck,
    DistributionBasis,
    DocumentKind,
    ElectionStatus,
    Fund,
    K1Method,
    LPProfile,
    MFNRound,
    ReupAsk,
    SideLetter,
    SideLetterProvision,
)

DATE_WIDGET = {"type": "date"}
DATE_ERRORS = {"invalid": "Enter a date like 2025-03-14."}


class LPProfileForm(CustomFieldsFormMixin, forms.ModelForm):
    """Create an LP profile for a contact (which makes them an investor) or edit one."""

    contact = ContactPickerField(
        label="Contact",
        widget=ContactPicker(scope="no_lp", placeholder="Type a contact without an LP profile…"),
        error_messages={"required": "Choose the contact who invests."},
    )

    class Meta:
        model = LPProfile
        fields = ["contact", "investor_type", "accredited", "qualified_purchaser", "preferred_communication", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 4})}
        help_texts = {"preferred_communication": "e.g. Email to the CIO, quarterly call"}

    def __init__(self, *args, user, fixed_contact: Contact | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fixed_contact = fixed_contact
        # Fields the user may not change are not offered (the model refuses them anyway).
        for name, capability in LPProfile.WRITE_RULES.items():
            if capability is not None and name in self.fields and not can(user, capability):
                del self.fields[name]
        field = self.fields["contact"]
        # Only contacts without a profile yet (one profile per contact).
        field.queryset = Contact.objects.visible_to(user).filter(lp_profile__isnull=True)
        if self.instance.pk:
            del self.fields["contact"]
        elif fixed_contact is not None:
            field.disabled = True
            field.initial = fixed_contact.pk
            field.widget.fixed = True
            field.queryset = Contact.objects.visible_to(user).filter(pk=fixed_contact.pk)


class CapitalCallForm(forms.Form):
    """A new capital call: dates, purpose, and the total or a percentage of commitments."""

    notice_date = forms.DateField(widget=forms.DateInput(attrs=DATE_WIDGET), error_messages=DATE_ERRORS)
    due_date = forms.DateField(widget=forms.DateInput(attrs=DATE_WIDGET), error_messages=DATE_ERRORS)
    purpose = forms.ChoiceField(choices=[c for c in CallPurpose.choices if c[0] != CallPurpose.OPENING])
    amount = forms.DecimalField(
        label="Total called", required=False, min_value=Decimal("0.01"), max_digits=15, decimal_places=2,
        help_text="Or give a percentage of commitments instead.",
    )  # fmt: skip
    percent = forms.DecimalField(
        label="Per cent of commitments", required=False, min_value=Decimal("0.0001"), max_value=Decimal("100"),
        max_digits=7, decimal_places=4,
    )  # fmt: skip
    notes = forms.CharField(required=False, max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        cleaned = super().clean()
        if (cleaned.get("amount") is None) == (cleaned.get("percent") is None) and not self.errors:
            self.add_error(None, "Give the total called or a percentage of commitments (one of the two).")
        notice, due = cleaned.get("notice_date"), cleaned.get("due_date")
        if notice and due and due < notice:
            self.add_error("due_date", "The due date cannot be before the notice date.")
        return cleaned


def _money_field(label: str, **extra) -> forms.DecimalField:
    field = forms.DecimalField(label=label, min_value=Decimal("0"), max_digits=15, decimal_places=2, **extra)
    field.widget.attrs.update({"min": 0, "step": "0.01", "inputmode": "decimal"})
    return field


class DistributionForm(forms.Form):
    """A new distribution: the date, the total and its split by kind, and the basis of allocation."""

    date = forms.DateField(label="Paid on", widget=forms.DateInput(attrs=DATE_WIDGET), error_messages=DATE_ERRORS)
    amount = _money_field("Total distributed", help_text="Return of capital, gain and income add up to it.")
    return_of_capital = _money_field("Return of capital", initial=Decimal("0"))
    gain = _money_field("Gain", initial=Decimal("0"))
    income = _money_field("Income", initial=Decimal("0"))
    basis = forms.ChoiceField(
        label="Allocated",
        choices=DistributionBasis.choices,
        initial=DistributionBasis.PAID_IN,
        widget=forms.RadioSelect,
    )
    notes = forms.CharField(required=False, max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        cleaned = super().clean()
        parts = [cleaned.get(name) for name in ("return_of_capital", "gain", "income")]
        total = cleaned.get("amount")
        if total is not None and None not in parts and sum(parts, Decimal("0")) != total:
            added = sum(parts, Decimal("0"))
            self.add_error(
                "amount",
                f"Return of capital, gain and income add up to {added:,.2f}, not {total:,.2f}: make the split add up.",
            )
        if total is not None and total <= 0:
            self.add_error("amount", "A distribution's total must be more than zero.")
        return cleaned


class ReceiptForm(forms.Form):
    amount = forms.DecimalField(label="Received", min_value=Decimal("0.01"), max_digits=15, decimal_places=2)
    received_on = forms.DateField(widget=forms.DateInput(attrs=DATE_WIDGET), error_messages=DATE_ERRORS)


class DocumentForm(forms.Form):
    """A file to attach. ``owners``: the choices of what it belongs to (the LP page offers the LP
    and each commitment); without them, the view fixes the owner (a call line)."""

    file = forms.FileField(
        help_text=f"{documents.ACCEPTED}; up to {{max_mb}} MB.",
        widget=forms.ClearableFileInput(attrs={"accept": documents.ACCEPTED.replace(" ", "")}),
    )
    kind = forms.ChoiceField(choices=DocumentKind.choices, initial=DocumentKind.OTHER)
    title = forms.CharField(required=False, max_length=200, help_text="Blank: the file's name.")
    owner = forms.ChoiceField(label="Attach to", required=False)

    def __init__(self, *args, owners: list[tuple[str, str]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = self.fields["file"].help_text.format(max_mb=documents.max_bytes() >> 20)
        if owners:
            self.fields["owner"].choices = owners
            self.fields["owner"].required = True
        else:
            del self.fields["owner"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        documents.check_upload(upload)
        return upload


class K1Form(forms.Form):
    """One commitment's K-1 for one tax year, as the K-1 page records it (blank dates: not yet)."""

    tax_year = forms.IntegerField(min_value=1900, max_value=2999, widget=forms.HiddenInput)
    prepared_on = forms.DateField(
        required=False, widget=forms.DateInput(attrs=DATE_WIDGET, format="%Y-%m-%d"), error_messages=DATE_ERRORS
    )
    sent_on = forms.DateField(
        required=False, widget=forms.DateInput(attrs=DATE_WIDGET, format="%Y-%m-%d"), error_messages=DATE_ERRORS
    )
    method = forms.ChoiceField(choices=[("", "—"), *K1Method.choices], required=False, label="Sent by")
    notes = forms.CharField(required=False, max_length=NOTE_MAX)

    def clean(self) -> dict:
        data = super().clean()
        prepared, sent = data.get("prepared_on"), data.get("sent_on")
        if prepared and sent and sent < prepared:
            self.add_error("sent_on", "A K-1 cannot be sent before it is prepared.")
        if data.get("method") and not sent:
            self.add_error("sent_on", "Give the date it was sent, or leave “sent by” blank.")
        return data


class CommitmentForm(LengthLimitsMixin, forms.ModelForm):
    fund = forms.ModelChoiceField(queryset=Fund.objects.none(), empty_label=None)

    class Meta:
        model = Commitment
        fields = [
            "fund",
            "investing_entity",
            "status",
            "commitment_amount",
            "funded_amount",
            "commitment_date",
            "legal_docs_signed",
            "signed_date",
            "wire_received",
            "wire_date",
            "notes",
            "soft_amount",
            "soft_date",
            "hard_amount",
            "hard_date",
            "withdrawn_reason",
            "close",
        ]
        labels = {"commitment_amount": "Amount now", "funded_amount": "Funded"}
        help_texts = {
            "status": "Soft circles are not counted as committed; withdrawn commitments count toward nothing.",
            "commitment_amount": "At the status above. Moving up the ladder keeps each earlier level's amount.",
            "soft_amount": "What the LP first indicated, if different. Filled in when left blank.",
            "hard_amount": "The hard-circle amount, if it has been reached. Filled in when left blank.",
            "investing_entity": "Optional: the trust, IRA or LLC the LP invests through. Needed for a second "
            "commitment to the same fund.",
        }
        widgets = {
            "commitment_date": forms.DateInput(attrs=DATE_WIDGET, format="%Y-%m-%d"),
            "signed_date": forms.DateInput(attrs=DATE_WIDGET, format="%Y-%m-%d"),
            "wire_date": forms.DateInput(attrs=DATE_WIDGET, format="%Y-%m-%d"),
            "soft_date": forms.DateInput(attrs=DATE_WIDGET, format="%Y-%m-%d"),
            "hard_date": forms.DateInput(attrs=DATE_WIDGET, format="%Y-%m-%d"),
            "withdrawn_reason": forms.TextInput(attrs={"placeholder": "e.g. allocation cut, fund size, timing"}),
            "notes": forms.Textarea(attrs={"rows": 3}),
            "investing_entity": forms.TextInput(attrs={"placeholder": "e.g. Trust / IRA, Gillespie Family LLC"}),
        }
        error_messages = {
            "commitment_date": DATE_ERRORS,
            "signed_date": DATE_ERRORS,
            "wire_date": DATE_ERRORS,
            "soft_date": DATE_ERRORS,
            "hard_date": DATE_ERRORS,
            "soft_amount": {"invalid": "Enter an amount in dollars, like 2500000."},
            "hard_amount": {"invalid": "Enter an amount in dollars, like 2500000."},
            "commitment_amount": {"invalid": "Enter an amount in dollars, like 2500000."},
            "funded_amount": {"invalid": "Enter an amount in dollars, like 2500000."},
        }

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["fund"].queryset = Fund.objects.visible_to(user).order_by("-vintage_year", "name")
        self.fields["status"].initial = CommitmentStatus.HARD_CIRCLE
        for name in ("commitment_amount", "funded_amount", "soft_amount", "hard_amount"):
            self.fields[name].widget.attrs.update({"min": 0, "step": "0.01", "inputmode": "decimal"})
        # Any fund's close while adding (the fund is chosen on the same form; clean() checks the
        # pair); the commitment's own fund's closes once it exists.
        closes = Close.objects.visible_to(user).select_related("fund").order_by("fund", "date")
        if self.instance.pk:
            # Moving a commitment to another fund would rewrite both funds' history: not here.
            self.fields["fund"].disabled = True
            if self.instance.call_lines.exists():
                # Paid in through capital calls: the funded amount is what their lines received.
                self.fields["funded_amount"].disabled = True
                self.fields["funded_amount"].help_text = "The sum received on this commitment's capital calls."
            closes = closes.filter(fund=self.instance.fund_id)
        self.fields["close"].queryset = closes
        self.fields["close"].empty_label = "Not chosen yet"

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("status") == CommitmentStatus.WITHDRAWN and not cleaned.get("withdrawn_reason", "").strip():
            self.add_error("withdrawn_reason", "Say why the LP withdrew or declined: the raise's reports count on it.")
        for name in ("soft_amount", "hard_amount"):
            if cleaned.get(name) is not None and cleaned[name] < 0:
                self.add_error(name, "An amount cannot be negative.")
        fund = cleaned.get("fund")
        close = cleaned.get("close")
        if fund and close and close.fund_id != fund.pk:
            self.add_error("close", f"Choose one of {fund}'s closes.")
        entity = cleaned.get("investing_entity", "")
        lp = self.instance.lp if self.instance.lp_id else None
        if fund and lp and "investing_entity" not in self.errors:
            # Case-insensitive, so “Trust / IRA” and “trust / ira” are not two entities.
            same = (
                Commitment.objects.filter(lp=lp, fund=fund, investing_entity__iexact=entity)
                .exclude(pk=self.instance.pk)
                .first()
            )
            if same is not None:
                through = f" through {same.investing_entity}" if same.investing_entity else ""
                self.add_error(
                    "investing_entity",
                    f"{lp} already has a commitment to {fund}{through}. Edit that one, or give this one a "
                    "different investing entity (e.g. “Trust / IRA” or the LLC's name) to record a second "
                    "commitment.",
                )
        return cleaned


class ReupAskForm(LengthLimitsMixin, forms.ModelForm):
    """The ask to an earlier fund's LP for the fund being raised (the instance carries both)."""

    class Meta:
        model = ReupAsk
        fields = ["amount", "asked_on", "status_override"]
        widgets = {
            "amount": forms.NumberInput(attrs={"min": "0", "step": "any"}),
            "asked_on": forms.DateInput(attrs=DATE_WIDGET),
        }
        error_messages = {"asked_on": DATE_ERRORS}

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def save(self, commit: bool = True) -> ReupAsk:
        self.instance._history_user = self.user
        return super().save(commit=commit)


# --- Side letters, MFN rounds, compliance -------------------------------------------------------


class SideLetterForm(LengthLimitsMixin, forms.ModelForm):
    class Meta:
        model = SideLetter
        fields = ["signed_date", "notes"]
        widgets = {
            "signed_date": forms.DateInput(attrs=DATE_WIDGET, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }
        error_messages = {"signed_date": DATE_ERRORS}


class ProvisionForm(LengthLimitsMixin, forms.ModelForm):
    class Meta:
        model = SideLetterProvision
        fields = ["category", "text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 2})}


# Three empty rows: a letter is usually entered whole, its provisions at once.
ProvisionFormSet = forms.inlineformset_factory(
    SideLetter, SideLetterProvision, form=ProvisionForm, extra=3, can_delete=True, max_num=100, validate_max=True
)


class MFNRoundForm(LengthLimitsMixin, forms.ModelForm):
    fund = forms.ModelChoiceField(queryset=Fund.objects.none(), empty_label=None)

    class Meta:
        model = MFNRound
        fields = ["fund", "sent_date", "deadline", "notes"]
        widgets = {
            "sent_date": forms.DateInput(attrs=DATE_WIDGET, format="%Y-%m-%d"),
            "deadline": forms.DateInput(attrs=DATE_WIDGET, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }
        error_messages = {"sent_date": DATE_ERRORS, "deadline": DATE_ERRORS}

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["fund"].queryset = Fund.objects.visible_to(user).order_by("-vintage_year", "name")

    def clean(self):
        cleaned = super().clean()
        sent, deadline = cleaned.get("sent_date"), cleaned.get("deadline")
        if sent and deadline and deadline < sent:
            self.add_error("deadline", "The deadline cannot be before the round is sent.")
        return cleaned


class MFNElectionForm(forms.Form):
    status = forms.ChoiceField(choices=ElectionStatus.choices)
    provisions = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label="Elected provisions"
    )
    decided_on = forms.DateField(
        required=False, widget=forms.DateInput(attrs=DATE_WIDGET), error_messages=DATE_ERRORS, label="Decided on"
    )

    def __init__(self, *args, provisions: list[SideLetterProvision], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A list read once for the whole round page: a queryset here would be read again for
        # every LP's form.
        self.provisions = {p.pk: p for p in provisions}
        self.fields["provisions"].choices = [
            (p.pk, f"{p.get_category_display()} ({p.side_letter.commitment.lp}): {p.text[:80]}") for p in provisions
        ]

    def clean_provisions(self) -> list[SideLetterProvision]:
        return [self.provisions[pk] for pk in self.cleaned_data["provisions"]]

    def clean(self):
        cleaned = super().clean()
        status = cleaned.get("status")
        if status == ElectionStatus.ELECTED and not cleaned.get("provisions"):
            self.add_error("provisions", "Tick the provisions the LP elected (or record a decline).")
        if status in (ElectionStatus.ELECTED, ElectionStatus.DECLINED) and not cleaned.get("decided_on"):
            self.add_error("decided_on", "Give the date the LP answered.")
        return cleaned


class ComplianceCheckForm(forms.ModelForm):
    """One kind's check; the compliance page shows one per kind, each with the kind as prefix."""

    class Meta:
        model = ComplianceCheck
        fields = ["status", "verified_on", "expires_on"]
        widgets = {
            "verified_on": forms.DateInput(attrs=DATE_WIDGET, format="%Y-%m-%d"),
            "expires_on": forms.DateInput(attrs=DATE_WIDGET, format="%Y-%m-%d"),
        }
        error_messages = {"verified_on": DATE_ERRORS, "expires_on": DATE_ERRORS}
