"""Tasks: the Tasks page's services (pipeline.todo) and ``Task.save``'s rule on who may change one."""

from __future__ import annotations

import datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from crm.api.common import (
    Body,
    Page,
    PathId,
    RecordId,
    bound_form,
    filter_parameters,
    filtered_page,
    form_data,
    record_values,
)
from crm.api.errors import Problem
from crm.lib.text import LINE_MAX, NOTE_MAX
from crm.models import User
from pipeline import todo
from pipeline.forms import TaskForm
from pipeline.models import Task

router = Router(tags=["tasks"])


def _owners(request: Any):
    return User.objects.all()


class TaskFilter(django_filters.FilterSet):
    """The Tasks page has views, not a FilterSet; a script asks by owner, done and due date."""

    owner = django_filters.ModelChoiceFilter(queryset=_owners, label="Owner")
    done = django_filters.ChoiceFilter(method="by_done", choices=[("yes", "Done"), ("no", "Open")], label="Done")
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lt", label="Due before")

    class Meta:
        model = Task
        fields: list[str] = []

    def by_done(self, queryset, name: str, value: str):
        return queryset.filter(done=value == "yes")


class TaskOut(Schema):
    id: int
    title: str
    owner_id: int
    created_by_id: int | None
    due_date: datetime.date | None
    contact_id: int | None
    opportunity_id: int | None
    lp_profile_id: int | None
    commitment_id: int | None
    notes: str
    snoozed_until: datetime.date | None
    done: bool
    done_at: datetime.datetime | None
    done_by_id: int | None
    created_at: datetime.datetime
    updated_at: datetime.datetime


class TaskList(Page):
    items: list[TaskOut]


class TaskIn(Body):
    """A task's fields, checked as the task form does; on PATCH only those sent change. Its
    owner, its creator, managers and admins may change it; anyone may set one for anyone."""

    title: str | None = Field(None, max_length=LINE_MAX)
    owner_id: RecordId | None = Field(None, description="An active team member; default: you.")
    due_date: datetime.date | None = None
    contact_id: RecordId | None = None
    opportunity_id: RecordId | None = None
    lp_profile_id: RecordId | None = None
    commitment_id: RecordId | None = None
    notes: str | None = Field(None, max_length=NOTE_MAX)


class DoneIn(Body):
    done: bool = Field(True, description="false reopens the task.")


def _tasks(user: Any):
    return Task.objects.visible_to(user)


def _save_task(request: HttpRequest, task: Task | None, payload: TaskIn) -> Task:
    changes = {k.removesuffix("_id"): v for k, v in payload.dict(exclude_unset=True).items()}
    blank = TaskForm(instance=task, initial=None if task else {"owner": request.user.pk}, user=request.user)
    form = bound_form(TaskForm(form_data(record_values(blank), changes), instance=task, user=request.user))
    fields = {name: form.cleaned_data.get(name) for name in todo.EDITABLE}
    fields["notes"] = fields["notes"] or ""
    try:
        if task is None:
            saved = todo.create_task(request.user, **fields)
        else:
            # A fresh copy: the bound form has already written its values onto ``task``.
            saved = todo.update_task(Task.objects.get(pk=task.pk), request.user, **fields)
    except ValidationError as error:
        errors = error.message_dict if hasattr(error, "error_dict") else {"": error.messages}
        raise Problem(422, "The request has invalid fields; nothing was saved.", errors) from None
    return saved


@router.get("/tasks", response=TaskList, url_name="api_task_list", openapi_extra=filter_parameters(TaskFilter))
def task_list(request: HttpRequest) -> dict:
    """Tasks you may see, earliest due first (undated last): ``owner``, ``done=yes|no``, ``due_before``."""
    page, items = filtered_page(request, TaskFilter, _tasks(request.user))
    return {**page, "items": items}


@router.post("/tasks", response={201: TaskOut}, url_name="api_task_create")
def task_create(request: HttpRequest, payload: TaskIn) -> Status:
    return Status(201, _save_task(request, None, payload))


@router.get("/tasks/{pk}", response=TaskOut, url_name="api_task_detail")
def task_detail(request: HttpRequest, pk: PathId) -> Task:
    return _tasks(request.user).get_for_user(request.user, pk)


@router.patch("/tasks/{pk}", response=TaskOut, url_name="api_task_edit")
def task_edit(request: HttpRequest, pk: PathId, payload: TaskIn) -> Task:
    task = _tasks(request.user).get_for_user(request.user, pk, write=True)
    return _save_task(request, task, payload)


@router.post("/tasks/{pk}/done", response=TaskOut, url_name="api_task_done")
def task_done(request: HttpRequest, pk: PathId, payload: DoneIn) -> Task:
    """Mark a task done (who and when are kept), or reopen it with ``{"done": false}``."""
    task = _tasks(request.user).get_for_user(request.user, pk, write=True)
    with transaction.atomic():
        return todo.complete_task(task, request.user) if payload.done else todo.reopen_task(task, request.user)
