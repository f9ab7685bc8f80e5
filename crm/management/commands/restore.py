import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from crm.backups.services import BackupError, Database, open_backup, restore_backup


class Command(BaseCommand):
    help = (
        "Replace the database with a backup made by `manage.py backup`. First checks the file (its manifest "
        "and SHA-256, refused when missing or wrong unless --force; that it decompresses, SQLite's integrity check, "
        "row counts, that it is a Venture CRM database no newer than this code and holds no table, index, view, "
        "trigger or function the app's migrations do not create, even with --force), shows what it holds "
        "and asks for confirmation (--yes skips the question; "
        "without a terminal and without --yes it refuses). Then keeps a backup of the current database "
        "(pre-restore-….) in the backups folder, restores (on SQLite into the live file in one transaction, so a "
        "running app switches over cleanly; on PostgreSQL with pg_restore --clean --if-exists), applies any "
        "migrations the backup predates, and prints the restored counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The backup file (crm-….sqlite3.gz or crm-….pgdump).")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Restore a file whose manifest (.json beside it) is missing, unreadable or does not match it. "
            "Every other check still applies.",
        )
        parser.add_argument(
            "--dir",
            type=Path,
            default=None,
            help=f"Where the pre-restore copy goes (default CRM_BACKUP_DIR, here {settings.CRM_BACKUP_DIR}).",
        )

    def handle(self, *args, **options):
        database = Database.configured()
        try:
            # Decompressed beside the database (same disk, private folder), not in a shared /tmp.
            with open_backup(options["file"], workdir=settings.DATA_DIR, force=options["force"]) as checked:
                self.stdout.write(f"Backup: {checked.describe()}.")
                for warning in checked.warnings:
                    self.stdout.write(self.style.WARNING(warning))
                self.stdout.write(f"It will replace the {database.describe()}.")
                if not options["yes"]:
                    self.confirm()
                result = restore_backup(checked, database=database, directory=options["dir"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if result.pending_migrations:
            self.stdout.write(
                f"The backup predates {len(result.pending_migrations)} migration(s) of this code; applying them."
            )
            try:
                call_command("migrate", interactive=False, verbosity=0)
            except Exception as exc:
                raise CommandError(
                    f"{result.summary()} But applying the newer migrations failed ({exc}); "
                    "run `manage.py migrate` and look at its error."
                ) from exc
        self.stdout.write(self.style.SUCCESS(result.summary()))

    def confirm(self) -> None:
        if not sys.stdin.isatty():
            raise CommandError(
                "Refusing to restore without confirmation: there is no terminal to ask on. "
                "Re-run with --yes to restore anyway. Nothing was changed."
            )
        self.stdout.write("Type 'yes' to replace the current database (a copy of it is kept first): ", ending="")
        self.stdout.flush()
        try:
            answer = input()
        except EOFError:
            answer = ""
        if answer.strip().lower() != "yes":
            raise CommandError("Restore cancelled. Nothing was changed.")
