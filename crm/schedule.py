"""The worker's schedule: mailbox syncs every few minutes, the digest once each morning, and
the relationship-strength scores once each night (their time decay moves them daily).

django-tasks (0.12, database backend) has no periodic scheduler, so the schedule is one task,
``tick``, that queues the next tick ``CRM_SYNC_MINUTES`` ahead (``run_after``) before it does
anything else, so a failing sync never breaks the chain. ``manage.py start_schedule`` (run by
``make prepare``, hence by ``make run``/``make serve`` and the systemd unit's ExecStartPre)
queues the first tick unless one is already waiting. No extra process: the worker runs it.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from contacts import strength
from crm.capture import tasks as capture_tasks
from crm.digest.tasks import send_daily_digest

# The local hour from which the nightly rescoring runs: after midnight, before anyone looks.
STRENGTH_HOUR = 2


@task()
def recompute_strength() -> str:
    """Every contact's relationship strength again (contacts/strength.py), with today's decay."""
    return f"Rescored {strength.recompute_all()} contact(s)."


def _daily_due(daily_task, now: datetime.datetime, hour: int) -> bool:
    """Past today's ``hour`` and ``daily_task`` not yet queued since then (the queue's own rows say so)."""
    if now.hour < hour:
        return False
    since = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return not DBTaskResult.objects.filter(task_path=daily_task.module_path, enqueued_at__gte=since).exists()


def _digest_due(now: datetime.datetime) -> bool:
    return settings.CRM_EMAIL_ENABLED and _daily_due(send_daily_digest, now, settings.CRM_DIGEST_HOUR)


def _now() -> datetime.datetime:
    return timezone.localtime()


@task()
def tick() -> str:
    now = _now()
    tick.using(run_after=now + datetime.timedelta(minutes=settings.CRM_SYNC_MINUTES)).enqueue()
    syncs = capture_tasks.enqueue_all()
    queued = [f"{syncs} mailbox sync(s)"]
    if _digest_due(now):
        send_daily_digest.enqueue()  # sends at most once per user per day whatever queues it
        queued.append("the morning digest")
    if _daily_due(recompute_strength, now, STRENGTH_HOUR):
        recompute_strength.enqueue()
        queued.append("the nightly strength scores")
    return f"Queued {', '.join(queued)}."


def start() -> bool:
    """Queue the first tick unless one is waiting; whether one was queued."""
    # READY only: a tick left RUNNING by a killed worker must not block the restart (a running
    # tick has queued its successor already, as its first step).
    if DBTaskResult.objects.filter(task_path=tick.module_path, status=TaskResultStatus.READY).exists():
        return False
    tick.enqueue()
    return True
