"""Read every django-simple-history table of the CRM as one log, newest first.

One UNION over the history tables pages the log (a COUNT and one page of rows); the page's
field-by-field changes then cost two queries per record type on the page (its rows with
their previous versions' ids, and those versions) and one per related model named in a
change, never one per row. Who may read it is decided here (``Capability.VIEW_AUDIT``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django import forms
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db import models
from django.db.models import CharField, OuterRef, Subquery, Value
from django.utils import timezone

from crm.lib.history import HISTORY_TYPES, Change, names_including_deleted, raw_changes, readable_changes
from crm.permissions import Capability, require

CRM_APPS = ("crm", "contacts", "lps", "pipeline")
PAGE_SIZE = 50
EXPORT_CHUNK = 500
ROW_FIELDS = ("history_id", "history_date", "history_type", "history_user_id", "history_change_reason", "id")


@cache
def audited_models() -> dict[str, type[models.Model]]:
    """{"contacts.contact": Contact, …}: every CRM model that keeps a history, by its key."""
    found = {}
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label in CRM_APPS and hasattr(meta, "simple_history_manager_attribute"):
            found[meta.label_lower] = model
    return dict(sorted(found.items(), key=lambda item: str(item[1]._meta.verbose_name)))


def type_key(model: type[models.Model]) -> str:
    return model._meta.label_lower


def _history(model: type[models.Model]):
    return getattr(model, model._meta.simple_history_manager_attribute).model


class AuditFilterForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.order_by("full_name", "username"),
        required=False,
        empty_label="Anyone",
    )
    type = forms.ChoiceField(required=False, label="Record type")
    record = forms.IntegerField(required=False, min_value=1, label="Record id")
    action = forms.ChoiceField(
        required=False, choices=[("", "Any change"), *[(key, label) for key, label in HISTORY_TYPES.items()]]
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = [("", "Any record type")] + [
            (key, str(model._meta.verbose_name).capitalize()) for key, model in audited_models().items()
        ]
        self.fields["user"].label_from_instance = lambda user: user.display_name

    def clean(self) -> dict:
        data = super().clean()
        if data.get("record") and not data.get("type"):
            self.add_error("type", "Pick the record type of that record id.")
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data


def _since(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def log_rows(user: Any, filters: dict):
    """The matching history rows of every audited table as one ordered queryset of dicts."""
    require(user, Capability.VIEW_AUDIT)
    keys = [filters["type"]] if filters.get("type") else list(audited_models())
    parts = []
    for key in keys:
        rows = _history(audited_models()[key]).objects.order_by()  # a UNION's parts are unordered
        if filters.get("user"):
            rows = rows.filter(history_user=filters["user"])
        if filters.get("record"):
            rows = rows.filter(id=filters["record"])
        if filters.get("action"):
            rows = rows.filter(history_type=filters["action"])
        if filters.get("date_from"):
            rows = rows.filter(history_date__gte=_since(filters["date_from"]))
        if filters.get("date_to"):
            rows = rows.filter(history_date__lt=_since(filters["date_to"] + datetime.timedelta(days=1)))
        # Not "kind": an audited model may have a field of that name (lps.ComplianceCheck).
        parts.append(rows.annotate(audit_kind=Value(key, output_field=CharField())).values(*ROW_FIELDS, "audit_kind"))
    union = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return union.order_by("-history_date", "-history_id")


@dataclass
class AuditEntry:
    when: datetime.datetime
    who: Any
    action: str
    kind: str
    type_label: str
    record_id: int
    record: str
    url: str | None
    reason: str
    changes: list[Change] = field(default_factory=list)


def describe(rows: list[dict]) -> list[AuditEntry]:
    """The page's rows with who, the record's name and the field-by-field change."""
    by_kind: dict[str, list[dict]] = {}
    for row in rows:
        by_kind.setdefault(row["audit_kind"], []).append(row)
    users = get_user_model().objects.in_bulk({row["history_user_id"] for row in rows} - {None})
    details: dict[tuple[str, int], tuple[list[Change], str, str | None]] = {}
    for kind, kind_rows in by_kind.items():
        model = audited_models()[kind]
        history = _history(model)
        previous_id = (
            history.objects.filter(id=OuterRef("id"), history_date__lt=OuterRef("history_date"))
            .order_by("-history_date", "-history_id")
            .values("history_id")[:1]
        )
        records = list(
            history.objects.filter(history_id__in=[row["history_id"] for row in kind_rows]).annotate(
                previous_id=Subquery(previous_id)
            )
        )
        previous = history.objects.in_bulk([r.previous_id for r in records if r.previous_id])
        # Tag changes are left out here (two queries a row); each record's History tab has them.
        pairs = [
            (record, raw_changes(record, previous.get(record.previous_id), many_to_many=False)) for record in records
        ]
        names = names_including_deleted(model, {record.id for record in records})
        for (record, _raw), readable in zip(pairs, readable_changes(model, pairs), strict=True):
            named = names.get(record.id)
            url = named.get_absolute_url() if hasattr(named, "get_absolute_url") else None
            details[(kind, record.history_id)] = (readable, str(named or f"#{record.id}"), url)
    entries = []
    for row in rows:
        model = audited_models()[row["audit_kind"]]
        changes, name, url = details[(row["audit_kind"], row["history_id"])]
        entries.append(
            AuditEntry(
                when=row["history_date"],
                who=users.get(row["history_user_id"]),
                action=HISTORY_TYPES.get(row["history_type"], row["history_type"]),
                kind=row["audit_kind"],
                type_label=str(model._meta.verbose_name).capitalize(),
                record_id=row["id"],
                record=name,
                url=url,
                reason=row["history_change_reason"] or "",
                changes=changes,
            )
        )
    return entries


def log_page(user: Any, filters: dict, number: Any) -> tuple[Page, list[AuditEntry]]:
    page = Paginator(log_rows(user, filters), PAGE_SIZE).get_page(number)
    return page, describe(list(page.object_list))


def export_rows(user: Any, filters: dict) -> Iterator[list[Any]]:
    """One CSV line per changed field (one per row that changed no field), in chunks.

    The permission is checked now, not when the response starts streaming."""
    rows = log_rows(user, filters)

    def lines() -> Iterator[list[Any]]:
        start = 0
        while chunk := list(rows[start : start + EXPORT_CHUNK]):
            for entry in describe(chunk):
                who = entry.who.display_name if entry.who else "System"
                head = [entry.when, who, entry.action, entry.type_label, entry.record_id, entry.record, entry.reason]
                for change in entry.changes or [Change("", "", "")]:
                    yield [*head, change.field, change.old, change.new]
            start += EXPORT_CHUNK

    return lines()


EXPORT_HEADERS = ["When", "Who", "Action", "Record type", "Record id", "Record", "Reason", "Field", "Old", "New"]
