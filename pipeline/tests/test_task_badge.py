"""The sidebar's overdue badge counts the user's overdue tasks with their overdue next actions
(issue 17): still one COUNT query reading partial indexes, and it follows a task change at once."""

from __future__ import annotations

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import HX, make_user
from contacts.services import overdue_count
from crm.models import Role
from crm.testing import factories
from pipeline import todo
from pipeline.models import Task


@pytest.fixture
def nia(db):
    return make_user("nia", Role.MEMBER, full_name="Nia Member", email="nia@fund.example")


def days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


def badge_of(html: str) -> str | None:
    found = re.search(r'<a id="overdue-badge"[^>]*>(\d+)</a>', html)
    return found.group(1) if found else None


def test_the_badge_counts_my_overdue_tasks_and_next_actions(member_client, member_user, nia):
    person = factories.contact()
    factories.action(person, -2, by=member_user)
    todo.create_task(nia, title="Late for me", owner=member_user, due_date=days(-1))
    todo.create_task(member_user, title="Late for Nia", owner=nia, due_date=days(-1))  # not mine
    todo.create_task(member_user, title="Due today", owner=member_user, due_date=days(0))  # not overdue
    todo.create_task(member_user, title="Undated", owner=member_user)
    done = todo.create_task(member_user, title="Done late", owner=member_user, due_date=days(-3))
    todo.complete_task(done, member_user)
    snoozed = todo.create_task(member_user, title="Snoozed", owner=member_user, due_date=days(-3))
    todo.snooze_task(snoozed, member_user, days(2))
    html = member_client.get(reverse("organization_list")).content.decode()
    assert badge_of(html) == "2"
    assert 'aria-label="2 overdue tasks and next actions"' in html
    assert overdue_count(member_user) == 2


def test_a_snoozed_task_counts_again_on_its_day(member_user):
    task = todo.create_task(member_user, title="Snoozed", owner=member_user, due_date=days(-3))
    todo.snooze_task(task, member_user, days(2))
    assert overdue_count(member_user) == 0
    Task.objects.filter(pk=task.pk).update(snoozed_until=days(0))
    assert overdue_count(member_user) == 1


def test_tasks_alone_light_the_badge(member_client, member_user):
    todo.create_task(member_user, title="Late", owner=member_user, due_date=days(-1))
    assert badge_of(member_client.get(reverse("organization_list")).content.decode()) == "1"


def _badge_sql(user) -> str:
    with CaptureQueriesContext(connection) as ctx:
        overdue_count(user)
    assert len(ctx.captured_queries) == 1
    return ctx.captured_queries[0]["sql"]


def test_the_badge_with_tasks_is_still_one_query(member_client, member_user):
    todo.create_task(member_user, title="Late", owner=member_user, due_date=days(-1))
    sql = _badge_sql(member_user)
    assert "pipeline_task" in sql and "contacts_communication" in sql


@pytest.mark.django_db
def test_the_badge_query_reads_the_partial_indexes_on_open_actions_and_open_tasks(member_user):
    from contacts.models import Communication

    for n in (-3, -1, 2):
        factories.action(factories.contact(), n, by=member_user)
        todo.create_task(member_user, title=f"Task {n}", owner=member_user, due_date=days(n))
    sql = _badge_sql(member_user)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table is otherwise read whole
            # On a handful of rows PostgreSQL may as well read another index; dropped inside the
            # test's transaction, the plan shows whether the partial ones serve the query at all.
            for index in (*Communication._meta.indexes, *Task._meta.indexes):
                if index.fields == ["next_action_done", "next_action_date"] or index.name in (
                    "communication_open_date_idx",
                    "task_open_due_idx",
                ):
                    cursor.execute(f'DROP INDEX "{index.name}"')
            cursor.execute(f"EXPLAIN {sql}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        plan = "\n".join(str(row) for row in cursor.fetchall())
    assert "communication_open_due_idx" in plan
    assert "task_open_owner_idx" in plan
    assert overdue_count(member_user) == 4


def test_marking_a_task_done_updates_the_badge_out_of_band(member_client, member_user):
    task = todo.create_task(member_user, title="Late", owner=member_user, due_date=days(-1))
    todo.create_task(member_user, title="Also late", owner=member_user, due_date=days(-2))
    response = member_client.post(reverse("task_done", args=[task.pk]), {"done": "1"}, headers=HX)
    html = response.content.decode()
    assert re.search(r'<a id="overdue-badge"[^>]*hx-swap-oob="true"[^>]*>1</a>', html)
    response = member_client.post(reverse("task_done", args=[task.pk]), {"done": "0"}, headers=HX)
    assert re.search(r'<a id="overdue-badge"[^>]*hx-swap-oob="true"[^>]*>2</a>', response.content.decode())


def test_snoozing_editing_and_deleting_a_task_update_the_badge(member_client, member_user):
    task = todo.create_task(member_user, title="Late", owner=member_user, due_date=days(-1))
    response = member_client.post(reverse("task_snooze", args=[task.pk]), {"until": days(3).isoformat()}, headers=HX)
    assert '<span id="overdue-badge" class="nav-badge-empty" hx-swap-oob="true">' in response.content.decode()
    other = todo.create_task(member_user, title="Fine", owner=member_user, due_date=days(4))
    response = member_client.post(
        reverse("task_edit", args=[other.pk]),
        {"title": "Fine", "owner": member_user.pk, "due_date": days(-4).isoformat()},
        headers=HX,
    )
    assert re.search(r'<a id="overdue-badge"[^>]*hx-swap-oob="true"[^>]*>1</a>', response.content.decode())
    response = member_client.post(reverse("task_delete", args=[other.pk]), headers=HX)
    assert '<span id="overdue-badge" class="nav-badge-empty" hx-swap-oob="true">' in response.content.decode()


def test_a_task_change_without_htmx_redirects_without_a_badge(member_client, member_user):
    task = todo.create_task(member_user, title="Late", owner=member_user, due_date=days(-1))
    response = member_client.post(reverse("task_done", args=[task.pk]), {"done": "1"})
    assert response.status_code == 302
