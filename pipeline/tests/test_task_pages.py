"""Tasks on the "Tasks & next actions" page (issue 17): the three views, the htmx panels, bad
input, the hand-over of a next action, and the page's fixed number of queries with tasks."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import HX, make_user
from contacts.models import Communication
from crm.models import Role
from crm.testing import factories
from pipeline import todo
from pipeline.models import Task

ACTIONS = reverse("actions")


@pytest.fixture
def nia(db):
    return make_user("nia", Role.MEMBER, full_name="Nia Member", email="nia@fund.example")


def page(client, **query) -> str:
    response = client.get(ACTIONS, query)
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_is_tasks_and_next_actions_with_three_views(member_client):
    html = page(member_client)
    assert "Tasks &amp; next actions" in html
    for label in ("Assigned to me", "I assigned", "Everyone"):
        assert label in html
    assert reverse("task_create") in html


def test_assigned_to_me_i_assigned_and_everyone_list_the_right_tasks(member_client, member_user, nia):
    todo.create_task(nia, title="Given to Max", owner=member_user)
    todo.create_task(member_user, title="Given to Nia", owner=nia)
    todo.create_task(nia, title="Nia's own", owner=nia)
    mine, assigned, everyone = (page(member_client, who=w) for w in ("mine", "assigned", "everyone"))
    assert "Given to Max" in mine and "Given to Nia" not in mine and "Nia&#x27;s own" not in mine
    assert "Given to Nia" in assigned and "Given to Max" not in assigned
    assert all(t in everyone for t in ("Given to Max", "Given to Nia", "Nia&#x27;s own"))


def test_a_snoozed_task_leaves_assigned_to_me_until_its_day(member_client, member_user):
    task = todo.create_task(member_user, title="Later please", owner=member_user)
    todo.snooze_task(task, member_user, timezone.localdate() + datetime.timedelta(days=3))
    assert "Later please" not in page(member_client)
    assert "Later please" in page(member_client, who="everyone")


def test_a_third_member_sees_no_controls_on_someone_elses_task(member_client, nia, manager_user):
    task = todo.create_task(manager_user, title="For Nia", owner=nia)
    html = page(member_client, who="everyone")
    assert "For Nia" in html and reverse("task_done", args=[task.pk]) not in html


@pytest.mark.parametrize("who", ["mine", "assigned", "everyone"])
def test_the_page_runs_the_same_queries_with_few_and_many_tasks(member_client, member_user, nia, who):
    def queries_with(n: int) -> int:
        for i in range(n):
            person = factories.contact(organization=factories.org())
            todo.create_task(member_user, title=f"Task {i}", owner=member_user, contact=person, due_date=None)
            todo.create_task(member_user, title=f"For Nia {i}", owner=nia, contact=person)
        with CaptureQueriesContext(connection) as ctx:
            response = member_client.get(ACTIONS, {"who": who})
        assert response.status_code == 200
        return len(ctx.captured_queries)

    small = queries_with(2)
    assert small == queries_with(30)


def test_a_long_tasks_group_shows_the_first_ten_and_links_to_the_rest(member_client, member_user):
    for i in range(14):
        todo.create_task(member_user, title=f"Chore {i:02d}", owner=member_user)
    html = page(member_client)
    assert "4 more not shown" in html and f"{reverse('task_list')}?who=mine" in html
    listing = member_client.get(reverse("task_list"), {"who": "mine"}).content.decode()
    assert "Chore 13" in listing


def test_a_member_sets_a_task_for_someone_else_through_the_dialog(member_client, member_user, nia):
    person = factories.contact()
    form = member_client.get(reverse("task_create"), {"contact": person.pk}, headers=HX)
    assert form.status_code == 200 and "<html" not in form.content.decode()
    response = member_client.post(
        reverse("task_create"),
        {"title": "Send Q3 letter", "owner": nia.pk, "due_date": "2026-12-20", "contact": person.pk},
        headers=HX,
    )
    assert response.status_code == 200 and "communicationsChanged" in response.headers["HX-Trigger"]
    task = Task.objects.get()
    assert (task.owner, task.created_by, task.contact) == (nia, member_user, person)
    assert task.history.get().history_user == member_user


def test_an_inactive_owner_is_a_field_error_on_the_form(member_client, nia):
    nia.is_active = False
    nia.save()
    response = member_client.post(reverse("task_create"), {"title": "x", "owner": nia.pk})
    assert response.status_code == 200
    assert "Choose an active team member." in response.content.decode()
    assert not Task.objects.exists()


def test_a_hidden_or_deleted_opportunity_is_refused_not_linked(member_client, member_user, monkeypatch):
    response = member_client.post(
        reverse("task_create"), {"title": "x", "owner": member_user.pk, "opportunity": 999999}
    )
    assert "That opportunity is gone or not yours to see." in response.content.decode()
    assert not Task.objects.exists()


def test_done_snooze_and_reopen_through_the_page(member_client, member_user):
    task = todo.create_task(member_user, title="Chase signature", owner=member_user)
    assert member_client.post(reverse("task_done", args=[task.pk]), {"done": "1"}, headers=HX).status_code == 200
    task.refresh_from_db()
    assert task.done and task.done_by == member_user and task.done_at
    member_client.post(reverse("task_done", args=[task.pk]), {"done": "0"}, headers=HX)
    task.refresh_from_db()
    assert not task.done and task.done_by is None
    past = member_client.post(reverse("task_snooze", args=[task.pk]), {"until": "2001-01-01"}, headers=HX)
    assert "Snooze until a day after today." in past.content.decode()
    until = timezone.localdate() + datetime.timedelta(days=2)
    member_client.post(reverse("task_snooze", args=[task.pk]), {"until": until.isoformat()}, headers=HX)
    task.refresh_from_db()
    assert task.snoozed_until == until


def test_a_member_may_not_complete_or_edit_a_task_neither_theirs_nor_set_by_them(member_client, nia, manager_user):
    task = todo.create_task(manager_user, title="For Nia", owner=nia)
    assert member_client.post(reverse("task_done", args=[task.pk]), {"done": "1"}).status_code == 403
    assert member_client.get(reverse("task_edit", args=[task.pk])).status_code == 403
    assert member_client.post(reverse("task_delete", args=[task.pk])).status_code == 403
    assert not Task.objects.get(pk=task.pk).done


def test_past_and_nonsense_ids_answer_404(member_client):
    for pk in (999999, 2**63):
        assert member_client.post(reverse("task_done", args=[pk])).status_code == 404


def test_a_next_action_is_handed_over_as_a_task_and_marked_done(member_client, member_user, nia):
    person = factories.contact()
    comm = factories.action(person, 3, by=member_user, next_action="Send the LPA")
    html = page(member_client)
    assert reverse("action_to_task", args=[comm.pk]) in html
    form = member_client.get(reverse("action_to_task", args=[comm.pk]), headers=HX).content.decode()
    assert 'value="Send the LPA"' in form
    response = member_client.post(
        reverse("action_to_task", args=[comm.pk]), {"title": "Send the LPA", "owner": nia.pk}, headers=HX
    )
    assert response.status_code == 200
    task = Task.objects.get()
    assert (task.owner, task.contact, task.due_date) == (nia, person, comm.next_action_date)
    assert Communication.objects.get(pk=comm.pk).next_action_done
    # Handed over once: the next action is done, a second hand-over finds nothing open.
    assert member_client.get(reverse("action_to_task", args=[comm.pk])).status_code == 404
