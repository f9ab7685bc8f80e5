"""Organizations, contacts, the communications logged with them, and tags."""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models, transaction
from django.db.models import Count, DecimalField, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Lower
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from simple_history.models import HistoricalRecords

from crm.lib import digest
from crm.lib.encryption import decrypt, encrypt
from crm.lib.private_files import FILE_MODE, FOLDER_MODE
from crm.lib.scoping import ScopedQuerySet
from crm.lib.text import (
    ADDRESS_MAX,
    AFFIX_MAX,
    EMAIL_MAX,
    LABEL_MAX,
    LINE_MAX,
    NAME_MAX,
    NOTE_MAX,
    PHONE_MAX,
    SHORT_NAME_MAX,
    TITLE_MAX,
    URL_MAX,
    LengthLimit,
    collapse_spaces,
    normalize_email,
)
from crm.models import CustomFieldEntity, CustomFieldsModel, TimeStampedModel


class TagColour(models.TextChoices):
    # A fixed palette: colours are CSS classes (tag--red), never inline styles, under the CSP.
    SLATE = "slate", "Slate"
    RED = "red", "Red"
    ORANGE = "orange", "Orange"
    AMBER = "amber", "Amber"
    GREEN = "green", "Green"
    TEAL = "teal", "Teal"
    BLUE = "blue", "Blue"
    INDIGO = "indigo", "Indigo"
    PURPLE = "purple", "Purple"
    PINK = "pink", "Pink"


class Tag(TimeStampedModel):
    name = models.CharField(max_length=LABEL_MAX)
    colour = models.CharField(max_length=10, choices=TagColour.choices, default=TagColour.SLATE)

    objects = ScopedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="tag_name_unique_ci")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.name = collapse_spaces(self.name)
        super().save(*args, **kwargs)


class OrganizationType(models.TextChoices):
    """What kind of investor: an organization's type, and an LP profile's investor type (lps), one list.

    One enum so a won deal, an import or a report never has to translate between two spellings
    of the same twelve values.
    """

    FAMILY_OFFICE = "family_office", "Family office"
    ENDOWMENT = "endowment", "Endowment"
    FOUNDATION = "foundation", "Foundation"
    PENSION = "pension", "Pension"
    FUND_OF_FUNDS = "fund_of_funds", "Fund of funds"
    CORPORATE = "corporate", "Corporate"
    WEALTH_MANAGER = "wealth_manager", "RIA / wealth manager"
    INSURANCE = "insurance", "Insurance"
    SOVEREIGN_WEALTH = "sovereign_wealth", "Sovereign wealth"
    BANK = "bank", "Bank"
    INDIVIDUAL = "individual", "Individual"
    OTHER = "other", "Other"


class OrganizationQuerySet(ScopedQuerySet):
    def with_stats(self) -> OrganizationQuerySet:
        """contact_count and total_committed (hard circle and beyond), as subqueries.

        Subqueries rather than joins: joining contacts and commitments at once would
        multiply rows and inflate both figures.
        """
        # Here, not at the top: lps.models imports this module (an LP profile is a contact's),
        # so the layer above can only be reached once both are loaded. Known debt (issue 10).
        from lps.models import COMMITTED_STATUSES, Commitment

        contacts = (
            Contact.objects.filter(organization=OuterRef("pk"))
            .order_by()
            .values("organization")
            .annotate(n=Count("pk"))
            .values("n")
        )
        committed = (
            Commitment.objects.filter(lp__contact__organization=OuterRef("pk"), status__in=COMMITTED_STATUSES)
            .order_by()
            .values("lp__contact__organization")
            .annotate(total=Sum("commitment_amount"))
            .values("total")
        )
        money = DecimalField(max_digits=15, decimal_places=2)
        return self.annotate(
            contact_count=Coalesce(Subquery(contacts, output_field=IntegerField()), Value(0)),
            total_committed=Coalesce(Subquery(committed, output_field=money), Value(Decimal("0")), output_field=money),
        )

    def matching_name(self, name: str) -> OrganizationQuerySet:
        """Organizations whose name equals ``name`` ignoring case and spacing."""
        return self.filter(name__iexact=collapse_spaces(name))


class Organization(CustomFieldsModel, TimeStampedModel):
    CUSTOM_FIELD_ENTITY = CustomFieldEntity.ORGANIZATION

    name = models.CharField(max_length=NAME_MAX)
    type = models.CharField(max_length=20, choices=OrganizationType.choices, default=OrganizationType.OTHER)
    industry = models.CharField(max_length=SHORT_NAME_MAX, blank=True)
    website = models.URLField(max_length=URL_MAX, blank=True)
    phone = models.CharField(max_length=PHONE_MAX, blank=True)
    email = models.EmailField(blank=True)
    address = models.CharField(max_length=ADDRESS_MAX, blank=True)
    city = models.CharField(max_length=SHORT_NAME_MAX, blank=True)
    state = models.CharField(max_length=SHORT_NAME_MAX, blank=True)
    country = models.CharField(max_length=SHORT_NAME_MAX, blank=True)
    description = models.TextField(blank=True, max_length=NOTE_MAX, validators=[LengthLimit(NOTE_MAX)])
    tags = models.ManyToManyField(Tag, blank=True, related_name="organizations")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = OrganizationQuerySet.as_manager()
    history = HistoricalRecords(m2m_fields=[tags])

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="organization_name_unique_ci")]
        indexes = [models.Index(fields=["type"])]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.name = collapse_spaces(self.name)
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("organization_detail", args=[self.pk])


class ContactType(models.TextChoices):
    INVESTOR = "investor", "Investor"
    PROSPECT = "prospect", "Prospect"
    ADVISOR = "advisor", "Advisor"
    OTHER = "other", "Other"


class ContactStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    NURTURE = "nurture", "Nurture"
    INACTIVE = "inactive", "Inactive"
    DO_NOT_CONTACT = "do_not_contact", "Do not contact"


class PreferredContact(models.TextChoices):
    ANY = "", "No preference"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    TEXT = "text", "Text message"
    IN_PERSON = "in_person", "In person"


def format_full_name(prefix: str, first: str, last: str, suffix: str) -> str:
    """ "Dr. Ada Okafor, CFA": the one way a contact's name is written (also in exports)."""
    name = " ".join(part for part in (prefix, first, last) if part)
    return f"{name}, {suffix}" if suffix else name


def phone_digits(value: str | None) -> str:
    """The digits of a phone number, so "+1 (212) 555-0100" and "1 212 555 0100" compare equal."""
    return "".join(ch for ch in (value or "") if ch.isdigit())


def last_touch_of(contact: str = "") -> F:
    """A contact's last touch as an expression: the stored ``last_touch_at`` (the latest
    communication, or the imported last contact when it is later). ``contact`` is the path from
    the query's model to the contact ("" on contacts themselves, "lp__contact" on commitments)."""
    return F(f"{contact}__last_touch_at" if contact else "last_touch_at")


class ContactQuerySet(ScopedQuerySet):
    def with_activity(self) -> ContactQuerySet:
        """last_touch, next_action and next_action_date.

        last_touch is the stored ``last_touch_at`` (see ``last_touch_sql``): the latest
        communication, or the imported ``last_contacted`` when that is later or the only one.
        The next action is a correlated subquery: one index lookup per contact (communications
        are indexed on contact), combined with any filter without multiplying rows, and a tag
        filter's join cannot inflate it.
        """
        actions = (
            Communication.objects.open_actions()
            .filter(contact=OuterRef("pk"))
            .order_by(F("next_action_date").asc(nulls_last=True), "communication_date", "pk")
        )
        return self.annotate(
            last_touch=F("last_touch_at"),
            next_action=Subquery(actions.values("next_action")[:1]),
            next_action_date=Subquery(actions.values("next_action_date")[:1]),
        )

    def for_list(self) -> ContactQuerySet:
        """Everything one row of the contacts table shows, in a fixed number of queries."""
        return self.select_related("organization", "owner").prefetch_related("tags").with_activity()

    def stale(self, today: datetime.date | None = None) -> ContactQuerySet:
        """Contacts not touched within their type's threshold (issue 17), or never touched.

        The thresholds come from ``StaleThreshold`` (editable in the admin), one small query;
        a type without a threshold is never stale, nor is an inactive or do-not-contact one.
        """
        today = today or timezone.localdate()
        stale = Q(pk__in=[])
        for contact_type, days in StaleThreshold.objects.values_list("contact_type", "days"):
            cutoff = timezone.make_aware(
                datetime.datetime.combine(today - datetime.timedelta(days=days), datetime.time.min)
            )
            stale |= Q(contact_type=contact_type) & (Q(last_touch_at__lt=cutoff) | Q(last_touch_at__isnull=True))
        # The stored column, indexed with the type: the dashboard counts this over every contact.
        return self.exclude(status__in=[ContactStatus.INACTIVE, ContactStatus.DO_NOT_CONTACT]).filter(stale)

    def tab_counts(self) -> dict[str, int]:
        """Counts for the All / Investors / Prospects / Advisors tabs in one query."""
        return self.order_by().aggregate(
            all=Count("pk"),
            **{
                kind: Count("pk", filter=Q(contact_type=kind))
                for kind in (ContactType.INVESTOR, ContactType.PROSPECT, ContactType.ADVISOR)
            },
        )

    def matching_email(self, email: str | None) -> ContactQuerySet:
        """Contacts whose email equals ``email`` ignoring case and white space.

        Compared through Lower("email") so the query uses the unique expression index.
        """
        value = normalize_email(email)
        if not value:
            return self.none()
        return self.alias(email_lower=Lower("email")).filter(email_lower=value)

    def likely_duplicates(
        self,
        *,
        first_name: str = "",
        last_name: str = "",
        email: str = "",
        organization: Organization | None = None,
        phones: tuple[str, ...] = (),
        exclude_pk: int | None = None,
    ) -> list[tuple[Contact, list[str]]]:
        """Contacts that are probably the same person, each with the reasons it matched.

        Same email; same name at the same organization; same name and phone (digits only).
        Two queries at most, whatever the table size: one for the email, one for the name.
        """
        found: dict[int, tuple[Contact, list[str]]] = {}

        def note(contact: Contact, reason: str) -> None:
            found.setdefault(contact.pk, (contact, []))[1].append(reason)

        base = self.exclude(pk=exclude_pk) if exclude_pk else self
        base = base.select_related("organization")
        for contact in base.matching_email(email)[:10]:
            note(contact, "same email")
        first, last = collapse_spaces(first_name), collapse_spaces(last_name)
        wanted_digits = {d for d in (phone_digits(p) for p in phones) if len(d) >= 6}
        if last:
            for contact in base.filter(first_name__iexact=first, last_name__iexact=last)[:50]:
                if organization is not None and contact.organization_id == organization.pk:
                    note(contact, f"same name at {organization.name}")
                if wanted_digits & {phone_digits(contact.phone), phone_digits(contact.mobile)}:
                    note(contact, "same name and phone")
        return list(found.values())


class Contact(CustomFieldsModel, TimeStampedModel):
    CUSTOM_FIELD_ENTITY = CustomFieldEntity.CONTACT

    name_prefix = models.CharField("prefix", max_length=AFFIX_MAX, blank=True, help_text="Dr., Prof., Hon. …")
    first_name = models.CharField(max_length=SHORT_NAME_MAX, blank=True)
    last_name = models.CharField(max_length=SHORT_NAME_MAX)
    name_suffix = models.CharField("suffix", max_length=AFFIX_MAX, blank=True, help_text="Jr., CFA, PhD …")
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=PHONE_MAX, blank=True)
    mobile = models.CharField(max_length=PHONE_MAX, blank=True)
    title = models.CharField(max_length=TITLE_MAX, blank=True)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    contact_type = models.CharField(max_length=20, choices=ContactType.choices, default=ContactType.PROSPECT)
    status = models.CharField(max_length=20, choices=ContactStatus.choices, default=ContactStatus.ACTIVE)
    source = models.CharField(max_length=SHORT_NAME_MAX, blank=True, help_text="Referral, conference, inbound …")
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    notes = models.TextField(blank=True, max_length=NOTE_MAX, validators=[LengthLimit(NOTE_MAX)])
    linkedin_url = models.URLField("LinkedIn URL", max_length=URL_MAX, blank=True)
    location = models.CharField(max_length=TITLE_MAX, blank=True, help_text="City and country they are based in.")
    preferred_contact = models.CharField(max_length=20, choices=PreferredContact.choices, blank=True)
    do_not_email = models.BooleanField(default=False)
    never_capture = models.BooleanField(
        default=False,
        help_text="Never capture email with this person from anyone's mailbox (messages including them are skipped).",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_contacts",
        help_text="The team member who owns the relationship.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_contacted = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last contact known from before the CRM (an import); a later communication supersedes it.",
    )

    # Derived (contacts/strength.py), recomputed in bulk: not a CRM record's data, no history.
    # Nullable without a default (None: not computed yet, reads as 0) so SQLite adds the column
    # in place instead of rebuilding the table under the search index's triggers.
    strength = models.PositiveSmallIntegerField(
        null=True, blank=True, editable=False, help_text="Relationship strength 0–100 from the touches."
    )
    # Derived: the latest communication or ``last_contacted``, whichever is later (last_touch_sql).
    # Stored so the stale count and filter read an indexed column instead of a correlated
    # subquery per contact; kept current by Contact.save, the communication signals below and
    # the bulk paths (imports, merges, seed_bulk) through refresh_last_touch. No history.
    last_touch_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ContactQuerySet.as_manager()
    history = HistoricalRecords(m2m_fields=[tags], excluded_fields=["strength", "last_touch_at"])

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(Lower("email"), condition=~models.Q(email=""), name="contact_email_unique_ci")
        ]
        indexes = [
            models.Index(fields=["contact_type", "status"]),
            models.Index(fields=["status"]),
            models.Index(fields=["last_name", "first_name"]),
            # The list's source filter and its choices (SELECT DISTINCT source).
            models.Index(fields=["source"]),
            # The stale count and filter: a cutoff per contact type.
            models.Index(fields=["contact_type", "last_touch_at"], name="contact_type_last_touch_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = normalize_email(self.email)
        for field in ("name_prefix", "first_name", "last_name", "name_suffix"):
            setattr(self, field, collapse_spaces(getattr(self, field)))
        update_fields = kwargs.get("update_fields")
        touched = update_fields is None or "last_contacted" in update_fields
        if touched:
            # Written as SQL in the same UPDATE, not from the loaded value: a communication saved
            # since this contact was loaded must not be overwritten by a stale copy.
            self.last_touch_at = (
                self.last_contacted
                if self._state.adding
                else last_touch_sql(Value(self.last_contacted, output_field=models.DateTimeField()))
            )
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "last_touch_at"}
        super().save(*args, **kwargs)
        if hasattr(self.__dict__.get("last_touch_at"), "resolve_expression"):
            del self.__dict__["last_touch_at"]  # deferred: read back from the row if anyone asks

    @classmethod
    def after_bulk_write(cls, contacts: list[Contact], user: Any, reason: str = "") -> None:
        """An import's bulk write skips save(): its ``last_contacted`` values reach the stored last touch."""
        refresh_last_touch(c.pk for c in contacts)

    @property
    def full_name(self) -> str:
        return format_full_name(self.name_prefix, self.first_name, self.last_name, self.name_suffix)

    @property
    def short_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def get_absolute_url(self) -> str:
        return reverse("contact_detail", args=[self.pk])


def last_touch_sql(last_contacted: Value | None = None) -> Greatest:
    """A contact's last touch in SQL, for an UPDATE of contacts: the latest communication, or
    ``last_contacted`` (what an imported base knew) when that is later or the only one.

    Without ``last_contacted``, the column's value; a save passes the value it writes (as a
    ``Value``), since the right-hand side of an UPDATE reads the row as it was before it.
    """
    known = F("last_contacted") if last_contacted is None else last_contacted
    latest = Subquery(
        Communication.objects.filter(contact=OuterRef("pk"))
        .order_by("-communication_date")
        .values("communication_date")[:1]
    )
    return Greatest(Coalesce(latest, known), Coalesce(known, latest))


def refresh_last_touch(contact_ids: Iterable[int] | None = None) -> int:
    """Recompute the stored ``last_touch_at`` of these contacts (every contact when None): one
    UPDATE, no history (derived data). Returns how many contacts were written."""
    contacts = Contact.objects.all()
    if contact_ids is not None:
        contacts = contacts.filter(pk__in={pk for pk in contact_ids if pk is not None})
    return contacts.update(last_touch_at=last_touch_sql())


class CommunicationType(models.TextChoices):
    EMAIL = "email", "Email"
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    NOTE = "note", "Note"
    TEXT = "text", "Text"


class Direction(models.TextChoices):
    NONE = "", "—"
    INBOUND = "in", "Inbound"
    OUTBOUND = "out", "Outbound"


# RFC 5322 allows a Message-ID line of 998 characters; real ones are well under this.
MESSAGE_ID_MAX = 500


class CommunicationQuerySet(ScopedQuerySet):
    def open_actions(self) -> CommunicationQuerySet:
        return self.exclude(next_action="").filter(next_action_done=False)


class Communication(TimeStampedModel):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="communications")
    opportunity = models.ForeignKey(
        "pipeline.Opportunity", null=True, blank=True, on_delete=models.SET_NULL, related_name="communications"
    )
    type = models.CharField(max_length=10, choices=CommunicationType.choices, default=CommunicationType.EMAIL)
    subject = models.CharField(max_length=LINE_MAX, blank=True)
    body = models.TextField(blank=True, max_length=NOTE_MAX, validators=[LengthLimit(NOTE_MAX)])
    communication_date = models.DateTimeField()
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=LINE_MAX, blank=True)
    next_action = models.CharField(max_length=LINE_MAX, blank=True)
    next_action_date = models.DateField(null=True, blank=True)
    next_action_done = models.BooleanField(default=False)
    next_action_done_at = models.DateTimeField(null=True, blank=True)
    next_action_done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team_attendees = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="attended_communications"
    )
    contact_attendees = models.ManyToManyField(Contact, blank=True, related_name="attended_communications")
    attachment_names = models.TextField(
        blank=True,
        max_length=NOTE_MAX,
        validators=[LengthLimit(NOTE_MAX)],
        help_text="Names of the files attached, one a line (a captured email's file is kept only when someone asks).",
    )
    # Email capture (issue 17): a captured message's identity and thread, empty for logged ones.
    direction = models.CharField(max_length=3, choices=Direction.choices, blank=True, default=Direction.NONE)
    message_id = models.CharField(max_length=MESSAGE_ID_MAX, blank=True, editable=False)
    in_reply_to = models.CharField(max_length=MESSAGE_ID_MAX, blank=True, editable=False)
    references = models.TextField(blank=True, editable=False, help_text="The message ids of the thread, one a line.")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies", editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = CommunicationQuerySet.as_manager()
    history = HistoricalRecords(m2m_fields=[team_attendees, contact_attendees])

    class Meta:
        ordering = ["-communication_date", "-pk"]
        constraints = [
            # One communication per email, whoever's mailbox and whichever folder it came from.
            models.UniqueConstraint(
                fields=["message_id"], condition=~models.Q(message_id=""), name="communication_message_id_unique"
            )
        ]
        indexes = [
            models.Index(fields=["in_reply_to"], condition=~models.Q(in_reply_to=""), name="communication_reply_idx"),
            models.Index(fields=["contact", "-communication_date"]),
            models.Index(fields=["-communication_date"]),
            models.Index(fields=["next_action_done", "next_action_date"]),
            # The sidebar's overdue badge on every page counts one user's open actions due
            # before today. Only open, dated actions are in it (a few percent of the log),
            # and both SQLite and PostgreSQL see that "next_action_date < today" implies
            # "IS NOT NULL", so the badge's query qualifies for it as written.
            models.Index(
                fields=["created_by", "next_action_date"],
                condition=models.Q(next_action_done=False, next_action_date__isnull=False),
                name="communication_open_due_idx",
            ),
            # Everyone's open actions by due date: the dashboard's "others" list and next actions.
            models.Index(
                fields=["next_action_date"],
                condition=models.Q(next_action_done=False, next_action_date__isnull=False),
                name="communication_open_date_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.subject or f"{self.get_type_display()} with {self.contact}"

    def attachments(self) -> list[tuple[int, str, Any]]:
        """(place, name, kept attachment or None) for each attachment named: one query, for the detail page."""
        kept = {k.position: k for k in self.kept_attachments.all()}
        return [(i, name, kept.get(i)) for i, name in enumerate(self.attachment_names.splitlines())]

    def mark_action_done(self, user: Any) -> None:
        """The next action done now by ``user``, who is named in its history row."""
        self.next_action_done = True
        self.next_action_done_at = timezone.now()
        self.next_action_done_by = user
        self._history_user = user
        self.save(update_fields=["next_action_done", "next_action_done_at", "next_action_done_by", "updated_at"])

    @classmethod
    def after_bulk_write(cls, communications: list[Communication], user: Any, reason: str = "") -> None:
        """An import's bulk write skips save(): recompute the strength of the contacts it touched.

        After the write transaction commits: derived data, kept off the import's short write
        transactions (SQLite's one writer), and a taken-back import leaves nothing to score.
        """
        from contacts import strength

        ids = {c.contact_id for c in communications}
        # The last touch at once, in the import's transaction: the stale filter reads it.
        refresh_last_touch(ids | {getattr(c, "_loaded_contact_id", None) for c in communications})
        transaction.on_commit(lambda: strength.recompute(ids))

    @classmethod
    def from_db(cls, db: str, field_names: Any, values: Any) -> Communication:
        instance = super().from_db(db, field_names, values)
        # Moving a communication to another contact changes the last touch of both.
        instance._loaded_contact_id = instance.__dict__.get("contact_id")
        return instance


def _communication_changed(sender: type, instance: Communication, raw: bool = False, **kwargs: Any) -> None:
    if raw:  # loaddata / restore: the restored contacts carry their own last touch
        return
    refresh_last_touch({instance.contact_id, getattr(instance, "_loaded_contact_id", None)})
    instance._loaded_contact_id = instance.contact_id


def connect_last_touch() -> None:
    """Keep ``Contact.last_touch_at`` in step with every saved or deleted communication."""
    post_save.connect(_communication_changed, sender=Communication, dispatch_uid="last_touch_saved")
    post_delete.connect(_communication_changed, sender=Communication, dispatch_uid="last_touch_deleted")


class AttachmentStorage(FileSystemStorage):
    """Kept email attachments: ``email/`` in the documents folder (so backups carry them), owner-only, no URL."""

    def __init__(self) -> None:
        super().__init__(base_url=None, file_permissions_mode=FILE_MODE, directory_permissions_mode=FOLDER_MODE)

    @property
    def base_location(self) -> str:  # type: ignore[override]
        return str(Path(settings.DOCUMENTS_DIR) / "email")  # read at each use: tests move it

    @property
    def location(self) -> str:  # type: ignore[override]
        return os.path.abspath(self.base_location)

    def url(self, name: str | None) -> str:
        raise ValueError("Kept attachments have no public URL: communication_attachment serves them.")


ATTACHMENT_STORAGE = AttachmentStorage()


def attachment_storage() -> AttachmentStorage:
    return ATTACHMENT_STORAGE


def attachment_path(instance: Any, filename: str) -> str:
    """``YYYY/MM/<random>.<ext>``: nothing of the sender's file name reaches the disk."""
    return f"{timezone.localdate():%Y/%m}/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()}"


class AttachmentStatus(models.TextChoices):
    REQUESTED = "requested", "Being fetched"
    STORED = "stored", "Kept"
    FAILED = "failed", "Could not be kept"


class KeptAttachmentQuerySet(ScopedQuerySet):
    def visible_to(self, user: Any) -> KeptAttachmentQuerySet:
        """Whoever may see the communication sees its kept files, and no one else."""
        return super().visible_to(user).filter(communication__in=Communication.objects.visible_to(user).values("pk"))


class KeptAttachment(TimeStampedModel):
    """One attachment of a captured email that someone asked to keep (issue 17).

    Capture lists attachments by name only; "Keep this file" makes one of these, and a task
    (crm/capture/attachments.py) downloads that part of the message over IMAP and stores it
    as LP documents are stored: owner-only under a random name, its type checked by content,
    its size capped, served only by a view that checks who asks.
    """

    communication = models.ForeignKey(Communication, on_delete=models.CASCADE, related_name="kept_attachments")
    # The attachment's place in ``attachment_names`` (names repeat; places do not).
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=NAME_MAX)
    status = models.CharField(max_length=10, choices=AttachmentStatus.choices, default=AttachmentStatus.REQUESTED)
    problem = models.CharField(max_length=LINE_MAX, blank=True)
    file = models.FileField(upload_to=attachment_path, storage=attachment_storage, max_length=200, blank=True)
    size = models.PositiveBigIntegerField("size (bytes)", null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    objects = KeptAttachmentQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["communication", "position"]
        constraints = [
            models.UniqueConstraint(fields=["communication", "position"], name="kept_attachment_once_per_place")
        ]

    def __str__(self) -> str:
        return self.name


@receiver(post_delete, sender=KeptAttachment)
def _kept_file_goes_with_its_row(sender: type, instance: KeptAttachment, **kwargs: Any) -> None:
    """A communication deleted with its kept files (a cascade) deletes rows without calling delete()."""
    name = instance.file.name
    if name:
        transaction.on_commit(lambda: ATTACHMENT_STORAGE.delete(name))


# --- Email capture (issue 17) ------------------------------------------------------------
# A personal mailbox is its owner's alone, like an API token; a shared "BCC/forward to CRM"
# mailbox has no owner and is the admins' to set up (contacts.services). What the sync does
# with either lives in crm/capture/ (it links opportunities, a layer above this one).

DEFAULT_FOLDERS = "INBOX\nSent"
# Fernet's ``info`` label for mailbox passwords (crm/lib/encryption.py): no other secret shares the key.
MAILBOX_PASSWORD_PURPOSE = "mailbox-password"


class MailboxQuerySet(ScopedQuerySet):
    def visible_to(self, user: Any) -> MailboxQuerySet:
        """Only its owner sees, edits or syncs a personal mailbox, admins included (shared ones have no owner)."""
        return super().visible_to(user).filter(user=user)

    def shared(self) -> MailboxQuerySet:
        return self.filter(shared=True)

    def enabled(self) -> MailboxQuerySet:
        """Switched on, and either shared or an active user's: the ones the schedule syncs."""
        return self.filter(enabled=True).filter(Q(shared=True) | Q(user__is_active=True))


class Mailbox(TimeStampedModel):
    """An IMAP mailbox whose mail to and from contacts becomes communications.

    Either one user's own (``user``), or shared (``shared``, no user): the team's "BCC/forward to
    CRM" address, where a message counts only when a team member sent it (crm/capture/sync.py).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="mailbox"
    )
    shared = models.BooleanField(
        default=False,
        editable=False,
        help_text="The team's BCC/forward address: mail team members copy or forward to it is logged.",
    )
    host = models.CharField(max_length=SHORT_NAME_MAX, help_text="The IMAP server, e.g. imap.fastmail.com.")
    port = models.PositiveIntegerField(default=993, help_text="993 with TLS, 143 without.")
    use_tls = models.BooleanField("TLS", default=True, help_text="Connect over TLS (IMAPS). Leave on.")
    username = models.CharField(max_length=EMAIL_MAX, help_text="Usually your email address.")
    password_encrypted = models.TextField(blank=True, editable=False)
    folders = models.TextField(
        default=DEFAULT_FOLDERS,
        max_length=1_000,
        validators=[LengthLimit(1_000)],
        help_text="The folders to read, one a line (e.g. INBOX and Sent).",
    )
    start_date = models.DateField(help_text="Mail from before this day is never read.")
    enabled = models.BooleanField(default=True, help_text="Off: the mailbox is kept but not synced.")
    last_sync_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_sync_ok = models.BooleanField(default=True, editable=False)
    last_sync_message = models.CharField(max_length=LINE_MAX * 2, blank=True, editable=False)
    # Per folder: {"uidvalidity": …, "last_uid": …}, so a sync reads only what arrived since the last.
    folder_state = models.JSONField(default=dict, blank=True, editable=False)

    objects = MailboxQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "mailboxes"
        constraints = [
            models.CheckConstraint(
                condition=Q(shared=True, user__isnull=True) | Q(shared=False, user__isnull=False),
                name="mailbox_shared_or_owned",
            )
        ]

    def __str__(self) -> str:
        return f"{self.username} on {self.host}"

    @property
    def folder_list(self) -> list[str]:
        return [name.strip() for name in self.folders.splitlines() if name.strip()]

    def set_password(self, password: str) -> None:
        self.password_encrypted = encrypt(password, purpose=MAILBOX_PASSWORD_PURPOSE)

    def password(self) -> str | None:
        """The app password, or None when none is stored or SECRET_KEY changed since."""
        return decrypt(self.password_encrypted, purpose=MAILBOX_PASSWORD_PURPOSE)


class SharedMailboxManager(models.Manager.from_queryset(MailboxQuerySet)):
    def get_queryset(self) -> MailboxQuerySet:
        return super().get_queryset().filter(shared=True)


class SharedMailbox(Mailbox):
    """The shared mailboxes alone, for the admin site (crm/admin.py); written through contacts.services."""

    objects = SharedMailboxManager()

    class Meta:
        proxy = True
        verbose_name = "shared BCC/forward mailbox"
        verbose_name_plural = "shared BCC/forward mailboxes"


class CaptureExclusionQuerySet(ScopedQuerySet):
    def matcher(self):
        """A test ``address -> excluded?`` over every exclusion, from one query."""
        values = {value.lower() for value in self.values_list("value", flat=True)}
        addresses = {v for v in values if "@" in v}
        domains = {v.lstrip("@") for v in values if "@" not in v or v.startswith("@")}

        def excluded(address: str) -> bool:
            address = address.lower()
            domain = address.rpartition("@")[2]
            return address in addresses or any(domain == d or domain.endswith("." + d) for d in domains)

        return excluded


class CaptureExclusion(TimeStampedModel):
    """An address or a whole domain whose mail is never captured (the team's own, personal ones)."""

    value = models.CharField(
        "address or domain",
        max_length=EMAIL_MAX,
        help_text="ana@gmail.com for one address; fund.example for a domain and its subdomains.",
    )
    note = models.CharField(max_length=LINE_MAX, blank=True, help_text="Why: internal, personal …")

    objects = CaptureExclusionQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["value"]
        constraints = [models.UniqueConstraint(Lower("value"), name="capture_exclusion_value_unique_ci")]

    def __str__(self) -> str:
        return self.value

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.value = self.value.strip().lower()
        super().save(*args, **kwargs)


class StaleThreshold(models.Model):
    """How long a contact of one type may go untouched before the relationship is stale.

    Derived configuration, not a CRM record: no history. Defaults (migration 0012): investors
    (LPs) 90 days, prospects 21, advisors 60, others 120; change them in the admin.
    """

    contact_type = models.CharField(max_length=20, choices=ContactType.choices, unique=True)
    days = models.PositiveIntegerField(help_text="Days without a touch after which the relationship is stale.")

    class Meta:
        ordering = ["contact_type"]

    def __str__(self) -> str:
        return f"{self.get_contact_type_display()}: {self.days} days"


def _stale_cutoff(days: int | None, today: datetime.date) -> datetime.datetime | None:
    if days is None:
        return None
    return timezone.make_aware(datetime.datetime.combine(today - datetime.timedelta(days=days), datetime.time.min))


def _is_stale(contact: Contact, cutoff: datetime.datetime | None) -> bool:
    """ContactQuerySet.stale() for one loaded contact with its ``last_touch``."""
    quiet = (ContactStatus.INACTIVE, ContactStatus.DO_NOT_CONTACT)
    return bool(cutoff and contact.status not in quiet and (contact.last_touch is None or contact.last_touch < cutoff))


def mark_stale(contacts: Iterable[Contact], today: datetime.date | None = None) -> None:
    """Set ``is_stale`` on contacts annotated with ``last_touch`` (a page of the list): one query."""
    today = today or timezone.localdate()
    cutoffs = {
        contact_type: _stale_cutoff(days, today)
        for contact_type, days in StaleThreshold.objects.values_list("contact_type", "days")
    }
    for contact in contacts:
        contact.is_stale = _is_stale(contact, cutoffs.get(contact.contact_type))


# For a list of other records that each show a contact (the LP tracker's commitments): the
# contact's last touch and its type's threshold ride in the list's own query, no query more.
STALE_ANNOTATIONS = ("contact_last_touch", "contact_stale_days")


def stale_annotations(contact: str) -> dict[str, Any]:
    """``annotate(**stale_annotations("lp__contact"))``, then ``mark_stale_annotated`` on the rows."""
    threshold = StaleThreshold.objects.filter(contact_type=OuterRef(f"{contact}__contact_type")).values("days")[:1]
    return {"contact_last_touch": last_touch_of(contact), "contact_stale_days": Subquery(threshold)}


def mark_stale_annotated(
    rows: Iterable[Any], contact_of: Callable[[Any], Contact], today: datetime.date | None = None
) -> None:
    """Set ``last_touch`` and ``is_stale`` on each row's contact, from ``stale_annotations``."""
    today = today or timezone.localdate()
    for row in rows:
        contact = contact_of(row)
        contact.last_touch = row.contact_last_touch
        contact.is_stale = _is_stale(contact, _stale_cutoff(row.contact_stale_days, today))


def stale_contacts_owned_by(user: Any, today: datetime.date | None = None) -> ContactQuerySet:
    """The stale contacts a team member owns, most overdue (never touched) first: for the daily digest."""
    return (
        Contact.objects.visible_to(user)
        .filter(owner=user)
        .stale(today)
        .annotate(last_touch=F("last_touch_at"))
        .order_by(F("last_touch").asc(nulls_first=True), "last_name", "first_name", "pk")
    )


STALE_DIGEST_LIMIT = 10


def _stale_detail(contact: Contact) -> str:
    touched = date_format(timezone.localtime(contact.last_touch), "M j, Y") if contact.last_touch else None
    detail = f"last touch {touched}" if touched else "never touched"
    return f"{detail} · {contact.organization}" if contact.organization_id else detail


def stale_digest_section(user: Any, today: datetime.date) -> digest.Section | None:
    """The morning digest's "stale relationships you own" (crm.lib.digest): a bounded slice and a count."""
    stale = stale_contacts_owned_by(user, today)
    rows = list(stale.select_related("organization")[:STALE_DIGEST_LIMIT])
    if not rows:
        return None
    items = [
        digest.Item(
            title=str(contact),
            detail=_stale_detail(contact),
            due=None,
            url=contact.get_absolute_url(),
        )
        for contact in rows
    ]
    total = stale.order_by().count() if len(rows) == STALE_DIGEST_LIMIT else len(rows)
    more = reverse("contact_list") + f"?stale=true&owner={user.pk}"
    return digest.Section("stale", "Stale relationships you own", items, total, more)


class RelationshipStrength(models.Model):
    """A team member's relationship strength with one contact (contacts/strength.py): derived, no history."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="strengths")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    score = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "user"], name="relationship_strength_pair_unique")]
        indexes = [models.Index(fields=["user", "-score"])]

    def __str__(self) -> str:
        return f"{self.user} – {self.contact}: {self.score}"
