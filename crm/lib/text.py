"""Small text normalisers shared by models, forms and imports."""


def collapse_spaces(value: str | None) -> str:
    """Trim and collapse inner runs of white space: ' The  Halberd Foundation ' → 'The Halberd Foundation'."""
    return " ".join((value or "").split())


def normalize_email(value: str | None) -> str:
    return (value or "").strip().lower()


def normalized_name_key(value: str | None) -> str:
    """The key under which two organization names count as the same."""
    return collapse_spaces(value).casefold()
