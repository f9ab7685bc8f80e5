"""The sidebar. A section shows only once its page exists and the user's role may use it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.urls import reverse

from crm.models import Role


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    icon: str
    role: str = Role.MEMBER
    url: str = ""


SECTIONS = (
    NavItem("Dashboard", "dashboard", "home"),
    NavItem("Contacts", "contact_list", "users"),
    NavItem("Organizations", "organization_list", "building"),
    NavItem("Pipeline", "pipeline_board", "columns"),
    NavItem("Communications", "communication_list", "message"),
    # Tasks & next actions (issue 17); the overdue badge rides on it.
    NavItem("Tasks", "actions", "check"),
    NavItem("LPs", "lp_list", "briefcase"),
    NavItem("Reports", "reports_index", "chart"),
    NavItem("Import", "import_start", "upload", Role.MANAGER),
    NavItem("Audit log", "audit_log", "clock", Role.MANAGER),
    NavItem("Settings", "settings", "cog"),
    NavItem("Admin", "admin:index", "shield", Role.ADMIN),
)


@cache
def available_sections() -> tuple[NavItem, ...]:
    """Every section with its URL, reversed once per process."""
    return tuple(NavItem(item.label, item.url_name, item.icon, item.role, reverse(item.url_name)) for item in SECTIONS)


def sections_for(user) -> list[NavItem]:
    return [item for item in available_sections() if user.has_role(item.role)]
