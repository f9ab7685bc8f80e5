"""CSV and XLSX downloads that open cleanly in Excel and cannot smuggle in formulas."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "xlsx")


def neutralize(value: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula with an apostrophe (CSV injection).

    Numbers stay numbers: a negative Decimal is data, not a formula.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if timezone.is_aware(value) else str(value)
    if isinstance(value, Decimal):
        # Money to the cent whatever the database returned (SQLite drops trailing zeros,
        # PostgreSQL keeps them); finer values keep their digits.
        cents = value.quantize(Decimal("0.01"))
        return f"{cents:f}" if cents == value else f"{value:f}"
    if isinstance(value, (int, float)):
        return str(value)  # a negative amount is data, not a formula
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    return neutralize(str(value))


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(filename: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> StreamingHttpResponse:
    """Stream a UTF-8 CSV with a byte-order mark, so Excel reads accents and CJK names right."""
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff" + writer.writerow(headers)
        for row in rows:
            yield writer.writerow([_csv_cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def _xlsx_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Decimal):
        # Excel keeps numbers as doubles; beyond 15 digits it would round, so keep text there.
        return float(value) if abs(value) < Decimal("1e15") else str(value)
    if isinstance(value, datetime.datetime):
        # Excel has no time zones: write the team's local wall time.
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    return neutralize(value) if isinstance(value, str) else value


def xlsx_response(filename: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> HttpResponse:
    """An XLSX with real numbers and dates (not text) and a bold, frozen header row."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)  # streams rows: large exports stay small in memory
    sheet = workbook.create_sheet(title=(filename[:31] or "Export"))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header_cells = []
    for title in headers:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        cells = []
        for raw in row:
            cell = WriteOnlyCell(sheet, value=_xlsx_value(raw))
            if isinstance(cell.value, datetime.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(cell.value, datetime.date):
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.xlsx"'
    return response


def export_response(
    fmt: str, filename: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]
) -> HttpResponse | StreamingHttpResponse:
    """``fmt`` is "csv" or "xlsx"; the filename gets today's date so downloads don't collide."""
    stamped = f"{filename}-{timezone.localdate():%Y-%m-%d}"
    if fmt == "xlsx":
        return xlsx_response(stamped, headers, rows)
    return csv_response(stamped, headers, rows)
