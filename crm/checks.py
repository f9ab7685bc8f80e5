"""System checks for `manage.py check --deploy`."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.db import DatabaseError


@register(Tags.security, deploy=True)
def demo_passwords_changed(app_configs, **kwargs):
    """Warn while a demo account can still sign in with its published password."""
    from crm.models import User

    warnings = []
    try:
        users = {u.username: u for u in User.objects.filter(username__in=settings.CRM_DEMO_PASSWORDS, is_active=True)}
    except DatabaseError:
        return []  # no database yet (before the first migrate): nothing to check
    for username, password in settings.CRM_DEMO_PASSWORDS.items():
        user = users.get(username)
        if user is not None and user.check_password(password):
            warnings.append(
                Warning(
                    f"The demo account '{username}' still has its demo password.",
                    hint=f"Change it (manage.py changepassword {username}) or deactivate the account.",
                    id="crm.W001",
                )
            )
    return warnings


@register(Tags.security, deploy=True)
def admins_have_a_second_factor(app_configs, **kwargs):
    """Warn while an active admin can sign in (and reach the Django admin) with a password alone."""
    from crm.security.services import admins_without_second_factor

    try:
        usernames = list(admins_without_second_factor().values_list("username", flat=True))
    except DatabaseError:
        return []
    if not usernames:
        return []
    return [
        Warning(
            f"These admins have no second factor: {', '.join(usernames)}.",
            hint=(
                "Each should add an authenticator app in Settings → Two-factor authentication; "
                "CRM_2FA_REQUIRED=staff (or the admin's Security policy) makes it compulsory."
            ),
            id="crm.W002",
        )
    ]
