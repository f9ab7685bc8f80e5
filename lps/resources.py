"""django-import-export resource for LP commitments (used by imports).

A commitment row names an investor (a contact); the contact's LP profile is created when
missing, which also makes them an investor. The profile's own fields (investor type,
qualified purchaser, accredited) come from the same row.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from import_export import fields

from crm.imports import parsers
from crm.imports.parsers import ParseError, fold, person_key_from_text
from crm.imports.resources import ROW, AttachmentsWidget, CRMField, CRMResource, FundWidget
from crm.imports.schema import Target
from crm.lib.money import money_exact
from crm.lib.text import normalize_email
from lps.models import Commitment, LPProfile
from pipeline.models import Fund

PROFILE_TARGETS = ("investor_type", "qualified_purchaser", "accredited")


class ProfileField(CRMField):
    """A value for the investor's LP profile rather than the commitment."""

    def save(self, instance: Any, row: dict, is_m2m: bool = False, **kwargs: Any) -> None:
        value = self.clean(row)
        if value not in (None, "", False):
            self.resource.profile_values[self.target.key] = value


class AttachmentNotesField(CRMField):
    """Attached files: the names go in the notes (the files' download links expire)."""

    def save(self, instance: Any, row: dict, is_m2m: bool = False, **kwargs: Any) -> None:
        names = self.clean(row)
        if names:
            self.resource.ctx.note(
                f"{self.resource.table.target_label('attachments')} (files not copied): " + "; ".join(names)
            )


class CommitmentResource(CRMResource):
    entity_key = "commitments"
    notes_attribute = "notes"

    class Meta(CRMResource.Meta):
        model = Commitment

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.profile: LPProfile | None = None
        self.fund: Fund | None = None
        self.profile_values: dict[str, Any] = {}
        self._groups: dict[int, list[dict]] = {}
        super().__init__(*args, **kwargs)

    def build_field(self, target: Target) -> fields.Field | None:
        if target.key in ("contact", "fund", "notes"):
            return None  # resolved in find_existing, or composed with the notes
        if target.key in PROFILE_TARGETS:
            field = ProfileField(None, target, self.widget_for(target))
        elif target.key == "attachments":
            field = AttachmentNotesField(None, target, AttachmentsWidget(self, target))
        else:
            return super().build_field(target)
        field.resource = self
        return field

    def find_existing(self, row: dict) -> Commitment | None:
        self.profile_values = {}
        try:
            people = self.resolve_people(row)
        except ParseError as exc:
            raise ValidationError({"contact": f"{self.table.target_label('contact')}: {exc}"}) from None
        if not people:
            raise ValidationError({"contact": f"{self.table.target_label('contact')}: a commitment needs an investor"})
        try:
            if "fund" in self.table.mapped_targets() and parsers.clean(row.get("fund")):
                self.fund = FundWidget(self, self.table.entity_def.target("fund")).clean(row["fund"])
            else:
                self.fund = (
                    self.ctx.fund(self.table.default_fund) if self.table.default_fund else Fund.objects.current()
                )
        except ValueError as exc:
            raise ValidationError({"fund": str(exc)}) from None
        if self.fund is None:
            raise ValidationError({"fund": "no fund: map a fund column, or choose a fund for rows without one"})
        contact = people[0]
        self.profile = LPProfile.objects.visible_to(self.ctx.user).filter(contact=contact).first()
        if self.profile is None:
            # Saving a profile makes the contact an investor; both get history rows.
            self.profile = LPProfile(contact=contact)
            self.ctx.stamp(self.profile)
            self.profile.save()
        return Commitment.objects.visible_to(self.ctx.user).filter(lp=self.profile, fund=self.fund).first()

    def init_instance(self, row: dict | None = None) -> Commitment:
        instance = super().init_instance(row)
        instance.lp = self.profile
        instance.fund = self.fund
        return instance

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        """Find rows for the same investor and fund (e.g. an individual account and an IRA).

        The CRM keeps one commitment per LP per fund, so such rows become one commitment
        holding their sum. Grouping happens before the rows run, so the first row of a group
        writes the total at once and a second run finds nothing to change.
        """
        groups: dict[tuple, list[dict]] = {}
        for values in dataset.dict:
            emails = parsers.split_lookup(values.get("contact_email") or "")
            who = normalize_email(emails[0]) if len(emails) == 1 else person_key_from_text(values.get("contact") or "")
            if who:
                groups.setdefault((who, fold(values.get("fund") or "")), []).append(values)
        self._groups = {int(values[ROW]): rows for rows in groups.values() if len(rows) > 1 for values in rows}

    def prepare_row(self, row: dict) -> None:
        self.profile = None
        group = self._groups.get(int(row.get(ROW) or 0))
        if group:
            if int(row[ROW]) == int(group[0][ROW]):
                totals = self._group_totals(group)
                row.update({key: str(value) for key, value in totals.items()})
            else:
                for key in ("commitment_amount", "funded_amount"):
                    row.pop(key, None)  # counted in the first row's total

    def import_row(self, row: dict, instance_loader: Any, **kwargs: Any) -> Any:
        result = super().import_row(row, instance_loader, **kwargs)
        if self.profile is not None and self.profile.pk:
            # The first row of an investor sets the profile, on every run alike.
            self.ctx.profiles_applied.add(self.profile.pk)
        return result

    def _group_totals(self, group: list[dict]) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        parts = []
        for values in group:
            try:
                amounts = {
                    key: parsers.parse_money(values.get(key) or "") or Decimal("0")
                    for key in ("commitment_amount", "funded_amount")
                    if key in values
                }
            except ParseError:
                return {}  # the bad amount is reported by its own row
            for key, amount in amounts.items():
                totals[key] = totals.get(key, Decimal("0")) + amount
            kind = parsers.clean(values.get("investor_type"))
            committed = money_exact(amounts.get("commitment_amount"))
            parts.append(f"row {values[ROW]}: {committed}" + (f" ({kind})" if kind else ""))
        self.ctx.warn(
            f"{len(group)} rows are for this investor in this fund; the CRM keeps one commitment per LP per fund, "
            f"so they are added together ({'; '.join(parts)})"
        )
        self.ctx.note(f"Combines {len(group)} rows of the import: {'; '.join(parts)}.")
        return totals

    def import_extra(self, instance: Commitment, row: dict) -> None:
        if instance.pk is None and not parsers.clean(row.get("status")):
            self.ctx.warn("no status: saved as a soft circle", self.table.target_label("status"))

    def notes_target(self) -> str:
        return "notes"

    def skip_row(self, instance: Commitment, original: Any, row: dict, import_validation_errors: Any = None) -> bool:
        return super().skip_row(instance, original, row, import_validation_errors) and not self._profile_changes()

    def _profile_changes(self) -> dict[str, Any]:
        """Profile values from this row: an investor's first row sets the type; any row may tick a checkbox.

        Airtable keeps “Qualified Purchaser” per commitment row; the CRM keeps it once per LP,
        so an LP ticked on any row is a qualified purchaser.
        """
        profile = self.profile
        first_row = profile.pk not in self.ctx.profiles_applied
        return {
            key: value
            for key, value in self.profile_values.items()
            if getattr(profile, key) != value and (first_row or value is True)
        }

    def after_save_instance(self, instance: Commitment, row: dict, **kwargs: Any) -> None:
        super().after_save_instance(instance, row, **kwargs)
        changes = self._profile_changes()
        if changes:
            profile = LPProfile.objects.visible_to(self.ctx.user).get(pk=self.profile.pk)
            for key, value in changes.items():
                setattr(profile, key, value)
            self.ctx.stamp(profile)
            profile.save()
            self.profile = profile

    def describe(self, instance: Commitment) -> str:
        return f"{instance.lp} — {instance.fund}: {money_exact(instance.commitment_amount)}"
