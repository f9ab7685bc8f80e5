from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from crm.models import User
from crm.security.services import CodeCheck, check_code, normalize_code
from crm.security.throttle import locked_out_message

WRONG_CODE = (
    "That code is not right. Enter the code your authenticator app shows now (it changes every 30 seconds), "
    "or one of your recovery codes."
)
THROTTLED = "Too many wrong codes in a row. Wait a few seconds, then enter the current code."


class LockoutMessageMixin:
    """Show django-axes' lockout as the form's error instead of "wrong password".

    Axes flags the request when this attempt reached the limit, or when the username or
    address was locked already; the page stays the sign-in page (marked 429 by
    crm.security.throttle.lockout_response).
    """

    def get_invalid_login_error(self) -> ValidationError:
        if getattr(self.request, "axes_locked_out", False):
            return ValidationError(locked_out_message(), code="locked_out")
        return super().get_invalid_login_error()


class AdminSignInForm(LockoutMessageMixin, AdminAuthenticationForm):
    pass


def code_field(label: str = "Code") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
        error_messages={"required": "Enter the code."},
    )


class SecondStepForm(forms.Form):
    """The second step of sign-in: a code from the authenticator app, or a recovery code."""

    code = code_field()

    def __init__(self, user: User, *args, has_authenticator: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.result: CodeCheck | None = None
        self.fields["code"].help_text = (
            "Six digits from your authenticator app, or one of your recovery codes."
            if has_authenticator
            else "One of your recovery codes, if your passkey is not at hand."
        )
        if not has_authenticator:
            self.fields["code"].label = "Recovery code"
            self.fields["code"].widget.attrs.pop("autofocus", None)

    def clean_code(self) -> str:
        self.result = check_code(self.user, self.cleaned_data["code"])
        if self.result.device is None:
            raise ValidationError(THROTTLED if self.result.throttled else WRONG_CODE)
        return self.cleaned_data["code"]


class ConfirmAuthenticatorForm(forms.Form):
    """The first code from a new authenticator: proves the app holds the right secret."""

    code = code_field("Code from the app")

    def __init__(self, device: TOTPDevice, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.device = device
        self.fields["code"].help_text = "The six digits your app shows for Venture CRM."

    def clean_code(self) -> str:
        code = normalize_code(self.cleaned_data["code"])
        allowed, _ = self.device.verify_is_allowed()
        if not allowed:
            raise ValidationError(THROTTLED)
        if not self.device.verify_token(code):
            raise ValidationError(
                "That code does not match. Check that the app added the key shown here, and that the phone's clock "
                "is right, then enter the current code."
            )
        return code


class RemoveSecondFactorForm(forms.Form):
    """Removing two-factor authentication needs the password again, or a current code."""

    password = forms.CharField(
        label="Your password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = forms.CharField(
        label="Or a code",
        required=False,
        max_length=32,
        help_text="From your authenticator app, or a recovery code.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "spellcheck": "false"}),
    )

    def __init__(self, user: User, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        data = super().clean()
        password, code = data.get("password"), data.get("code", "").strip()
        if password:
            if not self.user.check_password(password):
                raise ValidationError("That password is not right.")
        elif code:
            result = check_code(self.user, code)
            if result.device is None:
                raise ValidationError(THROTTLED if result.throttled else WRONG_CODE)
        else:
            raise ValidationError("Enter your password, or a code, to confirm.")
        return data


class PasskeyNameForm(forms.ModelForm):
    """A passkey's name, so the user can tell the laptop's from the security key's."""

    class Meta:
        model = WebAuthnCredential
        fields = ["name"]
        labels = {"name": "Name"}
        help_texts = {"name": "Where this passkey lives, e.g. “Work laptop” or “YubiKey”."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update({"autofocus": True, "autocomplete": "off"})
