from django.core.management.base import BaseCommand, CommandError

from crm.demo.seed_demo import DemoError, is_empty_database, load_demo


class Command(BaseCommand):
    help = (
        "Load the demo data set: users admin/admin123 and grant/password (both admins), 8 organizations, "
        "12 contacts, 6 tags, Fund I (6 LPs, $83M committed and funded through three capital calls, two side letters "
        "with an MFN round open, KYC/AML checks, one expiring soon) and Fund II "
        "(three closes, five re-ups up the commitment ladder, 6 open opportunities, $40M expected), 9 communications "
        "(one a captured email thread). Records are matched by natural key and only missing ones are "
        "created; existing records, including changed passwords, are left as they are."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Load only into a database with no users and no CRM records (used by `make run`).",
        )

    def handle(self, *args, **options):
        if options["if_empty"] and not is_empty_database():
            self.stdout.write("Skipped the demo data: the database already has users or CRM records.")
            return
        try:
            result = load_demo()
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(result.summary()))
