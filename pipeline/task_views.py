"""Tasks (issue 17): the list, the new/edit form, done/reopen, snooze, delete, and a next
action handed over as a task. Every write goes through pipeline.todo (permissions, history)."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from contacts.badge import with_badge
from contacts.models import Communication, Contact
from crm.lib.htmx import close_dialog, empty_fragment, is_fragment_request, posted, render_page_or_fragment, safe_next
from crm.lib.next_actions import VIEWS
from pipeline import todo
from pipeline.forms import SnoozeForm, TaskForm
from pipeline.models import Opportunity, Task

FORM_TEMPLATE = "pipeline/task_form.html"
SNOOZE_TEMPLATE = "pipeline/task_snooze.html"
LIST_TEMPLATE = "pipeline/task_list.html"
# The actions page refreshes on it (its hx-trigger), like after a logged communication.
CHANGED_EVENT = "communicationsChanged"
LIST_LIMIT = 200


def _int(value: Any) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _done(request: HttpRequest, message: str, *, close: bool = True) -> HttpResponse:
    """``close``: the change came from the dialog. A done/reopen button sits on a page, or in a
    contact's slide-over panel, which closing the dialog would take away."""
    messages.success(request, message)
    if is_fragment_request(request):
        response = with_badge(request, empty_fragment(request))  # a task's due date or state moves the count
        response = close_dialog(response, CHANGED_EVENT) if close else trigger_client_event(response, CHANGED_EVENT)
        patch_vary_headers(response, ("HX-Request",))
        return response
    return redirect(safe_next(request) or "actions")


def _task(request: HttpRequest, pk: int, *, write: bool = True) -> Task:
    return Task.objects.select_related("owner", "created_by").get_for_user(request.user, pk, write=write)


@require_GET
def task_list(request: HttpRequest) -> HttpResponse:
    """Every open task of one view (the page's group shows the first few), at most LIST_LIMIT."""
    who = request.GET.get("who") if request.GET.get("who") in VIEWS else todo.TaskView.MINE
    tasks = todo.tasks_for(request.user, who)
    total = tasks.order_by().count()
    rows = list(tasks[:LIST_LIMIT])
    context = {
        "who": who,
        "views": todo.TaskView.CHOICES,
        "tasks": rows,
        "total": total,
        "remaining": max(total - len(rows), 0),
        "today": timezone.localdate(),
    }
    return render_page_or_fragment(request, LIST_TEMPLATE, "task-list", context)


def _initial(request: HttpRequest) -> dict[str, Any]:
    initial: dict[str, Any] = {"owner": request.user.pk}
    for name in ("contact", "opportunity", "lp_profile", "commitment"):
        pk = _int(request.GET.get(name))
        if pk:
            initial[name] = pk
    return initial


def _save_form(request: HttpRequest, form: TaskForm, task: Task | None) -> Task | None:
    fields = {name: form.cleaned_data.get(name) for name in todo.EDITABLE}
    fields["notes"] = fields["notes"] or ""
    try:
        if task is None:
            return todo.create_task(request.user, **fields)
        return todo.update_task(task, request.user, **fields)
    except ValidationError as error:
        _add_errors(form, error)
    return None


def _add_errors(form: Any, error: ValidationError) -> None:
    by_field = error.message_dict if hasattr(error, "error_dict") else {None: error.messages}
    for field, errors in by_field.items():
        form.add_error(field if field in form.fields else None, errors)


@require_http_methods(["GET", "POST"])
def task_create(request: HttpRequest) -> HttpResponse:
    form = TaskForm(posted(request), initial=_initial(request), user=request.user)
    if request.method == "POST" and form.is_valid():
        task = _save_form(request, form, None)
        if task is not None:
            whom = "yourself" if task.owner_id == request.user.pk else task.owner.display_name
            return _done(request, f"Task “{task.title}” set for {whom}.")
    context = {"form": form, "task": None, "next": safe_next(request) or ""}
    return render_page_or_fragment(request, FORM_TEMPLATE, "task-form", context)


@require_http_methods(["GET", "POST"])
def task_edit(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task(request, pk)
    form = TaskForm(posted(request), instance=task, user=request.user)
    if request.method == "POST" and form.is_valid():
        saved = _save_form(request, form, Task.objects.get(pk=task.pk))
        if saved is not None:
            return _done(request, f"Saved “{saved.title}”.")
    context = {"form": form, "task": task, "next": safe_next(request) or ""}
    return render_page_or_fragment(request, FORM_TEMPLATE, "task-form", context)


@require_POST
def task_done(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark a task done (who and when are kept), or ``done=0`` to reopen it."""
    task = _task(request, pk)
    if request.POST.get("done") == "0":
        todo.reopen_task(task, request.user)
        return _done(request, f"Reopened “{task.title}”.", close=False)
    todo.complete_task(task, request.user)
    return _done(request, f"Done: “{task.title}”.", close=False)


@require_http_methods(["GET", "POST"])
def task_snooze(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task(request, pk)
    today = timezone.localdate()
    form = SnoozeForm(posted(request), initial={"until": today + datetime.timedelta(days=7)})
    if request.method == "POST" and form.is_valid():
        try:
            todo.snooze_task(task, request.user, form.cleaned_data["until"], today=today)
        except ValidationError as error:
            form.add_error("until", error.message_dict["snoozed_until"])
        else:
            return _done(request, f"Snoozed “{task.title}” until {task.snoozed_until:%b %-d, %Y}.")
    context = {"form": form, "task": task, "next": safe_next(request) or ""}
    return render_page_or_fragment(request, SNOOZE_TEMPLATE, "task-snooze", context)


@require_POST
def task_delete(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task(request, pk)
    title = task.title
    todo.delete_task(task, request.user)
    return _done(request, f"Deleted the task “{title}”.")


@require_http_methods(["GET", "POST"])
def action_to_task(request: HttpRequest, pk: int) -> HttpResponse:
    """Hand a communication's open next action to a team member as a task (the next action is
    marked done: the task carries it from here)."""
    communication = (
        Communication.objects.visible_to(request.user)
        .open_actions()
        .select_related("contact", "opportunity")
        .get_for_user(request.user, pk)
    )
    initial = {
        "title": communication.next_action,
        "owner": None,
        "due_date": communication.next_action_date,
        "contact": communication.contact_id,
        "opportunity": communication.opportunity_id,
    }
    form = TaskForm(posted(request), initial=initial, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            task = todo.task_from_next_action(
                communication,
                request.user,
                form.cleaned_data["owner"],
                title=form.cleaned_data["title"],
                note=form.cleaned_data["notes"],
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return _done(request, f"Handed “{task.title}” to {task.owner.display_name} as a task.")
    context = {"form": form, "task": None, "communication": communication, "next": safe_next(request) or ""}
    return render_page_or_fragment(request, FORM_TEMPLATE, "task-form", context)


def _record_tasks_response(request: HttpRequest, field: str, record: Any) -> HttpResponse:
    """The section alone for htmx (it reloads itself after a task change); a plain GET goes
    to the record's page, where the section is drawn with the rest."""
    if not is_fragment_request(request):
        return redirect(record.get_absolute_url())
    context = {"section": todo.task_section(request.user, field, record)}
    response = render(request, todo.RECORD_TEMPLATE, context)
    if field == "contact":  # the contact page's Tasks tab counts them too
        response.content += render_to_string(f"{todo.RECORD_TEMPLATE}#tab-count", context).encode()
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_GET
def contact_tasks(request: HttpRequest, pk: int) -> HttpResponse:
    return _record_tasks_response(request, "contact", Contact.objects.get_for_user(request.user, pk))


@require_GET
def opportunity_tasks(request: HttpRequest, pk: int) -> HttpResponse:
    return _record_tasks_response(request, "opportunity", Opportunity.objects.get_for_user(request.user, pk))
