"""Seed the standard fundraising stages so every install, demo or not, has a board."""

from django.db import migrations

from pipeline.migrations._stages import create_default_stages


def add_stages(apps, schema_editor):
    create_default_stages(apps.get_model("pipeline", "Stage"), schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0001_initial")]

    operations = [migrations.RunPython(add_stages, migrations.RunPython.noop)]
