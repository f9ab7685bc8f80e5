"""django-import-export resources for organizations, contacts and communications (used by imports).

The shared behaviour (savepoint per row, never erasing, duplicates in one file, history
naming the importing user) is in ``crm.imports.resources.CRMResource``; these classes say
how a row finds its existing record and fill the fields that are not one attribute each.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from import_export import fields
from import_export.results import RowResult

from contacts.models import Communication, Contact, ContactType, Organization
from crm.imports import parsers
from crm.imports.parsers import ParseError, show
from crm.imports.plan import record_key
from crm.imports.resources import (
    AttachmentsWidget,
    BoolWidget,
    CRMField,
    CRMResource,
    CRMWidget,
    TextWidget,
    link_names,
    org_key,
)
from crm.imports.schema import Target
from crm.lib.text import collapse_spaces, normalize_email


class LocationField(CRMField):
    """“Providence, RI” → city “Providence”, state “RI”; a single word is the city."""

    def save(self, instance: Any, row: dict, is_m2m: bool = False, **kwargs: Any) -> None:
        text = collapse_spaces(self.clean(row))
        if not text:
            return
        city, _, rest = (part.strip() for part in text.partition(","))
        self.resource.assign(instance, "city", city)  # too long: a row error (length_errors)
        country = (instance.country or "").casefold()
        if rest and rest.casefold() != country:
            self.resource.assign(instance, "state", rest)


class PersonNameField(CRMField):
    """One “Full Name” cell into prefix, first name, last name and suffix."""

    def save(self, instance: Any, row: dict, is_m2m: bool = False, **kwargs: Any) -> None:
        text = collapse_spaces(row.get(self.column_name))
        if not text:
            return
        if parsers.has_markup(text):
            raise ValueError(f"{self.resource.table.target_label('full_name')}: {parsers.markup_message(text)}")
        prefix, first, last, suffix = parsers.split_person_name(text)
        for attribute, value, limit in (
            ("name_prefix", prefix, 30),
            ("first_name", first, 100),
            ("last_name", last, 100),
            ("name_suffix", suffix, 30),
        ):
            if len(value) > limit:
                raise ValueError(
                    f"{self.resource.table.target_label('full_name')}: {show(text)} is too long for a name "
                    f"(the {attribute.replace('_', ' ')} would be {len(value)} characters; the limit is {limit})"
                )
            self.resource.assign(instance, attribute, value)


TYPED_OUTCOMES = (RowResult.IMPORT_TYPE_NEW, RowResult.IMPORT_TYPE_UPDATE, RowResult.IMPORT_TYPE_SKIP)


def _bind(field: CRMField, resource: CRMResource) -> CRMField:
    field.resource = resource
    return field


class OrganizationResource(CRMResource):
    entity_key = "organizations"
    notes_attribute = "description"
    notes_label = "description"
    m2m_attributes = ("tags",)

    class Meta(CRMResource.Meta):
        model = Organization

    def build_field(self, target: Target) -> fields.Field | None:
        if target.key == "location":
            return _bind(LocationField(None, target, TextWidget(self, target)), self)
        if target.key == "description":
            return None  # composed with the “Add to notes” columns
        return super().build_field(target)

    def find_existing(self, row: dict) -> Organization | None:
        name = collapse_spaces(row.get("name"))
        if not name:
            raise ValidationError({"name": f"{self.table.target_label('name')}: an organization needs a name"})
        if parsers.has_markup(name):
            raise ValidationError({"name": f"{self.table.target_label('name')}: {parsers.markup_message(name)}"})
        found = self.ctx.orgs.find(name)
        return self.ctx.edit(found) if found else None

    def after_save_instance(self, instance: Organization, row: dict, **kwargs: Any) -> None:
        super().after_save_instance(instance, row, **kwargs)
        self.ctx.orgs.add(instance)


class ContactResource(CRMResource):
    entity_key = "contacts"
    notes_attribute = "notes"
    m2m_attributes = ("tags",)

    class Meta(CRMResource.Meta):
        model = Contact

    def build_field(self, target: Target) -> fields.Field | None:
        if target.key == "full_name":
            return _bind(PersonNameField(None, target, CRMWidget(self, target)), self)
        if target.key == "notes":
            return None
        return super().build_field(target)

    def _row_name(self, row: dict) -> str:
        if row.get("full_name"):
            return collapse_spaces(row["full_name"])
        return collapse_spaces(f"{row.get('first_name') or ''} {row.get('last_name') or ''}")

    def find_existing(self, row: dict) -> Contact | None:
        """By e-mail (trimmed, lower-case); without one, by name among contacts that have no e-mail.

        Contacts touched earlier in this run are not matched by name: two rows without an
        e-mail are two people, as they were in the old system.
        """
        email = normalize_email(row.get("email"))
        index = self.ctx.contacts
        found = index.by_email.get(email) if email else None
        name = self._row_name(row)
        if found is None and name:
            candidates = [c for c in index.named(name) if not c.email and self.ctx.first_touch(c) is None]
            if len(candidates) > 1:
                organization = self.ctx.orgs.find(parsers.clean(row.get("organization")).strip('"'))
                same_org = [c for c in candidates if organization and org_key(c) == record_key(organization)]
                candidates = same_org or candidates[:1]
            found = candidates[0] if candidates else None
        return self.ctx.edit(found) if found else None

    def unique_errors(self, instance: Contact) -> dict[str, ValidationError]:
        other = self.ctx.contacts.by_email.get(normalize_email(instance.email)) if instance.email else None
        if other is not None and other is not instance:
            return {"__all__": ValidationError("Constraint “contact_email_unique_ci” is violated.")}
        return {}

    def import_extra(self, instance: Contact, row: dict) -> None:
        # An LP stays an investor: the People table may still call them a prospect.
        was_investor = instance.pk and self._snapshot.get("contact_type") == ContactType.INVESTOR
        has_profile = self.ctx.profile_for(instance) is not None
        if was_investor and instance.contact_type != ContactType.INVESTOR and has_profile:
            instance.contact_type = ContactType.INVESTOR
            self.ctx.info("kept as an investor: they have an LP profile", self.table.target_label("contact_type"))

    def after_save_instance(self, instance: Contact, row: dict, **kwargs: Any) -> None:
        super().after_save_instance(instance, row, **kwargs)
        self.ctx.contacts.add(instance, self._row_name(row))

    def import_row(self, row: dict, instance_loader: Any, **kwargs: Any) -> Any:
        result = super().import_row(row, instance_loader, **kwargs)
        instance = result.instance
        typed = "contact_type" in self.table.mapped_targets() and parsers.clean(row.get("contact_type"))
        if typed and self.ctx.is_record(instance) and result.import_type in TYPED_OUTCOMES:
            # The file says what this person is; an LP profile made later in the run keeps it.
            self.ctx.typed_contacts.add(record_key(instance))
        return result


class ContactsField(CRMField):
    """The People cell of a communication: the first person is the contact, the others attend."""

    def save(self, instance: Any, row: dict, is_m2m: bool = False, **kwargs: Any) -> None:
        people = self.resource.people
        if not people:
            return
        if instance.contact_id is None and "contact" not in instance._state.fields_cache:
            instance.contact = people[0]
        main = record_key(instance.contact)
        others = [p for p in people if record_key(p) != main]
        if others:
            self.resource._m2m_pending["contact_attendees"] = others


class AttachmentNamesField(CRMField):
    def save(self, instance: Any, row: dict, is_m2m: bool = False, **kwargs: Any) -> None:
        names = self.clean(row)
        if names:
            self.resource.assign(instance, "attachment_names", "\n".join(names))


class FollowUpField(CRMField):
    """A “Needs Follow Up” checkbox becomes an open next action."""

    def save(self, instance: Any, row: dict, is_m2m: bool = False, **kwargs: Any) -> None:
        if self.clean(row) and not instance.next_action and not row.get("next_action"):
            instance.next_action = "Follow up"


class OpportunityLinkWidget(CRMWidget):
    def parse(self, value: str, row: dict) -> Any:
        names = link_names(self.resource.table, value)
        if not names:
            return None
        found = self.ctx.find_opportunity(names[0])
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            people = {record_key(p) for p in self.resource.people}
            same_contact = [o for o in found if record_key(o.contact) in people]
            if len(same_contact) == 1:
                return same_contact[0]
        self.ctx.warn(f"no single opportunity is called {show(names[0])}; the link was left empty", self.column, value)
        return None


class CommunicationResource(CRMResource):
    entity_key = "communications"
    notes_attribute = "body"
    notes_label = "details"
    m2m_attributes = ("team_attendees", "contact_attendees")

    class Meta(CRMResource.Meta):
        model = Communication

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.people: list[Contact] = []
        super().__init__(*args, **kwargs)

    def build_field(self, target: Target) -> fields.Field | None:
        if target.key == "contact":
            return _bind(ContactsField(None, target, CRMWidget(self, target)), self)
        if target.key == "attachments":
            return _bind(AttachmentNamesField(None, target, AttachmentsWidget(self, target)), self)
        if target.key == "needs_follow_up":
            return _bind(FollowUpField(None, target, BoolWidget(self, target)), self)
        if target.key == "opportunity":
            return CRMField("opportunity", target, OpportunityLinkWidget(self, target))
        if target.key == "body":
            return None
        return super().build_field(target)

    def find_existing(self, row: dict) -> Communication | None:
        """The same conversation: same main contact, same moment, same subject."""
        try:
            self.people = self.resolve_people(row)
            when = parsers.parse_datetime(row.get("communication_date") or "", self.ctx.tz, self.ctx.date_order)
        except ParseError as exc:
            raise ValidationError({"contact": f"{self.table.target_label('contact')}: {exc}"}) from None
        if not self.people:
            raise ValidationError({"contact": f"{self.table.target_label('contact')}: nobody is linked"})
        if when is None:
            raise ValidationError(
                {"communication_date": f"{self.table.target_label('communication_date')}: a communication needs a date"}
            )
        subject = collapse_spaces(row.get("subject"))
        found = self.ctx.communication(self.people[0], when, subject)
        return self.ctx.edit(found) if found else None

    def after_save_instance(self, instance: Communication, row: dict, **kwargs: Any) -> None:
        super().after_save_instance(instance, row, **kwargs)
        self.ctx.add_communication(instance)

    def init_instance(self, row: dict | None = None) -> Communication:
        instance = super().init_instance(row)
        instance.contact = self.people[0]
        return instance
