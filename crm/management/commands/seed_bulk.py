import datetime
import time

from django.core.management.base import BaseCommand, CommandError

from crm.demo.seed_bulk import MAX_SCALE, BulkSeedError, seed_bulk


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of {value!r} is not a date (use YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = (
        "Add a deterministic bulk data set for demos and benchmarks: N organizations, 2.5·N contacts, "
        "1.5·N opportunities across the stages of Fund I and Fund II (created like the demo's if missing), "
        "10·N communications, LP profiles with Fund I/II commitments for ~30% of the investors, a dozen tags, "
        "and up to three member users (analyst1…, no usable password) when there are fewer than three users. "
        "One transaction; refuses when the records it would create already exist."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale", type=int, required=True, help=f"N, the number of organizations (1–{MAX_SCALE:,})."
        )
        parser.add_argument(
            "--as-of",
            type=_date,
            default=None,
            help="Reference date every generated date is relative to (YYYY-MM-DD; default today).",
        )

    def handle(self, *args, **options):
        started = time.monotonic()
        try:
            result = seed_bulk(options["scale"], as_of=options["as_of"])
        except BulkSeedError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{result.summary()} ({time.monotonic() - started:.1f}s)"))
