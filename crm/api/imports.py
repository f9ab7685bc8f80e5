"""CSV/JSON imports: the wizard's engine, mapping format and job, for scripts. Managers and admins."""

from __future__ import annotations

import csv
import datetime
import io
import json
from typing import Any

import pydantic
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Field, Router, Schema, Status

from crm.api.auth import VIA_API
from crm.api.common import PathId
from crm.api.errors import Problem
from crm.imports import jobs
from crm.imports.mapping import (
    ImportOptions,
    MappingError,
    MappingFile,
    TableMapping,
    check,
    complete,
    detect_date_order,
    loads,
)
from crm.imports.runner import TableInput, run_import
from crm.imports.schema import ENTITIES
from crm.imports.source import SourceError, SourceTable, max_import_bytes, parse_text, read_bytes
from crm.lib.text import NAME_MAX
from crm.models import ImportJob, ImportRun, Role

router = Router(tags=["imports"])

ENTITY_KEYS = sorted(ENTITIES)
Cell = str | int | float | bool | None


class ImportJSONIn(Schema):
    """Rows as JSON objects (one key per column, as a CSV header would name it)."""

    entity: str = Field(description="What the rows are: one of " + ", ".join(ENTITY_KEYS) + ".")
    rows: list[dict[str, Cell]] = Field(min_length=1, max_length=100_000)
    mapping: dict[str, Any] | None = Field(None, description="A mapping file, as the wizard downloads it.")
    dry_run: bool = Field(False, description="true: the per-row report of what would happen; nothing is written.")
    skip_errors: bool = Field(False, description="Import the good rows and leave out those with errors.")
    name: str = Field("rows.json", max_length=NAME_MAX, description="What the import history calls it.")


_FORM_SCHEMA = {
    "type": "object",
    "required": ["file", "entity"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "A CSV file, as the wizard takes it."},
        "entity": {"type": "string", "enum": ENTITY_KEYS},
        "mapping": {"type": "string", "description": "A mapping file's JSON text."},
        "dry_run": {"type": "string", "enum": ["true", "false"]},
        "skip_errors": {"type": "string", "enum": ["true", "false"]},
    },
}
_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _FORM_SCHEMA},
            "application/json": {"schema": ImportJSONIn.model_json_schema()},
        },
    }
}


class ImportRunOut(Schema):
    id: int
    status: str
    job: str
    job_finished: bool
    file_name: str
    entity: str
    progress: list[dict[str, Any]]
    rows_read: int
    created: int
    updated: int
    skipped: int
    errors: int
    message: str
    report: dict[str, Any]
    created_at: datetime.datetime
    finished_at: datetime.datetime | None


class DryRunOut(Schema):
    dry_run: bool
    status: str
    message: str
    notices: list[str]
    tables: list[dict[str, Any]]
    fund_totals: list[dict[str, Any]]
    totals: dict[str, int]


def _require_manager(user: Any) -> None:
    # The wizard's rule (crm.roles.manager_required): imports write commitments and funds in bulk.
    if not user.has_role(Role.MANAGER):
        raise PermissionDenied(f"This needs the {Role.MANAGER.label.lower()} role.")


def _too_large(size: int) -> None:
    if size > max_import_bytes():
        raise Problem(413, f"Imports are limited to {max_import_bytes() // (1024 * 1024)} MB (CRM_IMPORT_MAX_MB).")


def _rows_csv(rows: list[dict[str, Cell]]) -> str:
    headers: dict[str, None] = {}
    for row in rows:
        headers.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)

    def cell(value: Cell) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    writer.writerows([cell(row.get(header)) for header in headers] for row in rows)
    return out.getvalue()


def _flag(value: str | None, name: str) -> bool:
    if value in (None, "", "false"):
        return False
    if value == "true":
        return True
    raise Problem(422, "The request has invalid fields.", {name: ["true or false."]})


def _read(request: HttpRequest) -> tuple[SourceTable, str, str | None, bool, bool]:
    """(source, entity, mapping text, dry run, skip errors) from a multipart upload or JSON rows."""
    kind = request.content_type or ""
    try:
        if kind == "multipart/form-data":
            upload = request.FILES.get("file")
            if upload is None:
                raise Problem(422, "Send the CSV as the “file” part.", {"file": ["Required."]})
            _too_large(upload.size)
            source = read_bytes(upload.read(), upload.name or "upload.csv")
            mapping = request.POST.get("mapping")
            if mapping is None and "mapping" in request.FILES:
                mapping = request.FILES["mapping"].read().decode("utf-8", "replace")
            flags = _flag(request.POST.get("dry_run"), "dry_run"), _flag(request.POST.get("skip_errors"), "skip_errors")
            return source, request.POST.get("entity", ""), mapping, *flags
        if kind == "application/json":
            try:
                payload = ImportJSONIn.model_validate(json.loads(request.body or b"null"))
            except (ValueError, pydantic.ValidationError) as error:
                errors: dict[str, list[str]] = {}
                for item in getattr(error, "errors", lambda: [{"loc": (), "msg": "Send a JSON object."}])():
                    where = ".".join(str(part) for part in item.get("loc", ()))
                    errors.setdefault(where, []).append(str(item.get("msg", "Invalid value.")))
                raise Problem(422, "The request has invalid fields; nothing was imported.", errors) from None
            mapping = json.dumps(payload.mapping) if payload.mapping is not None else None
            source = parse_text(_rows_csv(payload.rows), payload.name or "rows.json")
            return source, payload.entity, mapping, payload.dry_run, payload.skip_errors
    except SourceError as error:
        raise Problem(422, str(error), {"file": [str(error)]}) from None
    raise Problem(400, "Send multipart/form-data with a CSV “file”, or application/json with “rows”.")


def _mapped(source: SourceTable, entity: str, mapping_text: str | None) -> tuple[TableMapping, ImportOptions]:
    """The wizard's mapping step without the person: the file's mapping for this kind of rows,
    completed with the engine's suggestions; how dates read, from the values unless it says."""
    if entity not in ENTITIES:
        raise Problem(422, "The request has invalid fields.", {"entity": [f"One of: {', '.join(ENTITY_KEYS)}."]})
    base, options, order_given = None, ImportOptions(), False
    if mapping_text is not None:
        try:
            mapping = loads(mapping_text)
        except MappingError as error:
            raise Problem(422, str(error), {"mapping": [str(error)]}) from None
        options, order_given = mapping.options, mapping.date_order_given
        base = mapping.table_for(source.name, source.headers) or next(
            (table for table in mapping.tables if table.entity == entity), None
        )
        if base is not None and base.entity != entity:
            base = None
    table = complete(source, entity, base)
    table.name = source.name
    if not order_given:
        options.date_order, options.date_order_reason = detect_date_order([(source, table)])
    problems = check(table)
    if problems:
        raise Problem(422, " ".join(problems), {"mapping": problems})
    return table, options


def _out(run: ImportRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "status": run.status,
        "job": run.job,
        "job_finished": run.job_finished_at is not None,
        "file_name": run.file_name,
        "entity": run.entity,
        "progress": jobs.bars(run),
        "rows_read": run.rows_read,
        "created": run.created_count,
        "updated": run.updated_count,
        "skipped": run.skipped_count,
        "errors": run.error_count,
        "message": run.message,
        "report": run.report or {},
        "created_at": run.created_at,
        "finished_at": run.finished_at,
    }


@router.post(
    "/imports", response={200: DryRunOut, 202: ImportRunOut}, url_name="api_import_create", openapi_extra=_REQUEST_BODY
)
def import_create(request: HttpRequest, response: HttpResponse) -> Status:
    """Import a CSV file (multipart) or JSON rows with the wizard's engine and mapping format.
    ``dry_run``: answers the per-row report at once and writes nothing. Otherwise the import
    is queued as the wizard queues it: 202, with a Location to follow for its progress."""
    _require_manager(request.user)
    length = request.META.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        _too_large(int(length))
    source, entity, mapping_text, dry_run, skip_errors = _read(request)
    table, options = _mapped(source, entity, mapping_text)
    if dry_run:
        outcome = run_import([TableInput(source, table)], user=request.user, options=options, dry_run=True)
        return Status(200, outcome.report(dry_run=True))
    run = ImportRun.objects.create(
        user=request.user,
        # The worker writes the history, outside this request: its reason ("Import #n (file)")
        # names the API through the run's name (a new ImportSource would need a migration).
        file_name=f"{source.name[:240]} via {VIA_API}",
        entity=entity,
        encoding=source.encoding,
        delimiter=source.delimiter,
        notices=source.notices,
        source_text=source.text,
        mapping=MappingFile(options, [table]).to_json(),
    )
    jobs.enqueue(run, ImportJob.IMPORT, user_pk=request.user.pk, skip_errors=skip_errors)
    response["Location"] = reverse("api:api_import_detail", args=[run.pk])
    run.refresh_from_db()
    return Status(202, _out(run))


@router.get("/imports/{pk}", response=ImportRunOut, url_name="api_import_detail")
def import_detail(request: HttpRequest, pk: PathId) -> dict:
    """An import's status, progress per table and, once finished, its report."""
    _require_manager(request.user)
    jobs.recover_interrupted()  # as every import page does: a dead worker's run is marked failed
    return _out(ImportRun.objects.defer("source_text", "row_report").get_for_user(request.user, pk))
