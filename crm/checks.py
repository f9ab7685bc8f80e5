"""System checks for `manage.py check --deploy`."""

from __future__ import annotations

import contextlib
from pathlib import Path

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.db import DatabaseError

from crm.backups.services import BACKUP_NAME
from crm.lib.private_files import open_paths, sqlite_files, sqlite_path
from crm.models import User
from crm.security.services import admins_without_second_factor


@register(Tags.security, deploy=True)
def demo_passwords_changed(app_configs, **kwargs):
    """Warn while a demo account can still sign in with its published password."""
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
def data_files_private(app_configs, **kwargs):
    """Warn while the data folder, the database files, the secret key or the backups are open to other users."""
    return files_open_to_others(settings.DATA_DIR, settings.CRM_BACKUP_DIR, settings.DATABASES)


def files_open_to_others(data_dir: Path, backup_dir: Path, databases: dict) -> list[Warning]:
    """crm.W010 for each of those that group or others can access.

    On PostgreSQL there is no database file to look at; the folders, the secret key and the
    backup files still are.
    """
    files = [data_dir / "secret_key"]
    for config in databases.values():
        path = sqlite_path(config)
        if path is not None:
            files += sqlite_files(path)
    # A backups folder this user cannot list is checked as a folder only.
    with contextlib.suppress(OSError):
        files += sorted(path for path in backup_dir.iterdir() if BACKUP_NAME.match(path.name))
    return [
        Warning(
            f"{path} is open to other users (mode {mode:04o}): it holds the CRM's data or the keys to it.",
            hint=f"Make it the service user's alone: chmod {'700' if path.is_dir() else '600'} {path}",
            id="crm.W010",
        )
        for path, mode in open_paths([data_dir, backup_dir], files)
    ]


@register(Tags.security, deploy=True)
def admins_have_a_second_factor(app_configs, **kwargs):
    """Warn while an active admin can sign in (and reach the Django admin) with a password alone."""
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
                "Each should add an authenticator app or a passkey in Settings → Two-factor authentication; "
                "CRM_2FA_REQUIRED=staff (or the admin's Security policy) makes it compulsory."
            ),
            id="crm.W002",
        )
    ]
