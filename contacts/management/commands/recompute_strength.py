"""Recompute every contact's relationship strength (nightly: time decay moves the scores daily)."""

from django.core.management.base import BaseCommand

from contacts import strength


class Command(BaseCommand):
    help = "Recompute the stored relationship strength of every contact and team member–contact pair."

    def handle(self, *args, **options):
        count = strength.recompute_all()
        self.stdout.write(f"Recomputed the relationship strength of {count} contacts.")
