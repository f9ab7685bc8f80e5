"""Secrets stored at rest (e.g. a mailbox's app password), encrypted with a key derived from SECRET_KEY.

The key is HKDF-SHA256 over ``SECRET_KEY`` with a per-purpose ``info`` label, so a key for
one purpose never decrypts another's secrets, and rotating ``SECRET_KEY`` makes old secrets
unreadable (``decrypt`` then returns ``None`` and the user enters the password again).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _fernet(purpose: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"venture-crm-secrets",
        info=purpose.encode(),
    ).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plaintext: str, *, purpose: str) -> str:
    return _fernet(purpose).encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str, *, purpose: str) -> str | None:
    """The plaintext, or ``None`` when the token is empty, tampered with or from another key."""
    if not token:
        return None
    try:
        return _fernet(purpose).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError, ValueError):
        return None
