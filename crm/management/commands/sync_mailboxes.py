from django.core.management.base import BaseCommand

from contacts.models import Mailbox
from crm.capture import sync, tasks


class Command(BaseCommand):
    help = (
        "Email capture's sweep: queue a sync of every enabled mailbox of an active user, and of every enabled shared "
        "BCC/forward mailbox, for the background "
        "worker (db_worker), or with --now sync them here, one after the other. Each sync reads the mailbox's "
        "new messages and stores those to or from contacts as communications; a mailbox that fails gets its "
        "reason as its status and the next one is synced all the same. Run it every few minutes from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", action="store_true", help="Sync here and now instead of queueing for the worker.")

    def handle(self, *args, now: bool = False, **options):
        if not now:
            queued = tasks.enqueue_all()
            self.stdout.write(f"Queued {queued} mailbox sync{'s' if queued != 1 else ''} for the worker.")
            return
        results = sync.sync_all(Mailbox.objects.enabled().select_related("user").order_by("pk"))
        failed = 0
        for mailbox, message in results:
            mailbox.refresh_from_db(fields=["last_sync_ok"])
            failed += not mailbox.last_sync_ok
            self.stdout.write(f"{mailbox.user.username if mailbox.user else 'shared'} ({mailbox}): {message}")
        self.stdout.write(f"Synced {len(results)} mailbox{'es' if len(results) != 1 else ''}, {failed} with problems.")
