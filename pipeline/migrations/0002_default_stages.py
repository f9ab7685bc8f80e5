"""Seed the standard fundraising stages so every install, demo or not, has a board."""

from django.db import migrations

STAGES = [
    ("Lead", 10, 10, "open"),
    ("Outreach", 20, 20, "open"),
    ("Meeting", 30, 40, "open"),
    ("Due diligence", 40, 60, "open"),
    ("Committed", 50, 90, "won"),
    ("Funded", 60, 100, "won"),
    ("Passed", 70, 0, "lost"),
]


def add_stages(apps, schema_editor):
    Stage = apps.get_model("pipeline", "Stage")
    for name, order, probability, outcome in STAGES:
        Stage.objects.get_or_create(
            name=name, defaults={"order": order, "default_probability": probability, "outcome": outcome}
        )


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0001_initial")]

    operations = [migrations.RunPython(add_stages, migrations.RunPython.noop)]
