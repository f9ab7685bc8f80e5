from decimal import Decimal

from django import template

from crm.lib.money import money_exact, money_short

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
