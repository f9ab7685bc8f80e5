"""Tasks in the Django admin (issue 17): the list with its filters and search, history through
simple-history's admin, and the model's rule (owner, creator, managers, admins) on its writes."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import make_user
from crm.models import Role
from crm.testing import factories
from pipeline import todo
from pipeline.models import Task

CHANGELIST = reverse("admin:pipeline_task_changelist")


@pytest.fixture
def nia(db):
    return make_user("nia", Role.MEMBER, full_name="Nia Member", email="nia@fund.example")


def days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


def form_data(task: Task, **changes) -> dict:
    data = {
        "title": task.title,
        "owner": task.owner_id,
        "due_date": task.due_date.isoformat() if task.due_date else "",
        "contact": task.contact_id or "",
        "opportunity": task.opportunity_id or "",
        "lp_profile": "",
        "commitment": "",
        "notes": task.notes,
        "snoozed_until": "",
    }
    if task.done:
        data["done"] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_admin_lists_tasks_with_state_filters_and_search(admin_client, member_user, nia):
    person = factories.contact("Okafor")
    todo.create_task(member_user, title="Late letter", owner=nia, due_date=days(-2), contact=person)
    done = todo.create_task(member_user, title="Finished call", owner=member_user)
    todo.complete_task(done, member_user)
    todo.create_task(member_user, title="Later deck", owner=member_user, due_date=days(5))
    listing = admin_client.get(CHANGELIST).content.decode()
    assert all(t in listing for t in ("Late letter", "Finished call", "Later deck"))
    overdue = admin_client.get(CHANGELIST, {"state": "overdue"}).content.decode()
    assert "Late letter" in overdue and "Later deck" not in overdue and "Finished call" not in overdue
    finished = admin_client.get(CHANGELIST, {"state": "done"}).content.decode()
    assert "Finished call" in finished and "Late letter" not in finished
    found = admin_client.get(CHANGELIST, {"q": "Okafor"}).content.decode()
    assert "Late letter" in found and "Later deck" not in found
    by_owner = admin_client.get(CHANGELIST, {"owner__id__exact": nia.pk}).content.decode()
    assert "Late letter" in by_owner and "Later deck" not in by_owner


def test_the_admin_list_runs_the_same_queries_with_few_and_many_tasks(admin_client, member_user, nia):
    def queries_with(n: int) -> int:
        for i in range(n):
            todo.create_task(member_user, title=f"T{i}", owner=nia, contact=factories.contact(), due_date=days(i))
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(CHANGELIST).status_code == 200
        return len(ctx.captured_queries)

    assert queries_with(2) == queries_with(25)


def test_an_admin_edit_is_kept_in_history_with_who_and_done_keeps_who_and_when(admin_client, admin_user, member_user):
    task = todo.create_task(member_user, title="Send the LPA", owner=member_user)
    url = reverse("admin:pipeline_task_change", args=[task.pk])
    response = admin_client.post(url, form_data(task, title="Send the signed LPA", done="on"))
    assert response.status_code == 302, response.content.decode()[:2000]
    task.refresh_from_db()
    assert task.title == "Send the signed LPA" and task.done and task.done_by == admin_user and task.done_at
    assert task.history.first().history_user == admin_user
    history = admin_client.get(reverse("admin:pipeline_task_history", args=[task.pk])).content.decode()
    assert "Send the signed LPA" in history or "Changed" in history
    reopened = form_data(task)
    del reopened["done"]
    admin_client.post(url, reopened)
    task.refresh_from_db()
    assert not task.done and task.done_by is None and task.done_at is None


def test_an_admin_add_names_the_creator(admin_client, admin_user, nia):
    response = admin_client.post(
        reverse("admin:pipeline_task_add"),
        {"title": "Call the auditor", "owner": nia.pk, "due_date": days(3).isoformat(), "notes": ""},
    )
    assert response.status_code == 302
    task = Task.objects.get()
    assert task.created_by == admin_user and task.owner == nia
    assert task.history.get().history_user == admin_user


def test_the_admin_offers_only_active_members_as_owner(admin_client, member_user, nia):
    nia.is_active = False
    nia.save()
    response = admin_client.post(reverse("admin:pipeline_task_add"), {"title": "x", "owner": nia.pk, "notes": ""})
    assert response.status_code == 200 and not Task.objects.exists()
    assert "Select a valid choice" in response.content.decode()


def test_the_admin_asks_the_models_rule_before_a_change_or_a_delete(admin_client, member_user, monkeypatch):
    task = todo.create_task(member_user, title="Not yours", owner=member_user)
    monkeypatch.setattr(Task, "may_change", lambda self, user: False)
    url = reverse("admin:pipeline_task_change", args=[task.pk])
    assert admin_client.post(url, form_data(task, title="Changed")).status_code == 403
    assert admin_client.post(reverse("admin:pipeline_task_delete", args=[task.pk]), {"post": "yes"}).status_code == 403
    task.refresh_from_db()
    assert task.title == "Not yours"


def test_the_admins_bulk_delete_goes_through_the_service_with_history(admin_client, admin_user, member_user):
    tasks = [todo.create_task(member_user, title=f"Old {i}", owner=member_user) for i in range(3)]
    response = admin_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [t.pk for t in tasks], "post": "yes"}
    )
    assert response.status_code == 302 and not Task.objects.exists()
    deleted = Task.history.filter(history_type="-")
    assert deleted.count() == 3 and {h.history_user for h in deleted} == {admin_user}


def test_the_bulk_delete_refuses_all_when_the_rule_refuses_one(admin_client, member_user, monkeypatch):
    from django.core.exceptions import PermissionDenied

    from pipeline.admin import TaskAdmin

    tasks = [todo.create_task(member_user, title=f"Keep {i}", owner=member_user) for i in range(2)]
    refused = tasks[1].pk
    monkeypatch.setattr(Task, "may_change", lambda self, user: self.pk != refused)
    request = type("R", (), {"user": make_user("boss", Role.ADMIN)})()
    with pytest.raises(PermissionDenied):
        TaskAdmin(Task, None).delete_queryset(request, Task.objects.all())
    assert Task.objects.count() == 2
