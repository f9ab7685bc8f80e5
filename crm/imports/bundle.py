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

import io
import json
import posixpath
import zipfile
from typing import Any

from crm.imports.mapping import ImportOptions, MappingError, MappingFile, loads
from crm.imports.source import SourceError, SourceTable, describe_size, max_import_bytes, parse_text, read_bytes

MAX_MEMBERS = 50
BASE_FORMAT = "crm-base-1"
WIZARD_HINT = "Leave it out of the upload, or import it on its own as one file."


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
    files = json.loads(run.source_text)["files"]
    return [parse_text(f["text"], f["name"], encoding=f["encoding"], notices=f["notices"]) for f in files]


def mapping_file(run: Any) -> MappingFile:
    """The run's combined mapping, in ``import_airtable --mapping`` format; the command's default when none yet."""
    if run.mapping:
        try:
            return loads(json.dumps(run.mapping))
        except MappingError:
            pass
    return MappingFile(ImportOptions(team_default="create"), [])


def tables(run: Any, mapping: MappingFile | None = None) -> tuple[list, ImportOptions]:
    """The run's tables, recognised and mapped as ``import_airtable`` does, and the run's options.

    A table nobody recognises gets the engine's best guess (the combined screen asks what it
    is); one the mapping marks ``"entity": "skip"`` is left out (``skipped`` lists those).
    """
    from crm.management.commands.import_airtable import import_options, source_tables

    mapping = mapping or mapping_file(run)
    found = source_tables(sources(run), mapping, WIZARD_HINT, guess=True)
    return found, import_options(mapping, None, None, found)


def skipped(run: Any, mapping: MappingFile | None = None) -> list[tuple[SourceTable, Any]]:
    """The run's tables its mapping says not to import, as (source, table mapping), in file order."""
    from crm.imports.mapping import SKIP

    mapping = mapping or mapping_file(run)
    result = []
    for source in sources(run):
        table = mapping.table_for(source.name, source.headers)
        if table is not None and table.entity == SKIP:
            result.append((source, table))
    return result
