"""What a search of contacts, organizations and communications reads (see crm/lib/fulltext.py).

A change here needs a migration that calls ``fulltext.install`` again: the triggers are
written from these specs when the migration runs.
"""

from __future__ import annotations

from crm.lib.fulltext import SearchIndex, Source

CONTACTS = SearchIndex(
    name="contacts_contact_search",
    table="contacts_contact",
    source="contacts_contact m LEFT JOIN contacts_organization o ON o.id = m.organization_id",
    parts=("m.first_name", "m.last_name", "m.email", "m.title", "m.notes", "o.name"),
    columns=("first_name", "last_name", "email", "title", "notes", "organization_id"),
    # A renamed organization renames what its contacts are found by.
    depends_on=(Source("contacts_organization", ("name",), "m.organization_id = {row}.id"),),
)

ORGANIZATIONS = SearchIndex(
    name="contacts_organization_search",
    table="contacts_organization",
    source="contacts_organization m",
    parts=("m.name", "m.city", "m.country", "m.website", "m.description"),
    columns=("name", "city", "country", "website", "description"),
)

COMMUNICATIONS = SearchIndex(
    name="contacts_communication_search",
    table="contacts_communication",
    source="contacts_communication m",
    # The outcome and the next step too: "DDQ" finds the call whose next step is sending it.
    parts=("m.subject", "m.body", "m.outcome", "m.next_action"),
    columns=("subject", "body", "outcome", "next_action"),
)

INDEXES = (CONTACTS, ORGANIZATIONS, COMMUNICATIONS)
