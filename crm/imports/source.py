"""Reading an uploaded CSV: size limit, encoding, delimiter, ragged rows and other ways a file can be wrong.

Everything here works on bytes and text only, so a bad file is refused with a clear
message before any record is touched.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.conf import settings

from crm.lib.text import NOTE_MAX

# The longest cell we accept: the longest value any field holds (notes). The longest real
# note in an Airtable base is a few thousand characters; a longer cell means a broken quote
# swallowed the rest of the file, or the file is not what it seems. Shorter cells that are
# still too long for their field are row errors (CRMResource.length_errors).
MAX_CELL_CHARS = NOTE_MAX
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}

# File signatures of things people upload by mistake.
SIGNATURES = (
    (b"PK\x03\x04", "an Excel workbook or a ZIP archive (save it as CSV first: File → Save As → CSV UTF-8)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel or Word file (save it as CSV first)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"SQLite format 3", "a SQLite database"),
)


class SourceError(Exception):
    """The file cannot be imported; the message says why in words a user can act on."""


@dataclass
class SourceTable:
    """A decoded CSV: its header and rows, and what was noticed on the way."""

    name: str
    headers: list[str]
    rows: list[list[str]]
    encoding: str = "utf-8"
    delimiter: str = ","
    notices: list[str] = field(default_factory=list)
    text: str = field(default="", repr=False)  # the decoded file, kept by the wizard between steps

    @staticmethod
    def row_number(index: int) -> int:
        """The row as a spreadsheet numbers it: the header is row 1, so data starts at row 2."""
        return index + 2

    @staticmethod
    def is_blank(row: list[str]) -> bool:
        return all(not cell.strip() for cell in row)

    @property
    def data_rows(self) -> int:
        return len(self.rows)

    @property
    def blank_rows(self) -> int:
        return sum(1 for row in self.rows if self.is_blank(row))

    def column_values(self, index: int) -> list[str]:
        return [row[index] for row in self.rows if index < len(row)]


def max_import_bytes() -> int:
    return settings.CRM_IMPORT_MAX_MB * 1024 * 1024


def describe_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, size // 1024)} KB"


def check_size(name: str, size: int) -> None:
    limit = max_import_bytes()
    if size > limit:
        raise SourceError(
            f"{name} is {describe_size(size)}; imports are limited to {settings.CRM_IMPORT_MAX_MB} MB "
            "(the CRM_IMPORT_MAX_MB setting). Split the file, or ask whoever runs the server to raise the limit."
        )


def decode(data: bytes, name: str) -> tuple[str, str, list[str]]:
    """(text, encoding, notices). UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252."""
    notices: list[str] = []
    head = data[:16]
    for signature, what in SIGNATURES:
        if head.startswith(signature):
            raise SourceError(f"{name} is {what}, not a CSV file. Nothing was imported.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", notices
        except UnicodeDecodeError:
            raise SourceError(f"{name} starts like a UTF-16 text file but is not one. Nothing was imported.") from None
    if b"\x00" in data[:8192]:
        raise SourceError(f"{name} is a binary file, not a CSV file. Nothing was imported.")
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig", notices
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"{name} says it is UTF-8 but byte {exc.start + 3} is not valid UTF-8. Re-export it. "
                "Nothing was imported."
            ) from None
    try:
        return data.decode("utf-8"), "utf-8", notices
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise SourceError(
            f"{name} is neither UTF-8 nor Windows-1252 text. Save it as “CSV UTF-8” and try again. "
            "Nothing was imported."
        ) from None
    notices.append(
        f"{name} is not UTF-8, so it was read as Windows-1252 (Western European, what older Excel saves). "
        "Check accented names in the preview; if they look wrong, save the file as “CSV UTF-8” and upload it again."
    )
    return text, "windows-1252", notices


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the header line into the most columns (quotes respected)."""
    first_line = ""
    in_quotes = False
    for ch in text:
        if ch == '"':
            in_quotes = not in_quotes
        elif ch in "\r\n" and not in_quotes:
            break
        first_line += ch
    best, best_count = ",", 0
    for delimiter in DELIMITERS:
        try:
            count = len(next(csv.reader([first_line], delimiter=delimiter)))
        except (csv.Error, StopIteration):
            continue
        if count > best_count:
            best, best_count = delimiter, count
    return best


def _looks_like_other_format(text: str) -> str | None:
    start = text.lstrip()[:200].lower()
    if start.startswith(("{", "[")):
        return "JSON"
    if start.startswith(("<!doctype html", "<html", "<?xml", "<table", "<")):
        return "HTML or XML"
    return None


def _unique_headers(raw: list[str], notices: list[str], name: str) -> list[str]:
    headers: list[str] = []
    seen: dict[str, int] = {}
    for index, header in enumerate(raw, start=1):
        header = " ".join(header.replace("\ufeff", "").split())
        if not header:
            header = f"Column {index}"
        key = header.casefold()
        if key in seen:
            seen[key] += 1
            renamed = f"{header} ({seen[key]})"
            notices.append(f"{name} has two columns called “{header}”; the second is shown as “{renamed}”.")
            header = renamed
        else:
            seen[key] = 1
        headers.append(header)
    return headers


def parse_text(text: str, name: str, *, encoding: str = "utf-8", notices: list[str] | None = None) -> SourceTable:
    """Split CSV text into a header and rows, refusing files that would import wrongly."""
    notices = list(notices or [])
    if not text.strip():
        raise SourceError(f"{name} is empty.")
    other = _looks_like_other_format(text)
    if other:
        raise SourceError(f"{name} looks like {other}, not a CSV file. Nothing was imported.")
    delimiter = _sniff_delimiter(text)
    # The csv module's own limit (128 KB) would stop a huge cell with a cryptic message; we
    # read it and then refuse it with ours.
    csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[list[str]] = []
    try:
        for row in reader:
            rows.append(row)
    except csv.Error as exc:
        raise SourceError(
            f"{name} is not valid CSV near line {reader.line_num}: {exc}. A quote is probably not closed. "
            "Nothing was imported."
        ) from None
    # Leading blank lines before the header are not rows.
    while rows and SourceTable.is_blank(rows[0]):
        rows.pop(0)
    if not rows:
        raise SourceError(f"{name} is empty.")
    headers = _unique_headers(rows[0], notices, name)
    body = [row for row in rows[1:] if row]  # csv yields [] for an empty line
    if not body:
        raise SourceError(f"{name} has a header row but no data rows.")
    if len(headers) == 1 and delimiter == "," and len(text) > 200 and "," not in text and ";" not in text:
        raise SourceError(
            f"{name} has no column separators (commas, semicolons or tabs), so it is not a CSV table. "
            "Nothing was imported."
        )
    ragged: list[tuple[int, int]] = []
    for index, row in enumerate(body):
        # Spreadsheets add empty cells after the last column; they carry nothing.
        while len(row) > len(headers) and not row[-1].strip():
            row.pop()
        if len(row) < len(headers) and len(row) == 1 and not row[0].strip():
            body[index] = [""] * len(headers)
            continue
        if len(row) != len(headers):
            ragged.append((SourceTable.row_number(index), len(row)))
        for column, cell in enumerate(row):
            if len(cell) > MAX_CELL_CHARS:
                header = headers[column] if column < len(headers) else f"column {column + 1}"
                raise SourceError(
                    f"{name}, row {SourceTable.row_number(index)}, “{header}” holds {len(cell):,} characters; "
                    f"the largest value the CRM accepts is {MAX_CELL_CHARS:,}. A quote is probably not closed, "
                    "or this is not the file you meant. Nothing was imported."
                )
    if ragged:
        listed = ", ".join(f"row {number} has {count}" for number, count in ragged[:5])
        more = f" and {len(ragged) - 5} more rows" if len(ragged) > 5 else ""
        raise SourceError(
            f"{name}: the header has {len(headers)} columns but {listed}{more}. A value probably contains an "
            "unquoted comma or line break. Fix the file (or export it again) and upload it again. "
            "Nothing was imported."
        )
    if delimiter != ",":
        notices.append(f"{name} is separated by {DELIMITER_NAMES[delimiter]}s, not commas; that was detected.")
    return SourceTable(
        name=name, headers=headers, rows=body, encoding=encoding, delimiter=delimiter, notices=notices, text=text
    )


def read_bytes(data: bytes, name: str) -> SourceTable:
    """Size check, decode and parse an uploaded or on-disk file."""
    check_size(name, len(data))
    if not data.strip():
        raise SourceError(f"{name} is empty.")
    text, encoding, notices = decode(data, name)
    return parse_text(text, name, encoding=encoding, notices=notices)
