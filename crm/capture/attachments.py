"""Keeping a captured email's attachment on request: fetch that part of the message over IMAP again.

Capture stores only attachment names. When someone presses "Keep this file", a
``KeptAttachment`` row is made (contacts.services) and ``fetch`` runs in the worker: it looks
the message up by its Message-ID in the mailbox it was captured from (its capturer's own,
then the shared ones), takes the part at the same place, checks its type by content and its
size as LP documents are checked, and stores it owner-only under a random name. Whatever
goes wrong ends as one sentence on the row (``problem``) and never as an exception.
"""

from __future__ import annotations

import contextlib
import imaplib
import io
import logging
from pathlib import PurePath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from imap_tools import AND, H
from imap_tools.errors import ImapToolsError, MailboxFolderSelectError

from contacts.models import ATTACHMENT_STORAGE, AttachmentStatus, KeptAttachment, Mailbox, attachment_path
from crm.capture.sync import TIMEOUT, SyncFailed, _close, _server_folder, connect
from crm.lib.file_types import ACCEPTED, BY_EXTENSION, looks_like
from crm.lib.mailtext import attachment

logger = logging.getLogger(__name__)


def max_bytes() -> int:
    return settings.CRM_DOCUMENT_MAX_MB * 1024 * 1024


def _find(mailbox: Mailbox, message_id: str, timeout: float) -> bytes | None:
    """The raw message with ``message_id`` in one of the mailbox's folders, or None."""
    box = connect(mailbox, timeout=timeout)
    try:
        for folder in mailbox.folder_list:
            try:
                box.folder.set(_server_folder(box, folder), readonly=True)
            except MailboxFolderSelectError:
                continue
            uids = box.uids(AND(header=H("Message-ID", message_id)))
            for message in box.fetch(uid_list=uids[:1], mark_seen=False) if uids else ():
                return message.raw
        return None
    finally:
        _close(box)


def _fail(kept: KeptAttachment, problem: str) -> str:
    kept.status = AttachmentStatus.FAILED
    kept.problem = problem[: KeptAttachment._meta.get_field("problem").max_length]
    kept._history_user = kept.requested_by
    kept.save(update_fields=["status", "problem", "updated_at"])
    return problem


def fetch(kept: KeptAttachment, *, timeout: float = TIMEOUT) -> str:
    """Download and store the attachment ``kept`` asks for; what happened, in one sentence."""
    communication = kept.communication
    if not communication.message_id:
        return _fail(kept, "Only a captured email's attachments can be kept.")
    mailboxes = Mailbox.objects.enabled().filter(Q(user_id=communication.created_by_id) | Q(shared=True))
    raw = None
    for mailbox in mailboxes.order_by("shared", "pk"):
        try:
            raw = _find(mailbox, communication.message_id, timeout)
        except SyncFailed as exc:
            logger.info("keeping attachment %s: mailbox %s: %s", kept.pk, mailbox.pk, exc)
        except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
            logger.info("keeping attachment %s: mailbox %s broke off: %s", kept.pk, mailbox.pk, exc)
        if raw is not None:
            break
    if raw is None:
        return _fail(kept, "The email is no longer in the mailbox it was captured from, so its file cannot be fetched.")
    part = attachment(raw, kept.position)
    if part is None or part[0] != kept.name:
        return _fail(kept, "The email's attachments are not the ones listed any more.")
    name, data = part
    extension = PurePath(name).suffix.lower()
    kind = BY_EXTENSION.get(extension)
    if kind is None:
        return _fail(kept, f"Files of this type are not kept. Accepted: {ACCEPTED}.")
    if len(data) > max_bytes():
        return _fail(
            kept, f"The file is {len(data) / (1024 * 1024):.1f} MB; the limit is {settings.CRM_DOCUMENT_MAX_MB} MB."
        )
    if not data:
        return _fail(kept, "The file is empty.")
    if not looks_like(extension, io.BytesIO(data)):
        return _fail(kept, f"The file is named {extension} but its content is not a {kind.label}.")
    stored = ATTACHMENT_STORAGE.save(attachment_path(kept, name), ContentFile(data))
    kept.file.name = stored
    kept.size = len(data)
    kept.content_type = kind.content_type
    kept.status = AttachmentStatus.STORED
    kept.problem = ""
    kept._history_user = kept.requested_by
    try:
        with transaction.atomic():
            kept.save()
    except BaseException:
        with contextlib.suppress(OSError):
            ATTACHMENT_STORAGE.delete(stored)
        raise
    return f"Kept {name}."
