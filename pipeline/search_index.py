"""What a search of opportunities reads (see crm/lib/fulltext.py): the deal's own words, its
contact's name and email, its organization's name or else its contact's organization's.

A change here needs a migration that calls ``fulltext.install`` again.
"""

from __future__ import annotations

from crm.lib.fulltext import SearchIndex, Source

OPPORTUNITIES = SearchIndex(
    name="pipeline_opportunity_search",
    table="pipeline_opportunity",
    source=(
        "pipeline_opportunity m JOIN contacts_contact c ON c.id = m.contact_id "
        "LEFT JOIN contacts_organization o ON o.id = m.organization_id "
        "LEFT JOIN contacts_organization co ON co.id = c.organization_id"
    ),
    parts=("m.name", "m.next_step", "m.source", "c.first_name", "c.last_name", "c.email", "o.name", "co.name"),
    columns=("name", "next_step", "source", "contact_id", "organization_id"),
    depends_on=(
        Source("contacts_contact", ("first_name", "last_name", "email", "organization_id"), "m.contact_id = {row}.id"),
        Source(
            "contacts_organization",
            ("name",),
            "(m.organization_id = {row}.id OR m.contact_id IN "
            "(SELECT id FROM contacts_contact WHERE organization_id = {row}.id))",
        ),
    ),
)

INDEXES = (OPPORTUNITIES,)
