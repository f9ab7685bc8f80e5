from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Venture CRM"

    def ready(self) -> None:
        from crm import checks  # noqa: F401  (registers the deploy checks)
        from crm.permissions import connect_guards

        connect_guards()
