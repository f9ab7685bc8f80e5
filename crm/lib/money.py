"""Money formatting: short on cards and KPIs ($2.5M), exact in panels ($2,500,000)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CHF": "CHF ", "CAD": "C$", "AUD": "A$"}


def _symbol(currency: str) -> str:
    return SYMBOLS.get((currency or "USD").upper(), f"{currency} ")


def money_short(value: Decimal | int | None, currency: str = "USD") -> str:
    if value is None:
        return "—"
    amount = Decimal(value)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    for limit, suffix in ((Decimal("1e9"), "B"), (Decimal("1e6"), "M"), (Decimal("1e3"), "K")):
        if amount >= limit:
            scaled = (amount / limit).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
            text = f"{scaled:f}".removesuffix(".0")
            return f"{sign}{_symbol(currency)}{text}{suffix}"
    return f"{sign}{_symbol(currency)}{amount.quantize(Decimal('1'), rounding=ROUND_HALF_UP):f}"


def money_exact(value: Decimal | int | None, currency: str = "USD") -> str:
    if value is None:
        return "—"
    amount = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    text = f"{amount:,.2f}".removesuffix(".00")
    return f"{sign}{_symbol(currency)}{text}"


# Every money column: up to 9,999,999,999,999.99 in the fund's currency.
MONEY = {"max_digits": 15, "decimal_places": 2}
