from django.core.management.base import BaseCommand, CommandError

from crm.models import User
from crm.security.services import remove_second_factors


class Command(BaseCommand):
    help = (
        "Remove the authenticator app, passkeys and recovery codes of one user who lost them, so they can sign in with "
        "the password and set up a new one (at once, if the security policy requires it). Changes nothing else."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, **options):
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist:
            raise CommandError(f"No user named '{options['username']}'.") from None
        removed = remove_second_factors(user)
        plural = "s" if removed != 1 else ""
        self.stdout.write(self.style.SUCCESS(f"Removed {removed} two-factor device{plural} of '{user.username}'."))
