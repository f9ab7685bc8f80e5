"""Sections the layers above add to a lower app's record page, without that app importing them.

The contact page (contacts.views.contacts) lives in contacts, below pipeline; the tasks linked
to a contact live in pipeline. Each upper app registers a *provider* for a kind of record
from its ``AppConfig.ready``; the page asks every provider of its kind for a section and
draws it as a tab of its own (label, count) with the provider's template inside. Like the
next-actions sources (crm/lib/next_actions.py), a provider must run a fixed number of
queries whatever the data, so the page stays pinned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordSection:
    key: str  # unique for its kind of record: the tab's and the section's id stem
    label: str  # the tab's label
    count: int  # shown on the tab
    template: str  # included with ``section`` in the page's context
    data: Any = None  # what the template draws


Provider = Callable[[Any, Any], RecordSection]
_providers: dict[str, dict[str, Provider]] = {}

CONTACT = "contact"


def register(kind: str, key: str, provider: Provider) -> None:
    """Add (or replace, on a second ``ready()``) the provider ``key`` for pages of ``kind``;
    it is called as ``provider(record, user)``."""
    _providers.setdefault(kind, {})[key] = provider


def sections_for(kind: str, record: Any, user: Any) -> list[RecordSection]:
    """Every registered section for ``record`` as ``user`` sees it, in registration order."""
    return [provider(record, user) for provider in _providers.get(kind, {}).values()]
