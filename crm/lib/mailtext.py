"""A captured email's body as the CRM keeps it: the new text only, without quoted replies or signature.

Pure text functions, no IMAP and no models, so email capture (issue 17) and its tests share them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
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


def _content(message: Message) -> tuple[str, list[str]]:
    """The message's text (plain, else its HTML as text), untrimmed, and its attachments' names."""
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
    return ("\n".join(plain) if plain else _html_to_text("\n".join(html))), attachments


def _date(value: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None


def parse_message(raw: bytes) -> ParsedMessage | None:
    """The facts capture needs from one raw message, or ``None`` when it has no usable Message-ID or sender."""
    try:
        message = BytesParser(policy=policy.compat32).parsebytes(raw)
        return _parse(message)
    except (HeaderParseError, UnicodeError, ValueError, LookupError):
        return None


def _parse(message: Message) -> ParsedMessage | None:
    message_id = (_ids(message.get("Message-ID", "")) or ("",))[0]
    senders = _addresses(message.get_all("From", []))
    if not message_id or not senders:
        return None
    text, attachments = _content(message)
    recipients = _addresses(message.get_all("To", []) + message.get_all("Cc", []))
    return ParsedMessage(
        message_id=message_id,
        subject=_header_text(message.get("Subject", "")),
        sent_at=_date(message["Date"]),
        sender=senders[0],
        recipients=tuple(dict.fromkeys(recipients)),
        in_reply_to=(_ids(message.get("In-Reply-To", "")) or ("",))[0],
        references=_ids(message.get("References", "")),
        body=trimmed_body(text),
        attachment_names=tuple(attachments),
    )


def _header_text(value: str) -> str:
    return str(make_header(decode_header(value or ""))).strip()


# --- forwarded messages (the shared "BCC/forward to CRM" mailbox) -----------------------------

# Gmail's "---------- Forwarded message ---------" (Outlook.com and Thunderbird write the same
# with other dash counts) and Apple Mail's "Begin forwarded message:".
_FORWARD_MARKER = re.compile(r"^[ \t]*(-{3,} ?Forwarded message ?-{3,}|Begin forwarded message:)[ \t]*$", re.I | re.M)
_FORWARD_HEADER = re.compile(r"^\s*(From|Date|Sent|Subject|To|Cc):\s*(.*?)\s*$", re.I)
# The dates mail programs write in a forwarded block, after "at" is dropped: Gmail's
# "Mon, Nov 2, 2026 10:00 AM", Apple Mail's "2 November 2026 10:00:00 GMT" and its US form.
_FORWARD_DATES = (
    "%a, %b %d, %Y %I:%M %p",
    "%a, %d %b %Y %H:%M",
    "%d %B %Y %H:%M:%S",
    "%B %d, %Y %I:%M:%S %p",
    "%d %B %Y %H:%M",
    "%B %d, %Y %I:%M %p",
)


def _forward_date(value: str) -> datetime | None:
    """A forwarded block's Date line: RFC 5322 when it is one (aware), else a mail program's (naive, local)."""
    found = _date(value)
    if found is not None:
        return found
    value = re.sub(r"\s+at\s+", " ", value.strip())
    zone = re.search(r"\s+(GMT|UTC|[A-Z]{3,4}|[+-]\d{4})$", value)
    value = value[: zone.start()] if zone else value
    for pattern in _FORWARD_DATES:
        try:
            found = datetime.strptime(value, pattern)
        except ValueError:
            continue
        # GMT and UTC say what they mean; "CET" or "PST" are ambiguous abbreviations: left local.
        return found.replace(tzinfo=UTC) if zone and zone.group(1) in ("GMT", "UTC") else found
    return None


def _forwarded_in_text(text: str, outer: ParsedMessage, attachments: list[str]) -> ParsedMessage | None:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    match = _FORWARD_MARKER.search(text)
    if match is None:
        return None
    lines = text[match.end() :].split("\n")
    headers: dict[str, str] = {}
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    while index < len(lines):
        header = _FORWARD_HEADER.match(lines[index])
        if header is None:
            break
        name, value = header.group(1).lower(), header.group(2)
        index += 1
        while index < len(lines) and lines[index][:1] in (" ", "\t") and lines[index].strip():
            value += " " + lines[index].strip()  # a long To: wrapped over lines
            index += 1
        headers.setdefault("date" if name == "sent" else name, value)
    senders = _addresses([headers.get("from", "")])
    if not senders:
        return None
    return ParsedMessage(
        # The original's Message-ID is not in the text: the forward's own keeps a re-read from doubling it.
        message_id=outer.message_id,
        subject=headers.get("subject", "").strip(),
        sent_at=_forward_date(headers.get("date", "")) or outer.sent_at,
        sender=senders[0],
        recipients=tuple(dict.fromkeys(_addresses([headers.get("to", ""), headers.get("cc", "")]))),
        in_reply_to="",
        references=(),
        body=trimmed_body("\n".join(lines[index:])),
        attachment_names=tuple(attachments),
    )


def forwarded_message(raw: bytes) -> ParsedMessage | None:
    """The message forwarded in ``raw``, as if it had been read itself; ``None`` when ``raw`` forwards none.

    Attached whole (message/rfc822, "forward as attachment"), it keeps its own Message-ID and
    thread (the forward's Message-ID stands in when it has none). Forwarded inline, its From,
    Date, Subject, To and Cc are read from the block the mail program wrote, and the forward's
    own Message-ID identifies it.
    """
    try:
        message = BytesParser(policy=policy.compat32).parsebytes(raw)
        outer = _parse(message)
        if outer is None:
            return None
        for part in message.walk():
            if part.get_content_type() != "message/rfc822":
                continue
            payload = part.get_payload()
            if isinstance(payload, list):
                inner = payload[0] if payload else None
            else:  # encoded, against RFC 2046, by a few mail programs: decode it and read it
                inner = BytesParser(policy=policy.compat32).parsebytes(part.get_payload(decode=True) or b"")
            if not isinstance(inner, Message) or not inner.get("From"):
                continue
            if not _ids(inner.get("Message-ID", "")):
                inner["Message-ID"] = outer.message_id
            return _parse(inner)
        text, attachments = _content(message)
        return _forwarded_in_text(text, outer, attachments)
    except (HeaderParseError, UnicodeError, ValueError, LookupError):
        return None


def attachment(raw: bytes, position: int) -> tuple[str, bytes] | None:
    """The name and decoded bytes of the ``position``-th attachment, counted as ``parse_message``
    lists them in ``attachment_names``; ``None`` when the message has no such attachment."""
    try:
        message = BytesParser(policy=policy.compat32).parsebytes(raw)
        found = 0
        for part in message.walk():
            if part.is_multipart():
                continue
            filename = part.get_filename()
            if filename or part.get_content_disposition() == "attachment":
                if found == position:
                    return str(make_header(decode_header(filename or "unnamed"))), part.get_payload(decode=True) or b""
                found += 1
    except (HeaderParseError, UnicodeError, ValueError, LookupError):
        return None
    return None
