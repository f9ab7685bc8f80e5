"""The default stale-relationship thresholds, shared by migration 0012 and the post_migrate hook."""

DEFAULT_DAYS = {"investor": 90, "prospect": 21, "advisor": 60, "other": 120}


def create_default_thresholds(StaleThreshold, using: str = "default") -> None:  # noqa: N803 - a model class
    for contact_type, days in DEFAULT_DAYS.items():
        StaleThreshold.objects.using(using).get_or_create(contact_type=contact_type, defaults={"days": days})
