from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import DEFAULT_DB_ALIAS, connections

from crm.search import INDEXES, rebuild_indexes


class Command(BaseCommand):
    help = (
        "Rewrite the full-text search index of contacts, organizations, opportunities and communications from "
        "their tables, in one transaction (re-creating any of its triggers a migration dropped on SQLite). "
        "Records are unchanged. Triggers keep the index current; run this after writing to the tables with "
        "the triggers disabled, or if search misses a record it should find."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias (default: default).")

    def handle(self, *args, database, **options):
        counts = rebuild_indexes(connections[database])
        plural = {model._meta.db_table: model._meta.verbose_name_plural for model in apps.get_models()}
        listed = ", ".join(f"{counts[index.name]:,} {plural[index.table]}" for index in INDEXES)
        self.stdout.write(f"Rebuilt the search index: {listed}.")
