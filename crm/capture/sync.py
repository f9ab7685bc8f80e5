"""Read a mailbox over IMAP and keep, as communications, the messages to and from contacts.

What is kept: a message whose sender or recipients include a contact's address, leaving out
the mailbox owner's own addresses and every excluded address or domain. A message with a
"never capture" contact on it is skipped whole, so nothing said in front of that person is
stored. A message with no contact is never stored (its body is read, to learn its
addresses, and dropped). One communication per Message-ID, whoever's mailbox and whichever
folder it came from: the unique constraint decides when two syncs race.

Each folder remembers its UIDVALIDITY and the last UID read, so a sync reads only what
arrived since; the Message-ID check makes a re-read (a reset folder, a new start date) add
nothing. Every problem ends up as one sentence on the mailbox (``last_sync_message``) and
never as an exception to the caller, so a sweep goes on to the next user's mailbox.

A shared "BCC/forward to CRM" mailbox (``Mailbox.shared``) is read the same way, with one
more rule first: only a message a team member sent counts (``SharedCapture``). Copied to the
CRM (BCC), it is that member's outbound email to the contacts among its To and Cc; forwarded,
the message inside is logged as it was received by that member. Anyone else's mail to the
shared address is dropped unread, so the address cannot be used to write into the CRM.
"""

from __future__ import annotations

import contextlib
import datetime
import imaplib
import logging
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from imap_tools import AND, MailBox, MailBoxUnencrypted, MailMessage
from imap_tools.errors import ImapToolsError, MailboxFolderSelectError, MailboxLoginError

from contacts.models import (
    MESSAGE_ID_MAX,
    CaptureExclusion,
    Communication,
    CommunicationType,
    Contact,
    Direction,
    Mailbox,
)
from crm.lib.mailtext import ParsedMessage, forwarded_message, parse_message
from crm.lib.text import LINE_MAX, NOTE_MAX
from crm.models import User
from pipeline.models import Opportunity

logger = logging.getLogger(__name__)

# Seconds to wait for the server on connecting and on each command.
TIMEOUT = 30
# Messages fetched per IMAP command: a round trip per batch, bounded memory.
BATCH = 50


class SyncFailed(Exception):
    """The mailbox could not be read at all; the message says why, for its owner."""


class _RawMessage(MailMessage):
    """imap-tools' message, keeping the raw bytes mailtext parses (its ``obj`` is a re-parse)."""

    def __init__(self, fetch_data: list) -> None:
        self.raw = self._get_message_data_parts(fetch_data)[0]
        super().__init__(fetch_data)


class _MailBox(MailBox):
    email_message_class = _RawMessage


class _MailBoxUnencrypted(MailBoxUnencrypted):
    email_message_class = _RawMessage


@dataclass
class SyncReport:
    read: int = 0
    captured: int = 0
    unreadable: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.read:
            text = "No new messages."
        else:
            text = f"Read {self.read} new message{'s' if self.read != 1 else ''}, captured {self.captured}."
        if self.unreadable:
            one = self.unreadable == 1
            text += f" {self.unreadable} could not be read (malformed) and {'was' if one else 'were'} skipped."
        return " ".join([text, *self.problems])


def connect(mailbox: Mailbox, *, timeout: float = TIMEOUT) -> MailBox:
    """A signed-in IMAP connection, or SyncFailed saying in plain words what went wrong."""
    password = mailbox.password()
    if password is None:
        raise SyncFailed("No app password is stored (or the server's secret key changed). Enter it again.")
    where = f"{mailbox.host}:{mailbox.port}"
    try:
        if mailbox.use_tls:
            box = _MailBox(mailbox.host, mailbox.port, timeout=timeout, ssl_context=ssl.create_default_context())
        else:
            box = _MailBoxUnencrypted(mailbox.host, mailbox.port, timeout=timeout)
    except ssl.SSLCertVerificationError as exc:
        raise SyncFailed(
            f"The TLS certificate of {mailbox.host} could not be verified ({exc.verify_message})."
        ) from exc
    except ssl.SSLError as exc:
        raise SyncFailed(
            f"TLS failed with {where} ({exc.reason or exc}). Is the port right? 993 is for TLS, 143 for without."
        ) from exc
    except TimeoutError as exc:
        raise SyncFailed(f"{where} did not answer within {timeout:g} seconds.") from exc
    except socket.gaierror as exc:
        raise SyncFailed(f"No server is known by the name {mailbox.host}.") from exc
    except ConnectionRefusedError as exc:
        raise SyncFailed(f"Nothing answers on {where}: check the server name and port.") from exc
    except (OSError, imaplib.IMAP4.error) as exc:
        raise SyncFailed(f"Could not connect to {where} ({exc}).") from exc
    try:
        box.login(mailbox.username, password, initial_folder=None)
    except (MailboxLoginError, imaplib.IMAP4.error) as exc:
        _close(box)
        raise SyncFailed(
            "The server refused the user name or app password. Check them, or make a new app password."
        ) from exc
    except TimeoutError as exc:
        _close(box)
        raise SyncFailed(f"{where} did not answer within {timeout:g} seconds.") from exc
    return box


def _close(box: MailBox) -> None:
    with contextlib.suppress(OSError, imaplib.IMAP4.error, ImapToolsError):
        box.logout()


def sync_mailbox(mailbox: Mailbox, *, timeout: float = TIMEOUT) -> str:
    """Read the mailbox's new messages and capture those with contacts; the status it recorded.

    Never raises for anything the server, the network or a message can do wrong: each ends as
    the mailbox's status. (A failing database does raise: that is not the mailbox's problem.)
    """
    report = SyncReport()
    ok = True
    try:
        box = connect(mailbox, timeout=timeout)
    except SyncFailed as exc:
        return _record(mailbox, str(exc), ok=False)
    try:
        capture = SharedCapture(mailbox) if mailbox.shared else Capture(mailbox)
        mailbox.refresh_from_db(fields=["folder_state"])  # what the last sync, maybe another process, read
        state = dict(mailbox.folder_state or {})
        for folder in mailbox.folder_list:
            try:
                name = _server_folder(box, folder)
                state[folder] = _sync_folder(box, name, state.get(folder) or {}, mailbox.start_date, capture, report)
            except MailboxFolderSelectError:
                ok = False
                report.problems.append(f"There is no folder “{folder}” on the server.")
            # Saved folder by folder: a later failure does not make this one be read again.
            Mailbox.objects.filter(pk=mailbox.pk).update(folder_state=state)
    except TimeoutError:
        return _record(
            mailbox, f"The server stopped answering (after {timeout:g} seconds). " + report.summary(), ok=False
        )
    except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
        return _record(mailbox, f"The server broke off the sync ({exc}). " + report.summary(), ok=False)
    finally:
        _close(box)
    return _record(mailbox, report.summary(), ok=ok)


def _record(mailbox: Mailbox, message: str, *, ok: bool) -> str:
    message = message.strip()[: Mailbox._meta.get_field("last_sync_message").max_length]
    # An update, not save(): the owner may be editing the form while the worker syncs.
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_sync_at=timezone.now(), last_sync_ok=ok, last_sync_message=message
    )
    if not ok:
        logger.info("mailbox %s: %s", mailbox.pk, message)
    return message


def _server_folder(box: MailBox, folder: str) -> str:
    """The server's name for ``folder``: "Sent" is whatever the server flags as sent mail
    (Gmail's "[Gmail]/Sent Mail", Outlook's "Sent Items") when it has no folder of that name."""
    if folder.lower() != "sent":
        return folder
    names = {info.name: info.flags for info in box.folder.list()}
    if folder in names:
        return folder
    return next((name for name, flags in names.items() if "\\Sent" in flags), folder)


def _sync_folder(
    box: MailBox, folder: str, state: dict, start_date: datetime.date, capture: Capture, report: SyncReport
) -> dict:
    box.folder.set(folder, readonly=True)
    validity = box.folder.status(folder, ["UIDVALIDITY"]).get("UIDVALIDITY")
    last_uid = int(state.get("last_uid", 0)) if state.get("uidvalidity") == validity else 0
    uids = [uid for uid in box.uids(AND(date_gte=start_date)) if int(uid) > last_uid]
    for message in box.fetch(uid_list=uids, mark_seen=False, bulk=BATCH) if uids else ():
        report.read += 1
        last_uid = max(last_uid, int(message.uid or 0))
        parsed = parse_message(message.raw)
        # A Message-ID longer than any real one cannot be stored whole, so it could not deduplicate.
        if parsed is None or len(parsed.message_id) > MESSAGE_ID_MAX:
            report.unreadable += 1
            continue
        try:
            captured = capture.capture(parsed, message.raw)
        except (DataError, ValueError):  # a value the database refuses: this message only
            logger.warning("message %s in %s could not be stored", message.uid, folder, exc_info=True)
            report.unreadable += 1
            continue
        if captured:
            report.captured += 1
    return {"uidvalidity": validity, "last_uid": last_uid}


class Capture:
    """Turns parsed messages into communications for one mailbox's owner."""

    def __init__(self, mailbox: Mailbox):
        self.owner = mailbox.user
        self.own_addresses = {a.lower() for a in (mailbox.username, self.owner.email) if a and "@" in a}
        self.excluded: Callable[[str], bool] = CaptureExclusion.objects.matcher()

    def capture(self, parsed: ParsedMessage, raw: bytes = b"") -> Communication | None:
        """The new communication, or None when the message is a duplicate or has no contact to capture."""
        direction = Direction.OUTBOUND if parsed.sender in self.own_addresses else Direction.INBOUND
        return self._store(parsed, self.owner, self.own_addresses, direction)

    def _store(
        self, parsed: ParsedMessage, owner: User, own_addresses: set[str], direction: str
    ) -> Communication | None:
        if Communication.objects.filter(message_id=parsed.message_id).exists():
            return None
        addresses = [a for a in (parsed.sender, *parsed.recipients) if a]
        wanted = [a for a in dict.fromkeys(addresses) if a not in own_addresses and not self.excluded(a)]
        if not wanted:
            return None
        found = {c.email: c for c in Contact.objects.alias(email_lower=Lower("email")).filter(email_lower__in=wanted)}
        if not found or any(c.never_capture for c in found.values()):
            return None
        contacts = [found[a] for a in wanted if a in found]
        # The deal it is about, when the main contact has exactly one open; a guess between two is worse than none.
        open_deals = list(Opportunity.objects.open().filter(contact=contacts[0]).values_list("pk", flat=True)[:2])
        try:
            with transaction.atomic():
                return self._create(
                    parsed, contacts, open_deals[0] if len(open_deals) == 1 else None, owner=owner, direction=direction
                )
        except IntegrityError:  # another sync stored the same Message-ID a moment ago
            return None

    def _create(
        self,
        parsed: ParsedMessage,
        contacts: list[Contact],
        opportunity_id: int | None,
        *,
        owner: User,
        direction: str,
    ) -> Communication:
        # No usable Date header: the time it was read is the best guess left.
        sent_at = parsed.sent_at or timezone.now()
        if timezone.is_naive(sent_at):
            sent_at = timezone.make_aware(sent_at, datetime.UTC)
        thread = [*parsed.references, parsed.in_reply_to]
        parent = _parent(i for i in reversed(thread) if i)
        communication = Communication(
            contact=contacts[0],
            opportunity_id=opportunity_id,
            type=CommunicationType.EMAIL,
            direction=direction,
            subject=parsed.subject[:LINE_MAX],
            body=parsed.body[:NOTE_MAX],
            communication_date=sent_at,
            attachment_names="\n".join(parsed.attachment_names)[:NOTE_MAX],
            message_id=parsed.message_id,
            in_reply_to=parsed.in_reply_to if len(parsed.in_reply_to) <= MESSAGE_ID_MAX else "",
            references="\n".join(dict.fromkeys(parsed.references))[:NOTE_MAX],
            parent=parent,
            created_by=owner,
        )
        communication._history_user = owner
        communication.save()
        if contacts[1:]:  # the communication's contact is the first; "also present" are the rest
            communication.contact_attendees.set(contacts[1:])
        # Replies captured before this message (from another folder or mailbox) hang under an older
        # message of the thread, or none: In-Reply-To names this one as their parent.
        for reply in Communication.objects.filter(in_reply_to=parsed.message_id).exclude(parent=communication):
            reply.parent = communication
            reply._history_user = owner
            reply.save(update_fields=["parent", "updated_at"])
        return communication


class SharedCapture(Capture):
    """A shared "BCC/forward to CRM" mailbox: each message counts for the team member who sent it, or not at all."""

    def __init__(self, mailbox: Mailbox):
        self.mailbox_addresses = {mailbox.username.lower()} if "@" in mailbox.username else set()
        self.excluded = CaptureExclusion.objects.matcher()
        # Each active member by their CRM email and by their own mailbox's address (an alias they send from).
        self.members: dict[str, User] = {}
        self.addresses_of: dict[int, set[str]] = {}
        for user in User.objects.filter(is_active=True).select_related("mailbox"):
            personal = getattr(user, "mailbox", None)
            for address in (user.email, personal.username if personal else ""):
                if address and "@" in address:
                    self.members.setdefault(address.lower(), user)
                    self.addresses_of.setdefault(user.pk, set()).add(address.lower())

    def capture(self, parsed: ParsedMessage, raw: bytes = b"") -> Communication | None:
        member = self.members.get(parsed.sender)
        if member is None:  # a stranger (or a spoofer of no member's address) writes nothing into the CRM
            return None
        own = self.addresses_of[member.pk] | self.mailbox_addresses
        original = forwarded_message(raw) if raw else None
        if original is None:  # copied to the CRM: the member's own email to its recipients
            return self._store(parsed, member, own, Direction.OUTBOUND)
        if len(original.message_id) > MESSAGE_ID_MAX:
            return None
        sent_at = original.sent_at
        if sent_at is not None and timezone.is_naive(sent_at):
            # A mail program's "Date:" line has no zone: the team's own, where the member read it.
            original = replace(original, sent_at=timezone.make_aware(sent_at))
        # Forwarded: the message as it reached the member (or, forwarding their own sent mail, as they sent it).
        direction = Direction.OUTBOUND if original.sender in own else Direction.INBOUND
        return self._store(original, member, own, direction)


def _parent(ids: Iterable[str]) -> Communication | None:
    """The nearest message of the thread already captured: In-Reply-To first, then References newest first."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return None
    known = {c.message_id: c for c in Communication.objects.filter(message_id__in=ids)}
    return next((known[i] for i in ids if i in known), None)


def sync_all(mailboxes: Iterable[Mailbox] | None = None, **kwargs: Any) -> list[tuple[Mailbox, str]]:
    """Sync each mailbox in turn; one's failure, whatever it is, never stops the next."""
    results = []
    for mailbox in Mailbox.objects.enabled().select_related("user") if mailboxes is None else mailboxes:
        try:
            results.append((mailbox, sync_mailbox(mailbox, **kwargs)))
        except Exception:  # a bug or the database: logged, recorded, and on to the next user
            logger.exception("syncing mailbox %s failed", mailbox.pk)
            results.append(
                (mailbox, _record(mailbox, "The sync stopped with an error. It will be tried again.", ok=False))
            )
    return results
