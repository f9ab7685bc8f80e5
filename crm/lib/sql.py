"""Small SQL expressions that Django spells slowly or not at all on one of our two backends."""

from __future__ import annotations

from django.db.models import FloatField, Func


class Seconds(Func):
    """``later - earlier`` in seconds, as a float, computed natively on each backend.

    Django's own datetime subtraction on SQLite calls a Python function per row
    (``django_timestamp_diff``); ``julianday`` is SQLite's C date arithmetic and reads the
    ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC text Django stores. PostgreSQL subtracts timestamps
    into an interval and ``EXTRACT(EPOCH …)`` counts its seconds.
    """

    arity = 2
    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s)) * 86400.0)", arg_joiner=") - julianday("
        )

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            template="CAST(EXTRACT(EPOCH FROM (%(expressions)s)) AS double precision)",
            arg_joiner=" - ",
        )
