from django.core.management.base import BaseCommand

from crm import schedule


class Command(BaseCommand):
    help = (
        "Start the worker's schedule: queue its first tick (mailbox syncs every CRM_SYNC_MINUTES, the digest "
        "once each morning from CRM_DIGEST_HOUR) unless a tick is already waiting. Safe to run at every start."
    )

    def handle(self, *args, **options):
        started = schedule.start()
        self.stdout.write("Queued the schedule's first tick." if started else "The schedule is already running.")
