"""A whole base through the wizard: several CSV files, or one zip of them, as one draft run.

The tables are read here exactly as ``import_airtable`` reads a folder's files, and the
draft keeps their decoded text on the run (``source_text`` holds them as JSON, ``entity``
stays blank: “a whole base”), so discarding or deleting the run removes them with it.
Recognising, mapping and ordering the tables is the command's code (``source_tables``).

A zip is Airtable's per-table downloads zipped: ``__MACOSX/``, dot files, folders and
members that are not CSV are left out; a nested zip, a member whose name leaves the folder,
more than ``MAX_MEMBERS`` members, or more uncompressed bytes than the upload limit (a zip
bomb) refuse the whole upload.
"""

from __future__ import annotations

import dataclasses
import io
import json
import posixpath
import zipfile
from typing import Any

from crm.imports.mapping import SKIP, ImportOptions, MappingError, MappingFile, TableMapping, loads
from crm.imports.source import SourceError, SourceTable, describe_size, max_import_bytes, parse_text, read_bytes

MAX_MEMBERS = 50
BASE_FORMAT = "crm-base-1"
WIZARD_HINT = "Leave it out of the upload, or import it on its own as one file."
# ``SavedMapping.entity`` of a mapping saved on the combined screen: every table of a base.
BASE_ENTITY = "base"


def is_zip(name: str, data: bytes) -> bool:
    return name.lower().endswith(".zip") or data[:4] == b"PK\x03\x04"


def zip_members(data: bytes, name: str) -> list[tuple[str, bytes]]:
    """The CSV members of an uploaded zip as (file name, bytes), refusing hostile archives."""
    limit = max_import_bytes()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError):
        raise SourceError(f"{name} is not a readable zip file.") from None
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise SourceError(f"{name} holds {len(infos)} files; a base can have at most {MAX_MEMBERS}.")
    chosen: list[zipfile.ZipInfo] = []
    for info in infos:
        member = info.filename.replace("\\", "/")
        parts = member.split("/")
        if member.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
            raise SourceError(f"{name}: the member “{info.filename}” points outside the archive; nothing was read.")
        if info.is_dir() or parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts if part):
            continue
        lowered = member.lower()
        if lowered.endswith((".zip", ".gz", ".tgz", ".7z", ".rar", ".tar")):
            raise SourceError(f"{name} holds another archive (“{info.filename}”); zip the CSV files themselves.")
        if not lowered.endswith(".csv"):
            continue
        chosen.append(info)
    total = sum(info.file_size for info in chosen)
    if total > limit:
        raise SourceError(
            f"{name} unpacks to {describe_size(total)}; imports are limited to {describe_size(limit)} "
            "(the CRM_IMPORT_MAX_MB setting)."
        )
    members: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    read = 0
    for info in chosen:
        base_name = posixpath.basename(info.filename.replace("\\", "/"))
        if base_name.lower() in seen:
            raise SourceError(f"{name} holds two files named “{base_name}”; a base has one file per table.")
        seen.add(base_name.lower())
        try:
            with archive.open(info) as handle:
                # The sizes in the directory can lie: never read more than the limit allows.
                content = handle.read(limit - read + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
            raise SourceError(f"{name}: “{info.filename}” cannot be unpacked ({exc}).") from None
        read += len(content)
        if read > limit:
            raise SourceError(
                f"{name} unpacks to more than {describe_size(limit)}; imports are limited to that "
                "(the CRM_IMPORT_MAX_MB setting)."
            )
        members.append((base_name, content))
    if not members:
        raise SourceError(f"{name} holds no .csv files.")
    return members


def read_uploads(uploads: list[tuple[str, bytes]]) -> list[SourceTable]:
    """Every table of the uploaded files (CSV files, or zips of them), in file-name order."""
    limit = max_import_bytes()
    files: list[tuple[str, bytes]] = []
    for name, data in uploads:
        files.extend(zip_members(data, name) if is_zip(name, data) else [(name, data)])
    total = sum(len(data) for _name, data in files)
    if total > limit:
        raise SourceError(
            f"The files are {describe_size(total)} together; imports are limited to {describe_size(limit)} "
            "(the CRM_IMPORT_MAX_MB setting)."
        )
    names = [name.lower() for name, _data in files]
    for name in names:
        if names.count(name) > 1:
            raise SourceError(f"Two files are named “{name}”; a base has one file per table.")
    if len(files) > MAX_MEMBERS:
        raise SourceError(f"{len(files)} files were chosen; a base can have at most {MAX_MEMBERS}.")
    return [read_bytes(data, name) for name, data in sorted(files, key=lambda item: item[0].lower())]


# --- the draft ---------------------------------------------------------------------------------


def source_text(sources: list[SourceTable]) -> str:
    """What the draft keeps of the files: each one's decoded text, encoding and notices."""
    files = [{"name": s.name, "text": s.text, "encoding": s.encoding, "notices": s.notices} for s in sources]
    return json.dumps({"format": BASE_FORMAT, "files": files}, ensure_ascii=False)


def is_base(run: Any) -> bool:
    """A wizard draft of a whole base: no single entity, and its files kept as JSON."""
    return not run.entity and run.source_text.startswith('{"format": "' + BASE_FORMAT)


def sources(run: Any) -> list[SourceTable]:
    """The run's files, parsed once per run object (one request's) however often a screen asks.

    Each call hands out its own copies of the tables' notices, since recognising a table can
    add one (``source_tables``) and a second pass must not see it twice.
    """
    cached = run.__dict__.get("_base_sources")
    if cached is None or cached[0] is not run.source_text:
        files = json.loads(run.source_text)["files"]
        parsed = [parse_text(f["text"], f["name"], encoding=f["encoding"], notices=f["notices"]) for f in files]
        cached = (run.source_text, parsed)
        run.__dict__["_base_sources"] = cached
    return [dataclasses.replace(source, notices=list(source.notices)) for source in cached[1]]


def mapping_file(run: Any) -> MappingFile:
    """The run's combined mapping, in ``import_airtable --mapping`` format; the command's default when none yet."""
    if run.mapping:
        try:
            return loads(json.dumps(run.mapping))
        except MappingError:
            pass
    return MappingFile(ImportOptions(team_default="create"), [])


@dataclasses.dataclass
class Draft:
    """A whole base as one mapping shows it: the tables to import, the run's options, the tables left out."""

    tables: list  # of runner.TableInput
    options: ImportOptions
    skipped: list[tuple[SourceTable, TableMapping]]

    def mapping(self) -> MappingFile:
        """The whole base's mapping file: what "Download this mapping" gives and "Save" keeps."""
        return MappingFile(self.options, [t.mapping for t in self.tables] + [t for _s, t in self.skipped])


def read(run: Any, mapping: MappingFile | None = None) -> Draft:
    """The run's tables, recognised and mapped as ``import_airtable`` does, its options and its skipped tables.

    A table nobody recognises gets the engine's best guess (the combined screen asks what it
    is); one the mapping marks ``"entity": "skip"`` is left out and listed in ``skipped``.
    """
    from crm.management.commands.import_airtable import import_options, source_tables

    mapping = mapping or mapping_file(run)
    parsed = sources(run)
    found = source_tables(parsed, mapping, WIZARD_HINT, guess=True)
    return Draft(found, import_options(mapping, None, None, found), _skipped(parsed, mapping))


def tables(run: Any, mapping: MappingFile | None = None) -> tuple[list, ImportOptions]:
    """The run's tables and options (``read`` without the skipped tables)."""
    draft = read(run, mapping)
    return draft.tables, draft.options


def skipped(run: Any, mapping: MappingFile | None = None) -> list[tuple[SourceTable, Any]]:
    """The run's tables its mapping says not to import, as (source, table mapping), in file order."""
    return _skipped(sources(run), mapping or mapping_file(run))


def _skipped(parsed: list[SourceTable], mapping: MappingFile) -> list[tuple[SourceTable, TableMapping]]:
    result = []
    for source in parsed:
        table = mapping.table_for(source.name, source.headers)
        if table is not None and table.entity == SKIP:
            result.append((source, table))
    return result


def _quoted(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(f"“{name}”" for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def misfits(mapping: MappingFile, draft: Draft) -> list[str]:
    """What of ``mapping`` (saved, or a file) did not apply to this base, one sentence per table.

    ``draft`` is the base read with that mapping. A table of the mapping that matches no file,
    a file no table of the mapping matches (it keeps the suggestions), columns the mapping
    names that the file lacks, columns it does not name, and values it has no decision for
    (those keep their suggestions) are said; everything else of the mapping applied.
    """
    from crm.imports.schema import ENTITIES

    found = {t.source.name: t.mapping for t in draft.tables}
    used: set[int] = set()
    lines: list[str] = []
    for source in [t.source for t in draft.tables] + [s for s, _t in draft.skipped]:
        saved = mapping.table_for(source.name, source.headers)
        if saved is None:
            table = found[source.name]
            lines.append(
                f"{source.name} is new: no table of the mapping matches it, so it keeps the suggestions "
                f"({ENTITIES[table.entity].label.lower()})."
            )
            continue
        used.add(id(saved))
        if saved.entity == SKIP:
            continue
        table = found[source.name]
        headers = {h.casefold() for h in source.headers}
        named = {h.casefold() for h in saved.columns}
        missing = [h for h in saved.columns if h.casefold() not in headers]
        new = [h for h in source.headers if h.casefold() not in named]
        # Values of a column the mapping did not map there are new with their column, not said twice.
        values = [
            value
            for target, choices in table.values.items()
            if target in saved.mapped_targets()
            for value in choices
            if not saved.value_entry(target, value)[0]
        ]
        problems = []
        if missing:
            problems.append(f"no column {_quoted(missing)} in this file (not applied)")
        if new:
            problems.append(f"new column{'s' if len(new) > 1 else ''} {_quoted(new)} (suggested)")
        if values:
            plural = "s" if len(values) > 1 else ""
            problems.append(f"value{plural} with no decision saved {_quoted(values)} (suggested)")
        if problems:
            lines.append(f"{table.name or source.name}: " + "; ".join(problems) + ".")
    for saved in mapping.tables:
        if id(saved) not in used:
            where = saved.name or ", ".join(saved.files) or ", ".join(saved.headers[:3])
            lines.append(f"{where}: no file of this upload is that table (not applied).")
    return lines
