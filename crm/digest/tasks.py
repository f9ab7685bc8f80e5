"""The background job of the digest: the scheduler (``run_schedule``) queues it each morning."""

from __future__ import annotations

from django.conf import settings
from django_tasks import task

from crm.digest import send


@task()
def send_daily_digest() -> str:
    if not settings.CRM_EMAIL_ENABLED:
        return send.EMAIL_OFF
    return send.send_digests().summary()
