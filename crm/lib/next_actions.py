"""Items the layers above contacts add to the next-actions page, without contacts importing them.

The page (contacts.views.communications.actions) lives in contacts, below lps; lps knows its
own deadlines (MFN elections, compliance expiry). Each upper app registers a *source* here
from its ``AppConfig.ready``; the page asks every source for its group. A source must run a
fixed number of queries whatever the data (a count and a bounded slice), and return at most
``SOURCE_LIMIT`` items, so the page stays pinned (contacts/tests/test_actions.py).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SOURCE_LIMIT = 10


@dataclass(frozen=True)
class ActionItem:
    title: str  # what to do, e.g. "MFN election due: Ada Okafor"
    detail: str  # the context, e.g. "Fund I · round sent Mar 1, 2026"
    due: datetime.date | None
    url: str  # where to do it


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


Source = Callable[[Any, datetime.date], SourceGroup]
_sources: dict[str, Source] = {}


def register(key: str, source: Source) -> None:
    """Add (or replace, on a second ``ready()``) the source named ``key``."""
    _sources[key] = source


def groups_for(user: Any, today: datetime.date) -> list[SourceGroup]:
    """Every registered source's group for ``user``, in registration order."""
    return [source(user, today) for source in _sources.values()]
