"""Contact operations that touch many records at once: bulk edits, merging, deleting a tag.

Views call these after checking the role and resolving records through
``Contact.objects.visible_to(user)``; everything here runs in one transaction and writes a
history row, with the acting user, for every contact it changes.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Count, F, Func, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from simple_history.utils import bulk_update_with_history, get_history_manager_for_model

from contacts.models import (
    AttachmentStatus,
    Communication,
    Contact,
    ContactType,
    KeptAttachment,
    Mailbox,
    Organization,
    Tag,
)
from crm.lib import next_actions
from crm.lib.history import HistoryEntry, history_entries
from crm.permissions import GuardedModel, require_write
from lps.models import Commitment, ComplianceCheck, LPProfile
from pipeline.models import Opportunity


class MergeRefused(Exception):
    """The merge would lose or silently combine data; the message says what to resolve first."""


# --- History for bulk writes -----------------------------------------------------------


# Rows per statement: below SQLite's limit on bound parameters, whatever the selection size.
CHUNK = 900


def _chunks(items: Sequence, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def record_contact_history(contacts: Sequence[Contact], user: Any, reason: str = "") -> None:
    """One "changed" history row per contact, with the acting user, including its tags.

    simple-history's ``bulk_history_create`` (what ``bulk_update_with_history`` calls)
    copies the model's columns but not the tracked many-to-many rows, so on its own each
    bulk-written record would read as "tags: all of them → none" in the History tab. This
    writes the tag snapshot too, a few statements per 900 contacts.
    """
    if not contacts:
        return
    now = timezone.now()
    history_model = Contact.history.model
    tag_history = history_model._meta.get_field("historicalcontact_tags").related_model
    through = Contact.tags.through
    for chunk in _chunks(contacts):
        records = history_model.objects.bulk_create(
            [
                history_model(
                    history_date=now,
                    history_user=user,
                    history_change_reason=reason or None,
                    history_type="~",
                    **{f.attname: getattr(contact, f.attname) for f in history_model.tracked_fields},
                )
                for contact in chunk
            ]
        )
        if any(record.pk is None for record in records):  # pragma: no cover - SQLite < 3.35 / MySQL
            records = list(
                history_model.objects.filter(history_date=now, id__in=[c.pk for c in chunk]).order_by("history_id")
            )
        record_for = {record.id: record for record in records}
        rows = through.objects.filter(contact_id__in=list(record_for)).order_by("id")
        tag_history.objects.bulk_create(
            [
                tag_history(id=pk, contact_id=contact_id, tag_id=tag_id, history=record_for[contact_id])
                for pk, contact_id, tag_id in rows.values_list("id", "contact_id", "tag_id")
            ],
            batch_size=CHUNK,
        )


def _set_field(queryset: models.QuerySet[Contact], name: str, value: Any, user: Any) -> int:
    """Give every contact in ``queryset`` the same ``value``; history row per changed one.

    The equivalent of ``bulk_update_with_history`` for one value: an UPDATE per 900 rows
    instead of a CASE per row, and history with the tag snapshot (record_contact_history).
    """
    attname = Contact._meta.get_field(name).attname
    raw = value.pk if isinstance(value, models.Model) else value
    with transaction.atomic():
        changed = list(
            queryset.exclude(**{attname: raw}) if raw is not None else queryset.exclude(**{f"{attname}__isnull": True})
        )
        now = timezone.now()
        for chunk in _chunks(changed):
            Contact.objects.filter(pk__in=[c.pk for c in chunk]).update(**{attname: raw, "updated_at": now})
        for contact in changed:
            setattr(contact, attname, raw)
            contact.updated_at = now
        record_contact_history(changed, user)
    return len(changed)


def _lean(queryset: models.QuerySet[Contact]) -> models.QuerySet[Contact]:
    """Whole rows for history, without the list's joins, prefetches and ordering."""
    return queryset.select_related(None).prefetch_related(None).order_by("pk")


# --- Bulk actions ----------------------------------------------------------------------


def add_tag(contacts: models.QuerySet[Contact], tag: Tag, user: Any) -> int:
    """Tag every contact in ``contacts`` that lacks ``tag``; returns how many changed."""
    with transaction.atomic():
        changed = list(_lean(contacts).exclude(tags=tag))
        Contact.tags.through.objects.bulk_create(
            [Contact.tags.through(contact_id=c.pk, tag_id=tag.pk) for c in changed], batch_size=CHUNK
        )
        record_contact_history(changed, user, f"Bulk: tagged {tag.name}")
    return len(changed)


def remove_tag(contacts: models.QuerySet[Contact], tag: Tag, user: Any) -> int:
    """Untag every contact in ``contacts`` that has ``tag``; returns how many changed."""
    with transaction.atomic():
        changed = list(_lean(contacts).filter(tags=tag))
        for chunk in _chunks(changed):
            Contact.tags.through.objects.filter(tag=tag, contact_id__in=[c.pk for c in chunk]).delete()
        record_contact_history(changed, user, f"Bulk: untagged {tag.name}")
    return len(changed)


def assign_owner(contacts: models.QuerySet[Contact], owner: Any, user: Any) -> int:
    """Make ``owner`` (a user, or None for nobody) own every contact; returns how many changed."""
    return _set_field(_lean(contacts), "owner", owner, user)


def set_status(contacts: models.QuerySet[Contact], status: str, user: Any) -> int:
    """Give every contact ``status``; returns how many changed."""
    return _set_field(_lean(contacts), "status", status, user)


# --- History tab -----------------------------------------------------------------------


def contact_history(contact: Contact) -> list[HistoryEntry]:
    """The History tab: ``history_entries`` plus reason-only records such as a merge.

    ``history_entries`` skips a "changed" record whose only differences are bookkeeping
    columns; a merge that moved records but changed no field of the survivor is such a
    record, and it must still show ("Merged from #12").
    """
    entries = history_entries(contact)
    shown = {(entry.when, entry.reason) for entry in entries}
    reasoned = (
        contact.history.filter(history_type="~", history_change_reason__startswith="Merged")
        .select_related("history_user")
        .order_by("-history_date")[:20]
    )
    extra = [
        HistoryEntry(when=r.history_date, who=r.history_user, action="changed", reason=r.history_change_reason)
        for r in reasoned
        if (r.history_date, r.history_change_reason) not in shown
    ]
    if not extra:
        return entries
    return sorted(entries + extra, key=lambda entry: entry.when, reverse=True)


# --- Merge -----------------------------------------------------------------------------

# The fields a person picks from either record; everything else follows the rules below.
MERGE_FIELDS = [
    "name_prefix",
    "first_name",
    "last_name",
    "name_suffix",
    "email",
    "phone",
    "mobile",
    "title",
    "organization",
    "contact_type",
    "status",
    "owner",
    "source",
    "location",
    "linkedin_url",
    "preferred_contact",
    "do_not_email",
    "never_capture",
    "notes",
]
BOTH = "both"  # for notes: keep the two texts, one after the other


@dataclass
class MergeResult:
    survivor: Contact
    merged_pk: int
    moved: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{count} {label}" for label, count in self.moved.items() if count]
        moved = f" Moved {', '.join(parts)}." if parts else ""
        return f"Merged #{self.merged_pk} into {self.survivor.full_name}.{moved}"


def merge_value(survivor: Contact, other: Contact, name: str, pick: str) -> Any:
    """The value the survivor keeps for ``name``: "survivor", "other" or (notes) "both"."""
    if name == "notes" and pick == BOTH:
        return "\n\n".join(text for text in (survivor.notes.strip(), other.notes.strip()) if text)
    source = other if pick == "other" else survivor
    return getattr(source, Contact._meta.get_field(name).attname)


def commitment_clashes(survivor: Contact, other: Contact) -> list[str]:
    """Commitments both contacts have to the same fund through the same investing entity
    (“Fund II”, or “Fund II (Trust / IRA)”): one LP keeps one commitment per fund and
    entity, so a merge would have to lose or combine one of them."""
    ours = {
        (fund_id, entity.casefold())
        for fund_id, entity in Commitment.objects.filter(lp__contact=survivor).values_list(
            "fund_id", "investing_entity"
        )
    }
    theirs = Commitment.objects.filter(lp__contact=other, fund_id__in={fund_id for fund_id, _ in ours})
    return sorted(
        f"{c.fund.name} ({c.investing_entity})" if c.investing_entity else c.fund.name
        for c in theirs.select_related("fund")
        if (c.fund_id, c.investing_entity.casefold()) in ours
    )


def merge_contacts(
    survivor: Contact,
    other: Contact,
    *,
    picks: dict[str, str],
    custom_picks: dict[str, str] | None = None,
    user: Any,
) -> MergeResult:
    """Fold ``other`` into ``survivor`` and delete ``other``; nothing is lost.

    - Fields: ``picks[field]`` says whose value survives ("survivor"/"other"; notes may be
      "both"); custom field values likewise per key in ``custom_picks``, and a value only
      one side has is kept.
    - Communications (as primary contact and as attendee), opportunities, tags and the LP
      profile with its commitments move to the survivor. If both have LP profiles, the
      commitments move to the survivor's profile, whose blank fields are filled from the
      other's (its notes are appended). Two commitments to the same fund through the same
      investing entity (or both without one) are refused (MergeRefused): combining amounts,
      statuses and wire dates, or naming the entity each came through, is a decision for a
      person, made in the LP tracker before merging.
    - Any other record pointing at ``other`` (added by a later feature) is re-pointed too.
    - Both histories record the merge: "Merged into #S" on the deleted record (whose
      history stays), "Merged from #O" on the survivor.
    """
    if survivor.pk == other.pk:
        raise MergeRefused("Pick two different contacts to merge.")
    custom_picks = custom_picks or {}
    with transaction.atomic():
        # Lock both rows (a no-op on SQLite, which serialises writers anyway) and work on
        # fresh copies, never on objects a form loaded earlier.
        locked = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=[survivor.pk, other.pk])}
        if len(locked) != 2:
            raise MergeRefused("One of the contacts no longer exists.")
        survivor, other = locked[survivor.pk], locked[other.pk]
        clashes = commitment_clashes(survivor, other)
        if clashes:
            raise MergeRefused(
                f"Both contacts have a commitment to {', '.join(clashes)}. In the LP tracker, give one "
                "of them an investing entity (e.g. “Trust / IRA” or the LLC's name) if they are two "
                "investments, or combine them into one (amount, status and wires are a decision to make "
                "there), then merge."
            )
        merged_pk = other.pk
        into = f"Merged into #{survivor.pk}"
        reason = f"Merged from #{merged_pk}"
        for contact, why in ((survivor, reason), (other, into)):
            contact._history_user = user
            contact._change_reason = why
        moved: dict[str, int] = {}

        # The survivor attending one of the other's communications becomes its primary
        # contact below; the attendee link would then name them twice.
        doubled = list(Communication.objects.filter(contact=other, contact_attendees=survivor))
        moved["communications"] = _move(Communication.objects.filter(contact=other), "contact", survivor, user, reason)
        for comm in doubled:
            comm._history_user = user
            comm._change_reason = reason
            comm.contact_attendees.remove(survivor)

        # Attendee links: the other's place goes to the survivor, unless the survivor is
        # the communication's primary contact (for the same reason).
        attended = list(Communication.objects.filter(contact_attendees=other))
        for comm in attended:
            comm._history_user = user
            comm._change_reason = reason
            comm.contact_attendees.remove(other)
            if comm.contact_id != survivor.pk:
                comm.contact_attendees.add(survivor)
        moved["attendee links"] = len(attended)

        moved["opportunities"] = _move(Opportunity.objects.filter(contact=other), "contact", survivor, user, reason)

        other_lp = LPProfile.objects.filter(contact=other).first()
        survivor_lp = LPProfile.objects.filter(contact=survivor).first()
        if other_lp is not None and survivor_lp is None:
            other_lp.contact = survivor
            other_lp._history_user = user
            other_lp._change_reason = reason
            other_lp.save()  # also makes the survivor an investor
            moved["LP profile"] = 1
        elif other_lp is not None:
            moved["commitments"] = _move(Commitment.objects.filter(lp=other_lp), "lp", survivor_lp, user, reason)
            # The other profile's compliance checks of kinds the survivor has no check for move
            # with their dates; where both have one, the survivor's stands.
            have = ComplianceCheck.objects.filter(lp=survivor_lp).values("kind")
            checks = ComplianceCheck.objects.filter(lp=other_lp).exclude(kind__in=have)
            moved["compliance checks"] = _move(checks, "lp", survivor_lp, user, reason)
            _fold_lp_profile(survivor_lp, other_lp, user, reason)
            other_lp._history_user = user
            other_lp._change_reason = into
            other_lp.delete()

        moved.update(_repoint_other_relations(survivor, other, user, reason))

        have = set(survivor.tags.values_list("pk", flat=True))
        new_tags = [tag for tag in other.tags.all() if tag.pk not in have]

        for name in MERGE_FIELDS:
            attname = Contact._meta.get_field(name).attname
            setattr(survivor, attname, merge_value(survivor, other, name, picks.get(name, "survivor")))
        survivor.custom_fields = _merged_custom_fields(survivor, other, custom_picks)
        if LPProfile.objects.filter(contact=survivor).exists():
            survivor.contact_type = ContactType.INVESTOR  # an LP profile makes its contact an investor

        # Delete the other first: the survivor may take its email, which is unique.
        other.delete()
        survivor.save()
        if new_tags:
            survivor.tags.add(*new_tags)  # the owning side, so the survivor's history has it
        moved["tags"] = len(new_tags)
    return MergeResult(survivor=Contact.objects.get(pk=survivor.pk), merged_pk=merged_pk, moved=moved)


def _move(queryset: models.QuerySet, field_name: str, target: models.Model, user: Any, reason: str) -> int:
    """Point ``field_name`` of every row in ``queryset`` at ``target``, with history.

    Models whose history tracks many-to-many fields are saved one by one, because
    ``bulk_update_with_history`` would write their history rows without the m2m snapshot.
    """
    objs = list(queryset)
    if not objs:
        return 0
    model = queryset.model
    if issubclass(model, GuardedModel):  # a bulk update sends no pre_save: check here
        require_write(model, user, {field_name})
    history = get_history_manager_for_model(model)
    for obj in objs:
        setattr(obj, field_name, target)
    if getattr(history.model, "_history_m2m_fields", None):
        for obj in objs:
            obj._history_user = user
            obj._change_reason = reason
            obj.save()
    else:
        bulk_update_with_history(
            objs, model, [field_name], batch_size=500, default_user=user, default_change_reason=reason
        )
    return len(objs)


def _merged_custom_fields(survivor: Contact, other: Contact, custom_picks: dict[str, str]) -> dict:
    ours, theirs = dict(survivor.custom_fields or {}), other.custom_fields or {}
    for key, value in theirs.items():
        if key not in ours or ours[key] in (None, "", []) or custom_picks.get(key) == "other":
            ours[key] = value
    return ours


def _fold_lp_profile(survivor_lp, other_lp, user: Any, reason: str) -> None:
    """Keep what only the other LP profile knows: blanks filled, flags OR-ed, notes appended."""
    changed = False
    for name in ("preferred_communication",):
        if not getattr(survivor_lp, name) and getattr(other_lp, name):
            setattr(survivor_lp, name, getattr(other_lp, name))
            changed = True
    for name in ("accredited", "qualified_purchaser"):
        if getattr(other_lp, name) and not getattr(survivor_lp, name):
            setattr(survivor_lp, name, True)
            changed = True
    extra = []
    if other_lp.investor_type != survivor_lp.investor_type:
        extra.append(f"Investor type on the merged profile: {other_lp.get_investor_type_display()}.")
    if other_lp.notes.strip():
        extra.append(other_lp.notes.strip())
    if extra:
        survivor_lp.notes = "\n\n".join(
            part for part in (survivor_lp.notes.strip(), f"From the merged LP profile #{other_lp.pk}:", *extra) if part
        )
        changed = True
    values = dict(survivor_lp.custom_fields or {})
    for key, value in (other_lp.custom_fields or {}).items():
        if values.get(key) in (None, "", []):
            values[key] = value
            changed = True
    survivor_lp.custom_fields = values
    if changed:
        survivor_lp._history_user = user
        survivor_lp._change_reason = reason
        survivor_lp.save()


def _repoint_other_relations(survivor: Contact, other: Contact, user: Any, reason: str) -> dict[str, int]:
    """Re-point records from relations ``merge_contacts`` does not handle by name.

    A later feature that adds a foreign key to Contact (an import log, a task) must not
    have its rows cascaded away by a merge; this moves them, with history where the model
    keeps it.
    """
    handled = {
        ("contacts.Communication", "contact"),
        ("contacts.Communication", "contact_attendees"),
        ("pipeline.Opportunity", "contact"),
        ("lps.LPProfile", "contact"),
    }
    moved: dict[str, int] = {}
    for relation in Contact._meta.related_objects:
        model, name = relation.related_model, relation.field.name
        if (model._meta.label, name) in handled:
            continue
        if relation.many_to_many:
            owners = list(model._base_manager.filter(**{name: other}))
            for obj in owners:
                getattr(obj, name).remove(other)
                getattr(obj, name).add(survivor)
            moved[str(model._meta.verbose_name_plural)] = len(owners)
            continue
        if relation.one_to_one and model._base_manager.filter(**{name: survivor}).exists():
            raise MergeRefused(f"Both contacts have a {model._meta.verbose_name}; resolve that before merging.")
        if hasattr(model, "history"):
            count = _move(model._base_manager.filter(**{name: other}), name, survivor, user, reason)
        else:
            count = model._base_manager.filter(**{name: other}).update(**{name: survivor})
        moved[str(model._meta.verbose_name_plural)] = count
    return moved


def linked_summary(contact: Contact) -> str:
    """ "12 communications · 2 opportunities · LP (3 commitments)": what a merge would move."""
    parts = []
    communications = contact.communications.count()
    opportunities = contact.opportunities.count()
    parts.append(f"{communications} communication{'s' if communications != 1 else ''}")
    parts.append(f"{opportunities} opportunit{'ies' if opportunities != 1 else 'y'}")
    if LPProfile.objects.filter(contact=contact).exists():
        commitments = Commitment.objects.filter(lp__contact=contact).count()
        parts.append(f"LP, {commitments} commitment{'s' if commitments != 1 else ''}")
    return " · ".join(parts)


# --- tags ------------------------------------------------------------------------------


def tags_with_usage(user: Any) -> models.QuerySet[Tag]:
    """Tags with ``contact_count`` and ``organization_count``, as subqueries: one query.

    Subqueries rather than two joined Counts, which would multiply each other's rows.
    """

    def usage(model: type[models.Model]) -> Coalesce:
        counted = (
            model.objects.visible_to(user)
            .filter(tags=OuterRef("pk"))
            .order_by()
            .values("tags")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))

    return Tag.objects.visible_to(user).annotate(contact_count=usage(Contact), organization_count=usage(Organization))


def _untag_all(model: type[models.Model], tag: Tag, user: Any, reason: str) -> int:
    """Take ``tag`` off every ``model`` record in a fixed number of queries, with history.

    ``record.tags.remove(tag)`` per record would write the history row through the m2m
    signal, at five queries a record: minutes for a tag on 10,000 contacts. This writes
    what that signal writes (a "changed" history row per record plus its snapshot of the
    tags left), in bulk.
    """
    carrying = model.objects.filter(tags=tag)  # every record: a deleted tag is gone for all
    records = list(carrying)
    if not records:
        return 0
    through = model.tags.through
    owner = model._meta.model_name  # the through table's column for the record: contact / organization
    # The tags each record keeps, read through a subquery rather than a list of ids, which
    # could pass SQLite's limit on parameters for a tag on tens of thousands of records.
    left_by_record: dict[int, list] = defaultdict(list)
    for row in through.objects.filter(**{f"{owner}__in": carrying.values("pk")}).exclude(tag=tag).order_by("pk"):
        left_by_record[getattr(row, f"{owner}_id")].append(row)
    through.objects.filter(tag=tag).delete()
    history_rows = model.history.bulk_history_create(
        records, update=True, default_user=user, default_change_reason=reason, default_date=timezone.now()
    )
    snapshot_model = model.history.model.tags.model
    snapshot_model.objects.bulk_create(
        [
            snapshot_model(history=history_row, id=row.pk, tag_id=row.tag_id, **{f"{owner}_id": history_row.id})
            for history_row in history_rows
            for row in left_by_record[history_row.id]
        ]
    )
    return len(records)


def delete_tag(tag: Tag, user: Any) -> tuple[int, int]:
    """Delete ``tag``, first taking it off every contact and organization with history.

    Returns how many contacts and organizations carried it.
    """
    reason = f"Tag “{tag.name}” deleted"
    with transaction.atomic():
        contacts = _untag_all(Contact, tag, user, reason)
        organizations = _untag_all(Organization, tag, user, reason)
        tag.delete()
    return contacts, organizations


# --- communications and next actions, as pages, the badge and the dashboard read them ---------


def communications_for(user) -> QuerySet[Communication]:
    """Communications the user may see, with everything a row or an action item shows."""
    return Communication.objects.visible_to(user).select_related(
        "contact", "contact__organization", "created_by", "opportunity", "next_action_done_by"
    )


def open_actions_for(user, *, mine: bool) -> QuerySet[Communication]:
    """Open next actions by due date (undated last): the actions page's groups and the digest."""
    queryset = (
        communications_for(user)
        .open_actions()
        .defer("body", "attachment_names")  # email threads can be long; an action item never shows them
        .order_by(F("next_action_date").asc(nulls_last=True), "communication_date", "pk")
    )
    return queryset.filter(created_by=user) if mine else queryset


def overdue_count(user) -> int:
    """The signed-in user's overdue next actions and, through the registry in
    crm/lib/next_actions.py, the layers' above (tasks): the sidebar badge, one COUNT query.

    The other kinds ride in it as scalar subqueries, so the page pays one round trip and
    each part still reads its own partial index (contacts/tests/test_actions.py explains it).
    """
    if not getattr(user, "is_authenticated", False):
        return 0
    today = timezone.localdate()
    own = Communication.objects.visible_to(user).open_actions().filter(created_by=user, next_action_date__lt=today)
    others = next_actions.overdue_querysets(user, today)
    if not others:
        return own.count()
    total = Count("pk")
    for queryset in others:
        # COUNT as a plain function, not Django's aggregate: no GROUP BY, one row, even when empty.
        counted = queryset.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
        total = total + Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))
    return own.order_by().aggregate(total=total)["total"]


def dashboard_actions(user, today: datetime.date, limit: int = 8) -> list[Communication]:
    """Open actions due within two weeks or overdue, the user's own first (two queries).

    The user's own come down the (created_by, next_action_date) index and everyone else's
    down the next_action_date one, each stopping at ``limit``; one query sorting by "is it
    mine" would have to read and sort every open action.
    """
    due = (
        communications_for(user)
        .open_actions()
        .defer("body", "attachment_names")
        .filter(next_action_date__isnull=False, next_action_date__lte=today + datetime.timedelta(days=14))
        .order_by("next_action_date", "pk")
    )
    own = list(due.filter(created_by=user)[:limit])
    others = list(due.exclude(created_by=user)[:limit])
    return (own + others)[:limit]


# --- the shared "BCC/forward to CRM" mailbox (issue 17) --------------------------------------
# Whoever controls it decides what enters the CRM in any team member's name, so it is the
# admins' alone, checked here for every path that writes it (the admin site calls these).

SHARED_MAILBOX_ADMINS_ONLY = "Only an admin sets up the shared BCC/forward mailbox."


def _require_admin(user: Any) -> None:
    if not getattr(user, "is_admin", False) or not user.is_active:
        raise PermissionDenied(SHARED_MAILBOX_ADMINS_ONLY)


def save_shared_mailbox(mailbox: Mailbox, user: Any) -> Mailbox:
    """Save ``mailbox`` (its password already set) as a shared mailbox: no owner, synced for the team."""
    _require_admin(user)
    mailbox.user = None
    mailbox.shared = True
    with transaction.atomic():
        mailbox.save()
    return mailbox


def delete_shared_mailbox(mailbox: Mailbox, user: Any) -> None:
    """Forget a shared mailbox and its password; what was captured from it stays."""
    _require_admin(user)
    if not mailbox.shared:
        raise PermissionDenied("A personal mailbox is disconnected by its owner in Settings.")
    with transaction.atomic():
        mailbox.delete()


# --- kept email attachments (issue 17) ----------------------------------------------------------


class NoSuchAttachment(Exception):
    """The email lists no attachment at that place."""


def request_kept_attachment(communication: Communication, position: int, user: Any) -> KeptAttachment | None:
    """Ask for the attachment at ``position`` of ``communication`` (resolved through visible_to) to be
    kept; the row to fetch, or None when it is kept already or being fetched."""
    names = communication.attachment_names.splitlines()
    if not communication.message_id or not 0 <= position < len(names):
        raise NoSuchAttachment
    with transaction.atomic():
        kept = KeptAttachment.objects.select_for_update().filter(communication=communication, position=position).first()
        if kept is None:
            name = names[position][: KeptAttachment._meta.get_field("name").max_length]
            kept = KeptAttachment(communication=communication, position=position, name=name)
        elif kept.status != AttachmentStatus.FAILED:
            return None
        # New, or asked again after a failure: (re)try.
        kept.status, kept.problem, kept.requested_by = AttachmentStatus.REQUESTED, "", user
        kept._history_user = user
        kept.save()
    return kept
