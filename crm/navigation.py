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
    # The grid (crm/lib/grid.py) whose saved views are listed under this item.
    list_key: str = ""


SECTIONS = (
    NavItem("Dashboard", "dashboard", "home"),
    NavItem("Contacts", "contact_list", "users", list_key="contacts"),
    NavItem("Organizations", "organization_list", "building", list_key="organizations"),
    NavItem("Pipeline", "pipeline_board", "columns", list_key="pipeline"),
    NavItem("Communications", "communication_list", "message", list_key="communications"),
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
    return tuple(
        NavItem(item.label, item.url_name, item.icon, item.role, reverse(item.url_name), item.list_key)
        for item in SECTIONS
    )


def sections_for(user) -> list[NavItem]:
    return [item for item in available_sections() if user.has_role(item.role)]


# Lists with saved views: the grid's key and the list's URL name (the opportunities list
# has no sidebar item of its own; its views sit under Pipeline).
LIST_URL_NAMES = {
    "contacts": "contact_list",
    "organizations": "organization_list",
    "opportunities": "opportunity_list",
    "communications": "communication_list",
}


def list_url(list_key: str) -> str:
    return reverse(LIST_URL_NAMES[list_key])
