"""Sections the layers above add to the morning digest email, without the digest importing them.

The digest (crm/digest) always has the communications' open next actions, the deadlines of
``crm.lib.next_actions``' sources that fall due by today, and, for managers, the raise's
changes since yesterday. Other features (tasks, stale relationships) register a *section*
here from their ``AppConfig.ready``, e.g.::

    digest.register("stale", stale_digest_section)  # contacts/apps.py

    def stale_digest_section(user, today) -> digest.Section | None: ...

A section returns ``None`` or a section without items when it has nothing for that user; a
digest with nothing in any section is not sent. Item urls are site paths (``reverse(...)``);
the digest makes them absolute with ``CRM_BASE_URL``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crm.lib.next_actions import ActionItem as Item

__all__ = ["Item", "Section", "has", "register", "sections_for"]


@dataclass
class Section:
    key: str
    label: str
    items: list[Item] = field(default_factory=list)
    total: int = 0  # when more exist than the section lists; 0 means len(items)
    more_url: str = ""

    @property
    def remaining(self) -> int:
        return max(self.total - len(self.items), 0)


SectionSource = Callable[[Any, datetime.date], "Section | None"]
_sections: dict[str, SectionSource] = {}


def register(key: str, source: SectionSource) -> None:
    """Add (or replace, on a second ``ready()``) the section named ``key``."""
    _sections[key] = source


def unregister(key: str) -> None:
    _sections.pop(key, None)


def has(key: str) -> bool:
    """Whether a section named ``key`` is registered: the digest then leaves out the next-actions
    page's group of that name, which shows only a page's first few items."""
    return key in _sections


def sections_for(user: Any, today: datetime.date) -> list[Section]:
    """Every registered section with something for ``user``, in registration order."""
    found = (source(user, today) for source in _sections.values())
    return [section for section in found if section is not None and section.items]
