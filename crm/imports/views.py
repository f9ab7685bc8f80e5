"""The import wizard (upload → what the rows are → mapping → dry run → import), history and undo.

Managers and admins only: every view is wrapped in ``manager_required``, so a member gets
403 on each URL whatever the method. A wizard draft is an ``ImportRun`` holding the
decoded file; each step reads it again and stores the mapping on it.
"""

from __future__ import annotations

import datetime
import json

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import CommandError
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from crm.imports import bundle, jobs
from crm.imports.forms import EntityForm, MappingEditor, UploadForm
from crm.imports.mapping import (
    SKIP,
    ImportOptions,
    MappingError,
    MappingFile,
    TableMapping,
    check,
    complete,
    detect_date_order,
    loads,
    unmapped_values,
)
from crm.imports.schema import ENTITIES, ENTITY_CHOICES
from crm.imports.source import SourceTable
from crm.imports.suggest import recognise
from crm.imports.undo import UndoError, undo_run
from crm.lib.htmx import is_fragment_request, render_page_or_fragment
from crm.models import ImportJob, ImportRun, ImportStatus, SavedMapping
from crm.roles import manager_required

DRAFT_DAYS = 7
REPORT_PAGE = 100
ACTIONS = {"error": "Errors", "create": "Create", "update": "Update", "skip": "Skip"}


# --- helpers ----------------------------------------------------------------------------------


def _runs(request: HttpRequest):
    # A run whose worker died (kill -9, a restart) is marked failed here, on the next look at
    # any import page, instead of showing it running forever (crm/imports/jobs.py says how).
    jobs.recover_interrupted()
    return ImportRun.objects.visible_to(request.user).select_related("user", "undone_by").defer("row_report")


def _draft(request: HttpRequest, pk: int) -> ImportRun:
    """A wizard draft that can still be edited; a finished import goes to its summary instead."""
    run = get_object_or_404(_runs(request), pk=pk)
    if not run.is_draft:
        raise _Finished(run)
    return run


class _Finished(Exception):
    def __init__(self, run: ImportRun):
        self.run = run


def _finished_redirect(run: ImportRun) -> HttpResponse:
    return redirect("import_detail", pk=run.pk)


_source = jobs.draft_source
_options = jobs.draft_options
_table = jobs.draft_table


def _store(run: ImportRun, table: TableMapping, options: ImportOptions) -> None:
    run.mapping = MappingFile(options, [table]).to_json()
    run.save(update_fields=["mapping", "updated_at"])


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    """A full-page move after a POST, for htmx requests and plain forms alike."""
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _steps(current: str) -> list[dict]:
    names = [("upload", "Upload"), ("kind", "What the rows are"), ("mapping", "Map columns"), ("preview", "Dry run")]
    names.append(("import", "Import"))
    order = [key for key, _label in names]
    return [
        {
            "key": key,
            "label": label,
            "state": "done" if order.index(key) < order.index(current) else "current" if key == current else "todo",
        }
        for key, label in names
    ]


# --- 1. upload ----------------------------------------------------------------------------------


@manager_required
@require_http_methods(["GET", "POST"])
def import_start(request: HttpRequest) -> HttpResponse:
    stale = timezone.now() - datetime.timedelta(days=DRAFT_DAYS)
    ImportRun.objects.filter(status=ImportStatus.DRAFT, updated_at__lt=stale).delete()
    # Bound on every POST, even an empty one, so “nothing chosen” gets its message.
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    if request.method == "POST" and form.is_valid() and form.base:
        try:
            # Recognised now, as import_airtable does before anything else, so a stray file is said at once.
            bundle.tables(ImportRun(source_text=bundle.source_text(form.base)))
        except CommandError as exc:
            form.add_error("file", str(exc))
        else:
            names = form.cleaned_data["file"]
            label = names[0].name if len(names) == 1 else f"{len(form.base)} files"
            run = ImportRun.objects.create(
                user=request.user,
                file_name=f"{label} ({len(form.base)} tables)"[:255],
                entity="",
                encoding="utf-8",
                notices=[f"{s.name}: {notice}" for s in form.base for notice in s.notices],
                source_text=bundle.source_text(form.base),
            )
            for notice in run.notices:
                messages.warning(request, notice)
            return redirect("import_mapping", pk=run.pk)
    elif request.method == "POST" and form.is_valid():
        source = form.source
        found = recognise(source.headers, source.name, source.rows)
        run = ImportRun.objects.create(
            user=request.user,
            file_name=source.name[:255],
            entity=found.entity,
            encoding=source.encoding,
            delimiter=source.delimiter,
            notices=source.notices,
            source_text=source.text,
        )
        for notice in source.notices:
            messages.warning(request, notice)
        return redirect("import_entity", pk=run.pk)
    context = {
        "form": form,
        "steps": _steps("upload"),
        "recent": _runs(request).finished()[:5],
        "drafts": _runs(request).filter(status=ImportStatus.DRAFT, user=request.user)[:5],
        "saved_count": SavedMapping.objects.visible_to(request.user).count(),
    }
    return render(request, "imports/start.html", context, status=200)


# --- 2. what the rows are -----------------------------------------------------------------------


@manager_required
@require_http_methods(["GET", "POST"])
def import_entity(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        run = _draft(request, pk)
    except _Finished as finished:
        return _finished_redirect(finished.run)
    if bundle.is_base(run):
        return redirect("import_mapping", pk=run.pk)  # each table's kind is chosen on the combined mapping
    source = _source(run)
    found = recognise(source.headers, source.name, source.rows)
    initial = {"entity": run.entity or found.entity}
    form = EntityForm(request.POST, initial=initial) if request.method == "POST" else EntityForm(initial=initial)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["entity"] != run.entity:
            run.entity = form.cleaned_data["entity"]
            run.mapping = {}
            run.save(update_fields=["entity", "mapping", "updated_at"])
        return redirect("import_mapping", pk=run.pk)
    context = {
        "run": run,
        "source": source,
        "form": form,
        "found": found,
        "found_label": ENTITIES[found.entity].label,
        "entities": [
            (key, entity.label, entity.singular, key == found.entity)
            for key, entity in sorted(ENTITIES.items(), key=lambda item: item[1].order)
        ],
        "preview_rows": [row for row in source.rows if not SourceTable.is_blank(row)][:5],
        "steps": _steps("kind"),
    }
    return render(request, "imports/entity.html", context)


# --- 3. mapping ---------------------------------------------------------------------------------


@manager_required
@require_http_methods(["GET", "POST"])
def import_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        run = _draft(request, pk)
    except _Finished as finished:
        return _finished_redirect(finished.run)
    if bundle.is_base(run):
        return _base_mapping(request, run)
    if not run.entity:
        return redirect("import_entity", pk=run.pk)
    source = _source(run)
    base = _table(run, source)
    options = _options(run)
    if "date_order" not in run.mapping:
        # Not chosen yet: the date columns' values suggest it, as import_airtable does.
        options.date_order, options.date_order_reason = detect_date_order([(source, base)])
    editor = MappingEditor(source, base, options, user=request.user)
    action = request.POST.get("action", "refresh")
    if request.method == "POST":
        if action == "apply":
            editor = _apply_saved(request, run, source, base, options) or editor
        else:
            editor = MappingEditor.from_post(request.POST, source, base, options, user=request.user)
        _store(run, editor.table, editor.options)
        if action == "save":
            _save_mapping(request, run.entity, MappingFile(editor.options, [editor.table]).to_json())
        elif action == "preview":
            problems = check(editor.table)
            if problems:
                editor.errors = problems
            else:
                return _dry_run(request, run)
    context = _mapping_context(request, run, editor)
    return render_page_or_fragment(request, "imports/mapping.html", "mapping-form", context)


def _mapping_context(request: HttpRequest, run: ImportRun, editor: MappingEditor) -> dict:
    missing = unmapped_values(editor.source, editor.table)
    return {
        "run": run,
        "editor": editor,
        "columns": editor.columns(),
        "value_groups": editor.value_groups(),
        "team_rows": editor.team_rows(),
        "unmapped_count": sum(count for values in missing.values() for _v, count in values),
        "saved": SavedMapping.objects.visible_to(request.user).filter(entity=run.entity),
        "steps": _steps("mapping"),
        "row_count": editor.source.data_rows - editor.source.blank_rows,
    }


def _chosen_saved(request: HttpRequest, entity: str) -> SavedMapping | None:
    """The saved mapping the form names, if it is one of ``entity``'s the user may see (else None, never a 500)."""
    try:
        pk = int(request.POST.get("saved", ""))
    except ValueError:
        return None
    if not 0 < pk < 2**63:
        return None
    return SavedMapping.objects.visible_to(request.user).filter(entity=entity, pk=pk).first()


def _apply_saved(
    request: HttpRequest, run: ImportRun, source, base: TableMapping, options: ImportOptions
) -> MappingEditor | None:
    saved = _chosen_saved(request, run.entity)
    if saved is None:
        messages.error(request, "Choose a saved mapping to apply.")
        return None
    try:
        mapping = loads(json.dumps(saved.mapping))
    except MappingError as exc:
        messages.error(request, f"“{saved.name}” cannot be applied: {exc}")
        return None
    table = complete(source, base.entity, mapping.tables[0] if mapping.tables else None)
    messages.success(request, f"Applied “{saved.name}”. Columns it does not know keep their suggestions.")
    return MappingEditor(source, table, mapping.options, user=request.user)


def _kind_label(entity: str) -> str:
    """What a saved mapping is for, as the saved-mappings list says it."""
    if entity == bundle.BASE_ENTITY:
        return "A whole base"
    return ENTITIES[entity].label if entity in ENTITIES else entity


def _save_mapping(request: HttpRequest, entity: str, data: dict) -> None:
    """Save ``data`` (a mapping file) by the posted name; the same name again replaces a mapping of the same kind."""
    name = " ".join(request.POST.get("save_name", "").split())[: SavedMapping._meta.get_field("name").max_length]
    if not name:
        messages.error(request, "Give the mapping a name to save it.")
        return
    existing = SavedMapping.objects.visible_to(request.user).filter(name__iexact=name).first()
    if existing and existing.entity != entity:
        kind = _kind_label(existing.entity).lower()
        messages.error(request, f"“{name}” is already the name of a mapping for {kind}.")
        return
    try:
        with transaction.atomic():
            if existing:
                existing.mapping = data
                existing.save(update_fields=["mapping", "updated_at"])
            else:
                SavedMapping.objects.create(name=name, entity=entity, mapping=data, created_by=request.user)
    except IntegrityError:  # pragma: no cover - a race on the name
        messages.error(request, f"“{name}” was just saved by someone else; choose another name.")
        return
    messages.success(request, f"Saved the mapping as “{name}”.")


@manager_required
@require_GET
def import_mapping_download(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(_runs(request), pk=pk)
    if run.source_text and bundle.is_base(run):
        data = bundle.read(run).mapping().to_json()
    elif run.mapping:
        data = run.mapping
    elif run.source_text and run.entity:
        source = _source(run)
        data = MappingFile(_options(run), [_table(run, source)]).to_json()
    else:
        raise Http404("This import has no mapping.")
    return _json_download(data, f"mapping-{slugify(run.file_name) or run.pk}.json")


def _json_download(data: dict, filename: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False) + "\n", content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- 3b. the combined mapping of a whole base -----------------------------------------------------


def _table_post(post: QueryDict, index: int) -> QueryDict:
    """The post as one table's editor reads it: the run-wide fields, and this table's ``t<index>-`` ones unprefixed."""
    prefix = f"t{index}-"
    data = QueryDict(mutable=True)
    for key, values in post.lists():
        if key.startswith(prefix):
            data.setlist(key.removeprefix(prefix), values)
        elif not (key[:1] == "t" and key[1:].partition("-")[0].isdigit()):
            data.setlist(key, values)
    return data


def _base_mapping(request: HttpRequest, run: ImportRun) -> HttpResponse:
    """One screen for every table of the base: its kind, its columns, its values; the team and options once.

    The run's files are parsed once per request (``bundle.sources``); the base is read once
    with the mapping the form was drawn from and, after a change, once with the new one.
    """
    errors: list[str] = []
    try:
        draft = bundle.read(run)
    except CommandError as exc:
        messages.error(request, str(exc))
        run.mapping = {}
        run.save(update_fields=["mapping", "updated_at"])
        draft = bundle.read(run)
    action = request.POST.get("action", "refresh")
    if request.method == "POST" and action in ("upload", "apply"):
        errors = _upload_base_mapping(request, run) if action == "upload" else _apply_saved_base(request, run)
        if not errors:
            return _redirect(request, reverse("import_mapping", args=[run.pk]))
    elif request.method == "POST":
        chosen: list[TableMapping] = []
        options = draft.options
        for index, table in enumerate(draft.tables):
            post = _table_post(request.POST, index)
            entity = post.get("entity", table.mapping.entity)
            if entity == SKIP:
                chosen.append(
                    TableMapping(
                        entity=SKIP, name=table.mapping.name, files=table.mapping.files, headers=table.source.headers
                    )
                )
                continue
            if entity in ENTITIES and entity != table.mapping.entity:
                # Another kind: its columns get that kind's suggestions on the way back.
                chosen.append(TableMapping(entity=entity, name=table.mapping.name, files=table.mapping.files))
                continue
            editor = MappingEditor.from_post(post, table.source, table.mapping, options, user=request.user)
            chosen.append(editor.table)
            options = editor.options
        for index, (_source, table) in enumerate(draft.skipped):
            entity = request.POST.get(f"skipped-{index}", SKIP)
            if entity in ENTITIES:
                # Imported after all: that kind's suggestions on the way back.
                chosen.append(TableMapping(entity=entity, name=table.name, files=table.files))
            else:
                chosen.append(table)
        run.mapping = MappingFile(options, chosen).to_json()
        run.save(update_fields=["mapping", "updated_at"])
        draft = bundle.read(run)
        if action == "save":
            _save_mapping(request, bundle.BASE_ENTITY, draft.mapping().to_json())
        elif action == "preview":
            errors = [f"{t.mapping.name}: {problem}" for t in draft.tables for problem in check(t.mapping)]
            if not draft.tables:
                errors.append("Every table is marked not to import: choose what at least one of them is.")
            if not errors:
                return _dry_run(request, run)
    context = _base_mapping_context(request, run, draft)
    context["errors"] = errors
    return render_page_or_fragment(request, "imports/base_mapping.html", "mapping-form", context)


def _upload_base_mapping(request: HttpRequest, run: ImportRun) -> list[str]:
    upload = request.FILES.get("mapping_file")
    if upload is None:
        return ["Choose a mapping file (JSON) to upload."]
    if upload.size > 1024 * 1024:
        return ["A mapping file is a small JSON file; this one is over 1 MB."]
    try:
        mapping = loads(upload.read().decode("utf-8-sig"))
    except (UnicodeDecodeError, MappingError) as exc:
        return [f"{upload.name}: {exc}"]
    try:
        bundle.read(run, mapping)
    except CommandError as exc:
        return [f"{upload.name}: {exc}"]
    run.mapping = mapping.to_json()
    run.save(update_fields=["mapping", "updated_at"])
    messages.success(request, f"Applied {upload.name}. Tables and columns it does not name keep their suggestions.")
    return []


def _apply_saved_base(request: HttpRequest, run: ImportRun) -> list[str]:
    """Apply a saved whole-base mapping; what no longer fits this base is said, and the rest applies."""
    saved = _chosen_saved(request, bundle.BASE_ENTITY)
    if saved is None:
        return ["Choose a saved mapping of a whole base to apply."]
    try:
        mapping = loads(json.dumps(saved.mapping))
        draft = bundle.read(run, mapping)
    except (MappingError, CommandError) as exc:
        return [f"“{saved.name}” cannot be applied: {exc}"]
    # Kept as this base reads with it, so tables of the saved base that are not here are not carried along.
    run.mapping = draft.mapping().to_json()
    run.save(update_fields=["mapping", "updated_at"])
    misfits = bundle.misfits(mapping, draft)
    if not misfits:
        messages.success(request, f"Applied “{saved.name}”: every table and column of this base matches it.")
        return []
    messages.warning(
        request,
        f"Applied “{saved.name}” except where it no longer fits this base (the rest applied): " + " ".join(misfits),
    )
    return []


def _base_mapping_context(request: HttpRequest, run: ImportRun, draft: bundle.Draft) -> dict:
    shown = []
    team: dict[str, object] = {}
    options = draft.options
    for index, table in enumerate(draft.tables):
        editor = MappingEditor(table.source, table.mapping, options, user=request.user)
        for row in editor.team_rows():
            if row.name in team:
                team[row.name].count += row.count
            else:
                team[row.name] = row
        shown.append(
            {
                "index": index,
                "prefix": f"t{index}-",
                "name": table.mapping.name,
                "file": table.source.name,
                "editor": editor,
                "columns": editor.columns(),
                "value_groups": editor.value_groups(),
                "row_count": table.source.data_rows - table.source.blank_rows,
                "notices": table.source.notices,
            }
        )
    team_rows = sorted(team.values(), key=lambda row: row.name)
    for index, row in enumerate(team_rows):
        row.index = index
    return {
        "run": run,
        "tables": sorted(shown, key=lambda t: (ENTITIES[t["editor"].entity.key].order, t["index"])),
        "entity_choices": [*ENTITY_CHOICES, (SKIP, "Not imported (skip this table)")],
        "skipped": [
            {"index": i, "name": table.name or source.name, "file": source.name}
            for i, (source, table) in enumerate(draft.skipped)
        ],
        "team_rows": team_rows,
        "options": options,
        "editor": shown[0]["editor"] if shown else None,
        "saved": SavedMapping.objects.visible_to(request.user).filter(entity=bundle.BASE_ENTITY),
        "steps": _steps("mapping"),
    }


# --- 4. dry run ---------------------------------------------------------------------------------


def _dry_run(request: HttpRequest, run: ImportRun) -> HttpResponse:
    """Queue the dry run (unless one is queued or running already) and show its progress."""
    jobs.enqueue(run, ImportJob.DRY_RUN, user_pk=request.user.pk)
    return _redirect(request, reverse("import_progress", args=[run.pk]))


@manager_required
@require_http_methods(["GET", "POST"])
def import_preview(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        run = _draft(request, pk)
    except _Finished as finished:
        return _finished_redirect(finished.run)
    if jobs.is_active(run):
        # A reload while the dry run is queued or running watches it instead of starting another.
        return _redirect(request, reverse("import_progress", args=[run.pk]))
    if request.method == "POST" or not run.report:
        if not run.entity and not bundle.is_base(run):
            return redirect("import_entity", pk=run.pk)
        return _dry_run(request, run)
    report = run.report
    all_tables = report.get("tables") or [{}]
    chosen = request.GET.get("table", "")
    index = int(chosen) if chosen.isdigit() and int(chosen) < len(all_tables) else 0
    table = all_tables[index]
    rows = table.get("rows", [])
    show = request.GET.get("show")
    if show not in ACTIONS:
        # Errors first when there are any; “All” is asked for with an empty ?show=.
        show = "error" if show is None and table.get("errors") else ""
    shown = [row for row in rows if row["a"] == show] if show else rows
    page = Paginator(shown, REPORT_PAGE).get_page(request.GET.get("page"))
    context = {
        "run": run,
        "report": report,
        "table": table,
        "page_obj": page,
        "show": show,
        "tabs": [("", "All", len(rows))] + [(key, label, table.get(_plural(key), 0)) for key, label in ACTIONS.items()],
        "steps": _steps("preview"),
        "entity": ENTITIES.get(run.entity),
        "importable": sum(t.get("created", 0) + t.get("updated", 0) for t in all_tables),
        "error_count": sum(t.get("errors", 0) for t in all_tables),
        # A whole base: one line per table, each opening its rows below (the run-wide figures stay whole).
        "base_tables": [(i, t) for i, t in enumerate(all_tables)] if bundle.is_base(run) else [],
        "table_query": f"table={index}&" if bundle.is_base(run) else "",
        "show_funds": run.entity == "commitments" or (bundle.is_base(run) and report.get("fund_totals")),
    }
    return render_page_or_fragment(request, "imports/preview.html", "preview-rows", context)


def _plural(action: str) -> str:
    return {"create": "created", "update": "updated", "skip": "skipped", "error": "errors"}[action]


# --- 5. import ------------------------------------------------------------------------------------


@manager_required
@require_POST
def import_run(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        run = _draft(request, pk)
    except _Finished as finished:
        running = finished.run.status == ImportStatus.RUNNING
        messages.info(request, "This import is still running." if running else "This file was imported already.")
        return _redirect(request, reverse("import_detail", args=[finished.run.pk]))
    if not run.entity and not bundle.is_base(run):
        return _redirect(request, reverse("import_entity", args=[run.pk]))
    jobs.enqueue(run, ImportJob.IMPORT, user_pk=request.user.pk, skip_errors=request.POST.get("skip_errors") == "on")
    return _redirect(request, reverse("import_progress", args=[run.pk]))


# --- progress of a background job -----------------------------------------------------------------


def _job_done_url(request: HttpRequest, run: ImportRun) -> str:
    """Where the progress page goes once the job ended, with the message saying how it ended."""
    if run.job == ImportJob.UNDO:
        if run.message and run.status == ImportStatus.IMPORTED:
            messages.error(request, run.message)
        elif run.status != ImportStatus.IMPORTED:
            report = run.undo_report or {}
            kept = len(report.get("kept") or [])
            messages.success(
                request,
                f"Undid import #{run.pk}: {report.get('deleted', 0)} records removed, {report.get('restored', 0)} "
                f"restored" + (f", {kept} kept because they changed since (listed below)." if kept else "."),
            )
        return reverse("import_detail", args=[run.pk])
    if run.status == ImportStatus.IMPORTED:
        if run.job == ImportJob.IMPORT:
            messages.success(
                request,
                f"Imported {run.file_name}: {run.created_count} created, {run.updated_count} updated, "
                f"{run.skipped_count} skipped.",
            )
        return reverse("import_detail", args=[run.pk])
    if not run.is_draft:
        return reverse("import_detail", args=[run.pk])
    report_status = (run.report or {}).get("status")
    if run.job == ImportJob.DRY_RUN:
        if report_status == "dry_run" and run.previewed_at and run.previewed_at >= (run.started_at or run.previewed_at):
            return reverse("import_preview", args=[run.pk])
        messages.error(request, run.message or "The dry run did not finish. Run it again.")
        return reverse("import_mapping", args=[run.pk])
    messages.error(request, run.message or "Nothing was imported.")
    return reverse("import_preview", args=[run.pk]) + "?show=error"


@manager_required
@require_GET
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(_runs(request).defer("source_text", "report"), pk=pk)
    if not jobs.is_active(run):
        url = _job_done_url(request, run)
        if is_fragment_request(request):
            return HttpResponseClientRedirect(url)
        return redirect(url)
    context = {
        "run": run,
        "bars": jobs.bars(run),
        "worker_missing": jobs.worker_missing(run),
        "worker_command": jobs.WORKER_COMMAND,
        "steps": _steps("import" if run.job == ImportJob.IMPORT else "preview") if run.source == "wizard" else None,
        "label": ImportJob(run.job).label,
    }
    return render_page_or_fragment(request, "imports/progress.html", "job-progress", context)


@manager_required
@require_POST
def import_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(_runs(request).defer("source_text", "report"), pk=pk)
    if jobs.is_active(run):
        jobs.cancel(run)
        messages.info(request, "Asked the import to stop. Nothing it did so far is kept.")
    return _redirect(request, reverse("import_progress", args=[run.pk]))


@manager_required
@require_GET
def import_row_report(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ImportRun.objects.visible_to(request.user), pk=pk)
    # Runs checked before the full report was kept have only the stored rows of the JSON report.
    text = run.row_report or jobs.rows_csv_from_report(run.report or {})
    response = HttpResponse("\ufeff" + text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="rows-{slugify(run.file_name) or run.pk}.csv"'
    return response


@manager_required
@require_POST
def import_discard(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        run = _draft(request, pk)
    except _Finished as finished:
        return _redirect(request, reverse("import_detail", args=[finished.run.pk]))
    name = run.file_name
    run.delete()
    messages.success(request, f"Discarded the draft import of {name}. Nothing was imported.")
    return _redirect(request, reverse("import_start"))


# --- summary, history, undo ---------------------------------------------------------------------


@manager_required
@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(_runs(request), pk=pk)
    if jobs.is_active(run):
        return redirect("import_progress", pk=run.pk)
    if run.is_draft and run.status == ImportStatus.DRAFT:
        step = "import_preview" if run.report else "import_mapping" if run.entity else "import_entity"
        return redirect(step, pk=run.pk)
    records = (
        run.records.values("content_type__model", "action").annotate(count=Count("id")).order_by("content_type__model")
    )
    by_kind: dict[str, dict[str, int]] = {}
    names = {
        ct.model: ct.model_class() for ct in ContentType.objects.filter(app_label__in=["contacts", "lps", "pipeline"])
    }
    for row in records:
        model = names.get(row["content_type__model"])
        label = str(model._meta.verbose_name_plural) if model else row["content_type__model"]
        by_kind.setdefault(label, {})[row["action"]] = row["count"]
    context = {
        "run": run,
        "show_funds": run.entity in ("", "commitments") and run.fund_totals,
        "by_kind": sorted(by_kind.items()),
        "steps": _steps("import") if run.source == "wizard" else None,
        "entity": ENTITIES.get(run.entity),
    }
    return render(request, "imports/detail.html", context)


@manager_required
@require_GET
def import_history(request: HttpRequest) -> HttpResponse:
    runs = _runs(request).finished().defer("source_text", "report")
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    active = [
        (run, jobs.bars(run))
        for run in _runs(request).filter(job_finished_at__isnull=True).exclude(job="").defer("source_text", "report")
    ]
    context = {"page_obj": page, "active": active}
    return render_page_or_fragment(request, "imports/history.html", "history-table", context)


@manager_required
@require_http_methods(["GET", "POST"])
def import_undo(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(_runs(request), pk=pk)
    if jobs.is_active(run):
        return _redirect(request, reverse("import_progress", args=[run.pk]))
    if request.method == "POST":
        if run.can_undo and run.records.count() > jobs.UNDO_IN_BACKGROUND_ABOVE:
            jobs.enqueue(run, ImportJob.UNDO, user_pk=request.user.pk)
            return _redirect(request, reverse("import_progress", args=[run.pk]))
        try:
            outcome = undo_run(run, request.user)
        except UndoError as exc:
            messages.error(request, str(exc))
            return _redirect(request, reverse("import_detail", args=[run.pk]))
        if outcome.complete:
            messages.success(
                request, f"Undid import #{run.pk}: {outcome.deleted} records removed, {outcome.restored} restored."
            )
        else:
            messages.warning(
                request,
                f"Partly undid import #{run.pk}: {outcome.deleted} removed, {outcome.restored} restored, "
                f"{len(outcome.kept)} kept because they changed since. The list is below.",
            )
        return _redirect(request, reverse("import_detail", args=[run.pk]))
    counts = run.records.values("action").annotate(count=Count("id"))
    context = {"run": run, "counts": {row["action"]: row["count"] for row in counts}}
    return render_page_or_fragment(request, "imports/undo.html", "undo-confirm", context)


# --- saved mappings ---------------------------------------------------------------------------------


@manager_required
@require_GET
def import_mappings(request: HttpRequest) -> HttpResponse:
    saved = SavedMapping.objects.visible_to(request.user).select_related("created_by")
    rows = [(m, _kind_label(m.entity)) for m in saved]
    return render(request, "imports/mappings.html", {"rows": rows})


@manager_required
@require_GET
def import_saved_mapping_download(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(SavedMapping.objects.visible_to(request.user), pk=pk)
    return _json_download(saved.mapping, f"mapping-{slugify(saved.name) or saved.pk}.json")


@manager_required
@require_POST
def import_saved_mapping_delete(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(SavedMapping.objects.visible_to(request.user), pk=pk)
    name = saved.name
    saved.delete()
    messages.success(request, f"Deleted the saved mapping “{name}”.")
    if is_fragment_request(request):
        return HttpResponseClientRedirect(reverse("import_mappings"))
    return redirect("import_mappings")
