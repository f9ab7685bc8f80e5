"""The background job of email capture: sync one mailbox (``Sync now`` and the sweep queue it)."""

from __future__ import annotations

from django_tasks import task

from contacts.models import AttachmentStatus, KeptAttachment, Mailbox
from crm.capture import attachments, sync


@task()
def sync_mailbox(mailbox_pk: int) -> str:
    mailbox = Mailbox.objects.enabled().select_related("user").filter(pk=mailbox_pk).first()
    if mailbox is None:  # disconnected or switched off since it was queued
        return "nothing to do"
    return sync.sync_all([mailbox])[0][1]


def enqueue_all() -> int:
    """Queue a sync of every enabled mailbox for the worker; how many were queued."""
    pks = list(Mailbox.objects.enabled().values_list("pk", flat=True))
    for pk in pks:
        sync_mailbox.enqueue(pk)
    return len(pks)


@task()
def keep_attachment(kept_pk: int) -> str:
    """Fetch and store one attachment someone asked to keep ("Keep this file")."""
    kept = (
        KeptAttachment.objects.select_related("communication", "requested_by")
        .filter(pk=kept_pk, status=AttachmentStatus.REQUESTED)
        .first()
    )
    if kept is None:  # kept or given up on since it was queued
        return "nothing to do"
    return attachments.fetch(kept)
