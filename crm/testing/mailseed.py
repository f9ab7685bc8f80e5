"""The messages the email-capture tests find in dovecot: one of each kind capture must handle.

ana@fund.example and ben@fund.example are team members; the contacts the tests create are
ada@atlas.example (one open deal), bo@birch.example, cy@cedar.example (never capture) and
dee@personal.example (whose domain is excluded). Appended over IMAP, as a mail server
would have delivered them. The "crm" user is the team's shared BCC/forward address.
"""

from __future__ import annotations

import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from imap_tools import MailBoxUnencrypted

USERS = {"ana": "ana-app-password", "ben": "ben-app-password", "crm": "crm-app-password"}
DAY = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.UTC)


def _headers(message, n: int, sender: str, to: str, subject: str, **extra: str):
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = (DAY + datetime.timedelta(hours=n)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    message["Message-ID"] = extra.pop("message_id", f"<m{n}@seed.example>")
    for name, value in extra.items():
        message[name.replace("_", "-").title()] = value
    return message


def plain(n: int, sender: str, to: str, subject: str, body: str, **extra: str) -> bytes:
    message = EmailMessage()
    _headers(message, n, sender, to, subject, **extra)
    message.set_content(body)
    return message.as_bytes()


def html_only(n: int, sender: str, to: str, subject: str, html: str) -> bytes:
    message = MIMEText(html, "html", "utf-8")
    return _headers(message, n, sender, to, subject).as_bytes()


def with_attachments(n: int, sender: str, to: str, subject: str, body: str, files: list[str]) -> bytes:
    message = MIMEMultipart()
    message.attach(MIMEText(body, "plain", "utf-8"))
    for name in files:
        part = MIMEApplication(b"%PDF-1.4 not really", Name=name)
        part["Content-Disposition"] = f'attachment; filename="{name}"'
        message.attach(part)
    return _headers(message, n, sender, to, subject).as_bytes()


def latin1(n: int, sender: str, to: str) -> bytes:
    """ISO-8859-1 subject and body, as older mail programs still send."""
    head = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: =?iso-8859-1?q?R=E9union_=E0_Z=FCrich?=\r\n"
        f"Date: {(DAY + datetime.timedelta(hours=n)).strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: <m{n}@seed.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode("ascii") + "Café à Zürich, mardi à 10h.\r\n".encode("latin-1")


ADA, BO, CY, DEE = "ada@atlas.example", "bo@birch.example", "cy@cedar.example", "dee@personal.example"
ANA, BEN = "ana@fund.example", "ben@fund.example"

# The thread: m1 (Ada asks) <- m6 (Ana answers, copied to Bo; in Sent and, cc to herself, INBOX) <- m5 (Ada again).
FIRST = plain(
    1,
    f"Ada Okafor <{ADA}>",
    f"Ana <{ANA}>, {BEN}",
    "Fund III data room",
    "Could you send the data room link?\n\nBest,\nAda\n-- \nAda Okafor | Atlas Family Office\n",
)
ANSWER = plain(
    6,
    f"Ana <{ANA}>",
    ADA,
    "Re: Fund III data room",
    "Here it is: https://dataroom.example/fund3\n\nOn Mon, 2 Nov 2026 at 10:00, Ada Okafor wrote:\n> Could you send",
    cc=f"{BO}, {ANA}",
    in_reply_to="<m1@seed.example>",
    references="<m1@seed.example>",
)
REPLY = plain(
    5,
    ADA,
    ANA,
    "Re: Fund III data room",
    "Thanks, got it.\n\n> Here it is",
    in_reply_to="<m6@seed.example>",
    references="<m1@seed.example> <m6@seed.example>",
)

LUNCH = "<html><body><p>Hello <b>Ana</b>,</p><p>lunch on Friday?</p></body></html>"
DRAFTS = ["LPA draft.pdf", "Side letter.pdf"]

MAIL = {
    "ana": {
        "INBOX": [
            FIRST,
            html_only(
                2, BO, ANA, "Lunch?", "<html><body><p>Hello <b>Ana</b>,</p><p>lunch on Friday?</p></body></html>"
            ),
            with_attachments(
                3, ADA, ANA, "Documents", "The drafts are attached.", ["LPA draft.pdf", "Side letter.pdf"]
            ),
            latin1(4, BO, ANA),
            REPLY,
            ANSWER,
            plain(7, "stranger@unknown.example", ANA, "Buy now", "An offer nobody wants kept."),
            plain(8, CY, f"{ANA}, {ADA}", "Private", "Never capture me."),
            plain(9, DEE, ANA, "Weekend", "A personal note."),
            # No Message-ID and no sender: nothing to tell it apart by, so it is skipped as unreadable.
            b"Subject: broken\r\n\r\nno headers to speak of\r\n",
        ],
        "Sent": [ANSWER],
    },
    "ben": {
        "INBOX": [FIRST, plain(10, BO, BEN, "Coffee", "Coffee next week?")],
        # Ben's server keeps sent mail as Outlook does; his mailbox still asks for "Sent".
        "Sent Items": [plain(11, BEN, BO, "Re: Coffee", "Tuesday works.", in_reply_to="<m10@seed.example>")],
    },
}


def forwarded_inline(n: int, sender: str, subject: str, body: str) -> bytes:
    """A forward as Gmail or Apple Mail writes it: the original's headers as lines of the body."""
    return plain(n, sender, CRM, f"Fwd: {subject}", body)


def forwarded_attached(n: int, sender: str, original: bytes, note: str = "FYI") -> bytes:
    """A forward "as attachment": the original message whole, as a message/rfc822 part."""
    message = EmailMessage()
    _headers(message, n, sender, CRM, "Fwd: attached")
    message.set_content(note)
    message.add_attachment(message_from_bytes(original, policy=policy.default))
    return message.as_bytes()


CRM = "crm@fund.example"

GMAIL_FORWARD = f"""FYI, see below.

---------- Forwarded message ---------
From: Ada Okafor <{ADA}>
Date: Tue, Nov 3, 2026 at 3:15 PM
Subject: Allocation question
To: Ben <{BEN}>
Cc: Bo Li <{BO}>


Could we take a larger allocation in the first close?

Ada
--
Ada Okafor | Atlas Family Office
"""

APPLE_FORWARD = f"""Logging this one.

Begin forwarded message:

From: Bo Li <{BO}>
Subject: Visit in December
Date: 4 November 2026 at 09:30:00 GMT
To: Ana <{ANA}>

We could visit your office on the 12th.
"""

ATTACHED_ORIGINAL = plain(
    30,
    f"Ada Okafor <{ADA}>",
    f"Ben <{BEN}>",
    "Side letter comments",
    "Our comments on the side letter are below.\n\nAda",
    in_reply_to="<m1@seed.example>",
    references="<m1@seed.example>",
)

# The shared mailbox: what team members copied (BCC) or forwarded to crm@fund.example, and what others sent it.
SHARED = [
    plain(20, f"Ana <{ANA}>", f"{ADA}", "Term sheet follow-up", "Attached is the term sheet.", cc=BO),
    forwarded_inline(21, f"Ben <{BEN}>", "Allocation question", GMAIL_FORWARD),
    forwarded_inline(22, ANA, "Visit in December", APPLE_FORWARD),
    forwarded_attached(23, BEN, ATTACHED_ORIGINAL),
    # Strangers: one writes to the address with a contact copied, one forwards a contact's mail.
    plain(24, "stranger@unknown.example", CRM, "Please log me", "Put me in your CRM.", cc=ADA),
    forwarded_inline(25, "stranger@unknown.example", "Allocation question", GMAIL_FORWARD),
    # Ana's answer (m6), BCC'd to the CRM as well as in her own Sent.
    ANSWER,
    # Ana writing to Cy, who is never captured.
    plain(26, ANA, CY, "Private again", "Never capture me either."),
]

MAIL["crm"] = {"INBOX": SHARED}


def seed(host: str, port: int) -> None:
    for user, folders in MAIL.items():
        with MailBoxUnencrypted(host, port).login(user, USERS[user]) as box:
            for folder, messages in folders.items():
                if folder != "INBOX":
                    box.folder.create(folder)
                for raw in messages:
                    box.append(raw, folder, dt=DAY)
