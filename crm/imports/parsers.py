"""Turning the text of one cell into a value, the way Airtable and spreadsheets write them.

Each parser takes the raw cell and either returns a value or raises ``ParseError`` whose
message names the offending value, so a dry run can show the user exactly what is wrong.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from crm.lib.text import collapse_spaces

if TYPE_CHECKING:
    from django.db import models


class ParseError(ValueError):
    """A cell that cannot become the value its column is mapped to."""


# What formula fields show when they fail; never a value.
FORMULA_ERRORS = frozenset(
    {"nan", "#error!", "#error", "#num!", "#div/0!", "#value!", "#ref!", "#name?", "#n/a", "infinity", "-infinity"}
)
TRUE_WORDS = frozenset({"checked", "true", "yes", "y", "1", "x", "✓", "✔", "on", "t"})
FALSE_WORDS = frozenset({"", "unchecked", "false", "no", "n", "0", "off", "f", "-"})


def clean(value: object) -> str:
    """The cell without surrounding white space (spaces, tabs, no-break spaces, line breaks)."""
    if value is None:
        return ""
    return str(value).strip()


def show(value: str, limit: int = 60) -> str:
    """A value quoted for a message, shortened when long."""
    text = " ".join(str(value).split())
    return f"“{text[: limit - 1]}…”" if len(text) > limit else f"“{text}”"


def over_limit_message(limit: int, length: int) -> str:
    return f"longer than the {limit:,} characters allowed (it has {length:,})"


def check_fits(model: type[models.Model], field_name: str, value: str) -> str:
    """``value`` for a record an import makes on the side (a linked firm or person, a tag, a fund, a stage).

    Too long is a ParseError (so a row error), never a name cut short.
    """
    limit = model._meta.get_field(field_name).max_length
    if limit and len(value) > limit:
        raise ParseError(f"{show(value)} is {over_limit_message(limit, len(value))}")
    return value


def is_formula_error(value: str) -> bool:
    return clean(value).casefold() in FORMULA_ERRORS


def markup_message(value: str) -> str:
    return f"{show(value)} contains HTML or script markup, which a name cannot hold"


def has_markup(value: str) -> bool:
    """True when text looks like HTML or a script: names must never carry markup."""
    return bool(re.search(r"<\s*/?\s*[a-zA-Z!]|javascript:", value or "", re.IGNORECASE))


# --- Money and numbers -------------------------------------------------------------------

_CURRENCY = re.compile(r"^(usd|us\$|eur|gbp|chf|cad|aud|\$|€|£|¥)\s*", re.IGNORECASE)
_CURRENCY_AFTER = re.compile(r"\s*(usd|eur|gbp|chf|cad|aud|\$|€|£)$", re.IGNORECASE)
_SUFFIXES = {
    "k": Decimal(1_000),
    "m": Decimal(1_000_000),
    "mm": Decimal(1_000_000),
    "mn": Decimal(1_000_000),
    "b": Decimal(1_000_000_000),
    "bn": Decimal(1_000_000_000),
}
_NUMBER = re.compile(r"^(?P<number>\d+(?:\.\d+)?|\.\d+)(?P<suffix>k|mm|mn|m|bn|b)?$", re.IGNORECASE)
_RANGE = re.compile(r"\d\s*(?:k|m|mm|bn|b)?\s*(?:[-–—]|to)\s*[$~]?\d", re.IGNORECASE)


def parse_money(value: str) -> Decimal | None:
    """$2,500,000.00 · $2500000.00 · 2.5M · 750K · $1.5mm · USD 900,000 · ~$500k → Decimal; blank → None.

    A range (“$1–2M”), a question mark or “TBD” is not an amount and raises.
    """
    text = clean(value)
    if not text:
        return None
    if is_formula_error(text):
        raise ParseError(f"{show(text)} is a formula error, not an amount")
    if _RANGE.search(text):
        raise ParseError(f"{show(text)} is a range, not an amount")
    s = text.replace("\u00a0", " ").replace("\u202f", " ")
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1]
    s = re.sub(r"^(~|≈|approx\.?|about|ca\.?|circa)\s*", "", s, flags=re.IGNORECASE)
    if s.startswith("-"):
        negative, s = True, s[1:]
    s = _CURRENCY.sub("", s.strip())
    s = _CURRENCY_AFTER.sub("", s)
    s = re.sub(r"^(~|≈)\s*", "", s)
    # 1.234.567,89 (European) → 1234567.89; otherwise commas and spaces group thousands.
    if re.fullmatch(r"\d{1,3}(\.\d{3})+(,\d{1,2})?", s):
        s = s.replace(".", "").replace(",", ".")
    s = s.replace(",", "").replace(" ", "").replace("'", "")
    match = _NUMBER.match(s)
    if not match:
        raise ParseError(f"{show(text)} is not an amount")
    try:
        number = Decimal(match.group("number"))
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        raise ParseError(f"{show(text)} is not an amount") from None
    suffix = (match.group("suffix") or "").lower()
    if suffix:
        number *= _SUFFIXES[suffix]
    if negative:
        number = -number
    if abs(number) >= Decimal("1e13"):
        raise ParseError(f"{show(text)} is larger than any amount the CRM holds")
    return number.quantize(Decimal("0.01"))


def parse_decimal(value: str) -> Decimal | None:
    text = clean(value)
    if not text:
        return None
    if is_formula_error(text):
        raise ParseError(f"{show(text)} is a formula error, not a number")
    try:
        number = Decimal(text.replace(",", "").replace(" ", ""))
    except InvalidOperation:
        raise ParseError(f"{show(text)} is not a number") from None
    if not number.is_finite():
        raise ParseError(f"{show(text)} is not a number")
    return number


def parse_integer(value: str) -> int | None:
    number = parse_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ParseError(f"{show(value)} is not a whole number")
    return int(number)


def parse_percent(value: str) -> Decimal | None:
    """25% · 85.0% · 0.4 (a fraction) · 40 → per cent as a Decimal; NaN/#ERROR! raise."""
    text = clean(value)
    if not text:
        return None
    if is_formula_error(text):
        raise ParseError(f"{show(text)} is a formula error, not a percentage")
    has_sign = text.endswith("%")
    try:
        number = Decimal(text.rstrip("%").strip().replace(",", "."))
    except InvalidOperation:
        raise ParseError(f"{show(text)} is not a percentage") from None
    if not number.is_finite():
        raise ParseError(f"{show(text)} is not a percentage")
    if not has_sign and Decimal(0) < number < Decimal(1) and "." in text:
        number *= 100  # a spreadsheet fraction: 0.4 is 40 %
    if number < 0 or number > 100:
        raise ParseError(f"{show(text)} is not between 0 % and 100 %")
    return number


def parse_bool(value: str) -> bool:
    """Airtable writes a ticked checkbox as “checked” and an empty one as nothing."""
    text = clean(value).casefold()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ParseError(f"{show(value)} is not a yes/no value (use “checked”, yes/no or 1/0)")


# --- Dates ---------------------------------------------------------------------------------

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_TIME = re.compile(
    r"^(?P<h>\d{1,2})(?::(?P<m>\d{2}))?(?::(?P<s>\d{2})(?:\.\d+)?)?\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)?$",
    re.IGNORECASE,
)
_QUARTER = re.compile(r"^(q[1-4]\s*\d{2,4}|\d{4}\s*q[1-4]|h[12]\s*\d{4})$", re.IGNORECASE)
DATE_ORDERS = {"mdy": "Month/day/year (3/14/2021, US)", "dmy": "Day/month/year (14/3/2021)"}


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 70 else 1900
    return year


def _build_date(year: int, month: int, day: int, original: str) -> datetime.date:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise ParseError(f"{show(original)} is not a real date") from None


def _split_date_time(text: str) -> tuple[str, str]:
    """“3/14/2021 10:04am” → (“3/14/2021”, “10:04am”); “March 14, 2021” → (…, “”)."""
    iso = re.match(r"^(\d{4}-\d{2}-\d{2})[T ](.+)$", text)
    if iso:
        return iso.group(1), iso.group(2)
    match = re.match(r"^(.*?\d{4}|.*?\d{1,2}[/.]\d{1,2}[/.]\d{2,4})\s+(\d{1,2}(:\d{2}).*)$", text)
    if match:
        return match.group(1), match.group(2)
    return text, ""


def parse_date_only(text: str, order: str = "mdy") -> datetime.date:
    original = text
    text = clean(text).rstrip(",")
    if _QUARTER.match(text):
        raise ParseError(f"{show(original)} is a quarter, not a date")
    match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", text)
    if match:
        return _build_date(int(match.group(1)), int(match.group(2)), int(match.group(3)), original)
    match = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})", text)
    if match:
        first, second, year = int(match.group(1)), int(match.group(2)), _year(match.group(3))
        month, day = (first, second) if order == "mdy" else (second, first)
        if month > 12 >= day:  # 14/3/2021 in a US file is still unambiguous
            month, day = day, month
        return _build_date(year, month, day, original)
    words = re.findall(r"[a-zA-Z]+|\d+", text)
    month_words = [w for w in words if w.lower() in MONTHS]
    numbers = [w for w in words if w.isdigit()]
    if len(month_words) == 1 and len(numbers) == 2:
        month = MONTHS[month_words[0].lower()]
        year_text = next((n for n in numbers if len(n) == 4), numbers[-1])
        day_text = next(n for n in numbers if n is not year_text)
        return _build_date(_year(year_text), month, int(day_text), original)
    raise ParseError(f"{show(original)} is not a date")


def parse_date(value: str, order: str = "mdy") -> datetime.date | None:
    """3/14/2021 · 2021-03-14 · March 14, 2021 · Mar 14, 2021 · 3/14/2021 10:04am → a date; blank → None."""
    text = clean(value)
    if not text:
        return None
    if is_formula_error(text):
        raise ParseError(f"{show(text)} is a formula error, not a date")
    date_text, _time = _split_date_time(text)
    return parse_date_only(date_text, order)


def _parse_time(text: str, original: str) -> datetime.time:
    match = _TIME.match(text.strip().replace(" ", "") if "m" in text.lower() else text.strip())
    if not match:
        raise ParseError(f"{show(original)} has a time that is not a time")
    hour, minute, second = int(match.group("h")), int(match.group("m") or 0), int(match.group("s") or 0)
    ampm = (match.group("ampm") or "").lower().replace(".", "")
    if ampm:
        if not 1 <= hour <= 12:
            raise ParseError(f"{show(original)} has a time that is not a time")
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ParseError(f"{show(original)} has a time that is not a time")
    return datetime.time(hour, minute, second)


def parse_datetime(value: str, tz: ZoneInfo, order: str = "mdy") -> datetime.datetime | None:
    """A date with an optional time, read in ``tz`` (the downloader's time zone) unless it carries an offset.

    A date without a time becomes noon that day, so it shows as the same day in any
    nearby time zone.
    """
    text = clean(value)
    if not text:
        return None
    if is_formula_error(text):
        raise ParseError(f"{show(text)} is a formula error, not a date")
    iso = text.replace("Z", "+00:00") if re.match(r"^\d{4}-\d{2}-\d{2}T", text) else None
    if iso:
        try:
            parsed = datetime.datetime.fromisoformat(iso)
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    date_text, time_text = _split_date_time(text)
    day = parse_date_only(date_text, order)
    moment = _parse_time(time_text, text) if time_text else datetime.time(12, 0)
    return datetime.datetime.combine(day, moment).replace(tzinfo=tz)


# --- Lists, links, attachments ------------------------------------------------------------


def split_list(value: str) -> list[str]:
    """Linked records and multi-selects: names joined by “,”, a name with a comma CSV-quoted inside the cell.

    ``Alma Vandermeer,"Vandermeer, Alma"`` → [“Alma Vandermeer”, “Vandermeer, Alma”]. Decoded
    with a CSV reader, never split on commas. A cell with semicolons and no commas is split
    on the semicolons (how other tools join lists).
    """
    text = clean(value)
    if not text:
        return []
    delimiter = ";" if ";" in text and "," not in text else ","
    try:
        items = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True))
    except (csv.Error, StopIteration):
        items = text.split(delimiter)
    return [collapse_spaces(item) for item in items if item.strip()]


def split_lookup(value: str) -> list[str]:
    """Lookups of a text field (e-mails): values joined by “, ” with no inner quoting."""
    return [item.strip() for item in clean(value).split(",") if item.strip()]


_ATTACHMENT = re.compile(r"^(?P<name>.*?)\s*\((?P<url>https?://[^\s()]*)\)$")


def parse_attachments(value: str) -> list[str]:
    """“deck.pdf (https://…),notes (v2).pdf (https://…)” → [“deck.pdf”, “notes (v2).pdf”]: names only."""
    text = clean(value)
    if not text:
        return []
    names = []
    # Split after each “(http…)” so commas inside file names survive.
    for part in re.findall(r".*?\(https?://[^\s()]*\)|[^,]+", text):
        item = part.strip().strip(",").strip().strip('"').strip()
        if not item:
            continue
        match = _ATTACHMENT.match(item)
        names.append(match.group("name").strip() if match else item)
    return names


def normalize_url(value: str) -> str:
    """www.fund.com → https://www.fund.com; linkedin.com/in/x → https://linkedin.com/in/x."""
    text = clean(value)
    if not text:
        return ""
    if re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE):
        return text
    if " " not in text and "." in text:
        return "https://" + text
    return text


# --- People's names ----------------------------------------------------------------------

PREFIXES = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "prof",
        "professor",
        "sir",
        "dame",
        "lord",
        "lady",
        "rev",
        "revd",
        "fr",
        "hon",
        "judge",
        "amb",
        "gen",
        "col",
        "capt",
        "cllr",
    ]
)
SUFFIXES = frozenset(
    [
        "jr",
        "sr",
        "ii",
        "iii",
        "iv",
        "v",
        "phd",
        "md",
        "cfa",
        "cpa",
        "caia",
        "jd",
        "mba",
        "esq",
        "obe",
        "mbe",
        "cbe",
        "kbe",
        "kc",
        "qc",
        "dds",
        "dvm",
        "frm",
        "cfp",
        "llm",
        "dphil",
        "msc",
        "bsc",
        "ba",
        "ma",
        "mphil",
        "pe",
        "rn",
        "faia",
        "aia",
        "frcs",
        "mp",
    ]
)
PARTICLES = frozenset(
    [
        "van",
        "von",
        "der",
        "den",
        "de",
        "del",
        "della",
        "di",
        "da",
        "dos",
        "das",
        "du",
        "la",
        "le",
        "st",
        "ní",
        "ni",
        "nic",
        "mac",
        "bin",
        "ibn",
        "al",
        "el",
        "ter",
        "ten",
        "op",
        "ó",
        "ua",
    ]
)


def _token_key(token: str) -> str:
    return token.strip(".,").replace(".", "").casefold()


def _is_suffix_part(part: str) -> bool:
    tokens = part.replace(",", " ").split()
    return bool(tokens) and all(_token_key(token) in SUFFIXES for token in tokens)


def split_person_name(value: str) -> tuple[str, str, str, str]:
    """“Dr. Sarah O'Neil-Smith, CFA” → (“Dr.”, “Sarah”, “O'Neil-Smith”, “CFA”).

    Handles prefixes and suffixes (with or without a comma), “Last, First”, and family-name
    particles (“Sinéad Ní Bhriain”, “Ludwig van Beethoven”). A single word is a last name.
    Names are kept in the order typed, so ``Contact.full_name`` gives back what was imported.
    """
    text = collapse_spaces(value)
    if not text:
        return "", "", "", ""
    parts = [p.strip() for p in text.split(",")]
    head, rest = parts[0], [p for p in parts[1:] if p]
    suffix_parts: list[str] = []
    last_from_comma = ""
    if rest:
        # “Abara, Jr.” or “Name, PhD, CFA”: every part after the first comma is a suffix.
        if all(_is_suffix_part(p) for p in rest):
            suffix_parts = rest
        else:
            # “Vandermeer, Alma” (and “Vandermeer, Alma, Jr.”).
            last_from_comma = head
            head = rest[0]
            suffix_parts = [p for p in rest[1:] if p]
    tokens = head.split()
    prefix_tokens = []
    while len(tokens) > 1 and _token_key(tokens[0]) in PREFIXES:
        prefix_tokens.append(tokens.pop(0))
    trailing_suffixes = []
    while len(tokens) > 1 and _token_key(tokens[-1]) in SUFFIXES and not last_from_comma:
        trailing_suffixes.insert(0, tokens.pop())
    suffix = ", ".join(([" ".join(trailing_suffixes)] if trailing_suffixes else []) + suffix_parts)
    if last_from_comma:
        first, last = " ".join(tokens), last_from_comma
    elif len(tokens) == 1:
        first, last = "", tokens[0]
    else:
        split_at = len(tokens) - 1
        while split_at > 1 and tokens[split_at - 1].casefold() in PARTICLES:
            split_at -= 1
        first, last = " ".join(tokens[:split_at]), " ".join(tokens[split_at:])
    return " ".join(prefix_tokens), first, last, suffix


def fold(value: str) -> str:
    """Case- and accent-insensitive form: “Kasimir Dvořák” and “kasimir dvorak” fold alike."""
    value = value or ""
    if value.isascii():  # nothing to decompose or replace: most names, and the quick way for them
        return collapse_spaces(value).casefold()
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return collapse_spaces(stripped.replace("ł", "l").replace("Ł", "L").replace("ß", "ss")).casefold()


def person_key(first: str, last: str) -> str:
    return fold(f"{first} {last}")


def person_key_from_text(value: str) -> str:
    """The matching key of a name as a link cell shows it: “Vandermeer, Alma” and “Alma Vandermeer” agree."""
    _prefix, first, last, _suffix = split_person_name(value)
    return person_key(first, last)
