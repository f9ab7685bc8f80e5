"""Word-prefix search over full-text indexes: SQLite FTS5, PostgreSQL tsvector + GIN.

Every searchable kind of record (contacts, organizations, communications, opportunities)
has one index table holding one *document* per record: the text of the fields a search of
that kind looks at, including related names (a contact's document holds its organization's
name, so "ada atlas" finds Ada Okafor at Atlas Family Office). Triggers written from the
same :class:`SearchIndex` spec keep the documents current on both backends, for ORM saves
and for what bypasses signals alike (``bulk_create``, ``QuerySet.update()``, raw SQL), and
re-derive the documents that depend on another table (an organization rename rewrites its
contacts' documents).

Matching, the same on both backends:

- the query is cut into words at spaces; each word must match (AND of words), anywhere in
  the document (OR of fields);
- a word matches a document word that *starts with* it: "oka" finds Okafor, "kafor" does not
  (``LIKE '%…%'`` did, but can use no index);
- case and accents are folded: "elodie" and "ÉLODIE" find Élodie;
- punctuation separates words, in documents and queries alike: "atlas" finds
  ``ada@atlas.com``, and "o'brien" is the phrase "o" followed by a word starting "brien".

SQLite: an FTS5 table (``unicode61 remove_diacritics 2``) per index, rowid = the record's
pk; each word is quoted, so FTS5's query syntax (``NEAR``, ``OR``, ``-``, ``*``, ``"``…)
in what someone typed is only text. PostgreSQL: a table ``(id, document tsvector)`` with a
GIN index; documents and query words are folded with ``unaccent`` and ``lower`` (the
``unaccent`` extension, trusted since PostgreSQL 13: the database owner may create it), and
every word goes into ``to_tsquery`` as a quoted literal, so nothing typed is operator syntax.
"""

# SQL is built here from SearchIndex specs written in code (table and column names); what
# someone typed reaches the database only as a query parameter.
# ruff: noqa: S608, S611

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connections
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from crm.lib.text import SEARCH_MAX

# More words than this add nothing to a search but cost the index a lookup each.
MAX_SEARCH_WORDS = 8
# A word's pieces: letters and digits, as FTS5's unicode61 tokenizer cuts them.
_TOKEN = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Source:
    """A table whose writes change the documents of another: ``condition`` selects them.

    ``condition`` is SQL over the index's ``FROM`` aliases with ``{row}`` for the written row
    (``NEW``), e.g. ``m.organization_id = {row}.id``.
    """

    table: str
    columns: tuple[str, ...]
    condition: str


@dataclass(frozen=True)
class SearchIndex:
    """One document per row of ``table`` (alias ``m`` in ``source``): ``parts`` joined by spaces."""

    name: str
    table: str
    source: str  # FROM clause: "contacts_contact m LEFT JOIN contacts_organization o ON …"
    parts: tuple[str, ...]  # SQL expressions; NULL (an absent join) counts as empty
    columns: tuple[str, ...]  # the table's own columns the document reads
    depends_on: tuple[Source, ...] = ()

    @property
    def document(self) -> str:
        return " || ' ' || ".join(f"coalesce({part}, '')" for part in self.parts)


# --- the query side ----------------------------------------------------------------------


def query_words(value: object) -> list[list[str]]:
    """The words of ``value`` that can match, each as its pieces (letters and digits).

    NFKC first, so a ligature or a full-width letter is its plain letters and a decomposed
    accent sits on its letter; a word of punctuation only ("-", "*", "()") has no pieces and
    drops out. Only the first SEARCH_MAX characters and MAX_SEARCH_WORDS words count.
    """
    text = unicodedata.normalize("NFKC", str(value or "").replace("\x00", " ")[:SEARCH_MAX])
    words = []
    seen = set()
    for word in text.split():
        pieces = _TOKEN.findall(word)
        key = tuple(piece.casefold() for piece in pieces)
        if pieces and key not in seen:
            seen.add(key)
            words.append(pieces)
    return words[:MAX_SEARCH_WORDS]


def _sqlite_match(index: SearchIndex, words: list[list[str]]) -> tuple[str, list[str]]:
    # Each word a quoted phrase with a prefix star: inside quotes FTS5 syntax is plain text.
    phrases = ['"' + " ".join(words_).replace('"', '""') + '"*' for words_ in words]
    return f"SELECT rowid FROM {index.name} WHERE {index.name} MATCH %s", [" AND ".join(phrases)]


def _postgres_match(index: SearchIndex, words: list[list[str]]) -> tuple[str, list[str]]:
    # quote_literal makes each piece one tsquery operand whatever it holds; ':*' = prefix.
    piece = "to_tsquery('simple', quote_literal(crm_search_fold(%s)){})"
    phrases, params = [], []
    for pieces in words:
        operands = [piece.format(" || ':*'" if i == len(pieces) - 1 else "") for i in range(len(pieces))]
        phrases.append("(" + " <-> ".join(operands) + ")")
        params.extend(pieces)
    return f"SELECT id FROM {index.name} WHERE document @@ ({' && '.join(phrases)})", params


def match_ids(index: SearchIndex, value: object, using: str = "default") -> RawSQL | None:
    """A subquery of the ids whose document matches every word of ``value``; None if no word can match."""
    words = query_words(value)
    if not words:
        return None
    build = _postgres_match if connections[using].vendor == "postgresql" else _sqlite_match
    return RawSQL(*build(index, words))


def matching(queryset: QuerySet, index: SearchIndex, value: object, path: str = "pk") -> QuerySet:
    """``queryset`` narrowed to rows whose ``path`` (a pk or foreign key) has a matching document.

    A query with words but none that can match (only punctuation) matches nothing, as its
    LIKE did; an empty query leaves ``queryset`` as it is.
    """
    if not str(value or "").strip():
        return queryset
    ids = match_ids(index, value, using=queryset.db)
    return queryset.none() if ids is None else queryset.filter(**{f"{path}__in": ids})


# --- folding, for highlighting what matched --------------------------------------------


def fold(text: str) -> tuple[str, Sequence[int]]:
    """``text`` casefolded without accents, and for each folded character its index in ``text``."""
    if text.isascii():  # most names and notes: one character for one, no table to build
        return text.lower(), range(len(text))
    folded: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(text):
        plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)).casefold()
        folded.append(plain)
        origin.extend([i] * len(plain))
    return "".join(folded), origin


def fold_word(word: str) -> str:
    return fold(word)[0]


# --- the write side: DDL for both backends ---------------------------------------------


def _trigger_name(index: SearchIndex, table: str, event: str) -> str:
    return f"{index.name}__{table}_{event}"[:63]


def _sqlite_sql(index: SearchIndex) -> list[str]:
    def insert(condition: str) -> str:
        return (
            f"INSERT INTO {index.name}(rowid, document) SELECT m.id, {index.document} "
            f"FROM {index.source} WHERE {condition};"
        )

    def delete(condition: str) -> str:
        return f"DELETE FROM {index.name} WHERE rowid IN (SELECT m.id FROM {index.source} WHERE {condition});"

    own = ", ".join(index.columns)
    statements = [
        f"CREATE VIRTUAL TABLE {index.name} USING fts5(document, tokenize = 'unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER {_trigger_name(index, index.table, 'insert')} AFTER INSERT ON {index.table} "
        f"BEGIN {insert('m.id = NEW.id')} END",
        f"CREATE TRIGGER {_trigger_name(index, index.table, 'update')} AFTER UPDATE OF {own} ON {index.table} "
        f"BEGIN DELETE FROM {index.name} WHERE rowid = OLD.id; {insert('m.id = NEW.id')} END",
        f"CREATE TRIGGER {_trigger_name(index, index.table, 'delete')} AFTER DELETE ON {index.table} "
        f"BEGIN DELETE FROM {index.name} WHERE rowid = OLD.id; END",
    ]
    for source in index.depends_on:
        condition = source.condition.format(row="NEW")
        statements.append(
            f"CREATE TRIGGER {_trigger_name(index, source.table, 'update')} "
            f"AFTER UPDATE OF {', '.join(source.columns)} ON {source.table} "
            f"BEGIN {delete(condition)} {insert(condition)} END"
        )
    return statements


POSTGRES_FOLD = (
    # unaccent with its dictionary named is immutable in effect; the wrapper says so, so the
    # documents' folding and the query's are one function.
    "CREATE OR REPLACE FUNCTION crm_search_fold(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE "
    "AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$"
)


def _postgres_vector(index: SearchIndex) -> str:
    # Punctuation becomes spaces first, as FTS5 cuts words: PostgreSQL's parser would keep
    # "ada@atlas.com" or "okafor-smith" whole, and "atlas" would not find them.
    return f"to_tsvector('simple', regexp_replace(crm_search_fold({index.document}), '[[:punct:]]+', ' ', 'g'))"


def _postgres_sql(index: SearchIndex) -> list[str]:
    vector = _postgres_vector(index)

    def upsert(condition: str) -> str:
        return (
            f"INSERT INTO {index.name} (id, document) SELECT m.id, {vector} FROM {index.source} "
            f"WHERE {condition} ON CONFLICT (id) DO UPDATE SET document = EXCLUDED.document;"
        )

    own_function = _trigger_name(index, index.table, "fn")
    statements = [
        f"CREATE TABLE {index.name} (id bigint PRIMARY KEY, document tsvector NOT NULL)",
        f"CREATE INDEX {index.name}_document ON {index.name} USING gin (document)",
        f"CREATE FUNCTION {own_function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP = 'DELETE' THEN DELETE FROM {index.name} WHERE id = OLD.id; "
        f"ELSE {upsert('m.id = NEW.id')} END IF; RETURN NULL; END $$",
        f"CREATE TRIGGER {_trigger_name(index, index.table, 'sync')} "
        f"AFTER INSERT OR DELETE OR UPDATE OF {', '.join(index.columns)} ON {index.table} "
        f"FOR EACH ROW EXECUTE FUNCTION {own_function}()",
    ]
    for source in index.depends_on:
        function = _trigger_name(index, source.table, "fn")
        statements += [
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"{upsert(source.condition.format(row='NEW'))} RETURN NULL; END $$",
            f"CREATE TRIGGER {_trigger_name(index, source.table, 'sync')} "
            f"AFTER UPDATE OF {', '.join(source.columns)} ON {source.table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
        ]
    return statements


def _postgres_drop(index: SearchIndex) -> list[str]:
    statements = [f"DROP TABLE IF EXISTS {index.name}"]
    for table in (index.table, *(source.table for source in index.depends_on)):
        statements.append(f"DROP TRIGGER IF EXISTS {_trigger_name(index, table, 'sync')} ON {table}")
        statements.append(f"DROP FUNCTION IF EXISTS {_trigger_name(index, table, 'fn')}()")
    return statements


def _sqlite_drop(index: SearchIndex) -> list[str]:
    return [f"DROP TABLE IF EXISTS {index.name}"] + [
        f"DROP TRIGGER IF EXISTS {name}" for name in _sqlite_triggers(index)
    ]


def postgres_dump_entries(indexes: Iterable[SearchIndex], functions: bool) -> set[str]:
    """What ``install`` (and ``install_functions``) create, as ``pg_restore --list`` names it, owner left off."""
    entries = set()
    if functions:
        entries |= {"EXTENSION - unaccent", "COMMENT - EXTENSION unaccent", "FUNCTION public crm_search_fold(text)"}
    for index in indexes:
        entries.add(f"TABLE public {index.name}")
        for table in (index.table, *(source.table for source in index.depends_on)):
            entries.add(f"FUNCTION public {_trigger_name(index, table, 'fn')}()")
            entries.add(f"TRIGGER public {table} {_trigger_name(index, table, 'sync')}")
    return entries


def install_functions(connection) -> None:
    """PostgreSQL's ``unaccent`` extension and the folding function (nothing on SQLite)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # Trusted since PostgreSQL 13: the database owner may create it; else a superuser once.
        cursor.execute("CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public")
        cursor.execute(POSTGRES_FOLD)


def uninstall_functions(connection) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION IF EXISTS crm_search_fold(text)")


def install(connection, index: SearchIndex) -> None:
    """(Re)create ``index``'s table and triggers and fill it from the rows there are."""
    uninstall(connection, index)
    statements = _postgres_sql(index) if connection.vendor == "postgresql" else _sqlite_sql(index)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    rebuild(connection, index)


def install_triggers(connection, index: SearchIndex) -> None:
    """Re-create ``index``'s triggers (and their PostgreSQL functions) from this code; documents stay."""
    if connection.vendor == "postgresql":
        statements = _postgres_drop(index)[1:] + _postgres_sql(index)[2:]
    else:
        statements = _sqlite_drop(index)[1:] + _sqlite_sql(index)[1:]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def uninstall(connection, index: SearchIndex) -> None:
    statements = _postgres_drop(index) if connection.vendor == "postgresql" else _sqlite_drop(index)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def rebuild(connection, index: SearchIndex) -> int:
    """Rewrite every document of ``index`` from its tables; returns how many there are."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {index.name}")
        if connection.vendor == "postgresql":
            vector = _postgres_vector(index)
            cursor.execute(f"INSERT INTO {index.name} (id, document) SELECT m.id, {vector} FROM {index.source}")
        else:
            cursor.execute(
                f"INSERT INTO {index.name}(rowid, document) SELECT m.id, {index.document} FROM {index.source}"
            )
            # FTS5 keeps many small segments after bulk writes; merge them for reading.
            cursor.execute(f"INSERT INTO {index.name}({index.name}) VALUES ('optimize')")
        cursor.execute(f"SELECT count(*) FROM {index.name}")
        return cursor.fetchone()[0]


def missing_triggers(connection, indexes: Iterable[SearchIndex]) -> list[SearchIndex]:
    """The SQLite indexes that exist but lost a trigger.

    Django alters a column on SQLite by building a new table and dropping the old one, and
    dropping a table drops its triggers: after such a migration on contacts_contact its
    index would silently stop following it. An index whose table is absent is not reported:
    its migration has not run (an older database, a backup's schema).
    """
    if connection.vendor != "sqlite":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        present = {row[0] for row in cursor.fetchall()}
    return [index for index in indexes if index.name in present and not set(_sqlite_triggers(index)) <= present]


def _sqlite_triggers(index: SearchIndex) -> list[str]:
    return [_trigger_name(index, index.table, event) for event in ("insert", "update", "delete")] + [
        _trigger_name(index, source.table, "update") for source in index.depends_on
    ]
