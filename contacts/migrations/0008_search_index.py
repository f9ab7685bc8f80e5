"""Full-text indexes of contacts, organizations and communications, filled from existing rows.

SQLite: FTS5 tables and triggers; PostgreSQL: the unaccent extension, a folding function,
tsvector tables with GIN indexes and triggers (crm/lib/fulltext.py).
"""

from django.db import migrations

from contacts.search_index import INDEXES
from crm.lib import fulltext


def forwards(apps, schema_editor):
    fulltext.install_functions(schema_editor.connection)
    for index in INDEXES:
        fulltext.install(schema_editor.connection, index)


def backwards(apps, schema_editor):
    for index in INDEXES:
        fulltext.uninstall(schema_editor.connection, index)
    fulltext.uninstall_functions(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0007_open_actions_by_date"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
