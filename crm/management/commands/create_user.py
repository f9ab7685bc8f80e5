import getpass
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from crm.models import Role, User


class Command(BaseCommand):
    help = (
        "Create one team user with the given role. The password is prompted for twice, or read from the first "
        "line of stdin with --password-stdin (for scripts), and must pass the configured password validators. "
        "Refuses an existing username or email."
    )
    # Lets tests and scripts calling call_command() pass a stream in place of sys.stdin.
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values, help="admin, manager or member.")
        parser.add_argument("--email", default="")
        parser.add_argument("--full-name", default="")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from one line of stdin instead of a prompt.",
        )

    def handle(self, *args, **options):
        username = options["username"].strip()
        user = User(
            username=username,
            role=options["role"],
            email=options["email"].strip().lower(),
            full_name=" ".join(options["full_name"].split()),
        )
        self.check_new(user)
        password = self.read_password(options)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError("Password rejected:\n" + "\n".join(f"  - {m}" for m in exc.messages)) from None
        user.set_password(password)
        # A command-line action has no signed-in user, so the history row names nobody.
        with transaction.atomic():
            user.save()
        self.stdout.write(self.style.SUCCESS(f"Created {user.get_role_display().lower()} '{user.username}'."))

    def check_new(self, user: User) -> None:
        if User.objects.filter(username__iexact=user.username).exists():
            raise CommandError(f"A user named '{user.username}' already exists.")
        if user.email and User.objects.filter(email__iexact=user.email).exists():
            raise CommandError(f"Another user already has the email address {user.email}.")
        try:
            # Field formats (username characters, email syntax, lengths); the password comes later.
            user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            raise CommandError("\n".join(exc.messages)) from None

    def read_password(self, options) -> str:
        if options["password_stdin"]:
            stream = options.get("stdin") or sys.stdin
            password = stream.readline().rstrip("\r\n")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The two passwords did not match.")
        if not password:
            raise CommandError("The password cannot be blank.")
        return password
