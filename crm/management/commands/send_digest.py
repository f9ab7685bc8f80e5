import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from crm.digest import send


class Command(BaseCommand):
    help = (
        "The morning digest: email each active user with an email address who has not turned it off in "
        "Settings their overdue and due-today next actions (and, for managers, the raise's changes since "
        "yesterday), at most once per user per day; a user with nothing due gets nothing. Email is off unless "
        "CRM_EMAIL_HOST is set. --dry-run prints the messages and sends and records nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Print the digests instead of sending them.")
        parser.add_argument("--date", help="The day to send for (YYYY-MM-DD); today by default.")

    def handle(self, *args, dry_run: bool = False, date: str | None = None, **options):
        try:
            day = datetime.date.fromisoformat(date) if date else None
        except ValueError:
            raise CommandError(f"--date {date!r} is not a date (YYYY-MM-DD).") from None
        if not dry_run and not settings.CRM_EMAIL_ENABLED:
            self.stdout.write(send.EMAIL_OFF)
            return
        outcome = send.send_digests(day, dry_run=dry_run, out=self.stdout)
        for username, why in outcome.failed.items():
            self.stderr.write(f"{username}: {why}")
        self.stdout.write(("Dry run: " if dry_run else "") + outcome.summary())
