from django.urls import path

from pipeline import task_views

# Tasks (issue 17), at /tasks/: the board's /pipeline/ prefix would misname them.
urlpatterns = [
    path("", task_views.task_list, name="task_list"),
    path("new/", task_views.task_create, name="task_create"),
    path("<int:pk>/edit/", task_views.task_edit, name="task_edit"),
    path("<int:pk>/done/", task_views.task_done, name="task_done"),
    path("<int:pk>/snooze/", task_views.task_snooze, name="task_snooze"),
    path("<int:pk>/delete/", task_views.task_delete, name="task_delete"),
    path("from-action/<int:pk>/", task_views.action_to_task, name="action_to_task"),
    # A record's own tasks section, reloaded by htmx after a task changes.
    path("contact/<int:pk>/", task_views.contact_tasks, name="contact_tasks"),
    path("opportunity/<int:pk>/", task_views.opportunity_tasks, name="opportunity_tasks"),
]
