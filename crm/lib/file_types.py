"""The kinds of file the CRM keeps (LP documents, email attachments asked for): told by their
content, not by their name alone, since a name is whatever the sender chose.

Model-free, so lps.documents and contacts (kept email attachments) share one list.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FileType:
    label: str
    extensions: tuple[str, ...]
    content_type: str


PDF = FileType("PDF", (".pdf",), "application/pdf")
FILE_TYPES = (
    PDF,
    FileType("PNG image", (".png",), "image/png"),
    FileType("JPEG image", (".jpg", ".jpeg"), "image/jpeg"),
    FileType("Word document", (".docx",), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    FileType("Excel workbook", (".xlsx",), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    FileType("CSV", (".csv",), "text/csv"),
    FileType("text", (".txt",), "text/plain"),
)
BY_EXTENSION = {ext: kind for kind in FILE_TYPES for ext in kind.extensions}
ACCEPTED = ", ".join(ext for kind in FILE_TYPES for ext in kind.extensions)
SNIFF_BYTES = 8192
# The part of an Office file that says which kind it is.
OFFICE_PARTS = {".docx": "word/document.xml", ".xlsx": "xl/workbook.xml"}


def looks_like(extension: str, upload: Any) -> bool:
    """Whether the file-like ``upload``'s first bytes are what its ``extension`` says (read, then rewound)."""
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    if extension == ".pdf":
        return head.startswith(b"%PDF-")
    if extension == ".png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if extension in (".jpg", ".jpeg"):
        return head.startswith(b"\xff\xd8\xff")
    if extension in OFFICE_PARTS:
        if not head.startswith(b"PK\x03\x04"):
            return False
        try:
            with zipfile.ZipFile(upload) as archive:
                return OFFICE_PARTS[extension] in archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return False
        finally:
            upload.seek(0)
    # CSV and text: UTF-8 without NUL bytes (a multi-byte character may be cut at the end).
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start >= len(head) - 3 and len(head) == SNIFF_BYTES
    return True
