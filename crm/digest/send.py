"""Sending the morning digest: one message per user, at most once per user per local day."""

from __future__ import annotations

import datetime
import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from crm.digest import compose
from crm.models import DigestDelivery, User

logger = logging.getLogger(__name__)

EMAIL_OFF = "Email is off (CRM_EMAIL_HOST is not set): no digest was sent."


@dataclass
class Outcome:
    sent: list[str] = field(default_factory=list)  # usernames
    empty: list[str] = field(default_factory=list)  # nothing to say
    already: list[str] = field(default_factory=list)  # sent earlier today
    failed: dict[str, str] = field(default_factory=dict)  # username → why

    def summary(self) -> str:
        text = f"{len(self.sent)} digest(s) sent, {len(self.empty)} with nothing to say"
        text += f", {len(self.already)} already sent today"
        return text + (f", {len(self.failed)} failed." if self.failed else ".")


def recipients() -> Any:
    return User.objects.filter(is_active=True, digest_opt_out=False).exclude(email="").order_by("pk")


def message(built: compose.Digest) -> EmailMultiAlternatives:
    context = {"digest": built, "base_url": settings.CRM_BASE_URL, "absolute": compose.absolute}
    context["settings_url"] = compose.absolute("/settings/")
    count = built.item_count
    subject = f"Your CRM digest for {built.today:%a %-d %b}"
    if count:
        subject += f": {count} due"
    if built.changes is not None:
        subject += " · pipeline changes"
    text = render_to_string("digest/digest.txt", context)
    html = render_to_string("digest/digest.html", context)
    mail = EmailMultiAlternatives(subject, text, to=[built.user.email])
    mail.attach_alternative(html, "text/html")
    return mail


def explain(error: Exception) -> str:
    """A sentence an admin can act on, for what the SMTP server or the network said."""
    where = f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return f"The SMTP server {where} refused the user name or password (CRM_EMAIL_USER / CRM_EMAIL_PASSWORD)."
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return f"The SMTP server {where} does not support what was asked ({error}); check CRM_EMAIL_SECURITY."
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return f"The SMTP server {where} refused the recipient address."
    if isinstance(error, ssl.SSLError):
        return f"TLS with the SMTP server {where} failed ({error.reason or error}); check CRM_EMAIL_SECURITY."
    if isinstance(error, smtplib.SMTPException):
        return f"The SMTP server {where} said: {error}."
    if isinstance(error, TimeoutError):
        return f"The SMTP server {where} did not answer in time."
    if isinstance(error, OSError):
        return f"Could not reach the SMTP server {where} ({error.strerror or error})."
    raise error


def send_digests(today: datetime.date | None = None, *, dry_run: bool = False, out: Any = None) -> Outcome:
    """Send today's digest to every active user with an email address who has not opted out.

    ``dry_run`` sends nothing and records nothing; it writes each message's text to ``out``.
    A failure with one user (the server refused, is down) is recorded and the others go on.
    """
    today = today or timezone.localdate()
    outcome = Outcome()
    done = set(DigestDelivery.objects.filter(day=today).values_list("user_id", flat=True))
    for user in recipients():
        if user.pk in done and not dry_run:
            outcome.already.append(user.username)
            continue
        try:
            built = compose.build(user, today)
        except Exception as error:  # a section's bug must not cost everyone else their digest
            logger.exception("The digest of %s could not be built", user.username)
            outcome.failed[user.username] = f"The digest could not be built ({type(error).__name__}); see the log."
            continue
        if built.is_empty:
            outcome.empty.append(user.username)
            continue
        mail = message(built)
        if dry_run:
            if out is not None:
                out.write(f"--- To: {user.email}\nSubject: {mail.subject}\n\n{mail.body}\n")
            outcome.sent.append(user.username)
            continue
        try:  # claim the day first: two runs at once send one message
            with transaction.atomic():
                delivery = DigestDelivery.objects.create(user=user, day=today)
        except IntegrityError:
            outcome.already.append(user.username)
            continue
        try:
            mail.send(fail_silently=False)
        except Exception as error:  # noqa: BLE001 — explain() re-raises what is not a mail failure
            delivery.delete()  # not sent: the next run tries again
            outcome.failed[user.username] = explain(error)
            continue
        outcome.sent.append(user.username)
    return outcome
