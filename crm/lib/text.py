"""Small text normalisers shared by models, forms and imports, and the size of every text input.

The limits below are the only place a length is decided: model fields, forms, the custom
fields, the import engine (and later the JSON API) all read them. Free text (notes, bodies,
descriptions) is large enough for a long email pasted whole; names and one-line fields far
less. A limit applies to new input: a longer value already stored stays as it is (the
column is ``text`` on SQLite and PostgreSQL) until someone edits it.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils.deconstruct import deconstructible

# Free text: notes, communication bodies, descriptions, long-text custom fields.
NOTE_MAX = 100_000
# The options of a select custom field, one a line.
OPTIONS_MAX = 10_000
# A text custom field: one value, not a document.
CUSTOM_TEXT_MAX = 1_000
CUSTOM_LONG_TEXT_MAX = NOTE_MAX
# A URL custom field (the model's URL fields use URL_MAX).
CUSTOM_URL_MAX = 500
EMAIL_MAX = 254  # RFC 5321's path limit, Django's EmailField default
# Names of things: an organization, an opportunity, an investing entity.
NAME_MAX = 200
# A person's given or family name; a fund, a source, a city or industry, a custom field's name.
SHORT_NAME_MAX = 100
# A name's prefix or suffix: "Dr.", "CFA".
AFFIX_MAX = 30
# Labels picked from a short list: a tag, a stage.
LABEL_MAX = 50
# A job title, where someone is based, a team member's full name.
TITLE_MAX = 150
# One line of text: a subject, an outcome, a next action or step, a lost reason.
LINE_MAX = 250
PHONE_MAX = 50
URL_MAX = 300
ADDRESS_MAX = 300
HELP_TEXT_MAX = 200
# What a list's search box reads: more is no better search, only a slower one.
SEARCH_MAX = 200
# Passwords are hashed, never stored, but a megabyte of one is still work for nothing.
PASSWORD_MAX = 1_000


def too_long_message(limit: int, length: int) -> str:
    return f"Keep this to at most {limit:,} characters (it has {length:,})."


@deconstructible
class LengthLimit(MaxLengthValidator):
    """Django's MaxLengthValidator with our wording and thousands separators.

    TextField's ``max_length`` only reaches the form field; this is what makes
    ``full_clean`` (the admin, services, imports) hold to it too.
    """

    def __call__(self, value: Any) -> None:
        length = len(value)
        if length > self.limit_value:
            raise ValidationError(too_long_message(self.limit_value, length), code=self.code)


def use_length_limits(form: Any) -> None:
    """Give every length-limited field of a bound or unbound form our wording for "too long".

    Django's form CharField adds its own MaxLengthValidator for ``max_length`` ("Ensure
    this value has at most 100000 characters"); this swaps it for ``LengthLimit``.
    """
    for field in form.fields.values():
        field.validators = [
            LengthLimit(v.limit_value) if type(v) is MaxLengthValidator else v for v in field.validators
        ]


class LengthLimitsMixin:
    """For forms: too-long input is refused with ``too_long_message`` (see ``use_length_limits``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        use_length_limits(self)


def collapse_spaces(value: str | None) -> str:
    """Trim and collapse inner runs of white space: ' The  Halberd Foundation ' → 'The Halberd Foundation'."""
    return " ".join((value or "").split())


def normalize_email(value: str | None) -> str:
    return (value or "").strip().lower()


def normalized_name_key(value: str | None) -> str:
    """The key under which two organization names count as the same."""
    return collapse_spaces(value).casefold()
