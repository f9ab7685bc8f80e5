"""The columns of the contacts, organizations and communications lists (crm/lib/grid.py)."""

from __future__ import annotations

from crm.lib.grid import Column, Grid
from crm.models import CustomFieldEntity


def _organization(queryset):
    return queryset.select_related("organization")


def _owner(queryset):
    return queryset.select_related("owner")


def _tags(queryset):
    return queryset.prefetch_related("tags")


CONTACTS = Grid(
    "contacts",
    (
        Column("name", "Name", order=("last_name", "first_name"), locked=True),
        Column("email", "Email", order=("email",), default=False),
        Column("organization", "Organization", order=("organization__name",), needs=_organization),
        Column("title", "Title", order=("title",), default=False),
        Column("type", "Type", order=("contact_type",)),
        Column("status", "Status", order=("status",)),
        Column("tags", "Tags", needs=_tags),
        Column("owner", "Owner", order=("owner__full_name", "owner__username"), needs=_owner),
        Column("last_touch", "Last touch", order=("last_touch",)),
        Column("strength", "Strength", order=("strength",), numeric=True),
        Column("next_action", "Next action", order=("next_action_date",)),
        Column("phone", "Phone", order=("phone",), default=False),
        Column("location", "Location", order=("location",), default=False),
        Column("source", "Source", order=("source",), default=False),
        Column("created", "Created", order=("created_at",), default=False),
    ),
    tie_break=("last_name", "first_name", "pk"),
    custom_entity=CustomFieldEntity.CONTACT,
)


ORGANIZATIONS = Grid(
    "organizations",
    (
        Column("name", "Name", order=("name",), locked=True),
        Column("type", "Type", order=("type",)),
        Column("city", "Location", order=("city", "country")),
        Column("industry", "Industry", order=("industry",), default=False),
        Column("website", "Website", order=("website",), default=False),
        Column("phone", "Phone", order=("phone",), default=False),
        Column("tags", "Tags", needs=_tags),
        Column("contacts", "Contacts", order=("contact_count",), numeric=True),
        Column("committed", "Committed", order=("total_committed",), numeric=True),
        Column("updated", "Updated", order=("updated_at",), default=False),
    ),
    tie_break=("name", "pk"),
    custom_entity=CustomFieldEntity.ORGANIZATION,
)
