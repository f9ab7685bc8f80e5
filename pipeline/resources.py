"""django-import-export resource for fundraising opportunities (used by imports)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from import_export import fields

from crm.imports import parsers
from crm.imports.parsers import ParseError, fold, show
from crm.imports.plan import record_key
from crm.imports.resources import CRMField, CRMResource, StageWidget, link_names
from crm.imports.schema import Target
from crm.lib.text import collapse_spaces
from pipeline.models import Opportunity


class OpportunityResource(CRMResource):
    """One deal: found again by its name within its fund (or “<contact> (<fund>)” when unnamed)."""

    entity_key = "opportunities"
    notes_attribute = "description"
    notes_label = "description"

    class Meta(CRMResource.Meta):
        model = Opportunity

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.contact = None
        self.fund = None
        super().__init__(*args, **kwargs)

    def build_field(self, target: Target) -> fields.Field | None:
        if target.key in ("contact", "fund", "description"):
            return None  # resolved in find_existing, or composed with the notes
        if target.key == "stage":
            return CRMField("stage", target, StageWidget(self, target))
        return super().build_field(target)

    def find_existing(self, row: dict) -> Opportunity | None:
        try:
            people = self.resolve_people(row)
        except ParseError as exc:
            raise ValidationError({"contact": f"{self.table.target_label('contact')}: {exc}"}) from None
        if not people:
            raise ValidationError({"contact": f"{self.table.target_label('contact')}: an opportunity needs a contact"})
        if len(people) > 1:
            self.ctx.warn(
                f"links {len(people)} people; {show(str(people[0]))} was used", self.table.target_label("contact")
            )
        self.contact = people[0]
        try:
            self.fund = self.row_fund(row)
        except ValueError as exc:
            raise ValidationError({"fund": str(exc)}) from None
        if self.fund is None:
            raise ValidationError({"fund": "no fund: map a fund column, or choose a fund for rows without one"})
        name = collapse_spaces(row.get("name")) or f"{self.contact} ({self.fund})"
        if parsers.has_markup(name):
            raise ValidationError({"name": f"{self.table.target_label('name')}: {parsers.markup_message(name)}"})
        found = self.ctx.opportunity_index().get((fold(name), record_key(self.fund)))
        return self.ctx.edit(found) if found else None

    def init_instance(self, row: dict | None = None) -> Opportunity:
        instance = super().init_instance(row)
        instance.contact = self.contact
        instance.fund = self.fund
        # A typed name that is too long is a row error; only the made-up one is shortened to fit.
        fallback = f"{self.contact} ({self.fund})"[: Opportunity._meta.get_field("name").max_length]
        instance.name = collapse_spaces((row or {}).get("name")) or fallback
        return instance

    def import_extra(self, instance: Opportunity, row: dict) -> None:
        if instance.organization_id is None and instance._state.fields_cache.get("organization") is None:
            companies = link_names(self.table, row.get("contact_company") or "")
            org = self.ctx.orgs.find(companies[0]) if companies else None
            instance.organization = org if org else self.contact.organization
        if instance.stage_id is None and instance._state.fields_cache.get("stage") is None:
            raise ValidationError({"stage": f"{self.table.target_label('stage')}: an opportunity needs a stage"})

    def after_save_instance(self, instance: Opportunity, row: dict, **kwargs: Any) -> None:
        super().after_save_instance(instance, row, **kwargs)
        self.ctx.add_opportunity(instance, instance.fund)
