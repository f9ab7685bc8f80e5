"""Cross-cutting models: the user with its role, and custom-field definitions."""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import models, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.text import slugify
from simple_history.models import HistoricalRecords

from crm.lib.scoping import ScopedQuerySet
from crm.lib.text import (
    CUSTOM_LONG_TEXT_MAX,
    CUSTOM_TEXT_MAX,
    CUSTOM_URL_MAX,
    EMAIL_MAX,
    HELP_TEXT_MAX,
    OPTIONS_MAX,
    SHORT_NAME_MAX,
    TITLE_MAX,
    LengthLimit,
    too_long_message,
)


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MANAGER = "manager", "Manager"
    MEMBER = "member", "Member"


# Higher rank includes everything a lower rank may do.
ROLE_RANK = {Role.MEMBER: 1, Role.MANAGER: 2, Role.ADMIN: 3}


class CRMUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)

    def team(self):
        """Active team members, for owner pickers and collaborator matching."""
        return self.filter(is_active=True).order_by("full_name", "username")


# Said whatever the reason an email cannot be someone's: naming (or hinting at) the account
# that has it would tell any signed-in user who else has an account here, and under what.
EMAIL_UNAVAILABLE = "That email address cannot be used for this account. Choose another one."


class User(AbstractUser):
    """A member of the fund's team. The role decides what they may do (see ``can_*``).

    Django's ``is_staff``/``is_superuser`` follow the role, so the admin site is open to
    exactly the admins and nobody has to keep two permission systems in step.
    """

    full_name = models.CharField(max_length=TITLE_MAX, blank=True)
    email = models.EmailField("email address", blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    # The morning digest by email (crm/digest): on unless the user turns it off in Settings.
    digest_opt_out = models.BooleanField("no daily digest email", default=False)
    updated_at = models.DateTimeField(auto_now=True)

    # first_name/last_name of AbstractUser are replaced by one full name.
    first_name = None
    last_name = None

    REQUIRED_FIELDS = ["email"]

    objects = CRMUserManager()
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    class Meta:
        ordering = ["full_name", "username"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="user_email_unique_ci",
                # Django's default names the constraint; this one says no more than the form does.
                violation_error_message=EMAIL_UNAVAILABLE,
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = (self.email or "").strip().lower()
        self.full_name = " ".join((self.full_name or "").split())
        self.is_staff = self.is_superuser = self.role == Role.ADMIN
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        return self.full_name or self.username

    @property
    def initials(self) -> str:
        parts = self.display_name.split()
        return "".join(part[0] for part in parts[:2]).upper() or "?"

    def get_full_name(self) -> str:
        return self.display_name

    def get_short_name(self) -> str:
        return self.display_name.split()[0] if self.display_name else self.username

    def has_role(self, role: str) -> bool:
        return self.is_active and ROLE_RANK.get(self.role, 0) >= ROLE_RANK[role]

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.ADMIN)

    @property
    def can_delete_records(self) -> bool:
        return self.has_role(Role.MANAGER)

    @property
    def can_import(self) -> bool:
        return self.has_role(Role.MANAGER)

    @property
    def can_bulk_export(self) -> bool:
        return self.has_role(Role.MANAGER)

    @property
    def can_share_views(self) -> bool:
        return self.has_role(Role.MANAGER)


class CustomFieldEntity(models.TextChoices):
    CONTACT = "contact", "Contact"
    ORGANIZATION = "organization", "Organization"
    OPPORTUNITY = "opportunity", "Opportunity"
    LP_PROFILE = "lp_profile", "LP profile"


class CustomFieldType(models.TextChoices):
    TEXT = "text", "Text"
    LONG_TEXT = "long_text", "Long text"
    NUMBER = "number", "Number"
    CURRENCY = "currency", "Currency"
    DATE = "date", "Date"
    CHECKBOX = "checkbox", "Checkbox"
    SINGLE_SELECT = "single_select", "Single select"
    MULTI_SELECT = "multi_select", "Multi select"
    URL = "url", "URL"
    EMAIL = "email", "Email"


# The longest value each text-like custom field type stores (to_storage and the form fields).
TEXT_LIMITS = {
    CustomFieldType.TEXT: CUSTOM_TEXT_MAX,
    CustomFieldType.LONG_TEXT: CUSTOM_LONG_TEXT_MAX,
    CustomFieldType.URL: CUSTOM_URL_MAX,
    CustomFieldType.EMAIL: EMAIL_MAX,
}


class CustomFieldQuerySet(models.QuerySet):
    def for_entity(self, entity: str) -> CustomFieldQuerySet:
        return self.filter(entity=entity).order_by("display_order", "name")


class CustomField(TimeStampedModel):
    """A field the team defines in the admin for one kind of record.

    Values live in the record's ``custom_fields`` JSON column keyed by ``key``, stored in a
    JSON-safe form: numbers and currency as decimal strings (never floats), dates as ISO
    strings, checkboxes as booleans, multi-selects as lists.
    """

    name = models.CharField(max_length=SHORT_NAME_MAX)
    key = models.SlugField(
        max_length=SHORT_NAME_MAX,
        blank=True,
        help_text="Stable identifier used in storage and imports; generated from the name when blank.",
    )
    entity = models.CharField(max_length=20, choices=CustomFieldEntity.choices)
    field_type = models.CharField(max_length=20, choices=CustomFieldType.choices, default=CustomFieldType.TEXT)
    options = models.TextField(
        blank=True,
        max_length=OPTIONS_MAX,
        validators=[LengthLimit(OPTIONS_MAX)],
        help_text="For single and multi select: one option per line.",
    )
    required = models.BooleanField(default=False)
    display_order = models.PositiveIntegerField(default=0)
    help_text = models.CharField(max_length=HELP_TEXT_MAX, blank=True)

    objects = CustomFieldQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["entity", "display_order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "key"], name="customfield_key_unique_per_entity"),
        ]

    def __str__(self) -> str:
        return f"{self.get_entity_display()}: {self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.key:
            self.key = slugify(self.name).replace("-", "_")[:SHORT_NAME_MAX]
        super().save(*args, **kwargs)

    @property
    def option_list(self) -> list[str]:
        return [line.strip() for line in self.options.splitlines() if line.strip()]

    def clean(self) -> None:
        self.name = self.name.strip()
        if not self.key:
            self.key = slugify(self.name).replace("-", "_")[:SHORT_NAME_MAX]
        if not self.key:
            raise ValidationError({"name": "The name needs at least one letter or digit."})
        is_select = self.field_type in (CustomFieldType.SINGLE_SELECT, CustomFieldType.MULTI_SELECT)
        if is_select and not self.option_list:
            raise ValidationError({"options": "A select field needs at least one option."})
        if not is_select and self.option_list:
            raise ValidationError({"options": "Only select fields take options."})

    def is_empty(self, value: Any) -> bool:
        return (
            value is None
            or value == ""
            or value == []
            or (self.field_type == CustomFieldType.CHECKBOX and value is False)
        )

    def to_storage(self, value: Any) -> Any:
        """Validate ``value`` (from a form, an import or code) and return its stored form.

        Raises ValidationError with a message fit to show beside the field.
        """
        if isinstance(value, str):
            value = value.strip()
        kind = self.field_type
        if kind == CustomFieldType.CHECKBOX:
            if isinstance(value, str):
                word = value.lower()
                if word in ("", "0", "false", "no", "off", "unchecked"):
                    return False
                if word in ("1", "true", "yes", "on", "checked", "x"):
                    return True
                raise ValidationError(f"“{value}” is not a yes/no value.")
            return bool(value)
        if value is None or value == "" or value == []:
            if self.required:
                raise ValidationError(f"{self.name} is required.")
            return None
        limit = TEXT_LIMITS.get(kind)
        if limit is not None and len(str(value)) > limit:
            # Before any other check: a 10 MB value is refused without being parsed.
            raise ValidationError(too_long_message(limit, len(str(value))))
        if kind in (CustomFieldType.TEXT, CustomFieldType.LONG_TEXT):
            return str(value)
        if kind in (CustomFieldType.NUMBER, CustomFieldType.CURRENCY):
            cleaned = re.sub(r"[,\s$€£]", "", str(value)) if isinstance(value, str) else value
            try:
                number = Decimal(str(cleaned))
            except InvalidOperation:
                raise ValidationError(f"“{value}” is not a number.") from None
            if not number.is_finite() or abs(number) >= Decimal("1e15"):
                raise ValidationError(f"“{value}” is not a number this field can hold.")
            if kind == CustomFieldType.CURRENCY:
                number = number.quantize(Decimal("0.01"))
            return str(number)
        if kind == CustomFieldType.DATE:
            if isinstance(value, datetime.datetime):
                value = value.date()
            if isinstance(value, datetime.date):
                return value.isoformat()
            try:
                return datetime.date.fromisoformat(str(value)).isoformat()
            except ValueError:
                raise ValidationError(f"“{value}” is not a date (use YYYY-MM-DD).") from None
        if kind == CustomFieldType.SINGLE_SELECT:
            if str(value) not in self.option_list:
                raise ValidationError(f"“{value}” is not one of the options for {self.name}.")
            return str(value)
        if kind == CustomFieldType.MULTI_SELECT:
            values = [value] if isinstance(value, str) else list(value)
            unknown = [v for v in values if v not in self.option_list]
            if unknown:
                raise ValidationError(f"Not options for {self.name}: {', '.join(map(str, unknown))}.")
            return [v for v in self.option_list if v in values]  # keep the defined order
        if kind == CustomFieldType.URL:
            URLValidator(schemes=["http", "https"])(str(value))
            return str(value)
        if kind == CustomFieldType.EMAIL:
            EmailValidator()(str(value))
            return str(value).lower()
        raise ValidationError(f"Unknown field type {kind}.")  # pragma: no cover - choices guard

    def from_storage(self, stored: Any) -> Any:
        """The Python value for display and forms (Decimal, date, list, bool)."""
        if stored is None:
            return None
        if self.field_type in (CustomFieldType.NUMBER, CustomFieldType.CURRENCY):
            return Decimal(stored)
        if self.field_type == CustomFieldType.DATE:
            return datetime.date.fromisoformat(stored)
        return stored


class CustomFieldsModel(models.Model):
    """A record that carries values for the custom fields defined for ``CUSTOM_FIELD_ENTITY``."""

    CUSTOM_FIELD_ENTITY: str = ""

    custom_fields = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True

    def custom_field_definitions(self) -> list[CustomField]:
        return list(CustomField.objects.for_entity(self.CUSTOM_FIELD_ENTITY))

    def clean_custom_fields(self, definitions: list[CustomField] | None = None) -> None:
        """Validate and normalise ``custom_fields`` against the definitions.

        Keys with no definition (a field deleted in the admin) are kept rather than
        dropped: deleting a definition must never silently destroy data.
        """
        definitions = self.custom_field_definitions() if definitions is None else definitions
        values = dict(self.custom_fields or {})
        errors: dict[str, list[str]] = {}
        for definition in definitions:
            try:
                values[definition.key] = definition.to_storage(values.get(definition.key))
            except ValidationError as exc:
                errors.setdefault("custom_fields", []).extend(f"{definition.name}: {m}" for m in exc.messages)
        if errors:
            raise ValidationError(errors)
        self.custom_fields = {k: v for k, v in values.items() if v is not None}

    def custom_field_display(self, definitions: list[CustomField] | None = None) -> list[tuple[CustomField, Any]]:
        """(definition, python value) pairs in display order, for panels and pages."""
        definitions = self.custom_field_definitions() if definitions is None else definitions
        values = self.custom_fields or {}
        return [(d, d.from_storage(values.get(d.key))) for d in definitions]


# --- Imports -------------------------------------------------------------------------------


class ImportSource(models.TextChoices):
    WIZARD = "wizard", "Import wizard"
    COMMAND = "command", "import_airtable command"


class ImportStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    IMPORTED = "imported", "Imported"
    FAILED = "failed", "Failed"
    UNDONE = "undone", "Undone"
    PARTLY_UNDONE = "partly_undone", "Partly undone"


class ImportJob(models.TextChoices):
    DRY_RUN = "dry_run", "Dry run"
    IMPORT = "import", "Import"
    UNDO = "undo", "Undo"


class ImportRunQuerySet(ScopedQuerySet):
    """Imports are team-wide: every signed-in user may see them (views still require a manager)."""

    def finished(self) -> ImportRunQuerySet:
        return self.exclude(status=ImportStatus.DRAFT)


class ImportRun(models.Model):
    """One import: a file through the wizard, or a whole Airtable base through the command.

    A wizard draft keeps the decoded file text between the steps. Once imported, the run
    remembers the mapping used, the per-table reconciliation and, in ``records``, every
    record it created or changed with the history rows around it, which is what undo needs.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    source = models.CharField(max_length=10, choices=ImportSource.choices, default=ImportSource.WIZARD)
    file_name = models.CharField(max_length=255)
    entity = models.CharField(max_length=20, blank=True, help_text="What the rows are; blank for a whole base.")
    status = models.CharField(max_length=15, choices=ImportStatus.choices, default=ImportStatus.DRAFT)
    encoding = models.CharField(max_length=20, blank=True)
    delimiter = models.CharField(max_length=5, blank=True)
    notices = models.JSONField(default=list, blank=True)
    source_text = models.TextField(blank=True)
    mapping = models.JSONField(default=dict, blank=True, help_text="The mapping, in the mapping-file format.")
    rows_read = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    tables = models.JSONField(default=list, blank=True, help_text="Per-table reconciliation.")
    fund_totals = models.JSONField(default=list, blank=True)
    report = models.JSONField(default=dict, blank=True, help_text="The latest dry run or import, row by row.")
    message = models.TextField(blank=True)
    previewed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undo_report = models.JSONField(default=dict, blank=True)
    # The background worker's job on this run (crm/imports/tasks.py): what it is asked to do,
    # the task's id in the queue, and how far it has got. ``heartbeat_at`` moves every few
    # seconds while the job runs; ``worker_host``/``worker_pid`` say which process runs it,
    # so a run whose worker died is marked failed within a minute (crm/imports/jobs.py).
    job = models.CharField(max_length=10, choices=ImportJob.choices, blank=True)
    job_task_id = models.CharField(max_length=64, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    job_finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    progress = models.JSONField(default=dict, blank=True, help_text="Per table: rows read, validated, written, total.")
    cancel_requested = models.BooleanField(default=False)
    row_report = models.TextField(blank=True, help_text="The latest dry run or import's full row report, as CSV.")

    objects = ImportRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Import #{self.pk}: {self.file_name}"

    @property
    def change_reason(self) -> str:
        """Written on every history row the import makes, so a record's History tab says where a change came from."""
        return f"Import #{self.pk} ({self.file_name})"[:200]

    @property
    def can_undo(self) -> bool:
        return self.status == ImportStatus.IMPORTED

    @property
    def duration(self) -> datetime.timedelta | None:
        """How long the last background job took, once it finished."""
        if self.started_at and self.job_finished_at and self.job_finished_at >= self.started_at:
            return self.job_finished_at - self.started_at
        return None

    @property
    def duration_text(self) -> str:
        """“4.2 s”, “3 min 12 s”: how long the last job took, for the pages; empty when unknown."""
        duration = self.duration
        if duration is None:
            return ""
        seconds = duration.total_seconds()
        if seconds < 60:
            return f"{seconds:.1f} s"
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest} s"

    @property
    def is_draft(self) -> bool:
        return self.status in (ImportStatus.DRAFT, ImportStatus.FAILED) and bool(self.source_text)


class ImportedRecordAction(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"


class ImportedRecord(models.Model):
    """A record an import created or changed, with the history rows undo compares against.

    ``last_history_id`` is the record's newest history row when the import finished: if a
    newer one exists at undo time, someone changed the record since and undo leaves it
    alone. ``before_history_id`` is the state to restore for an updated record.
    """

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="records")
    content_type = models.ForeignKey("contenttypes.ContentType", on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    action = models.CharField(max_length=10, choices=ImportedRecordAction.choices)
    label = models.CharField(max_length=255, blank=True)
    last_history_id = models.PositiveBigIntegerField()
    before_history_id = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["run", "content_type"])]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.label}"


class SavedMapping(TimeStampedModel):
    """A column and value mapping saved by name in the wizard, reusable for the next file of the same kind."""

    name = models.CharField(max_length=100)
    entity = models.CharField(max_length=20)
    mapping = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ImportRunQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="savedmapping_name_unique_ci")]

    def __str__(self) -> str:
        return self.name


class TwoFactorPolicy(models.TextChoices):
    OFF = "off", "Nobody (anyone may still add a second factor)"
    STAFF = "staff", "Admins and managers"
    EVERYONE = "everyone", "Everyone"


# A stricter policy ranks higher; the server's CRM_2FA_REQUIRED and the admin's switch
# combine by taking the stricter one.
TWO_FACTOR_POLICY_RANK = {TwoFactorPolicy.OFF: 0, TwoFactorPolicy.STAFF: 1, TwoFactorPolicy.EVERYONE: 2}


class SecurityPolicy(models.Model):
    """The team's security switches: one row, edited by admins in the Django admin.

    The server's environment (CRM_2FA_REQUIRED) sets a floor: this switch can make the
    policy stricter but never weaker, so a hijacked admin session cannot turn 2FA off on an
    install whose operator required it.
    """

    SINGLETON_PK = 1

    two_factor_required = models.CharField(
        "two-factor authentication required for",
        max_length=16,
        choices=TwoFactorPolicy.choices,
        default=TwoFactorPolicy.OFF,
        help_text=(
            "Who must sign in with a code from an authenticator app. People without one are sent to set it up "
            "right after their password. The server's CRM_2FA_REQUIRED setting can make this stricter."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "security policy"
        verbose_name_plural = "security policy"

    def __str__(self) -> str:
        return "Security policy"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = self.SINGLETON_PK
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> SecurityPolicy:
        policy, _ = cls.objects.get_or_create(pk=cls.SINGLETON_PK)
        return policy

    @staticmethod
    def stricter(stored: str) -> str:
        """The policy in force: the stricter of the server's CRM_2FA_REQUIRED and ``stored``."""
        return max((settings.CRM_2FA_REQUIRED, stored), key=lambda level: TWO_FACTOR_POLICY_RANK[level])

    @staticmethod
    def covers(level: str, user: User) -> bool:
        """Must ``user`` have a second factor under policy ``level``?"""
        if level == TwoFactorPolicy.EVERYONE:
            return user.is_active
        if level == TwoFactorPolicy.STAFF:
            return user.has_role(Role.MANAGER)
        return False

    def two_factor_required_for(self, user: User) -> bool:
        return self.covers(self.stricter(self.two_factor_required), user)


# --- personal API tokens (the JSON API, crm/api/) ------------------------------------------

API_TOKEN_PREFIX = "vcrm_"
# How much of a token the Settings page shows, so a person can tell theirs apart.
API_TOKEN_SHOWN = 12
# How precisely a token's "last used" time is kept.
LAST_USED_STEP = datetime.timedelta(minutes=1)


def hash_api_token(raw: str) -> str:
    """Tokens are 256 random bits: a plain SHA-256 is enough (no salt or stretching needed)."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(ScopedQuerySet):
    def visible_to(self, user: Any) -> ApiTokenQuerySet:
        """A token is its owner's alone: nobody else sees, uses or revokes it, admins included."""
        return super().visible_to(user).filter(user=user)

    def usable(self, now: datetime.datetime) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A personal token for the JSON API: it acts as its user, with that user's role.

    Only the SHA-256 of the token is stored; the token itself is shown once, when created.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=SHORT_NAME_MAX, validators=[LengthLimit(SHORT_NAME_MAX)])
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_start = models.CharField(max_length=API_TOKEN_SHOWN, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_start}…)"

    @classmethod
    def issue(cls, user: Any, name: str, expires_at: datetime.datetime | None = None) -> tuple[ApiToken, str]:
        """A new token for ``user``: the saved row and the token itself, which is never stored."""
        raw = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, expires_at=expires_at, key_hash=hash_api_token(raw), key_start=raw[:API_TOKEN_SHOWN]
        )
        return token, raw

    @classmethod
    def authenticate(cls, raw: str, now: datetime.datetime) -> ApiToken | None:
        """The usable token ``raw`` is, with its user, marked as used now; None for any other string."""
        if not raw.startswith(API_TOKEN_PREFIX) or len(raw) > 100:
            return None
        token = cls.objects.usable(now).select_related("user").filter(key_hash=hash_api_token(raw)).first()
        # Once a minute at most: a script's burst of reads should not be a burst of writes.
        if token is not None and (token.last_used_at is None or now - token.last_used_at >= LAST_USED_STEP):
            cls.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now: datetime.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def revoke(self, now: datetime.datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now
            self.save(update_fields=["revoked_at"])


# --- private calendar feeds (issue 17, crm/calendar_feed/) ----------------------------------

CALENDAR_TOKEN_PREFIX = "vcal_"


class CalendarFeedQuerySet(ScopedQuerySet):
    def visible_to(self, user: Any) -> CalendarFeedQuerySet:
        """A feed is its owner's alone, like an API token: nobody else sees or revokes it."""
        return super().visible_to(user).filter(user=user)

    def usable(self) -> CalendarFeedQuerySet:
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class CalendarFeed(models.Model):
    """A private iCalendar URL: whoever holds its token reads its user's calendar, without signing in.

    Only the SHA-256 of the token is stored; the URL is shown once, when made. ``everyone``
    feeds (every user's next actions) are for admins: an admin demoted later gets their own
    next actions only, checked on each fetch (``includes_everyone``).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_start = models.CharField(max_length=API_TOKEN_SHOWN, editable=False)
    everyone = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_fetched_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = CalendarFeedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{'Everyone' if self.everyone else 'Personal'} calendar of {self.user} ({self.key_start}…)"

    @classmethod
    def issue(cls, user: Any, *, everyone: bool = False) -> tuple[CalendarFeed, str]:
        """A new feed for ``user`` and its token, which is never stored; the user's previous
        feed of the same kind is revoked (one personal and one "everyone" URL at a time).
        """
        if everyone and not user.is_admin:
            raise PermissionDenied("Only admins may make a calendar of everyone's next actions.")
        now = timezone.now()
        cls.objects.filter(user=user, everyone=everyone, revoked_at__isnull=True).update(revoked_at=now)
        raw = CALENDAR_TOKEN_PREFIX + secrets.token_urlsafe(32)
        feed = cls.objects.create(
            user=user, everyone=everyone, key_hash=hash_api_token(raw), key_start=raw[:API_TOKEN_SHOWN]
        )
        return feed, raw

    @classmethod
    def authenticate(cls, raw: str, now: datetime.datetime) -> CalendarFeed | None:
        """The usable feed ``raw`` names, with its user, marked as fetched now; None for any other string."""
        if not raw.startswith(CALENDAR_TOKEN_PREFIX) or len(raw) > 100:
            return None
        feed = cls.objects.usable().select_related("user").filter(key_hash=hash_api_token(raw)).first()
        if feed is not None:
            # Every fetch writes, so the feed's query count is the same on every fetch.
            cls.objects.filter(pk=feed.pk).update(last_fetched_at=now)
            feed.last_fetched_at = now
        return feed

    @property
    def includes_everyone(self) -> bool:
        return self.everyone and self.user.is_admin

    def revoke(self, now: datetime.datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now
            self.save(update_fields=["revoked_at"])


class DigestDelivery(models.Model):
    """One user's morning digest for one local day: the record that makes sending idempotent.

    Written before the message goes out (in the same transaction as the claim), so a second
    run the same day — the scheduler restarted, ``send_digest`` by hand — sends nothing twice.
    A failed send deletes its row, so the next run retries it.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digests")
    day = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="digest_once_per_user_per_day")]

    def __str__(self) -> str:
        return f"{self.user} · {self.day}"


# --- list grids: per-user preferences and saved views (issue 14, crm/lib/grid.py) ---------


class Density(models.TextChoices):
    COMPACT = "compact", "Compact"
    COMFORTABLE = "comfortable", "Comfortable"


PAGE_SIZES = (25, 50, 100, 200)
LIST_KEY_MAX = 40
# The lists with grids and saved views (crm.navigation maps them to their pages).
LIST_KEYS = ("contacts", "organizations", "opportunities", "communications")
VIEW_QUERY_MAX = 2000


class ListPreference(models.Model):
    """How one user likes one list: its columns, density and page size.

    Not a CRM record (no history): the list's URL carries the same state, and a request
    that names columns, density or a page size writes it here for the next visit.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="list_preferences")
    list_key = models.CharField(max_length=LIST_KEY_MAX)
    # None: the list's default columns (new columns a release adds then show up by themselves).
    columns = models.JSONField(null=True, blank=True)
    density = models.CharField(max_length=12, choices=Density.choices, default=Density.COMPACT)
    page_size = models.PositiveSmallIntegerField(default=50)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "list_key"], name="listpreference_one_per_list")]

    def __str__(self) -> str:
        return f"{self.user} · {self.list_key}"


class SavedViewQuerySet(ScopedQuerySet):
    def visible_to(self, user: Any) -> SavedViewQuerySet:
        """A user's own views and every shared one."""
        scoped = super().visible_to(user)
        if not getattr(user, "is_authenticated", False):
            return scoped
        return scoped.filter(models.Q(owner=user) | models.Q(shared=True))


class SavedView(TimeStampedModel):
    """A named list state: the list's query string (filters, sort, columns, page size).

    Opening one just follows its URL, so it can be bookmarked and never disagrees with the
    list. Private views are their owner's; shared ones are seen by everyone and made and
    changed by managers and admins only.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    list_key = models.CharField(max_length=LIST_KEY_MAX)
    name = models.CharField(max_length=SHORT_NAME_MAX, validators=[LengthLimit(SHORT_NAME_MAX)])
    query = models.CharField(max_length=VIEW_QUERY_MAX, blank=True, validators=[LengthLimit(VIEW_QUERY_MAX)])
    shared = models.BooleanField(default=False, help_text="Shown to the whole team.")

    objects = SavedViewQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["list_key", "-shared", Lower("name"), "pk"]

    def __str__(self) -> str:
        return self.name

    def may_change(self, user: Any) -> bool:
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return False
        if self.shared:
            return user.can_share_views
        return self.owner_id == user.pk

    def check_may_change(self, user: Any) -> None:
        if not self.may_change(user):
            if self.shared:
                raise PermissionDenied("Shared views are made and changed by managers and admins.")
            raise PermissionDenied("Only its owner changes a private view.")

    def save_as(self, user: Any) -> None:
        """Save after the permission check: the one path every write of a view goes through."""
        self.check_may_change(user)
        with transaction.atomic():
            self._history_user = user
            self.save()

    def delete_as(self, user: Any) -> None:
        self.check_may_change(user)
        with transaction.atomic():
            self._history_user = user
            self.delete()
