"""LP documents: where their files live, what files are accepted, and the writes that keep
file and row together.

Files are stored under ``settings.DOCUMENTS_DIR`` (the data folder's ``documents``), owner-only,
under a random name (the uploader's file name is kept on the row, for the download): the
storage has no URL, so a document is only ever served by ``lps.views.document_download``,
which checks who asks. A file and its row exist together or not at all: an upload whose row
cannot be saved removes its file, and a deleted row's file goes once the delete commits.
"""

from __future__ import annotations

import datetime
import io
import os
import uuid
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage
from django.db import transaction

from crm.lib.file_types import (  # noqa: F401 (the names lps.forms and the tests read here)
    ACCEPTED,
    BY_EXTENSION,
    FILE_TYPES,
    PDF,
    FileType,
    looks_like,
)
from crm.lib.private_files import FILE_MODE, FOLDER_MODE


class DocumentStorage(FileSystemStorage):
    """The documents folder, read from the settings at each use (tests move it), without a URL."""

    def __init__(self) -> None:
        super().__init__(base_url=None, file_permissions_mode=FILE_MODE, directory_permissions_mode=FOLDER_MODE)

    @property
    def base_location(self) -> str:  # type: ignore[override]
        return str(settings.DOCUMENTS_DIR)

    @property
    def location(self) -> str:  # type: ignore[override]
        return os.path.abspath(self.base_location)

    def url(self, name: str | None) -> str:
        raise ValueError("Documents have no public URL: they are served by document_download only.")


STORAGE = DocumentStorage()


def document_storage() -> DocumentStorage:
    """The storage Document.file uses (a callable, so migrations name it rather than a path)."""
    return STORAGE


def document_path(instance: Any, filename: str) -> str:
    """``YYYY/MM/<random>.<ext>``: nothing of the uploader's file name reaches the disk."""
    today = datetime.date.today()
    return f"{today:%Y/%m}/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()}"


# --- what is accepted ----------------------------------------------------------------------


def max_bytes() -> int:
    return settings.CRM_DOCUMENT_MAX_MB * 1024 * 1024


def check_upload(upload: Any) -> FileType:
    """The file's type, or a ValidationError saying what is wrong with it (for the file field)."""
    extension = PurePath(upload.name or "").suffix.lower()
    kind = BY_EXTENSION.get(extension)
    if kind is None:
        raise ValidationError(f"Files of this type cannot be attached. Accepted: {ACCEPTED}.", code="type")
    if upload.size > max_bytes():
        size = upload.size / (1024 * 1024)
        raise ValidationError(
            f"The file is {size:.1f} MB; the limit is {settings.CRM_DOCUMENT_MAX_MB} MB.", code="size"
        )
    if upload.size == 0:
        raise ValidationError("The file is empty.", code="empty")
    if not looks_like(extension, upload):
        raise ValidationError(f"The file is named {extension} but its content is not a {kind.label}.", code="content")
    return kind


# --- writes --------------------------------------------------------------------------------


def save_document(document: Any, upload: Any, user: Any) -> Any:
    """Store ``upload`` and save ``document`` (its owner, kind and title set) as one: if the row
    cannot be saved, the file stored for it is removed again."""
    kind = check_upload(upload)
    document.content_type = kind.content_type
    document.size = upload.size
    document.original_name = PurePath(upload.name).name[: document._meta.get_field("original_name").max_length]
    document.title = document.title or PurePath(upload.name).stem
    document.uploaded_by = user
    document._history_user = user
    document.full_clean(exclude=["file"])
    stored = STORAGE.save(document_path(document, upload.name), upload)
    document.file.name = stored
    try:
        with transaction.atomic():
            document.save()
    except BaseException:
        STORAGE.delete(stored)
        raise
    return document


def remove_file_on_commit(name: str) -> None:
    """Delete a document's file once the transaction that deleted its row commits."""
    if name:
        transaction.on_commit(lambda: STORAGE.delete(name))


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF saying ``text`` (the demo's documents: generated, no binary in git)."""
    safe = text.replace("\\", "").replace("(", "[").replace(")", "]")
    stream = f"BT /F1 14 Tf 72 720 Td ({safe}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()
