"""Multi-row INSERTs for the import's write, without a model instance per row.

``bulk_create`` builds a model instance for every history row and sends every value of
every row through its field (``get_db_prep_save``, the compiler's ``prepare_value``,
``pre_save``): most of an import's write time. Here rows are tuples, each column's
conversion is chosen once (nothing at all for text, numbers, booleans and keys, which the
database drivers take as they are), and each statement carries as many rows as the
database's variable limit allows. ``RETURNING`` gives the new ids in row order, as
``bulk_create`` relies on too (SQLite >= 3.35, PostgreSQL).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, models

# Rows per statement at most, whatever the variable limit.
MAX_ROWS = 500
# Column types whose Python values the database drivers take as they are.
PLAIN = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "ForeignKey",
    "IntegerField",
    "OneToOneField",
    "PositiveBigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SlugField",
    "SmallIntegerField",
    "TextField",
}


def insert_fields(model: type[models.Model]) -> list[models.Field]:
    """The columns an INSERT of new ``model`` rows fills: every concrete one but the primary key."""
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _converter(field: models.Field) -> Callable[[Any], Any] | None:
    """How one column's values become the database's, chosen once for the column."""
    kind = field.get_internal_type()
    if kind in PLAIN:
        return None

    def convert(value: Any, field: models.Field = field) -> Any:
        return field.get_db_prep_save(value, connection)

    if connection.vendor == "sqlite":
        # What the field's get_db_prep_save ends in on SQLite, without the layers before it
        # (their checks and conversions are for values that are not yet of the field's type).
        ops = connection.ops
        if kind == "DateTimeField" and settings.USE_TZ:
            zone = connection.timezone
            return lambda value: (
                str(value.astimezone(zone).replace(tzinfo=None))  # ops.adapt_datetimefield_value, inlined
                if isinstance(value, datetime) and value.tzinfo is not None
                else convert(value)
            )
        if kind == "DateField":
            return lambda value: ops.adapt_datefield_value(value) if type(value) is date else convert(value)
        if kind == "DecimalField":
            return lambda value: value if value is None or isinstance(value, Decimal) else convert(value)

    return convert


def variable_limit() -> int:
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return 65_535  # PostgreSQL's protocol limit on parameters per statement


def insert_rows(
    model: type[models.Model], fields: Sequence[models.Field], rows: Iterable[Sequence[Any]], *, returning: bool = False
) -> list[Any]:
    """INSERT ``rows`` (Python values in ``fields`` order) into ``model``'s table; the new ids if ``returning``."""
    rows = list(rows)
    if not rows:
        return []
    converters = [(i, c) for i, c in enumerate(_converter(f) for f in fields) if c is not None]
    if converters:
        by_column = list(zip(*rows, strict=True))
        for i, convert in converters:
            by_column[i] = tuple(map(convert, by_column[i]))
        rows = list(zip(*by_column, strict=True))
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    head = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "  # noqa: S608 (quoted names; values are parameters)
    tail = f" RETURNING {quote(model._meta.pk.column)}" if returning else ""
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    size = max(1, min(MAX_ROWS, variable_limit() // max(1, len(fields))))
    ids: list[Any] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            params = [value for row in batch for value in row]
            cursor.execute(head + ", ".join([placeholder] * len(batch)) + tail, params)
            if returning:
                ids.extend(row[0] for row in cursor.fetchall())
    return ids
