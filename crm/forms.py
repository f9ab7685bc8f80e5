import datetime

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from crm.lib.text import EMAIL_MAX, LengthLimitsMixin, collapse_spaces, normalize_email
from crm.models import EMAIL_UNAVAILABLE, LIST_KEYS, ApiToken, SavedView, User
from crm.security.forms import LockoutMessageMixin


class SignInForm(LockoutMessageMixin, AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That username and password don't match an active account. Both are case-sensitive.",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autofocus": True})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})


class ProfileForm(LengthLimitsMixin, forms.ModelForm):
    """The signed-in user's own name and email; role and username stay with the admins."""

    email = forms.EmailField(
        label="Email",
        max_length=EMAIL_MAX,
        help_text="Used to match you to meetings and emails imported from the old system.",
    )
    # Said the positive way round; stored as an opt-out so a new user gets the digest.
    daily_digest = forms.BooleanField(
        label="Email me a morning digest",
        required=False,
        help_text="Your overdue and due-today actions each morning; nothing is sent on a day with nothing due.",
    )

    class Meta:
        model = User
        fields = ["full_name", "email"]
        labels = {"full_name": "Full name"}
        error_messages = {"full_name": {"required": "Enter your name as the team should see it."}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["full_name"].required = True
        self.fields["full_name"].widget.attrs.update({"autocomplete": "name"})
        self.fields["email"].widget.attrs.update({"autocomplete": "email"})
        self.fields["daily_digest"].initial = not self.instance.digest_opt_out

    def save(self, commit: bool = True) -> User:
        self.instance.digest_opt_out = not self.cleaned_data["daily_digest"]
        return super().save(commit)

    def clean_full_name(self) -> str:
        name = collapse_spaces(self.cleaned_data["full_name"])
        if not name:
            raise forms.ValidationError("Enter your name as the team should see it.")
        return name

    def clean_email(self) -> str:
        email = normalize_email(self.cleaned_data["email"])
        if User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(EMAIL_UNAVAILABLE)
        return email


class ApiTokenForm(LengthLimitsMixin, forms.ModelForm):
    """A new personal API token: a name to tell it apart, and how long it lasts."""

    NEVER = ""
    LIFETIMES = [("30", "30 days"), ("90", "90 days"), ("365", "A year"), (NEVER, "Never expires")]

    lifetime = forms.ChoiceField(label="Expires", choices=LIFETIMES, initial="90", required=False)

    class Meta:
        model = ApiToken
        fields = ["name"]
        labels = {"name": "Token name"}
        help_texts = {"name": "What it is for, e.g. “Excel refresh” or “bulk fix script”."}
        error_messages = {"name": {"required": "Name the token after what will use it."}}

    def clean_name(self) -> str:
        name = collapse_spaces(self.cleaned_data["name"])
        if not name:
            raise forms.ValidationError("Name the token after what will use it.")
        return name

    def expires_at(self, now: datetime.datetime) -> datetime.datetime | None:
        days = self.cleaned_data.get("lifetime") or self.NEVER
        return now + datetime.timedelta(days=int(days)) if days else None


class SavedViewForm(forms.ModelForm):
    """Name a list's current state. The query string is the list's own (filters, sort, columns)."""

    list_key = forms.ChoiceField(choices=[(key, key) for key in LIST_KEYS])

    class Meta:
        model = SavedView
        fields = ["list_key", "name", "query", "shared"]

    def clean_query(self) -> str:
        # Kept as a query string only: a view never points anywhere but its own list.
        return self.cleaned_data["query"].lstrip("?").split("#")[0]
