from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Venture CRM"

    def ready(self) -> None:
        # Here, not at the top: these reach models and settings, which Django allows only once
        # the app registry is ready.
        from django.conf import settings
        from django.db.backends.signals import connection_created

        from crm import checks  # noqa: F401  (registers the deploy checks)
        from crm.lib import private_files
        from crm.permissions import connect_guards

        connect_guards()
        # Before any connection: a database, -wal/-shm or data folder left open by an older
        # version is closed (new ones are created private: see DATABASES OPTIONS "factory").
        private_files.secure_at_start(settings.DATA_DIR, settings.DATA_DIR / "secret_key", settings.DATABASES)
        connection_created.connect(private_files.on_connection_created, dispatch_uid="crm.private_files")
