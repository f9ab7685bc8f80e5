"""Items the layers above contacts add to the next-actions page, without contacts importing them.

The page (contacts.views.communications.actions) lives in contacts, below lps; lps knows its
own deadlines (MFN elections, compliance expiry). Each upper app registers a *source* here
from its ``AppConfig.ready``; the page asks every source for its group. A source must run a
fixed number of queries whatever the data (a count and a bounded slice), and return at most
``SOURCE_LIMIT`` items, so the page stays pinned (contacts/tests/test_actions.py).

A source registered with ``views=True`` is also told which view the page shows (``who``:
one of ``VIEWS``, "Assigned to me" by default); the others list the same whatever the view.
An item may carry ``controls``: buttons the page draws next to it (a POST form, or a link
that opens a dialog), so an upper app's items can be done or changed in place.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SOURCE_LIMIT = 10

# The page's views: whose items it lists.
MINE, ASSIGNED, EVERYONE = "mine", "assigned", "everyone"
VIEWS = (MINE, ASSIGNED, EVERYONE)


@dataclass(frozen=True)
class ActionControl:
    label: str
    url: str
    post: tuple[tuple[str, str], ...] | None = None  # a POST form with these fields; None: a dialog link
    aria_label: str = ""


@dataclass(frozen=True)
class ActionItem:
    title: str  # what to do, e.g. "MFN election due: Ada Okafor"
    detail: str  # the context, e.g. "Fund I · round sent Mar 1, 2026"
    due: datetime.date | None
    url: str  # where to do it
    controls: tuple[ActionControl, ...] = ()
    key: str = ""  # the item's element id on the page, when it has one


@dataclass
class SourceGroup:
    key: str  # unique among sources: the section's id on the page
    label: str
    explanation: str  # what is listed and how far ahead, shown under the heading
    items: list[ActionItem] = field(default_factory=list)
    total: int = 0
    more_url: str = ""  # the page with every item, when more than the group shows

    @property
    def remaining(self) -> int:
        return max(self.total - len(self.items), 0)


Source = Callable[..., SourceGroup]
_sources: dict[str, tuple[Source, bool]] = {}


def register(key: str, source: Source, *, views: bool = False) -> None:
    """Add (or replace, on a second ``ready()``) the source named ``key``. ``views``: the
    source takes ``who=`` (one of ``VIEWS``) as well as the user and today."""
    _sources[key] = (source, views)


def groups_for(
    user: Any, today: datetime.date, who: str = MINE, skip: Callable[[str], bool] = lambda key: False
) -> list[SourceGroup]:
    """Every registered source's group for ``user``, in registration order, but those ``skip`` names."""
    if who not in VIEWS:
        who = MINE
    return [
        source(user, today, who=who) if views else source(user, today)
        for key, (source, views) in _sources.items()
        if not skip(key)
    ]


# --- The sidebar's overdue badge --------------------------------------------------------
# The badge (contacts.services.overdue_count) counts the user's overdue next actions and,
# through this registry, the overdue items of the layers above (pipeline's tasks). A source
# returns an unevaluated queryset of one user's overdue items: the badge counts every source
# as a scalar subquery of its one COUNT query, so each should read a partial index.

OverdueSource = Callable[[Any, datetime.date], Any]
_overdue_sources: dict[str, OverdueSource] = {}


def register_overdue(key: str, source: OverdueSource) -> None:
    """Add (or replace) the overdue source ``key``: ``source(user, today)`` → a queryset."""
    _overdue_sources[key] = source


def overdue_querysets(user: Any, today: datetime.date) -> list[Any]:
    return [source(user, today) for source in _overdue_sources.values()]
