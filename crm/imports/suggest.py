"""Suggestions: which field each column fills, which of our values each of theirs means, which table a file is.

Nothing here is tuned to one export's column names: headers are normalised and compared
with the synonyms in ``schema`` (exactly, by containment, then by similarity), and the
same goes for the values of stage, status and type columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from crm.imports.parsers import fold
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
)

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


def _score(header_norm: str, target: Target) -> float:
    best = 0.0
    words = set(header_norm.split())
    for synonym in (target.label, target.key.replace("_", " "), *target.synonyms):
        candidate = norm(synonym)
        if not candidate:
            continue
        if candidate == header_norm:
            return 1.0
        cand_words = set(candidate.split())
        if len(cand_words) > 1 and cand_words <= words:
            best = max(best, 0.9)  # “Amount Committed (USD)” contains “amount committed”
        elif len(cand_words) == 1 and candidate in words and len(words) <= 3:
            best = max(best, 0.75)
        ratio = similarity(header_norm, candidate, floor=0.84)
        if ratio >= 0.84:
            best = max(best, ratio * 0.95)
    return best


def _is_ignored(header_norm: str, entity: Entity) -> str:
    if header_norm in {norm(h) for h in IGNORED_HEADERS.split("|")}:
        return "computed by the old system"
    if header_norm.startswith(("#", "%")) or header_norm.endswith((" #", " id")):
        return "a count or formula"
    backlinks = {norm(h) for h in BACKLINK_HEADERS.get(entity.key, "").split("|") if h}
    if header_norm in backlinks:
        return "a link from another table; that table sets it"
    return ""


def suggest_columns(
    entity: Entity, headers: list[str], samples: dict[str, list[str]] | None = None
) -> dict[str, ColumnSuggestion]:
    """One suggestion per header. Each field is given to the best-matching column only once."""
    samples = samples or {}
    targets = all_targets(entity)
    candidates: list[tuple[float, int, str, str]] = []  # (score, column index, header, target)
    result: dict[str, ColumnSuggestion] = {}
    lookups: list[tuple[int, str, str]] = []
    for index, header in enumerate(headers):
        header_norm = norm(header)
        lookup = LOOKUP.match(header)
        if lookup:
            lookups.append((index, header, norm(lookup.group("field"))))
            continue
        if _is_ignored(header_norm, entity):
            continue
        for target in targets:
            if target.kind.startswith("hint_"):
                continue  # hints come from lookup columns (below) or explicit mappings
            score = _score(header_norm, target)
            if score >= 0.7:
                # The first column is the primary field in Airtable: prefer it for the name.
                if index == 0 and target.key in ("name", "full_name", "subject", "contact"):
                    score += 0.05
                candidates.append((score, -index, header, target.key))
    taken: set[str] = set()
    for score, _neg_index, header, target_key in sorted(candidates, reverse=True):
        if header in result or target_key in taken:
            continue
        result[header] = ColumnSuggestion(header, target_key, min(score, 1.0), "matches the field's name")
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
            result[header] = ColumnSuggestion(header, NOTES, 0.5, "no matching field; kept as a line in the notes")
        else:
            result[header] = ColumnSuggestion(header, IGNORE, 0.5, "empty in this file")
    return {header: result[header] for header in headers}


# --- Values -------------------------------------------------------------------------------


def suggest_value(value: str, spec: ChoiceSpec) -> tuple[str | dict | None, str]:
    """(our value, why) for one of their values; (None, …) when nothing is close enough.

    Exact value or label first, then a synonym, then a label or synonym contained in the
    value (“Wealth Manager (pooled)”), then similar spelling (“Soft-circled” ≈ “Soft circle”).
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
    best: tuple[float, str | None] = (0.0, None)
    for stored, label in spec.options:
        names = [norm(label), norm(stored), *(norm(s) for s in spec.synonyms.get(stored, ()))]
        for name in names:
            if not name:
                continue
            if len(name) >= 4 and (
                re.search(rf"\b{re.escape(name)}\b", text) or re.search(rf"\b{re.escape(text)}\b", name)
            ):
                score = 0.8 + 0.1 * min(len(name), len(text)) / max(len(name), len(text))
            else:
                score = similarity(text, name, floor=0.82)
            if score > best[0]:
                best = (score, stored)
    if best[1] is not None and best[0] >= 0.82:
        return best[1], "similar spelling"
    if spec.auto_create:
        return {"create": " ".join(value.split())}, f"no {spec.create_label.split()[-1]} with that name yet"
    return None, ""


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
