"""What one user's digest says: built from the same querysets the pages use, for one local day."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.urls import reverse

from contacts.services import open_actions_for
from crm.lib import digest, next_actions
from crm.models import Role
from lps.models import Fund
from pipeline import replay
from pipeline.models import Stage

ACTIONS_LIMIT = 20  # a digest lists the first of them and links to the page for the rest


@dataclass
class Digest:
    user: Any
    today: datetime.date
    sections: list[digest.Section] = field(default_factory=list)
    fund: Fund | None = None
    changes: replay.Changes | None = None  # managers only, and only when something changed
    changes_url: str = ""

    @property
    def is_empty(self) -> bool:
        return not self.sections and self.changes is None

    @property
    def item_count(self) -> int:
        return sum(max(section.total, len(section.items)) for section in self.sections)


def absolute(path: str) -> str:
    return path if "://" in path else f"{settings.CRM_BASE_URL}{path}"


def _communication_actions(user: Any, today: datetime.date) -> digest.Section:
    """The user's own open next actions due today or before (the actions page's "mine")."""
    queryset = open_actions_for(user, mine=True).filter(next_action_date__lte=today)
    rows = list(queryset[:ACTIONS_LIMIT])
    items = [
        next_actions.ActionItem(
            title=row.next_action,
            detail=f"{row.contact} · {row}",
            due=row.next_action_date,
            url=reverse("communication_detail", args=[row.pk]),
        )
        for row in rows
    ]
    total = queryset.order_by().count() if len(rows) == ACTIONS_LIMIT else len(rows)
    return digest.Section("actions", "Your next actions due", items, total, reverse("actions"))


def _deadlines(user: Any, today: datetime.date) -> list[digest.Section]:
    """The next-actions page's other sources (MFN elections, compliance expiry), due by today."""
    sections = []
    # A source with a digest section of its own (tasks) is said whole there, not cut to a page's group.
    for group in next_actions.groups_for(user, today, skip=digest.has):
        items = [item for item in group.items if item.due is not None and item.due <= today]
        if items:
            sections.append(digest.Section(group.key, group.label, items, 0, group.more_url))
    return sections


def _raise_changes(user: Any, today: datetime.date) -> tuple[Fund | None, replay.Changes | None]:
    """What /pipeline/changes/ shows for the current fund since yesterday, when anything changed."""
    fund = Fund.objects.visible_to(user).current()
    if fund is None:
        return None, None
    stages = list(Stage.objects.visible_to(user))
    changes = replay.changes_since(user, fund, stages, today - datetime.timedelta(days=1))
    if not (changes.lost or any(row.has_changes for row in changes.stages)):
        return fund, None
    return fund, changes


def build(user: Any, today: datetime.date) -> Digest:
    result = Digest(user, today)
    actions = _communication_actions(user, today)
    result.sections = ([actions] if actions.items else []) + _deadlines(user, today) + digest.sections_for(user, today)
    if user.has_role(Role.MANAGER):
        result.fund, result.changes = _raise_changes(user, today)
        if result.fund is not None:
            since = (today - datetime.timedelta(days=1)).isoformat()
            result.changes_url = f"{reverse('pipeline_changes')}?fund={result.fund.pk}&since={since}"
    return result
