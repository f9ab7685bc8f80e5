from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db.models.signals import post_migrate

from contacts.migrations._thresholds import create_default_thresholds


class ContactsConfig(AppConfig):
    name = "contacts"

    def ready(self) -> None:
        from contacts import strength
        from contacts.models import connect_last_touch, stale_digest_section
        from crm.lib import digest

        strength.connect()
        connect_last_touch()
        digest.register("stale", stale_digest_section)
        # `flush` (and a transactional test's teardown) empties every table and only post_migrate
        # runs afterwards: put the default thresholds back there too, or nothing would be stale.
        post_migrate.connect(ensure_default_thresholds, sender=self)


def ensure_default_thresholds(sender, using="default", apps=global_apps, **kwargs) -> None:
    """The default thresholds when there are none at all (edited or removed ones are left alone)."""
    try:
        StaleThreshold = apps.get_model("contacts", "StaleThreshold")
    except LookupError:  # migrated back to before 0012: no thresholds to keep
        return
    if not StaleThreshold.objects.using(using).exists():
        create_default_thresholds(StaleThreshold, using)
