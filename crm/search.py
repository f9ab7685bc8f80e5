"""Global search: contacts, organizations, opportunities and communications at once.

One query per group, each LIMITed and scoped with ``visible_to(user)``, so the header's
search-as-you-type costs the same four queries whether the book holds 400 contacts or
40,000. Every word of the query must start a word somewhere in a record (AND of words, OR
of fields), case and accents aside, so "ada atlas" finds Ada Okafor at Atlas Family Office
and "elodie" finds Élodie: each group reads its full-text index (crm/lib/fulltext.py).

Highlighting escapes the record's text first and only then wraps the matches in <mark>,
so a name like ``<script>`` is shown, never run. It folds case and accents as the search
does: "elodie" marks "Élodie".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any
from urllib.parse import urlencode

from django.db import transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from contacts import search_index
from contacts.models import Communication, Contact, Organization
from crm.lib import fulltext
from crm.lib.fulltext import SearchIndex
from pipeline.models import Opportunity
from pipeline.search_index import INDEXES as OPPORTUNITIES_INDEXES
from pipeline.search_index import OPPORTUNITIES

# Every full-text index, for the rebuild command and the trigger repair after migrations.
INDEXES: tuple[SearchIndex, ...] = (*search_index.INDEXES, *OPPORTUNITIES_INDEXES)
# The migration creating each group of indexes (the first also creates PostgreSQL's functions):
# a backup's schema holds the groups whose migration it records.
INDEX_MIGRATIONS: tuple[tuple[tuple[str, str], tuple[SearchIndex, ...]], ...] = (
    (("contacts", "0008_search_index"), search_index.INDEXES),
    (("pipeline", "0005_search_index"), OPPORTUNITIES_INDEXES),
    # Re-creates the communications index with outcome and next step (same names, new triggers).
    (("contacts", "0009_search_outcome_and_next_action"), (search_index.COMMUNICATIONS,)),
)

# Longer input is cut, not refused: a pasted paragraph still searches its first words.
MAX_QUERY_LENGTH = 100
MAX_TERMS = 5
DROPDOWN_LIMIT = 6
PAGE_LIMIT = 25
SNIPPET_LENGTH = 140


def parse_query(raw: Any) -> tuple[str, list[str]]:
    """The trimmed query and its distinct words (case-insensitively), at most MAX_TERMS."""
    # NUL can't be stored or compared in PostgreSQL text; it is never meant in a search.
    query = " ".join(str(raw or "").replace("\x00", " ").split())[:MAX_QUERY_LENGTH].strip()
    terms: list[str] = []
    seen: set[str] = set()
    for word in query.split():
        key = word.casefold()
        if key not in seen:
            seen.add(key)
            terms.append(word)
    return query, terms[:MAX_TERMS]


def _pattern(terms: Iterable[str]) -> re.Pattern | None:
    """Matches any term in folded text (see ``fulltext.fold``)."""
    # Longest first, so "Okafor" wins over "Oka" where both would match at one place.
    words = sorted({fulltext.fold_word(t) for t in terms if t} - {""}, key=len, reverse=True)
    if not words:
        return None
    return re.compile("|".join(re.escape(word) for word in words))


def _matches(text: str, pattern: re.Pattern) -> Iterable[tuple[int, int]]:
    """(start, end) in ``text`` of each match of ``pattern`` in its folded form."""
    folded, origin = fulltext.fold(text)
    for match in pattern.finditer(folded):
        if match.end() > match.start():
            yield origin[match.start()], origin[match.end() - 1] + 1


def highlight(text: Any, terms: Iterable[str]) -> SafeString:
    """``text`` escaped, with every match of a term (case and accents aside) wrapped in <mark>."""
    text = "" if text is None else str(text)
    pattern = _pattern(terms)
    if pattern is None:
        return escape(text)
    parts: list[str] = []
    last = 0
    for start, end in _matches(text, pattern):
        if start < last:
            continue
        parts.append(escape(text[last:start]))
        parts.append(f"<mark>{escape(text[start:end])}</mark>")
        last = end
    parts.append(escape(text[last:]))
    return mark_safe("".join(parts))  # noqa: S308 - every piece above went through escape()


def snippet(text: Any, terms: Iterable[str], length: int = SNIPPET_LENGTH) -> str:
    """A window of ``text`` around its first match (plain text, not yet escaped)."""
    text = " ".join(str(text or "").split())
    if len(text) <= length:
        return text
    pattern = _pattern(terms)
    first = next(iter(_matches(text, pattern)), None) if pattern else None
    start = 0
    if first is not None and first[0] > length // 3:
        start = first[0] - length // 3
        space = text.rfind(" ", 0, start)
        start = space + 1 if space != -1 and start - space < 20 else start
    end = min(len(text), start + length)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + length // 2 else end
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def _url(name: str, *args: Any, query: str | None = None) -> str:
    url = reverse(name, args=args)
    return f"{url}?{urlencode({'q': query})}" if query is not None else url


def _starts_with_rank(term: str, fields: tuple[str, ...]) -> Case:
    """0 when a field starts with the first term, so "Ada" lists Ada before Canada."""
    return Case(
        When(reduce(or_, (Q(**{f"{name}__istartswith": term}) for name in fields)), then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )


@dataclass
class SearchHit:
    title: SafeString
    meta: list[SafeString]
    url: str
    badge: str = ""
    badge_class: str = "badge"  # CSS classes of the chip beside the title
    excerpt: SafeString | None = None


@dataclass
class SearchGroup:
    key: str
    label: str
    hits: list[SearchHit]
    has_more: bool
    list_url: str | None = None


@dataclass
class SearchResults:
    query: str
    terms: list[str]
    groups: list[SearchGroup] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(len(group.hits) for group in self.groups)

    @property
    def has_more(self) -> bool:
        return any(group.has_more for group in self.groups)

    @property
    def url(self) -> str | None:
        return _url("global_search", query=self.query)


def _meta(terms: list[str], *values: Any) -> list[SafeString]:
    return [highlight(value, terms) for value in values if value]


def _contact_hits(contacts: Iterable[Contact], terms: list[str]) -> list[SearchHit]:
    return [
        SearchHit(
            title=highlight(contact.full_name, terms),
            meta=_meta(terms, contact.title, contact.organization.name if contact.organization else "", contact.email),
            url=contact.get_absolute_url(),
            badge=contact.get_contact_type_display(),
            badge_class=f"badge search-badge--{contact.contact_type}",
        )
        for contact in contacts
    ]


def _organization_hits(organizations: Iterable[Organization], terms: list[str]) -> list[SearchHit]:
    hits = []
    for organization in organizations:
        place = ", ".join(part for part in (organization.city, organization.country) if part)
        website = re.sub(r"^https?://(www\.)?", "", organization.website).rstrip("/")
        hits.append(
            SearchHit(
                title=highlight(organization.name, terms),
                meta=_meta(terms, place, website),
                url=organization.get_absolute_url(),
                badge=organization.get_type_display(),
            )
        )
    return hits


def _opportunity_hits(opportunities: Iterable[Opportunity], terms: list[str]) -> list[SearchHit]:
    hits = []
    for opportunity in opportunities:
        organization = opportunity.organization or opportunity.contact.organization
        hits.append(
            SearchHit(
                title=highlight(opportunity.name, terms),
                meta=_meta(
                    terms,
                    opportunity.contact.full_name,
                    organization.name if organization else "",
                    opportunity.fund.name,
                ),
                url=opportunity.get_absolute_url(),
                badge=opportunity.stage.name,
                badge_class=f"badge search-badge--{opportunity.stage.outcome}",
            )
        )
    return hits


def _communication_excerpt(communication: Communication, terms: list[str]) -> str | None:
    """The notes around the match, or the outcome or next step when that is what matched."""
    pattern = _pattern(terms)
    labelled = [
        ("", communication.body),
        ("Outcome: ", communication.outcome),
        ("Next step: ", communication.next_action),
    ]
    for label, text in labelled:
        if text and pattern and next(iter(_matches(text, pattern)), None) is not None:
            return escape(label) + highlight(snippet(text, terms), terms)
    return highlight(snippet(communication.body, terms), terms) if communication.body else None


def _communication_hits(communications: Iterable[Communication], terms: list[str]) -> list[SearchHit]:
    hits = []
    for communication in communications:
        contact = communication.contact
        date = communication.communication_date
        hits.append(
            SearchHit(
                title=highlight(communication.subject or f"{communication.get_type_display()} with {contact}", terms),
                meta=_meta(terms, contact.full_name, f"{date:%b} {date.day}, {date.year}" if date else ""),
                url=contact.get_absolute_url(),
                badge=communication.get_type_display(),
                badge_class=f"pill pill--{communication.type}",
                excerpt=_communication_excerpt(communication, terms),
            )
        )
    return hits


@dataclass(frozen=True)
class _GroupSpec:
    key: str
    label: str
    list_url_name: str
    queryset: Callable[[Any], QuerySet]
    index: SearchIndex
    rank_fields: tuple[str, ...]
    order: tuple[str, ...]
    hits: Callable[[Iterable[Any], list[str]], list[SearchHit]]


GROUPS = (
    _GroupSpec(
        "contacts",
        "Contacts",
        "contact_list",
        lambda user: Contact.objects.visible_to(user).select_related("organization"),
        search_index.CONTACTS,
        ("first_name", "last_name"),
        ("last_name", "first_name", "pk"),
        _contact_hits,
    ),
    _GroupSpec(
        "organizations",
        "Organizations",
        "organization_list",
        lambda user: Organization.objects.visible_to(user),
        search_index.ORGANIZATIONS,
        ("name",),
        ("name", "pk"),
        _organization_hits,
    ),
    _GroupSpec(
        "opportunities",
        "Opportunities",
        "opportunity_list",
        lambda user: Opportunity.objects.visible_to(user).select_related(
            "contact__organization", "organization", "stage", "fund"
        ),
        OPPORTUNITIES,
        ("name",),
        ("-updated_at", "-pk"),
        _opportunity_hits,
    ),
    _GroupSpec(
        "communications",
        "Communications",
        "communication_list",
        lambda user: Communication.objects.visible_to(user).select_related("contact__organization"),
        search_index.COMMUNICATIONS,
        ("subject",),
        ("-communication_date", "-pk"),
        _communication_hits,
    ),
)


def search(user: Any, raw_query: Any, limit: int = DROPDOWN_LIMIT) -> SearchResults:
    """The records ``user`` may see that match ``raw_query``, grouped, ``limit`` per group.

    Runs one query per group (none for an empty query, or one of punctuation only). Reads ``limit + 1`` rows to know
    whether a "see all" link is worth showing, without a COUNT per group.
    """
    query, terms = parse_query(raw_query)
    results = SearchResults(query=query, terms=terms)
    if not fulltext.query_words(" ".join(terms)):
        return results
    for spec in GROUPS:
        rank = _starts_with_rank(terms[0], spec.rank_fields)
        # The ranking sorts every match by a few narrow columns and keeps limit + 1 ids; only
        # those rows are then read whole (sorting thousands of full rows, notes and bodies
        # included, cost ten times as much at 25k contacts). Still one query: a subquery.
        top = (
            fulltext.matching(spec.queryset(user), spec.index, " ".join(terms))
            .annotate(search_rank=rank)
            .order_by("search_rank", *spec.order)
            .values("pk")[: limit + 1]
        )
        queryset = (
            spec.queryset(user).filter(pk__in=top).annotate(search_rank=rank).order_by("search_rank", *spec.order)
        )
        rows = list(queryset)
        results.groups.append(
            SearchGroup(
                key=spec.key,
                label=spec.label,
                hits=spec.hits(rows[:limit], terms),
                has_more=len(rows) > limit,
                list_url=_url(spec.list_url_name, query=query),
            )
        )
    return results


def rebuild_indexes(connection) -> dict[str, int]:
    """Rewrite every search document from the tables (re-creating lost triggers first)."""
    with transaction.atomic(using=connection.alias):
        repair_indexes(connection)
        return {index.name: fulltext.rebuild(connection, index) for index in INDEXES}


def repair_indexes(connection) -> list[SearchIndex]:
    """Re-create (and refill) the SQLite indexes a table rebuild left without triggers."""
    broken = fulltext.missing_triggers(connection, INDEXES)
    for index in broken:
        fulltext.install(connection, index)
    return broken


def installed_indexes(migrations: Iterable[tuple[str, str]]) -> tuple[SearchIndex, ...]:
    """The indexes a database with ``migrations`` applied holds."""
    applied = {tuple(pair) for pair in migrations}
    # Once each: a later migration may re-create an index an earlier one made.
    return tuple(dict.fromkeys(index for key, indexes in INDEX_MIGRATIONS if key in applied for index in indexes))


def postgres_dump_entries(migrations: Iterable[tuple[str, str]]) -> set[str]:
    """The search index's functions, triggers, tables and extension a dump of that state holds."""
    applied = {tuple(pair) for pair in migrations}
    functions = INDEX_MIGRATIONS[0][0] in applied
    return fulltext.postgres_dump_entries(installed_indexes(applied), functions=functions)


def reinstall_indexes(connection, migrations: Iterable[tuple[str, str]]) -> None:
    """Re-create the search functions and triggers of that state from this code (after a restore).

    A restore checks a backup's schema by name; re-creating the functions and triggers makes
    sure their bodies are this code's too. The documents are the backup's, as consistent with
    its rows as the rows with each other (a backup is one snapshot).
    """
    applied = {tuple(pair) for pair in migrations}
    with transaction.atomic(using=connection.alias):
        if INDEX_MIGRATIONS[0][0] in applied:
            fulltext.install_functions(connection)
        for index in installed_indexes(applied):
            fulltext.install_triggers(connection, index)
