"""Communications are found by their outcome and next step too (contacts/search_index.py).

The index is re-created from the current spec and refilled from the rows; going back
re-creates it as 0008 wrote it (subject and body only).
"""

import dataclasses

from django.db import migrations

from contacts.search_index import COMMUNICATIONS
from crm.lib import fulltext

BEFORE = dataclasses.replace(COMMUNICATIONS, parts=("m.subject", "m.body"), columns=("subject", "body"))


def forwards(apps, schema_editor):
    fulltext.install(schema_editor.connection, COMMUNICATIONS)


def backwards(apps, schema_editor):
    fulltext.install(schema_editor.connection, BEFORE)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0008_search_index"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
