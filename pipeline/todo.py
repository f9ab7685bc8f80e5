"""Tasks (issue 17): the one way in to create, change, finish, snooze, reopen and delete them.

Each service is atomic and names the acting user on the instance, so the model's own check
(``Task.save``/``Task.delete``: owner, creator, managers, admins) and simple-history see the
same person. Not ``tasks.py``: that name is the background jobs' elsewhere in the project.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import urlencode

from crm.lib import digest, record_sections
from pipeline.models import Task

# What a form or the API may set; the rest (creator, done_*) the services keep.
EDITABLE = ("title", "owner", "due_date", "contact", "opportunity", "lp_profile", "commitment", "notes")


class TaskView:
    MINE = "mine"  # Assigned to me
    ASSIGNED = "assigned"  # I assigned (to anyone, me included)
    EVERYONE = "everyone"
    CHOICES = ((MINE, "Assigned to me"), (ASSIGNED, "I assigned"), (EVERYONE, "Everyone"))


def _check_owner(owner: Any) -> None:
    """An owner must be an active member of the team: a deactivated user never sees the task."""
    if owner is None or not getattr(owner, "is_active", False):
        raise ValidationError({"owner": "Choose an active team member."})


def _require_member(user: Any) -> None:
    if user is None or not getattr(user, "is_active", False) or not getattr(user, "is_authenticated", False):
        raise PermissionDenied("Sign in as an active team member to set tasks.")


def create_task(user: Any, **fields: Any) -> Task:
    """Any active member may set a task for anyone active on the team."""
    _require_member(user)
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise TypeError(f"Not task fields: {', '.join(sorted(unknown))}")
    _check_owner(fields.get("owner"))
    task = Task(created_by=user, **fields)
    task.full_clean()
    task._history_user = user
    with transaction.atomic():
        task.save()
    return task


def update_task(task: Task, user: Any, **fields: Any) -> Task:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise TypeError(f"Not task fields: {', '.join(sorted(unknown))}")
    task.refuse_write(user)
    if "owner" in fields:
        _check_owner(fields["owner"])
    for name, value in fields.items():
        setattr(task, name, value)
    task.full_clean()
    task._history_user = user
    with transaction.atomic():
        task.save()
    return task


def _write(task: Task, user: Any, **values: Any) -> Task:
    task.refuse_write(user)
    for name, value in values.items():
        setattr(task, name, value)
    task._history_user = user
    with transaction.atomic():
        task.save()
    return task


def complete_task(task: Task, user: Any) -> Task:
    return _write(task, user, done=True, done_at=timezone.now(), done_by=user, snoozed_until=None)


def reopen_task(task: Task, user: Any) -> Task:
    return _write(task, user, done=False, done_at=None, done_by=None)


def snooze_task(task: Task, user: Any, until: datetime.date, today: datetime.date | None = None) -> Task:
    today = today or timezone.localdate()
    if until is None or until <= today:
        raise ValidationError({"snoozed_until": "Snooze until a day after today."})
    return _write(task, user, snoozed_until=until)


def delete_task(task: Task, user: Any) -> None:
    task.refuse_write(user)
    task._history_user = user
    with transaction.atomic():
        task.delete()


def tasks_for(user: Any, view: str = TaskView.MINE) -> QuerySet[Task]:
    """Open tasks for one of the page's views; scoped like every model."""
    tasks = Task.objects.visible_to(user).open()
    if view == TaskView.MINE:
        tasks = tasks.filter(owner=user)
    elif view == TaskView.ASSIGNED:
        tasks = tasks.filter(created_by=user)
    return tasks.select_related(
        "owner",
        "created_by",
        "contact",
        "opportunity",
        "lp_profile__contact",
        "commitment__lp__contact",
        "commitment__fund",
    )


def overdue_and_due_today(user: Any, today: datetime.date) -> QuerySet[Task]:
    """The user's open, unsnoozed tasks due on or before ``today`` (for the daily digest)."""
    return tasks_for(user, TaskView.MINE).unsnoozed(today).filter(due_date__lte=today).order_by("due_date", "pk")


def overdue_tasks(user: Any, today: datetime.date) -> QuerySet[Task]:
    """The user's open tasks due before today, snoozed ones left out until their day: the
    sidebar badge counts them with the overdue next actions (registered in PipelineConfig.ready).
    ``owner`` then ``due_date < today`` under ``done = false``: the task_open_owner_idx index."""
    return Task.objects.visible_to(user).open().filter(owner=user, due_date__lt=today).unsnoozed(today)


DIGEST_LIMIT = 20


def task_digest_section(user: Any, today: datetime.date) -> digest.Section | None:
    """The morning digest's "your tasks due": the first DIGEST_LIMIT and, when there are more, the count."""
    tasks = overdue_and_due_today(user, today)
    rows = list(tasks[:DIGEST_LIMIT])
    if not rows:
        return None
    items = [
        digest.Item(title=task.title, detail=_task_detail(task, user), due=task.due_date, url=task.get_absolute_url())
        for task in rows
    ]
    total = tasks.order_by().count() if len(rows) == DIGEST_LIMIT else len(rows)
    return digest.Section("tasks", "Your tasks due", items, total, reverse("task_list") + f"?who={TaskView.MINE}")


def active_team() -> QuerySet:
    """Whom a task may be assigned to: the owner pickers' choices (the form's and the admin's)."""
    return get_user_model().objects.team()


def task_from_next_action(communication: Any, user: Any, owner: Any, *, title: str = "", note: str = "") -> Task:
    """Hand a communication's next action to ``owner`` as a task.

    The next action is marked done (by ``user``): the task now carries the follow-up, and a
    fund team expects one place to look, not the same to-do twice on the page. The task's
    notes say where it came from.
    """
    if communication.next_action_done or not communication.next_action:
        raise ValidationError("This next action is already done or empty.")
    source = communication.subject or communication.get_type_display()
    notes = note or f"From the next action of “{source}”."
    with transaction.atomic():
        task = create_task(
            user,
            title=title or communication.next_action,
            owner=owner,
            due_date=communication.next_action_date,
            contact=communication.contact,
            opportunity=communication.opportunity,
            notes=notes,
        )
        communication.mark_action_done(user)
    return task


# --- On the "Tasks & next actions" page ----------------------------------------------------

GROUP_LABELS = {
    TaskView.MINE: "Tasks assigned to me",
    TaskView.ASSIGNED: "Tasks I assigned",
    TaskView.EVERYONE: "Everyone's tasks",
}


def _task_detail(task: Task, user: Any) -> str:
    parts = []
    if task.owner_id != getattr(user, "pk", None):
        parts.append(f"for {task.owner.display_name}")
    if task.created_by_id and task.created_by_id != getattr(user, "pk", None):
        parts.append(f"from {task.created_by.display_name}")
    for linked in (task.contact, task.opportunity, task.lp_profile, task.commitment):
        if linked is not None:
            parts.append(str(linked))
            break
    if task.snoozed_until:
        parts.append(f"snoozed until {task.snoozed_until:%b %-d}")
    return " · ".join(parts)


def _task_controls(task: Task) -> tuple[Any, ...]:
    from crm.lib.next_actions import ActionControl

    return (
        ActionControl(
            "✓ Done",
            reverse("task_done", args=[task.pk]),
            post=(("done", "1"),),
            aria_label=f"Mark “{task.title}” done",
        ),
        ActionControl("Snooze", reverse("task_snooze", args=[task.pk]), aria_label=f"Snooze “{task.title}”"),
        ActionControl("Edit", reverse("task_edit", args=[task.pk]), aria_label=f"Edit “{task.title}”"),
    )


def task_action_group(user: Any, today: datetime.date, who: str = TaskView.MINE) -> Any:
    """The page's tasks group for one view: two queries (the count and the first SOURCE_LIMIT)."""
    from crm.lib.next_actions import SOURCE_LIMIT, ActionItem, SourceGroup

    tasks = tasks_for(user, who).unsnoozed(today) if who == TaskView.MINE else tasks_for(user, who)
    group = SourceGroup(
        key="tasks",
        label=GROUP_LABELS.get(who, GROUP_LABELS[TaskView.MINE]),
        explanation="Open tasks by due date"
        + (" (snoozed ones come back on their day)." if who == TaskView.MINE else ", snoozed ones included."),
        total=tasks.order_by().count(),
        more_url=reverse("task_list") + f"?who={who}",
    )
    for task in tasks[:SOURCE_LIMIT]:
        group.items.append(
            ActionItem(
                title=task.title,
                detail=_task_detail(task, user),
                due=task.due_date,
                url=task.get_absolute_url(),
                controls=_task_controls(task) if task.may_change(user) else (),
                key=f"task-{task.pk}",
            )
        )
    return group


# --- On a contact's and an opportunity's own page ----------------------------------------

RECORD_LIMIT = 25  # open tasks drawn on a record's page; the count says when there are more
RECORD_DONE_LIMIT = 10  # the latest done ones, behind the toggle


@dataclass
class RecordTasks:
    """The tasks linked to one contact or opportunity, as its page draws them."""

    field: str  # "contact" or "opportunity": the task's link to the record
    record: Any
    today: datetime.date
    open: list[Task]
    open_count: int
    done: list[Task]
    done_count: int

    @property
    def dom_id(self) -> str:
        return f"{self.field}-{self.record.pk}-tasks"

    @property
    def refresh_url(self) -> str:
        """Empty where the tasks' URLs are not mounted (a test's URLconf with the contacts app alone)."""
        try:
            return reverse(f"{self.field}_tasks", args=[self.record.pk])
        except NoReverseMatch:
            return ""

    @property
    def new_query(self) -> str:
        """The new-task form's prefill: the record, and an opportunity's contact too."""
        params = {self.field: self.record.pk}
        if self.field == "opportunity" and self.record.contact_id:
            params["contact"] = self.record.contact_id
        return urlencode(params)

    @property
    def remaining(self) -> int:
        return max(self.open_count - len(self.open), 0)


def record_tasks(user: Any, field: str, record: Any, today: datetime.date | None = None) -> RecordTasks:
    """At most three queries whatever the number of tasks: both counts in one, then the open
    ones by due date and the latest done ones, each bounded and skipped when there are none."""
    if field not in ("contact", "opportunity"):
        raise ValueError(f"Tasks are not listed on a {field}'s page.")
    tasks = (
        Task.objects.visible_to(user)
        .filter(**{field: record})
        .select_related("owner", "created_by", "done_by", "contact", "opportunity")
    )
    counts = tasks.order_by().aggregate(open=Count("pk", filter=Q(done=False)), done=Count("pk", filter=Q(done=True)))
    open_rows = list(tasks.filter(done=False)[:RECORD_LIMIT]) if counts["open"] else []
    done_rows = list(tasks.filter(done=True).order_by("-done_at", "-pk")[:RECORD_DONE_LIMIT]) if counts["done"] else []
    for task in (*open_rows, *done_rows):
        task.changeable = task.may_change(user)
    return RecordTasks(
        field=field,
        record=record,
        today=today or timezone.localdate(),
        open=open_rows,
        open_count=counts["open"],
        done=done_rows,
        done_count=counts["done"],
    )


RECORD_TEMPLATE = "pipeline/record_tasks.html"


def task_section(user: Any, field: str, record: Any) -> record_sections.RecordSection:
    """A record's tasks as the section its page includes (RECORD_TEMPLATE reads ``section``)."""
    tasks = record_tasks(user, field, record)
    return record_sections.RecordSection(
        key="tasks", label="Tasks", count=tasks.open_count, template=RECORD_TEMPLATE, data=tasks
    )


def contact_task_section(contact: Any, user: Any) -> record_sections.RecordSection:
    """The contact page's Tasks tab (registered in PipelineConfig.ready)."""
    return task_section(user, "contact", contact)
