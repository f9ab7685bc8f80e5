"""Running the real migrations back and forth in a test, to check what a data migration does.

Only in tests marked ``django_db(transaction=True)``: SQLite cannot change its schema inside
the transaction an ordinary test runs in.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_back_to(app: str, migration: str) -> Any:
    """Unapply ``app``'s migrations after ``migration``; the app registry of the database as it
    now stands (every other app's migrations still applied), to create the old rows with."""
    state = MigrationExecutor(connection).migrate([(app, migration)])
    return state.apps


def migrate_forward() -> None:
    """Apply every migration again: the data migrations under test run on the rows made since."""
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
