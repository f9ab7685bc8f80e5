from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db.models.signals import post_migrate

from pipeline.migrations import _stages


class PipelineConfig(AppConfig):
    name = "pipeline"

    def ready(self) -> None:
        # `flush` (and test teardown) empties every table, stages included, and only
        # post_migrate runs afterwards: seed the standard stages there, not just in a migration.
        post_migrate.connect(ensure_default_stages, sender=self)
        # Tasks join the next-actions page (in contacts, below) through its registry.
        from crm.lib import digest, next_actions, record_sections
        from pipeline.todo import contact_task_section, overdue_tasks, task_action_group, task_digest_section

        next_actions.register("tasks", task_action_group, views=True)
        # The digest has its own tasks section (every task due, counted), so it skips the page's group.
        digest.register("tasks", task_digest_section)
        # A contact's page gets a Tasks tab (contacts, below, cannot import Task).
        record_sections.register(record_sections.CONTACT, "tasks", contact_task_section)
        # The sidebar's overdue badge counts the user's overdue tasks too.
        next_actions.register_overdue("tasks", overdue_tasks)


def ensure_default_stages(sender, using="default", apps=global_apps, **kwargs) -> None:
    """Create the standard stages when there are none at all (one that was renamed or
    removed while others remain is left alone)."""
    Stage = apps.get_model("pipeline", "Stage")
    if not Stage.objects.using(using).exists():
        _stages.create_default_stages(Stage, using)
