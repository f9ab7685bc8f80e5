"""The worker's schedule: one self-renewing task in the database queue (crm/schedule.py)."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from crm import schedule
from crm.capture.tasks import sync_mailbox
from crm.digest.tasks import send_daily_digest


@pytest.fixture
def queue(settings, db):
    # The real queue the worker reads, not the suite's run-at-once backend.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    settings.CRM_SYNC_MINUTES = 5
    settings.CRM_DIGEST_HOUR = 7
    return DBTaskResult.objects


def _at(hour: int) -> datetime.datetime:
    # Yesterday's date: the queue stamps its rows with the real time, which must not come before
    # the pretend hour (today at 07:10 is still ahead of a suite running at 00:15).
    yesterday = timezone.localtime() - datetime.timedelta(days=1)
    return yesterday.replace(hour=hour, minute=10, second=0, microsecond=0)


def _queued(queue, task) -> list[DBTaskResult]:
    return list(queue.filter(task_path=task.module_path, status=TaskResultStatus.READY))


def test_start_schedule_queues_one_tick_and_a_second_start_adds_none(queue):
    out = StringIO()
    call_command("start_schedule", stdout=out)
    call_command("start_schedule", stdout=out)
    assert len(_queued(queue, schedule.tick)) == 1
    assert "already running" in out.getvalue()


def test_a_tick_queues_the_next_tick_ahead_and_a_sync_of_each_enabled_mailbox(queue, member_user):
    from contacts.models import Mailbox

    Mailbox.objects.create(
        user=member_user, host="127.0.0.1", username="milo", folders="INBOX", start_date=timezone.localdate()
    )
    before = timezone.now()
    schedule.tick.call()
    [following] = _queued(queue, schedule.tick)
    assert following.run_after >= before + datetime.timedelta(minutes=5)
    assert len(_queued(queue, sync_mailbox)) == Mailbox.objects.enabled().count() == 1


def test_the_digest_is_queued_once_a_day_from_the_configured_hour_when_email_is_on(queue, settings, monkeypatch):
    settings.CRM_EMAIL_ENABLED = True
    now = {"at": _at(6)}
    monkeypatch.setattr(schedule, "_now", lambda: now["at"])
    schedule.tick.call()
    assert _queued(queue, send_daily_digest) == []  # before the hour
    now["at"] = _at(7)
    schedule.tick.call()
    now["at"] = _at(9)
    schedule.tick.call()
    assert len(_queued(queue, send_daily_digest)) == 1


def test_no_digest_is_queued_while_email_is_off(queue, settings, monkeypatch):
    settings.CRM_EMAIL_ENABLED = False
    eight = _at(8)
    monkeypatch.setattr(schedule, "_now", lambda: eight)
    schedule.tick.call()
    assert _queued(queue, send_daily_digest) == []


def test_the_strength_scores_are_recomputed_once_a_night_from_their_hour(queue, monkeypatch, member_user):
    from crm.testing import factories as f

    person = f.contact("Okafor")
    f.comm(person, 3, type="meeting")
    person.__class__.objects.filter(pk=person.pk).update(strength=None)  # as a day's decay leaves it: stale
    now = {"at": _at(schedule.STRENGTH_HOUR - 1)}
    monkeypatch.setattr(schedule, "_now", lambda: now["at"])
    schedule.tick.call()
    assert _queued(queue, schedule.recompute_strength) == []  # before the hour
    now["at"] = _at(schedule.STRENGTH_HOUR)
    schedule.tick.call()
    now["at"] = _at(schedule.STRENGTH_HOUR + 3)
    schedule.tick.call()
    [queued] = _queued(queue, schedule.recompute_strength)

    assert schedule.recompute_strength.call() == "Rescored 1 contact(s)."
    person.refresh_from_db()
    assert person.strength and person.strength > 0
