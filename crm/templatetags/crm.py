from decimal import Decimal
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.formats import date_format

from crm.lib.money import money_exact, money_short
from crm.permissions import Capability, can

register = template.Library()


@register.filter
def money(value: Decimal | None, currency: str = "USD") -> str:
    """$2.5M: for cards, KPIs and column totals."""
    return money_short(value, currency)


@register.filter
def money_full(value: Decimal | None, currency: str = "USD") -> str:
    """$2,500,000: for panels, tables and exports people reconcile against."""
    return money_exact(value, currency)


@register.filter
def percent_width(value: int | float | None) -> int:
    """A percentage clamped to 0–100 and rounded to 5, for width classes (w-0 … w-100)."""
    try:
        number = max(0, min(100, int(value or 0)))
    except (TypeError, ValueError):
        return 0
    return int(round(number / 5) * 5)


@register.filter
def described_widget(bound_field):
    """The field's widget, pointing screen readers at its help text and its error message."""
    ids = []
    if bound_field.help_text:
        ids.append(f"{bound_field.auto_id}_helptext")
    if bound_field.errors:
        ids.append(f"{bound_field.auto_id}_error")
    return bound_field.as_widget(attrs={"aria-describedby": " ".join(ids)} if ids else None)


@register.simple_tag(takes_context=True)
def audit_url(context, record) -> str:
    """The audit log of ``record`` for a user who may read it, else ""."""
    user = context.get("user")
    if record is None or not getattr(user, "is_authenticated", False) or not can(user, Capability.VIEW_AUDIT):
        return ""
    return f"{reverse('audit_log')}?{urlencode({'type': record._meta.label_lower, 'record': record.pk})}"


@register.filter
def custom_value(record, definition) -> str:
    """A custom field's value as a grid cell shows it: one short line, from the row's JSON column."""
    stored = (getattr(record, "custom_fields", None) or {}).get(definition.key)
    if definition.is_empty(stored):
        return ""
    try:
        value = definition.from_storage(stored)
    except (ValueError, ArithmeticError):
        return str(stored)
    kind = definition.field_type
    if kind == "checkbox":
        return "Yes"
    if kind == "currency":
        return money_exact(value)
    if kind == "date":
        return date_format(value, "M j, Y")
    if kind == "multi_select":
        return ", ".join(map(str, value))
    return str(value)


@register.filter
def may_change(saved_view, user) -> bool:
    return saved_view.may_change(user)
