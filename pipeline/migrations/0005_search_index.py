"""The full-text index of opportunities, filled from existing rows (crm/lib/fulltext.py)."""

from django.db import migrations

from crm.lib import fulltext
from pipeline.search_index import INDEXES


def forwards(apps, schema_editor):
    for index in INDEXES:
        fulltext.install(schema_editor.connection, index)


def backwards(apps, schema_editor):
    for index in INDEXES:
        fulltext.uninstall(schema_editor.connection, index)


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0004_fund_moves_to_lps"),
        ("contacts", "0008_search_index"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
