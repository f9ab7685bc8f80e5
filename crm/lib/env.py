"""Typed readers for environment variables that fail loudly on bad values.

A typo in a deployment variable ("CRM_HTTPS=ture") must stop the server at start-up with
a message naming the variable, not quietly run with the opposite of what was meant.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def env_str(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return environ.get(name, default).strip()


def env_bool(name: str, default: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    if name not in environ:
        return default
    word = environ[name].strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={environ[name]!r} is not a yes/no value; use one of 1, true, yes, on, 0, false, no, off."
    )


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    environ = os.environ if environ is None else environ
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is above the maximum of {maximum}.")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...], environ: Mapping[str, str] | None = None) -> str:
    """One word out of ``choices`` (case-insensitive); anything else stops start-up."""
    environ = os.environ if environ is None else environ
    word = environ.get(name, "").strip().lower() or default
    if word not in choices:
        raise ImproperlyConfigured(f"{name}={environ[name]!r} is not one of {', '.join(choices)}.")
    return word


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """A comma-separated list; empty items are dropped, so a trailing comma is harmless."""
    environ = os.environ if environ is None else environ
    if name not in environ:
        return list(default)
    items = [item.strip() for item in environ[name].split(",")]
    return [item for item in items if item]


def persistent_secret_key(path: Path) -> str:
    """Read the secret key kept at ``path``, creating it (mode 0600) on first start.

    Keeping the generated key on disk means sessions survive restarts and every gunicorn
    worker signs cookies with the same key.
    """
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    # O_EXCL: when several workers start at once, exactly one writes; the rest read its key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip() or key
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
