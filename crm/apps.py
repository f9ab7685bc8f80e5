from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Venture CRM"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.backends.signals import connection_created

        from crm import checks  # noqa: F401  (registers the deploy checks)
        from crm.lib import private_files

        # Before any connection: SQLite gives a new database (and its -wal/-shm) the umask's
        # 0644 unless the file already exists 0600.
        private_files.secure_at_start(settings.DATA_DIR, settings.DATA_DIR / "secret_key", settings.DATABASES)
        connection_created.connect(private_files.on_connection_created, dispatch_uid="crm.private_files")
