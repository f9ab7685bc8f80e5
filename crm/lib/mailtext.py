"""A captured email's body as the CRM keeps it: the new text only, without quoted replies or signature.

Pure text functions, no IMAP and no models, so email capture (issue 17) and its tests share them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html import unescape

# "On Tue, 3 Dec 2026 at 10:00, Ana <ana@x.com> wrote:" and its common translations/variants,
# possibly wrapped over two lines by the sender's mail program.
_ATTRIBUTION = re.compile(r"^\s*(On|Am|Le|El)\b.{0,300}?(wrote|schrieb|a écrit|escribió)\s*:\s*$", re.I | re.S)
_OUTLOOK_HEADER = re.compile(r"^\s*-{2,}\s*(Original Message|Ursprüngliche Nachricht)\s*-{2,}\s*$", re.I)
_FROM_HEADER = re.compile(r"^\s*From:\s.+$", re.I)
_SIGNATURE = re.compile(r"^(-- ?|__+|Sent from my \w+.*)$", re.I)


def trimmed_body(text: str) -> str:
    """The text above the first quoted reply, attribution line or signature delimiter."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        two_lines = line + " " + (lines[index + 1] if index + 1 < len(lines) else "")
        if (
            line.startswith(">")
            or _SIGNATURE.match(line.rstrip("\n"))
            or _OUTLOOK_HEADER.match(line)
            or (_FROM_HEADER.match(line) and index > 0 and not lines[index - 1].strip())
            or _ATTRIBUTION.match(line)
            or (line.strip() and _ATTRIBUTION.match(two_lines))
        ):
            break
        kept.append(line)
    return "\n".join(kept).strip()


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str
    subject: str
    sent_at: datetime | None
    sender: str
    recipients: tuple[str, ...]
    in_reply_to: str
    references: tuple[str, ...]
    body: str
    attachment_names: tuple[str, ...]

    @property
    def addresses(self) -> set[str]:
        return {self.sender, *self.recipients} - {""}


def _addresses(values: list[str]) -> list[str]:
    return [address.strip().lower() for _name, address in getaddresses(values) if "@" in address]


def _ids(value: str) -> tuple[str, ...]:
    return tuple(re.findall(r"<[^<>\s]+>", value or ""))


def _html_to_text(html: str) -> str:
    html = re.sub(r"(?is)<(script|style|head).*?</\1>", "", html)
    html = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>|</h\d>", "\n", html)
    text = unescape(re.sub(r"<[^>]+>", "", html))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.strip() for line in text.split("\n")))


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return payload.decode("utf-8", errors="replace")


def parse_message(raw: bytes) -> ParsedMessage | None:
    """The facts capture needs from one raw message, or ``None`` when it has no usable Message-ID or sender."""
    try:
        message = BytesParser(policy=policy.compat32).parsebytes(raw)
        message_id = (_ids(message.get("Message-ID", "")) or ("",))[0]
        senders = _addresses(message.get_all("From", []))
        if not message_id or not senders:
            return None
        plain, html, attachments = [], [], []
        for part in message.walk():
            if part.is_multipart():
                continue
            filename = part.get_filename()
            if filename or part.get_content_disposition() == "attachment":
                attachments.append(str(make_header(decode_header(filename or "unnamed"))))
            elif part.get_content_type() == "text/plain":
                plain.append(_part_text(part))
            elif part.get_content_type() == "text/html":
                html.append(_part_text(part))
        text = "\n".join(plain) if plain else _html_to_text("\n".join(html))
        try:
            sent_at = parsedate_to_datetime(message["Date"]) if message["Date"] else None
        except (TypeError, ValueError):
            sent_at = None
        recipients = _addresses(message.get_all("To", []) + message.get_all("Cc", []))
        return ParsedMessage(
            message_id=message_id,
            subject=str(make_header(decode_header(message.get("Subject", "")))).strip(),
            sent_at=sent_at,
            sender=senders[0],
            recipients=tuple(dict.fromkeys(recipients)),
            in_reply_to=(_ids(message.get("In-Reply-To", "")) or ("",))[0],
            references=_ids(message.get("References", "")),
            body=trimmed_body(text),
            attachment_names=tuple(attachments),
        )
    except (HeaderParseError, UnicodeError, ValueError, LookupError):
        return None
