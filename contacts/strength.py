"""Relationship strength (issue 17): a score per contact and per team member–contact pair.

Computed locally from the touches and stored (``Contact.strength`` and ``RelationshipStrength``),
so pages read a column instead of scanning the communication log. The formula:

    touch value = type weight × 0.5 ** (age in days / 90)
        type weight: meeting 3, call 2, email 1, text 1, note 0.25
    raw  = sum of the touch values (frequency and recency at once)
           × 1.5 when the emails go both ways (at least one inbound and one outbound email)
    score = round(100 × (1 − e^(−raw / 4)))   — 0 (no touch) to 100, diminishing returns

A pair's score uses the touches that team member logged or attended. Time decay changes the
scores daily: ``recompute_all()`` (``manage.py recompute_strength``) runs nightly; a saved,
deleted, imported or captured communication recomputes its contact's scores at once.
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, Max, Sum
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone

from contacts.models import Communication, CommunicationType, Contact, Direction, RelationshipStrength

WEIGHTS = {
    CommunicationType.MEETING: 3.0,
    CommunicationType.CALL: 2.0,
    CommunicationType.EMAIL: 1.0,
    CommunicationType.TEXT: 1.0,
    CommunicationType.NOTE: 0.25,
}
HALF_LIFE_DAYS = 90
TWO_WAY_BONUS = 1.5
SCALE = 4.0
FORMULA = (
    "Strength 0–100: each touch counts meeting 3, call 2, email or text 1, note ¼, "
    "halving every 90 days; ×1.5 when emails go both ways; 100 × (1 − e^(−total/4))."
)


def touch_value(kind: str, when: datetime.datetime, now: datetime.datetime) -> float:
    age_days = max((now - when).total_seconds() / 86400, 0)
    return WEIGHTS.get(kind, 1.0) * 0.5 ** (age_days / HALF_LIFE_DAYS)


def score(touches: Iterable[tuple[str, str, datetime.datetime]], now: datetime.datetime) -> int:
    """The score of (type, direction, date) touches at ``now``."""
    raw, directions = 0.0, set()
    for kind, direction, when in touches:
        raw += touch_value(kind, when, now)
        if kind == CommunicationType.EMAIL and direction:
            directions.add(direction)
    if {Direction.INBOUND, Direction.OUTBOUND} <= directions:
        raw *= TWO_WAY_BONUS
    return round(100 * (1 - math.exp(-raw / SCALE)))


def recompute(contact_ids: Iterable[int] | None = None, now: datetime.datetime | None = None) -> int:
    """Recompute the stored scores of these contacts (all when None); returns how many.

    Derived data: ``Contact.strength`` is written with bulk_update (no history row) and the
    pair table is replaced. Two queries read the log, whatever the number of contacts.
    """
    now = now or timezone.now()
    contacts = Contact.objects.all() if contact_ids is None else Contact.objects.filter(pk__in=list(contact_ids))
    ids = list(contacts.values_list("pk", flat=True))
    if not ids:
        return 0
    by_contact: dict[int, list] = defaultdict(list)
    by_pair: dict[tuple[int, int], list] = defaultdict(list)
    comms = Communication.objects.filter(contact_id__in=ids).order_by()
    rows = comms.values_list("pk", "contact_id", "type", "direction", "communication_date", "created_by_id")
    attendees: dict[int, set[int]] = defaultdict(set)
    through = Communication.team_attendees.through.objects.filter(communication__contact_id__in=ids)
    for comm_id, user_id in through.values_list("communication_id", "user_id"):
        attendees[comm_id].add(user_id)
    for pk, contact_id, kind, direction, when, created_by in rows:
        touch = (kind, direction, when)
        by_contact[contact_id].append(touch)
        for user_id in attendees[pk] | ({created_by} if created_by else set()):
            by_pair[(contact_id, user_id)].append(touch)
    with transaction.atomic():
        Contact.objects.bulk_update(
            [Contact(pk=pk, strength=score(by_contact.get(pk, ()), now)) for pk in ids], ["strength"], batch_size=500
        )
        RelationshipStrength.objects.filter(contact_id__in=ids).delete()
        RelationshipStrength.objects.bulk_create(
            [
                RelationshipStrength(contact_id=contact_id, user_id=user_id, score=score(touches, now))
                for (contact_id, user_id), touches in by_pair.items()
            ],
            batch_size=500,
        )
    return len(ids)


def recompute_all(now: datetime.datetime | None = None, chunk: int = 2000) -> int:
    """Every contact's scores, in chunks (the nightly job: time decay moves them daily)."""
    ids = list(Contact.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), chunk):
        recompute(ids[start : start + chunk], now)
    return len(ids)


# --- Keeping the scores in step -------------------------------------------------------------


def _changed(sender, instance: Communication, **kwargs) -> None:
    if kwargs.get("raw"):
        return
    contact_id = instance.contact_id
    transaction.on_commit(lambda: recompute([contact_id]))


def _attendees_changed(sender, instance, action: str, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear") and isinstance(instance, Communication):
        _changed(sender, instance)


def connect() -> None:
    post_save.connect(_changed, sender=Communication, dispatch_uid="strength_saved")
    post_delete.connect(_changed, sender=Communication, dispatch_uid="strength_deleted")
    m2m_changed.connect(
        _attendees_changed, sender=Communication.team_attendees.through, dispatch_uid="strength_attendees"
    )


def who_knows_best(organization, viewer, limit: int = 5) -> list[dict]:
    """Team members ranked by their pair scores over the organization's contacts the viewer sees.

    Best single relationship first, then the sum over the organization; one query.
    """
    contacts = Contact.objects.visible_to(viewer).filter(organization=organization).values("pk")
    return list(
        RelationshipStrength.objects.filter(contact__in=contacts, score__gt=0)
        .values("user", "user__full_name", "user__username")
        .annotate(best=Max("score"), total=Sum("score"), contacts=Count("contact"))
        .order_by("-best", "-total", "user__username")[:limit]
    )
