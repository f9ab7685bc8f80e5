"""Suggestions: which field each column fills, which of our values each of theirs means, which table a file is.

Nothing here is tuned to one export's column names: headers are normalised and compared
with the synonyms in ``schema`` (exactly, by containment, then by similarity), and the
same goes for the values of stage, status and type columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from crm.imports.parsers import (
    ParseError,
    clean,
    fold,
    is_formula_error,
    parse_bool,
    parse_date,
    parse_integer,
    parse_money,
    parse_percent,
    split_list,
)
from crm.imports.schema import (
    BACKLINK_HEADERS,
    ENTITIES,
    IGNORE,
    IGNORED_HEADERS,
    NOTES,
    ChoiceSpec,
    Entity,
    Target,
    all_targets,
    choice_spec,
)
from crm.lib.text import normalize_email

LOOKUP = re.compile(r"^(?P<field>.+?)\s*\(from (?P<link>.+)\)$", re.IGNORECASE)
EMAIL_WORDS = ("email", "e mail", "mail")
COMPANY_WORDS = ("company", "firm", "organization", "organisation", "employer", "account")


@lru_cache(maxsize=4096)
def norm(text: str) -> str:
    """“E-mail (from People)” → “e mail from people”; accents, case and punctuation dropped."""
    return " ".join(re.sub(r"[^0-9a-z#%$]+", " ", fold(text)).split())


def similarity(a: str, b: str, floor: float = 0.0) -> float:
    """difflib's ratio, with cheap upper bounds first (most pairs are far apart)."""
    if not a or not b:
        return 0.0
    if 2 * min(len(a), len(b)) / (len(a) + len(b)) < floor:
        return 0.0
    matcher = SequenceMatcher(None, a, b)
    if matcher.real_quick_ratio() < floor or matcher.quick_ratio() < floor:
        return 0.0
    return matcher.ratio()


@dataclass
class ColumnSuggestion:
    header: str
    target: str  # a target key, NOTES or IGNORE
    confidence: float
    reason: str


def _score(header_norm: str, target: Target) -> tuple[float, str]:
    """(how well the header names the target, the name it resembles)."""
    best, like = 0.0, ""
    words = set(header_norm.split())
    for synonym in (target.label, target.key.replace("_", " "), *target.synonyms):
        candidate = norm(synonym)
        if not candidate:
            continue
        if candidate == header_norm:
            return 1.0, synonym
        score = 0.0
        cand_words = set(candidate.split())
        if len(cand_words) > 1 and cand_words <= words:
            score = 0.9  # “Amount Committed (USD)” contains “amount committed”
        elif len(cand_words) == 1 and candidate in words and len(words) <= 3:
            score = 0.75
        ratio = similarity(header_norm, candidate, floor=0.84)
        if ratio >= 0.84:
            score = max(score, ratio * 0.95)
        if score > best:
            best, like = score, synonym
    return best, like


@lru_cache(maxsize=64)
def _kept_headers(entity_key: str) -> frozenset[str]:
    """Headers the old system computed that one of this entity's fields still takes (“Created”, “Last Touch”)."""
    ignored = {norm(h) for h in IGNORED_HEADERS.split("|")}
    names = {norm(s) for target in ENTITIES[entity_key].targets for s in target.synonyms}
    return frozenset(ignored & names)


def _is_ignored(header_norm: str, entity: Entity) -> str:
    if header_norm in {norm(h) for h in IGNORED_HEADERS.split("|")} and header_norm not in _kept_headers(entity.key):
        return "computed by the old system"
    if header_norm.startswith(("#", "%")) or header_norm.endswith((" #", " id")):
        return "a count or formula"
    backlinks = {norm(h) for h in BACKLINK_HEADERS.get(entity.key, "").split("|") if h}
    if header_norm in backlinks:
        return "a link from another table; that table sets it"
    return ""


def suggest_columns(
    entity: Entity,
    headers: list[str],
    samples: dict[str, list[str]] | None = None,
    links: dict[str, frozenset[str]] | None = None,
) -> dict[str, ColumnSuggestion]:
    """One suggestion per header, from its name and (given ``samples``) what its values look like.

    A field is given to one column only: the best header, where the values decide between
    columns that both fit, and never a column whose values mostly are not of the field's
    kind (a text primary field called “Commitment” is not the amount when “Amount ($)”
    holds the money). ``links``: per entity, the folded primary-field values of the base's
    other tables, so a link column is known by the names it holds.
    """
    samples = samples or {}
    links = links or {}
    targets = all_targets(entity)
    candidates: list[tuple[float, int, str, str, str]] = []  # (score, -index, header, target, reason)
    result: dict[str, ColumnSuggestion] = {}
    lookups: list[tuple[int, str, str]] = []
    rejected: dict[str, str] = {}
    for index, header in enumerate(headers):
        header_norm = norm(header)
        lookup = LOOKUP.match(header)
        if lookup:
            lookups.append((index, header, norm(lookup.group("field"))))
            continue
        if _is_ignored(header_norm, entity):
            continue
        sample = value_sample(samples.get(header, []))
        for target in targets:
            if target.kind.startswith("hint_"):
                continue  # hints come from lookup columns (below) or explicit mappings
            score, like = _score(header_norm, target)
            if score < 0.7:
                continue
            reason = f"header like “{like}”"
            share, noun = fit_share(target, sample, entity, links)
            if share >= 0:
                if share < LENIENT_FLOOR.get(target.kind, FIT_FLOOR) and target.kind not in EVIDENCE_ONLY:
                    rejected.setdefault(header, f"header like “{like}”, but only {share:.0%} of values are {noun}")
                    continue
                score += 0.1 * share
                reason = f"{share:.0%} of values are {noun}; {reason}"
            # The first column is the primary field in Airtable: prefer it for the name.
            if index == 0 and target.key in ("name", "full_name", "subject", "contact"):
                score += 0.05
            candidates.append((score, -index, header, target.key, reason))
    taken: set[str] = set()
    for score, _neg_index, header, target_key, reason in sorted(candidates, reverse=True):
        if header in result or target_key in taken:
            continue
        result[header] = ColumnSuggestion(header, target_key, min(score, 1.0), reason)
        taken.add(target_key)
    for _index, header, field_norm in lookups:
        target_key = ""
        if any(word in field_norm for word in EMAIL_WORDS) and entity.target("contact_email"):
            target_key = "contact_email"
        elif any(word in field_norm for word in COMPANY_WORDS) and entity.target("contact_company"):
            target_key = "contact_company"
        if target_key and target_key not in taken:
            result[header] = ColumnSuggestion(header, target_key, 0.95, "a lookup that tells same-named people apart")
            taken.add(target_key)
        else:
            result[header] = ColumnSuggestion(header, IGNORE, 0.9, "a lookup of another table")
    for header in headers:
        if header in result:
            continue
        reason = _is_ignored(norm(header), entity)
        if reason:
            result[header] = ColumnSuggestion(header, IGNORE, 0.8, reason)
        elif any(v.strip() for v in samples.get(header, [])) or not samples:
            why = f"{rejected[header]}; kept" if header in rejected else "no matching field; kept"
            result[header] = ColumnSuggestion(header, NOTES, 0.5, f"{why} as a line in the notes")
        else:
            result[header] = ColumnSuggestion(header, IGNORE, 0.5, "empty in this file")
    return {header: result[header] for header in headers}


# --- What the values look like ------------------------------------------------------------

PROFILE_SAMPLE = 200  # non-blank values per column: enough to tell a kind apart, cheap on 10,000-row files
FIT_FLOOR = 0.5  # a column whose values fit a field's type less often than this is never suggested for it
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?[\w-]+(?:\.[\w-]+)+(?:[/?#]\S*)?$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[\d\s().\-/]{7,}(?:\s*(?:x|ext\.?)\s*\d+)?$", re.IGNORECASE)


def _fits(parse) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            return parse(value) is not None
        except ParseError:
            return False

    return check


def _is_email(value: str) -> bool:
    try:
        EmailValidator()(normalize_email(value))
    except ValidationError:
        return False
    return True


def _is_date(value: str) -> bool:
    # Either order: the profile says “a date”, the import options say which day it is.
    return _fits(parse_date)(value) or _fits(lambda v: parse_date(v, "dmy"))(value)


def _is_phone(value: str) -> bool:
    return bool(_PHONE.match(value)) and sum(ch.isdigit() for ch in value) >= 7


# Per target kind: how a value of that kind is recognised (the import's own parsers) and what
# the reason calls such values. Kinds not listed take any text.
KIND_CHECKS: dict[str, tuple[Callable[[str], bool], str]] = {
    "money": (_fits(parse_money), "amounts"),
    "money_lenient": (_fits(parse_money), "amounts"),
    "percent": (_fits(parse_percent), "percentages"),
    "integer": (_fits(parse_integer), "whole numbers"),
    "date": (_is_date, "dates"),
    "date_lenient": (_is_date, "dates"),
    "datetime": (_is_date, "dates"),
    "created": (_is_date, "dates"),
    "email": (_is_email, "e-mail addresses"),
    "url": (lambda v: bool(_URL.match(v)), "web addresses"),
    "phone": (_is_phone, "phone numbers"),
    "bool": (_fits(lambda v: parse_bool(v) or True), "checkboxes"),
}
# Hand-typed fields keep what is not a value in the notes, so the floor is lower for them.
LENIENT_FLOOR = {"money_lenient": 0.3, "date_lenient": 0.3}
LINK_KINDS = {"org_link": "organizations", "contact_link": "contacts", "contacts_link": "contacts"}
# Kinds whose fit only ranks columns: every value gets a decision (a choice's nearest or Other),
# and a name missing from the other table makes the record (a firm typed in the People table).
EVIDENCE_ONLY = frozenset({"choice", *LINK_KINDS})


def value_sample(values: list[str]) -> list[str]:
    sample = []
    for value in values:
        text = clean(value)
        if text and not is_formula_error(text):
            sample.append(text)
            if len(sample) == PROFILE_SAMPLE:
                break
    return sample


def fit_share(target: Target, sample: list[str], entity: Entity, links: dict[str, frozenset[str]]) -> tuple[float, str]:
    """(share of the sample that is of ``target``'s kind, what such values are called); -1 when any text fits."""
    if not sample:
        return -1.0, ""
    kind = target.kind
    if kind in KIND_CHECKS:
        check, noun = KIND_CHECKS[kind]
        return sum(1 for value in sample if check(value)) / len(sample), noun
    if kind in LINK_KINDS and links.get(LINK_KINDS[kind]):
        known = links[LINK_KINDS[kind]]
        linked = sum(1 for value in sample if all(fold(name) in known for name in split_list(value)))
        return linked / len(sample), f"names in the {LINK_KINDS[kind]} table"
    if kind == "choice":
        spec = choice_spec(entity.key, target.key)
        if spec is not None and not spec.auto_create:
            distinct = set(sample)
            known = {v for v in distinct if _known_value(v, spec)}
            return len(known) / len(distinct), "known choices"
    return -1.0, ""


def _known_value(value: str, spec: ChoiceSpec) -> bool:
    choice, _why = suggest_value(value, spec, fallback=False)
    return choice is not None and not isinstance(choice, dict)


# --- Values -------------------------------------------------------------------------------


def suggest_value(value: str, spec: ChoiceSpec, fallback: bool = True) -> tuple[str | dict | None, str]:
    """(our value, why) for one of their values; (None, …) only where the field has no fallback.

    Exact value or label first, then a synonym, then a label or synonym contained in the
    value (“Wealth Manager (pooled)”), then one whose words the value has (“Family
    Investment Office”), then similar spelling (“Soft-circled” ≈ “Soft circle”). With
    ``fallback``, a value with nothing near becomes a new one where the field makes them
    (funds, stages: a new stage's outcome from its name) or the field's “Other”.
    """
    text = norm(value)
    if not text:
        return None, ""
    for stored, label in spec.options:
        if text in (norm(stored), norm(label)):
            return stored, "same value"
    for stored, synonyms in spec.synonyms.items():
        if text in {norm(s) for s in synonyms}:
            return stored, "a usual synonym"
    words = {_singular(word) for word in text.split()}
    best: tuple[float, str | None, str] = (0.0, None, "")
    for stored, label in spec.options:
        names = [norm(label), norm(stored), *(norm(s) for s in spec.synonyms.get(stored, ()))]
        for name in names:
            if not name:
                continue
            if len(name) >= 4 and (
                re.search(rf"\b{re.escape(name)}\b", text) or re.search(rf"\b{re.escape(text)}\b", name)
            ):
                score, why = 0.8 + 0.1 * min(len(name), len(text)) / max(len(name), len(text)), "similar meaning"
            elif len(name.split()) > 1 and {_singular(word) for word in name.split()} <= words:
                score, why = 0.83, "similar meaning"
            elif spec.fuzzy:
                score, why = similarity(text, name, floor=0.82), "similar spelling"
            else:
                continue
            if score > best[0]:
                best = (score, stored, f"{why} (“{name}”)")
    if best[1] is not None and best[0] >= 0.82:
        return best[1], best[2]
    if not fallback:
        return None, ""
    name = " ".join(value.split())
    if spec.new_outcome is not None:
        if spec.new_outcome(name) == "lost":
            return {"create": name, "outcome": "lost"}, "no stage like it here: a new stage, a lost one"
        # A new stage is open unless it says otherwise (context.stage): placed before the won stages.
        return {"create": name}, "no stage like it here: a new stage, open, before the won stages"
    if spec.auto_create:
        return {"create": name}, f"no {spec.create_label.split()[-1]} with that name yet"
    if spec.fallback:
        label = dict(spec.options).get(spec.fallback, spec.fallback)
        return spec.fallback, f"nothing like it here, so {label}"
    return None, ""


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word


# --- Which table is this? -----------------------------------------------------------------


@dataclass
class Recognition:
    entity: str
    score: float
    reason: str
    airtable: bool


KEY_TARGETS = {
    "organizations": {"name": 3.0, "website": 1.5, "type": 1.0, "country": 1.0, "industry": 1.0},
    "contacts": {
        "full_name": 2.0,
        "first_name": 1.5,
        "last_name": 1.5,
        "email": 3.0,
        "mobile": 1.5,
        "title": 1.5,
        "organization": 1.0,
    },
    "commitments": {
        "commitment_amount": 4.0,
        "funded_amount": 2.0,
        "status": 1.0,
        "contact": 1.5,
        "fund": 1.0,
        "k1_sent": 1.0,
    },
    "opportunities": {
        "stage": 3.0,
        "expected_amount": 2.0,
        "probability": 2.0,
        "expected_close_date": 2.0,
        "name": 0.5,
    },
    "communications": {"communication_date": 2.5, "type": 1.5, "subject": 1.5, "body": 1.5, "team_attendees": 1.0},
}


def looks_like_airtable(headers: list[str], rows: list[list[str]]) -> bool:
    """Airtable marks itself with lookup columns (“E-mail (from People)”) and inner-quoted link cells."""
    if any(LOOKUP.match(h) for h in headers):
        return True
    for row in rows[:200]:
        for cell in row:
            text = cell.strip()
            if len(text) > 2 and text.startswith('"') and text.endswith('"') and '""' not in text[1:-1]:
                return True
            if text == "checked":
                return True
    return False


def recognise(headers: list[str], file_name: str = "", rows: list[list[str]] | None = None) -> Recognition:
    """Which of our entities a table holds, from its columns first and its file name second."""
    scores: dict[str, float] = {}
    evidence: dict[str, list[str]] = {}
    base = re.sub(r"\.csv$", "", file_name, flags=re.IGNORECASE)
    table_name = norm(base.split("-")[0] if "-" in base else base)
    for entity in ENTITIES.values():
        suggestions = suggest_columns(entity, headers)
        weights = KEY_TARGETS[entity.key]
        score = 0.0
        for suggestion in suggestions.values():
            if suggestion.target in weights:
                score += weights[suggestion.target] * suggestion.confidence
        if table_name and any(
            norm(word) == table_name or norm(word) in table_name.split() for word in entity.file_words
        ):
            score += 2.0
        scores[entity.key] = score
        evidence[entity.key] = [s.header for s in suggestions.values() if s.target in weights][:3]
    best = max(scores, key=lambda key: scores[key])
    ranked = sorted(scores.values(), reverse=True)
    margin = ranked[0] - ranked[1] if len(ranked) > 1 else ranked[0]
    shown = ", ".join(f"“{header}”" for header in evidence[best])
    reason = f"judging by its columns ({shown})" if shown else "judging by its name"
    if margin < 1.0:
        reason += "; not sure, so please check"
    return Recognition(best, ranked[0], reason, looks_like_airtable(headers, rows or []))
