"""manage.py import_airtable DIR: migrate a whole Airtable base from its per-table CSV downloads."""

from __future__ import annotations

import contextlib
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils import timezone

from crm.imports import jobs
from crm.imports.mapping import (
    SKIP,
    ImportOptions,
    MappingError,
    MappingFile,
    TableMapping,
    check_time_zone,
    complete,
    detect_date_order,
    loads,
    primary_names,
    unmapped_values,
)
from crm.imports.parsers import DATE_ORDERS
from crm.imports.runner import RunOutcome, TableInput, run_import
from crm.imports.schema import ENTITIES, NOTES, all_targets
from crm.imports.source import SourceError, SourceTable, read_bytes
from crm.imports.suggest import recognise
from crm.lib.money import money_exact
from crm.models import ImportJob, ImportRun, ImportSource, ImportStatus, Role, User

MIN_RECOGNITION_SCORE = 3.0
MAX_ERRORS_SHOWN = 15


class Command(BaseCommand):
    help = (
        "Import every <Table>.csv or <Table>-<View>.csv in DIR (one Airtable base) into the CRM: organizations, "
        "contacts, LP commitments, opportunities and communications, in that order, in one transaction. Tables are "
        "recognised from their columns unless --mapping says which is which. Running it again updates what it "
        "created instead of duplicating it. Prints a reconciliation per table and the totals per fund."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", help="folder holding the CSV files of one base")
        parser.add_argument(
            "--mapping", metavar="FILE", help="a JSON mapping file (see README, “Migrating from Airtable”)"
        )
        parser.add_argument(
            "--write-mapping", metavar="FILE", help="write the mapping used (suggestions included) here"
        )
        parser.add_argument("--dry-run", action="store_true", help="report what would happen; write nothing")
        parser.add_argument(
            "--time-zone",
            metavar="ZONE",
            help=f"time zone of the dates in the files, e.g. America/Los_Angeles (default: the mapping's, "
            f"else the server's, {settings.TIME_ZONE})",
        )
        parser.add_argument("--date-order", choices=sorted(DATE_ORDERS), help="mdy (3/14/2021, default) or dmy")
        parser.add_argument("--user", metavar="USERNAME", help="who the history names as the importer (a manager)")
        parser.add_argument(
            "--skip-errors", action="store_true", help="import the rows without errors and leave the others out"
        )
        parser.add_argument(
            "--background",
            action="store_true",
            help="queue the import for the background worker (manage.py db_worker) and print its id and page "
            "instead of running it here",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["directory"])
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a folder.")
        files = sorted(p for p in directory.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
        if not files:
            raise CommandError(f"{directory} holds no .csv files.")
        mapping_file = read_mapping(options.get("mapping"))
        user = self._user(options.get("user"))
        tables = base_tables(directory, mapping_file)
        chosen = import_options(mapping_file, options.get("time_zone"), options.get("date_order"), tables)
        if options.get("write_mapping"):
            written = MappingFile(chosen, [t.mapping for t in tables])
            Path(options["write_mapping"]).write_text(written.dumps(), encoding="utf-8")
            self.stdout.write(f"Wrote the mapping to {options['write_mapping']}; edit it and pass it with --mapping.")
        self.stdout.write(
            f"Importing as {user.display_name} ({user.username}); dates without a time zone are read as "
            f"{chosen.time_zone}.{' Dry run: nothing will be written.' if options['dry_run'] else ''}"
        )
        if chosen.date_order_reason:
            self.stdout.write(
                f"Dates like 3/4/2021 are read day first: {chosen.date_order_reason} cannot be month first."
            )
        for table in tables:
            self._describe(table)
        file_name = f"{directory.name}/ ({len(tables)} files)"
        if options["background"] and not options["dry_run"]:
            self._enqueue(directory, options, user, file_name)
            return
        run = None
        if not options["dry_run"]:
            # Created here rather than by the runner so it carries this process's id and heartbeat:
            # killed, it is marked failed within a minute (crm/imports/jobs.py), not left running.
            run = ImportRun.objects.create(
                user=user,
                source=ImportSource.COMMAND,
                file_name=file_name,
                entity=tables[0].mapping.entity if len(tables) == 1 else "",
                status=ImportStatus.RUNNING,
                job=ImportJob.IMPORT,
                enqueued_at=timezone.now(),
            )
            run = jobs.start(run.pk, ImportJob.IMPORT)
        started = time.monotonic()
        watcher = jobs.RunProgress(run.pk) if run is not None else None
        with watcher or contextlib.nullcontext():
            shown = TerminalProgress(self.stdout, watcher)
            outcome = run_import(
                tables,
                user=user,
                options=chosen,
                dry_run=options["dry_run"],
                skip_errors=options["skip_errors"],
                run=run,
                file_name=file_name,
                source=ImportSource.COMMAND,
                progress=shown,
            )
            shown.done()
        if run is not None:
            jobs.finish(run.pk, watcher, row_report=jobs.row_report_csv(outcome.tables))
        took = time.monotonic() - started
        self._report(outcome)
        self.stdout.write(f"Took {took:.1f} s.")
        if outcome.status == "dry_run" and outcome.has_errors:
            raise CommandError(
                f"Dry run: {outcome.total('errors')} row(s) have errors (listed above); an import would write nothing "
                "until they are fixed or --skip-errors is given. Nothing was written."
            )
        if outcome.status == "dry_run":
            self.stdout.write(self.style.SUCCESS("Dry run finished: nothing was written."))
        elif outcome.status == "imported":
            run = outcome.run
            self.stdout.write(
                self.style.SUCCESS(
                    f"Imported {sum(len(t.source.rows) for t in tables)} rows from {len(tables)} files as import "
                    f"#{run.pk}: {outcome.total('created')} created, {outcome.total('updated')} updated. "
                    "It can be undone from the import history page."
                )
            )
        else:
            raise CommandError(outcome.message or "Nothing was imported.")

    def _enqueue(self, directory: Path, options: dict, user: User, file_name: str) -> None:
        run = ImportRun.objects.create(
            user=user, source=ImportSource.COMMAND, file_name=file_name, entity="", status=ImportStatus.DRAFT
        )
        jobs.enqueue(
            run,
            ImportJob.IMPORT,
            user_pk=user.pk,
            directory=str(directory.resolve()),
            mapping=str(Path(options["mapping"]).resolve()) if options.get("mapping") else "",
            time_zone=options.get("time_zone") or "",
            date_order=options.get("date_order") or "",
            skip_errors=options["skip_errors"],
        )
        page = reverse("import_progress", args=[run.pk])
        self.stdout.write(
            self.style.SUCCESS(
                f"Queued as import #{run.pk} for the background worker; follow it at {page} "
                "(the worker must be running: make run, or manage.py db_worker)."
            )
        )

    # --- input ------------------------------------------------------------------------------

    def _user(self, username: str | None) -> User:
        if username:
            user = User.objects.filter(username=username, is_active=True).first()
            if user is None:
                raise CommandError(f"There is no active user “{username}”.")
            if not user.can_import:
                raise CommandError(
                    f"{username} is a {user.get_role_display().lower()}; imports need a manager or admin."
                )
            return user
        admins = list(User.objects.filter(role=Role.ADMIN, is_active=True).order_by("pk")[:2])
        if len(admins) != 1:
            raise CommandError("Say who imports with --user USERNAME (a manager or admin); the history names them.")
        return admins[0]

    # --- output -----------------------------------------------------------------------------

    def _describe(self, table: TableInput) -> None:
        mapping = table.mapping
        entity = ENTITIES[mapping.entity]
        used = sum(1 for target in mapping.columns.values() if target)
        self.stdout.write(
            f"  {table.source.name}: {entity.label.lower()} ({used} of {len(mapping.columns)} columns used)"
        )
        for notice in table.source.notices:
            self.stdout.write(self.style.WARNING(f"    {notice}"))
        for header, target in mapping.columns.items():
            if target:
                label = f"the {entity.notes_label}" if target == NOTES else _label(entity, target)
                self.stdout.write(f"    “{header}” → {label} ({mapping.reasons.get(header, 'your choice')})")
        for target, values in unmapped_values(table.source, mapping).items():
            listed = ", ".join(f"“{value}” ({count})" for value, count in values[:10])
            self.stdout.write(
                self.style.WARNING(
                    f"    {mapping.target_label(target)}: no meaning yet for {listed}. Rows with these values are "
                    f"errors; map them in a mapping file (“values” → “{target}”)."
                )
            )

    def _report(self, outcome: RunOutcome) -> None:
        if outcome.status == "invalid":
            return
        self.stdout.write("")
        header = f"{'table':38} {'read':>6} {'created':>8} {'updated':>8} {'skipped':>8} {'errors':>7}"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for table in outcome.tables:
            self.stdout.write(
                f"{table.name[:38]:38} {table.rows_read:>6} {table.created:>8} {table.updated:>8} "
                f"{table.skipped:>8} {table.errors:>7}"
            )
        self.stdout.write("-" * len(header))
        self.stdout.write(
            f"{'total':38} {outcome.total('rows_read'):>6} {outcome.total('created'):>8} "
            f"{outcome.total('updated'):>8} {outcome.total('skipped'):>8} {outcome.total('errors'):>7}"
        )
        for table in outcome.tables:
            if table.blank:
                self.stdout.write(f"  {table.name}: {table.blank} blank row(s) skipped.")
            for notice in table.notices:
                self.stdout.write(self.style.WARNING(f"  {table.name}: {notice}"))
        for notice in outcome.notices:
            self.stdout.write(f"  {notice}")
        for table in outcome.tables:
            errors = [row for row in table.rows if row.action == "error"]
            for row in errors[:MAX_ERRORS_SHOWN]:
                for message in row.messages:
                    if message.level == "error":
                        where = f"row {row.number}" if row.number else "file"
                        column = f"{message.column}: " if message.column else ""
                        self.stdout.write(self.style.ERROR(f"  {table.name}, {where}: {column}{message.text}"))
            if len(errors) > MAX_ERRORS_SHOWN:
                self.stdout.write(
                    self.style.ERROR(f"  {table.name}: … and {len(errors) - MAX_ERRORS_SHOWN} more rows.")
                )
        if outcome.fund_totals:
            label = "would be" if outcome.status == "dry_run" else "now"
            self.stdout.write("")
            self.stdout.write(f"Commitments per fund ({label} in the CRM):")
            for fund in outcome.fund_totals:
                committed, funded = money_exact(fund["committed"]), money_exact(fund["funded"])
                withdrawn = fund.get("withdrawn") or "0"
                self.stdout.write(
                    f"  {fund['fund']:24} {fund['commitments']:>4} commitments  committed {committed:>16}"
                    f"  funded {funded:>16}  soft-circled {money_exact(fund['soft_circled']):>14}"
                    + (f"  withdrawn {money_exact(withdrawn)} (counted nowhere)" if Decimal(withdrawn) else "")
                )


def _label(entity, key: str) -> str:
    target = next((t for t in all_targets(entity) if t.key == key), None)
    return target.label if target else key


def read_mapping(path: str | None) -> MappingFile:
    if not path:
        # With no mapping file, a name that is no user here becomes a new inactive user (listed in the dry run).
        return MappingFile(ImportOptions(team_default="create"), [])
    try:
        return loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise CommandError(f"Cannot read the mapping file {path}: {exc.strerror}.") from None
    except MappingError as exc:
        raise CommandError(f"{path}: {exc}") from None


def import_options(
    mapping_file: MappingFile,
    time_zone: str | None,
    date_order: str | None,
    tables: list[TableInput] | None = None,
) -> ImportOptions:
    """The options of a run: the command line's, else the mapping file's, else (date order) what the values show."""
    options = ImportOptions(
        time_zone or mapping_file.options.time_zone,
        date_order or mapping_file.options.date_order,
        team=dict(mapping_file.options.team),
        team_default=mapping_file.options.team_default,
    )
    if not date_order and not mapping_file.date_order_given and tables:
        options.date_order, options.date_order_reason = detect_date_order([(t.source, t.mapping) for t in tables])
    try:
        check_time_zone(options.time_zone)
    except MappingError as exc:
        raise CommandError(str(exc)) from None
    return options


def base_tables(directory: Path, mapping_file: MappingFile) -> list[TableInput]:
    """Every CSV file in ``directory`` as a table to import, recognised or as the mapping file says.

    All files are read and recognised first, so each table's link columns can be told by the
    names the other tables' primary fields hold.
    """
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    sources = []
    for path in files:
        try:
            sources.append(read_bytes(path.read_bytes(), path.name))
        except SourceError as exc:
            raise CommandError(str(exc)) from None
    return source_tables(sources, mapping_file)


COMMAND_HINT = "Say what it is in a mapping file (--mapping), or move it out of the folder."


def source_tables(
    sources: list[SourceTable], mapping_file: MappingFile, hint: str = COMMAND_HINT, *, guess: bool = False
) -> list[TableInput]:
    """The tables of one base, already read (a folder's files, or the wizard's upload), recognised and mapped.

    A table the mapping file marks ``"entity": "skip"`` is left out. Raises ``CommandError`` when
    a table is not recognised and the mapping file does not say what it is, unless ``guess``
    (the wizard's combined screen, where the person says what it is): then the engine's best
    guess is taken, with a notice on the table.
    """
    found: list[tuple[Path, SourceTable, TableMapping | None, str]] = []
    for source in sources:
        path = Path(source.name)
        base = mapping_file.table_for(path.name, source.headers)
        if base is not None and base.entity == SKIP:
            continue
        if base is None:
            recognised = recognise(source.headers, path.name, source.rows)
            if recognised.score < MIN_RECOGNITION_SCORE and guess:
                source.notices.append(
                    "Its columns do not clearly look like any kind of record: say what its rows are, or skip it."
                )
            elif recognised.score < MIN_RECOGNITION_SCORE:
                raise CommandError(
                    f"{path.name}: its columns do not look like organizations, contacts, commitments, "
                    f"opportunities or communications. {hint}"
                )
            entity = recognised.entity
        else:
            entity = base.entity
        found.append((path, source, base, entity))
    links = primary_names([(entity, source) for _path, source, _base, entity in found])
    tables = []
    for path, source, base, entity in found:
        mapping = complete(source, entity, base, links)
        stem = path.stem.split("-")[0].strip()
        mapping.name = (base.name if base and base.name else stem) or path.stem
        if not mapping.files:
            mapping.files = [f"{glob_escape(stem)}*.csv" if "-" in path.stem else glob_escape(path.name)]
        tables.append(TableInput(source, mapping))
    return tables


class TerminalProgress:
    """The runner's progress as one updating line per table on a terminal; silent otherwise.

    Passes every figure on to the run's ``RunProgress`` (the heartbeat and the wizard's history
    page) and its cancel flag back to the runner.
    """

    def __init__(self, stdout, watcher) -> None:
        self.stdout = stdout
        self.watcher = watcher
        self.tty = stdout.isatty()
        self.current = ""

    def update(self, table: str, phase: str, done: int, total: int) -> None:
        if self.watcher is not None:
            self.watcher.update(table, phase, done, total)
        if not self.tty:
            return
        if self.current and table != self.current:
            self.stdout.write("")  # keep the finished table's line, start the next one
        self.current = table
        self.stdout.write(f"\r  {table[:38]:38} {phase:>9} {done:>7} of {total:<7}", ending="")
        self.stdout.flush()

    def cancelled(self) -> bool:
        return self.watcher.cancelled() if self.watcher is not None else False

    def done(self) -> None:
        if self.tty and self.current:
            self.stdout.write("")


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)
