"""A captured email's body as the CRM keeps it: the new text only, without quoted replies or signature.

Pure text functions, no IMAP and no models, so email capture (issue 17) and its tests share them.
"""

from __future__ import annotations

import re

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
