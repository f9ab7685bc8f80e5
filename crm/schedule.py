"""The worker's schedule: mailbox syncs every few minutes and the digest once each morning.

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

from crm.capture import tasks as capture_tasks
from crm.digest.tasks import send_daily_digest


def _digest_due(now: datetime.datetime) -> bool:
    """Past today's digest hour and not yet queued since then (the queue's own rows say so)."""
    if not settings.CRM_EMAIL_ENABLED or now.hour < settings.CRM_DIGEST_HOUR:
        return False
    since = now.replace(hour=settings.CRM_DIGEST_HOUR, minute=0, second=0, microsecond=0)
    return not DBTaskResult.objects.filter(task_path=send_daily_digest.module_path, enqueued_at__gte=since).exists()


def _now() -> datetime.datetime:
    return timezone.localtime()


@task()
def tick() -> str:
    now = _now()
    tick.using(run_after=now + datetime.timedelta(minutes=settings.CRM_SYNC_MINUTES)).enqueue()
    syncs = capture_tasks.enqueue_all()
    digest = _digest_due(now)
    if digest:
        send_daily_digest.enqueue()  # sends at most once per user per day whatever queues it
    return f"Queued {syncs} mailbox sync(s){' and the morning digest' if digest else ''}."


def start() -> bool:
    """Queue the first tick unless one is waiting; whether one was queued."""
    # READY only: a tick left RUNNING by a killed worker must not block the restart (a running
    # tick has queued its successor already, as its first step).
    if DBTaskResult.objects.filter(task_path=tick.module_path, status=TaskResultStatus.READY).exists():
        return False
    tick.enqueue()
    return True
