from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from crm.backups.services import BackupError, create_backup


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        raise CommandError(f"--keep-days {value!r} is not a whole number of days.") from None
    if days < 0:
        raise CommandError("--keep-days cannot be negative (0 keeps every backup).")
    return days


class Command(BaseCommand):
    help = (
        "Take a consistent snapshot of the live database (safe while the app runs: SQLite's online backup API, "
        "pg_dump on PostgreSQL), verify it (integrity check and row counts) and write it to the backups folder as "
        "crm-YYYYmmdd-HHMMSS.sqlite3.gz (or .pgdump; the time is UTC) with a .json manifest beside it. Then delete "
        "daily backups (crm-…) older than the retention period; nothing else in the folder is touched. "
        "Exits non-zero when anything fails, so cron or systemd can report it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dir",
            type=Path,
            default=None,
            help=f"Backups folder (default CRM_BACKUP_DIR, here {settings.CRM_BACKUP_DIR}).",
        )
        parser.add_argument(
            "--keep-days",
            type=_days,
            default=None,
            help=f"Delete daily backups older than this many days; 0 keeps all "
            f"(default CRM_BACKUP_KEEP_DAYS, here {settings.CRM_BACKUP_KEEP_DAYS}).",
        )

    def handle(self, *args, **options):
        try:
            result = create_backup(options["dir"], keep_days=options["keep_days"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(result.summary()))
