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
