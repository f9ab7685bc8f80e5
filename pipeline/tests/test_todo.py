"""Tasks (issue 17): who may change whose task, history, the digest's query, next action → task."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from conftest import make_user
from contacts.models import Communication
from crm.models import Role
from crm.permissions import acting_as
from crm.testing import factories
from pipeline import todo
from pipeline.models import Task

TODAY = datetime.date(2026, 12, 7)


@pytest.fixture
def other_member(db):
    return make_user("nia", Role.MEMBER, full_name="Nia Member", email="nia@fund.example")


@pytest.fixture
def third_member(db):
    return make_user("omar", Role.MEMBER, full_name="Omar Member", email="omar@fund.example")


def test_a_member_sets_a_task_for_another_member_and_is_its_creator(member_user, other_member):
    task = todo.create_task(member_user, title="Send the deck", owner=other_member)
    assert (task.owner, task.created_by) == (other_member, member_user)


def test_the_owner_and_the_creator_may_complete_a_task_a_third_member_may_not(member_user, other_member, third_member):
    task = todo.create_task(member_user, title="Send the deck", owner=other_member)
    with pytest.raises(PermissionDenied):
        todo.complete_task(task, third_member)
    assert not Task.objects.get(pk=task.pk).done
    todo.complete_task(Task.objects.get(pk=task.pk), other_member)
    todo.reopen_task(Task.objects.get(pk=task.pk), member_user)
    assert not Task.objects.get(pk=task.pk).done


def test_a_member_cannot_edit_or_delete_another_members_task_unless_creator(member_user, other_member):
    task = todo.create_task(other_member, title="Own thing", owner=other_member)
    with pytest.raises(PermissionDenied):
        todo.update_task(task, member_user, title="Hijacked")
    with pytest.raises(PermissionDenied):
        todo.delete_task(Task.objects.get(pk=task.pk), member_user)
    assert Task.objects.get(pk=task.pk).title == "Own thing"


def test_reassigning_a_task_to_oneself_through_save_is_refused_to_a_third_member(
    member_user, other_member, third_member
):
    task = todo.create_task(member_user, title="Call back", owner=other_member)
    task = Task.objects.get(pk=task.pk)
    task.owner = third_member
    with acting_as(third_member), pytest.raises(PermissionDenied):
        task.save()
    assert Task.objects.get(pk=task.pk).owner == other_member


def test_managers_and_admins_may_change_anyones_task(member_user, other_member, manager_user, admin_user):
    task = todo.create_task(member_user, title="Call back", owner=other_member)
    todo.update_task(task, manager_user, title="Call back today")
    todo.complete_task(Task.objects.get(pk=task.pk), admin_user)
    assert Task.objects.get(pk=task.pk).done_by == admin_user


def test_an_inactive_owner_is_refused_with_a_field_error(member_user, other_member):
    other_member.is_active = False
    other_member.save()
    with pytest.raises(ValidationError) as refused:
        todo.create_task(member_user, title="Send the deck", owner=other_member)
    assert "owner" in refused.value.message_dict
    assert not Task.objects.exists()


def test_every_change_lands_in_history_with_the_user(member_user, other_member):
    task = todo.create_task(member_user, title="Send the deck", owner=other_member)
    todo.snooze_task(task, other_member, TODAY + datetime.timedelta(days=3), today=TODAY)
    todo.complete_task(Task.objects.get(pk=task.pk), other_member)
    rows = list(Task.history.filter(id=task.pk).order_by("history_date"))
    assert [(r.history_type, r.history_user) for r in rows] == [
        ("+", member_user),
        ("~", other_member),
        ("~", other_member),
    ]
    assert rows[-1].done and rows[1].snoozed_until == TODAY + datetime.timedelta(days=3)
    todo.delete_task(Task.objects.get(pk=task.pk), member_user)
    assert Task.history.filter(id=task.pk, history_type="-").get().history_user == member_user


def test_snoozing_into_the_past_is_refused(member_user):
    task = todo.create_task(member_user, title="x", owner=member_user)
    with pytest.raises(ValidationError):
        todo.snooze_task(task, member_user, TODAY, today=TODAY)


def test_overdue_and_due_today_lists_the_users_open_unsnoozed_tasks_due_by_today(member_user, other_member):
    def make(title, due, owner=member_user, **extra):
        task = todo.create_task(member_user, title=title, owner=owner, due_date=due)
        if extra:
            Task.objects.filter(pk=task.pk).update(**extra)
        return task

    day = datetime.timedelta(days=1)
    make("overdue", TODAY - day)
    make("today", TODAY)
    make("tomorrow", TODAY + day)
    make("undated", None)
    make("someone else's", TODAY, owner=other_member)
    make("done", TODAY, done=True)
    make("snoozed", TODAY - day, snoozed_until=TODAY + day)
    make("snooze over", TODAY - day, snoozed_until=TODAY)
    titles = [t.title for t in todo.overdue_and_due_today(member_user, TODAY)]
    assert sorted(titles) == ["overdue", "snooze over", "today"]


def test_the_views_split_mine_assigned_and_everyone(member_user, other_member):
    mine = todo.create_task(other_member, title="mine", owner=member_user)
    given = todo.create_task(member_user, title="given", owner=other_member)
    theirs = todo.create_task(other_member, title="theirs", owner=other_member)
    assert list(todo.tasks_for(member_user, todo.TaskView.MINE)) == [mine]
    assert list(todo.tasks_for(member_user, todo.TaskView.ASSIGNED)) == [given]
    assert set(todo.tasks_for(member_user, todo.TaskView.EVERYONE)) == {mine, given, theirs}


def test_a_next_action_becomes_a_task_for_someone_else_and_is_marked_done(member_user, other_member):
    person = factories.contact()
    comm = factories.action(person, 2, by=member_user, next_action="Send the LPA")
    task = todo.task_from_next_action(comm, member_user, other_member)
    assert (task.title, task.owner, task.contact, task.due_date) == (
        "Send the LPA",
        other_member,
        person,
        timezone.localdate() + datetime.timedelta(days=2),
    )
    comm = Communication.objects.get(pk=comm.pk)
    assert comm.next_action_done and comm.next_action_done_by == member_user
    with pytest.raises(ValidationError):
        todo.task_from_next_action(comm, member_user, other_member)
    assert Task.objects.count() == 1
