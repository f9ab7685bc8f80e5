from django.core.management.base import BaseCommand, CommandError

from crm.demo.benchmark import (
    DEFAULT_REPEAT,
    DEFAULT_SCALE,
    BenchmarkError,
    report,
    report_served,
    run_in_throwaway,
    seed_throwaway,
)
from crm.imports.alongside import report_alongside
from crm.imports.benchmark import report_imports


class Command(BaseCommand):
    help = (
        "Time the main pages (dashboard, every list and board page that exists, search) through Django's test "
        "client signed in as an admin: SQL queries per request, then median and 95th-percentile wall time of "
        "--repeat requests; on the throwaway database the same pages again through gunicorn, flagged against the "
        "page budget, with each worker's peak memory. By default against a throwaway SQLite database in a new "
        "temporary folder filled with "
        "seed_bulk --scale N and removed afterwards; the real data is only used with --use-current-db "
        "(read-only apart from a session row it deletes again)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            type=int,
            default=DEFAULT_SCALE,
            help=f"seed_bulk scale of the throwaway database: N organizations (default {DEFAULT_SCALE}).",
        )
        parser.add_argument(
            "--repeat",
            type=int,
            default=DEFAULT_REPEAT,
            help=f"Timed requests per page after one warm-up (default {DEFAULT_REPEAT}).",
        )
        parser.add_argument(
            "--use-current-db",
            action="store_true",
            help="Measure the configured database as it is (no seeding) instead of a throwaway one.",
        )
        parser.add_argument(
            "--import-rows",
            type=int,
            default=20_000,
            help="Rows of the generated base timed on import and imported while people work (default 20,000).",
        )
        # Set by the parent process on the throwaway copy of itself; not for people.
        parser.add_argument("--in-throwaway", action="store_true", help="==SUPPRESS==")

    def handle(self, *args, **options):
        if options["repeat"] < 1:
            raise CommandError("--repeat must be at least 1.")
        if not 100 <= options["import_rows"] <= 1_000_000:
            raise CommandError("--import-rows must be between 100 and 1,000,000.")
        try:
            if options["in_throwaway"]:
                seed_throwaway(options["scale"], self.stdout)
            elif not options["use_current_db"]:
                run_in_throwaway(options["scale"], options["repeat"], self.stdout, options["import_rows"])
                return
            measured = report(options["repeat"], self.stdout)
            if options["in_throwaway"]:
                report_served(options["repeat"], self.stdout, measured)
                report_imports(self.stdout, min(options["repeat"], 3), rows=options["import_rows"])
                report_alongside(self.stdout, options["import_rows"])
        except BenchmarkError as exc:
            raise CommandError(str(exc)) from exc
