from django import template

register = template.Library()

# Mirrors lps.views.CHECKS: which flags live on the LP profile rather than the commitment.
PROFILE_FIELDS = {"accredited", "qualified_purchaser"}


@register.filter
def check_value(commitment, field: str) -> bool:
    """The state of one check mark of a commitment row (the LP's own flags for accredited)."""
    target = commitment.lp if field in PROFILE_FIELDS else commitment
    return bool(getattr(target, field, False))
