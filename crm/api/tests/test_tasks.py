"""Tasks through the API: the Tasks page's services and Task.save's rule on who may change one."""

from __future__ import annotations

import datetime

import pytest

from conftest import make_user
from crm.models import Role
from crm.testing.factories import contact
from pipeline.models import Task

pytestmark = pytest.mark.django_db

ROLES = ["admin", "manager", "member"]


@pytest.fixture(params=ROLES)
def any_api(request):
    return request.getfixturevalue(f"{request.param}_api")


@pytest.fixture
def colleague(db):
    return make_user("cleo", Role.MEMBER, full_name="Cleo Colleague")


def test_every_role_sets_a_task_for_itself_by_default_or_for_a_colleague_with_history(any_api, colleague):
    ada = contact("Okafor")
    mine = any_api.post("/api/v1/tasks", {"title": "Call Ada", "contact_id": ada.pk, "due_date": "2026-03-02"})
    assert mine.status_code == 201, mine.content
    task = Task.objects.get(pk=mine.json()["id"])
    assert (task.owner, task.created_by, task.contact, task.due_date) == (
        any_api.user,
        any_api.user,
        ada,
        datetime.date(2026, 3, 2),
    )
    latest = task.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (any_api.user, "API")
    theirs = any_api.post("/api/v1/tasks", {"title": "Send the deck", "owner_id": colleague.pk})
    assert theirs.status_code == 201, theirs.content
    assert theirs.json()["owner_id"] == colleague.pk


def test_a_task_without_a_title_or_for_a_deactivated_user_is_a_422(member_api, colleague):
    refused = member_api.post("/api/v1/tasks", {"due_date": "2026-03-02"})
    assert refused.status_code == 422
    assert "title" in refused.json()["errors"]
    colleague.is_active = False
    colleague.save()
    gone = member_api.post("/api/v1/tasks", {"title": "Call", "owner_id": colleague.pk})
    assert gone.status_code == 422
    assert "owner" in gone.json()["errors"]
    assert not Task.objects.exists()


def test_the_owner_edits_only_what_it_sends_and_marks_it_done_and_reopens_it(member_api, colleague):
    task = Task.objects.create(title="Call Ada", owner=member_api.user, created_by=colleague, notes="Warm")
    edited = member_api.patch(f"/api/v1/tasks/{task.pk}", {"due_date": "2026-04-01"})
    assert edited.status_code == 200, edited.content
    task.refresh_from_db()
    assert (task.title, task.notes, task.due_date) == ("Call Ada", "Warm", datetime.date(2026, 4, 1))

    done = member_api.post(f"/api/v1/tasks/{task.pk}/done")
    assert done.status_code == 200, done.content
    task.refresh_from_db()
    assert (task.done, task.done_by) == (True, member_api.user)
    assert done.json()["done"] is True
    reopened = member_api.post(f"/api/v1/tasks/{task.pk}/done", {"done": False})
    assert reopened.status_code == 200
    task.refresh_from_db()
    assert (task.done, task.done_at) == (False, None)


def test_a_member_may_not_change_a_task_neither_theirs_nor_set_by_them_but_a_manager_may(
    member_api, manager_api, colleague
):
    task = Task.objects.create(title="Call Ada", owner=colleague, created_by=colleague)
    assert member_api.get(f"/api/v1/tasks/{task.pk}").status_code == 200
    refused = member_api.patch(f"/api/v1/tasks/{task.pk}", {"title": "Mine now", "owner_id": member_api.user.pk})
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert member_api.post(f"/api/v1/tasks/{task.pk}/done").status_code == 403
    task.refresh_from_db()
    assert (task.title, task.owner, task.done) == ("Call Ada", colleague, False)

    assert manager_api.patch(f"/api/v1/tasks/{task.pk}", {"title": "Call Ada today"}).status_code == 200
    assert manager_api.post(f"/api/v1/tasks/{task.pk}/done").status_code == 200
    task.refresh_from_db()
    assert (task.title, task.done) == ("Call Ada today", True)
    assert member_api.patch("/api/v1/tasks/99999999", {"title": "x"}).status_code == 404


def test_the_task_list_filters_by_owner_done_and_due_date_in_a_fixed_number_of_queries(
    member_api, colleague, django_assert_max_num_queries
):
    march = datetime.date(2026, 3, 1)
    for n in range(6):
        Task.objects.create(title=f"Mine {n}", owner=member_api.user, due_date=march + datetime.timedelta(days=n))
        Task.objects.create(title=f"Theirs {n}", owner=colleague, done=n % 2 == 0)
    member_api.get("/api/v1/tags")
    with django_assert_max_num_queries(5):
        body = member_api.get("/api/v1/tasks", {"owner": member_api.user.pk}).json()
    assert body["total"] == 6
    assert [item["title"] for item in body["items"]] == [f"Mine {n}" for n in range(6)]
    assert member_api.get("/api/v1/tasks", {"owner": colleague.pk, "done": "no"}).json()["total"] == 3
    assert member_api.get("/api/v1/tasks", {"due_before": "2026-03-03"}).json()["total"] == 2
    bad = member_api.get("/api/v1/tasks", {"done": "maybe"})
    assert bad.status_code == 422
    assert "done" in bad.json()["errors"]
