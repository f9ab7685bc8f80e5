from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from crm.security.throttle import locked_out_message


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
