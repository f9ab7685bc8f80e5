"""Backups that restore: consistent snapshots of the live database, verified, with retention.

SQLite: Python's sqlite3 online backup API copies the live database (WAL mode; gunicorn
workers may be writing) in one step, i.e. inside one read transaction, so the copy is the
database as of one moment and writers are never blocked. The copy is checked
(``PRAGMA integrity_check``, row counts of every table), gzip-compressed to
``<dir>/crm-YYYYmmdd-HHMMSS.sqlite3.gz`` (UTC) under a temporary name and renamed into place,
described by a JSON manifest beside it (``crm-YYYYmmdd-HHMMSS.json``: row counts, applied
migrations, app version, SHA-256), then read back and checked again.

PostgreSQL: the row counts are taken inside a REPEATABLE READ transaction whose snapshot is
exported to ``pg_dump --format=custom --snapshot=…``, so counts and dump describe the same
moment; the dump is verified with ``pg_restore --list``.

Restoring checks a file the same way before anything is touched. It refuses a file whose
manifest is missing, unreadable or does not match unless forced, and, forced or not, a
database holding what the app's migrations would not create: a planted trigger runs inside
the app on every write it fires on. On SQLite every table, index, view and trigger is
compared with a scratch file migrated to the backup's state; on PostgreSQL the dump's entries
must be of the kinds pg_dump writes for Django's tables (no function, trigger, view…) and its
tables those of the migration state. It keeps a copy of the current database
(``pre-restore-…``), then, on SQLite, copies the backup INTO the live database file with the
same backup API: the copy is one write transaction, so running workers see the old database
until it commits and the restored one after — never a half-written file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import gzip
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from crm.lib.private_files import create_private_file, secure_sqlite

APP = "venture-crm"
MANIFEST_FORMAT = 1
# A file is "a backup of this app" when its django_migrations has these apps' migrations.
OUR_APPS = ("crm", "contacts", "pipeline", "lps")
DAILY = "crm"
PRE_RESTORE = "pre-restore"
SQLITE_SUFFIX = ".sqlite3.gz"
DOCUMENTS_SUFFIX = ".documents.tar"
POSTGRES_SUFFIX = ".pgdump"
STAMP_FORMAT = "%Y%m%d-%H%M%S"
BACKUP_NAME = re.compile(
    r"^(?P<prefix>crm|pre-restore)-(?P<stamp>\d{8}-\d{6})(?:-(?P<seq>\d{1,3}))?(?P<suffix>\.sqlite3\.gz|\.pgdump)$"
)
TEMP_PREFIX = ".tmp-crm-"
GZIP_MAGIC = b"\x1f\x8b"
SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
CHUNK = 1 << 20
BUSY_TIMEOUT_MS = 30_000
# (app label, model name) of the tables a restore reports on, in the order people think of them.
MAIN_MODELS = (
    ("crm", "User"),
    ("contacts", "Organization"),
    ("contacts", "Contact"),
    ("lps", "LPProfile"),
    ("lps", "Commitment"),
    ("pipeline", "Opportunity"),
    ("contacts", "Communication"),
)


class BackupError(Exception):
    """A backup or restore cannot go ahead; the message says why and, where it can, what to do."""


# --- where the data is -------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    """The database to back up or restore into: a Django DATABASES entry plus its alias."""

    config: dict[str, Any]
    alias: str = "default"

    @classmethod
    def configured(cls, alias: str = "default") -> Database:
        return cls(dict(settings.DATABASES[alias]), alias)

    @classmethod
    def sqlite(cls, path: Path | str) -> Database:
        return cls({"ENGINE": "django.db.backends.sqlite3", "NAME": Path(path)})

    @property
    def vendor(self) -> str:
        engine = self.config.get("ENGINE", "")
        if engine.endswith("sqlite3"):
            return "sqlite"
        if "postgresql" in engine or "postgis" in engine:
            return "postgresql"
        raise BackupError(f"Backups support SQLite and PostgreSQL; this app is configured for {engine!r}.")

    @property
    def path(self) -> Path:
        return Path(self.config["NAME"])

    def describe(self) -> str:
        if self.vendor == "sqlite":
            return f"SQLite database {self.path}"
        host = self.config.get("HOST") or "localhost"
        port = self.config.get("PORT") or 5432
        return f"PostgreSQL database {self.config.get('NAME')!r} on {host}:{port}"

    def pg_environ(self) -> dict[str, str]:
        """libpq's environment for pg_dump/pg_restore: the password travels here, never in argv."""
        environ = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        pairs = {
            "PGHOST": self.config.get("HOST"),
            "PGPORT": self.config.get("PORT"),
            "PGUSER": self.config.get("USER"),
            "PGPASSWORD": self.config.get("PASSWORD"),
            "PGDATABASE": self.config.get("NAME"),
        }
        options = self.config.get("OPTIONS") or {}
        for option, variable in (
            ("sslmode", "PGSSLMODE"),
            ("sslrootcert", "PGSSLROOTCERT"),
            ("sslcert", "PGSSLCERT"),
            ("sslkey", "PGSSLKEY"),
            ("connect_timeout", "PGCONNECT_TIMEOUT"),
        ):
            pairs[variable] = options.get(option)
        environ.update({key: str(value) for key, value in pairs.items() if value not in (None, "")})
        return environ


# --- manifests ---------------------------------------------------------------------------


@dataclass
class Manifest:
    """What a backup file holds, written beside it so a restore can check it before trusting it."""

    file: str
    created_at: str  # ISO 8601, UTC
    engine: str  # "sqlite" or "postgresql"
    sha256: str
    size: int
    tables: dict[str, int]
    migrations: list[list[str]]  # [app, name] pairs from django_migrations
    app_version: str
    database_bytes: int | None = None
    host: str = ""
    app: str = APP
    format: int = MANIFEST_FORMAT
    # The LP documents folder as a tar beside the database file (see "documents" below):
    # {"file", "sha256", "size", "files": {path inside the folder: SHA-256}}; None in backups
    # made before documents existed, whose restore leaves the folder as it is.
    documents: dict[str, Any] | None = None

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def write(self, path: Path) -> None:
        with _temp_path(path.parent, ".json") as temp:
            temp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
            os.replace(temp, path)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text())
            if data.get("app") != APP:
                raise ValueError(f"it describes a backup of {data.get('app')!r}, not {APP}")
            if data.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"format {data.get('format')!r} is not one this version reads")
            manifest = cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})
            dt.datetime.fromisoformat(manifest.created_at)
            if not isinstance(manifest.tables, dict):
                raise ValueError("its table counts are not a mapping")
            return manifest
        except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
            raise BackupError(f"The manifest {path.name} is not a Venture CRM backup manifest ({exc}).") from None


def manifest_path(backup: Path) -> Path:
    """``crm-20260101-020000.sqlite3.gz`` → ``crm-20260101-020000.json`` (any other name: ``<name>.json``)."""
    name = backup.name
    for suffix in (SQLITE_SUFFIX, POSTGRES_SUFFIX):
        if name.endswith(suffix):
            return backup.with_name(name[: -len(suffix)] + ".json")
    return backup.with_name(name + ".json")


def documents_path(backup: Path) -> Path:
    """``crm-20260101-020000.sqlite3.gz`` → ``crm-20260101-020000.documents.tar``."""
    return manifest_path(backup).with_suffix(DOCUMENTS_SUFFIX)


# --- documents -----------------------------------------------------------------------------
#
# The LP documents (lps.documents) are files under settings.DOCUMENTS_DIR, not rows: a backup
# packs the folder into a tar beside the database file, taken just after the database's
# snapshot (an upload writes its file before its row commits, so every row in the snapshot
# has its file on disk by then), with each file's SHA-256 in the manifest. A restore checks
# the tar against the manifest before anything is touched, and after the database is in
# place swaps the folder for the backup's in one rename.


def _pack_documents(target: Path) -> dict[str, Any]:
    root = Path(settings.DOCUMENTS_DIR)
    files: dict[str, str] = {}
    with tarfile.open(target, "w") as tar:
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    relative = path.relative_to(root).as_posix()
                    files[relative] = _sha256(path)
                    tar.add(path, arcname=relative, recursive=False)
    return {"file": "", "sha256": _sha256(target), "size": target.stat().st_size, "files": files}


def _add_documents(path: Path, manifest: Manifest) -> None:
    """Write the documents tar beside the backup ``path`` and list it in its manifest."""
    tar_path = documents_path(path)
    with _temp_path(path.parent, DOCUMENTS_SUFFIX) as temp:
        entry = _pack_documents(temp)
        os.replace(temp, tar_path)
    entry["file"] = tar_path.name
    manifest.documents = entry
    manifest.write(manifest_path(path))


def _check_documents(path: Path, manifest: Manifest | None) -> Path | None:
    """The backup's documents tar when its manifest lists one, checked file by file; else None."""
    entry = manifest.documents if manifest else None
    if not entry:
        return None
    tar_path = path.with_name(entry["file"])
    if tar_path.name != entry["file"] or not tar_path.is_file():
        raise BackupError(f"{path.name}'s documents ({entry['file']}) are not beside it. Nothing was changed.")
    if tar_path.stat().st_size != entry["size"] or _sha256(tar_path) != entry["sha256"]:
        raise BackupError(
            f"{tar_path.name} does not match the manifest: the documents are damaged. Nothing was changed."
        )
    try:
        with tarfile.open(tar_path) as tar:
            members = tar.getmembers()
            names = {member.name for member in members}
            unsafe = [m.name for m in members if not m.isfile() or m.name.startswith("/") or ".." in m.name.split("/")]
            if unsafe or names != set(entry["files"]):
                raise BackupError(f"{tar_path.name} does not hold the documents its manifest lists.")
            for member in members:
                handle = tar.extractfile(member)
                digest = hashlib.sha256(handle.read() if handle else b"").hexdigest()
                if digest != entry["files"][member.name]:
                    raise BackupError(f"{tar_path.name}: {member.name} does not match its checksum.")
    except tarfile.TarError as exc:
        raise BackupError(f"{tar_path.name} is not a readable tar ({exc}).") from None
    return tar_path


def _restore_documents(tar_path: Path) -> int:
    """Replace the documents folder with the tar's files (checked by ``_check_documents``); how many."""
    root = Path(settings.DOCUMENTS_DIR)
    root.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=root.parent))
    with tarfile.open(tar_path) as tar:
        members = tar.getmembers()
        tar.extractall(incoming, members=members, filter="data")
    for path in incoming.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)
    outgoing = root.with_name(f"{TEMP_PREFIX}{root.name}-old")
    if root.exists():
        shutil.rmtree(outgoing, ignore_errors=True)
        os.replace(root, outgoing)
    os.replace(incoming, root)
    shutil.rmtree(outgoing, ignore_errors=True)
    return len(members)


def backup_time(path: Path) -> dt.datetime | None:
    """The UTC time in a backup's file name, or None when the name is not one of ours."""
    match = BACKUP_NAME.match(path.name)
    if not match:
        return None
    return dt.datetime.strptime(match["stamp"], STAMP_FORMAT).replace(tzinfo=dt.UTC)


# --- results -----------------------------------------------------------------------------


def _size(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{nbytes:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@dataclass
class BackupResult:
    path: Path
    manifest: Manifest
    pruned: list[Path] = field(default_factory=list)
    keep_days: int = 0

    def summary(self) -> str:
        text = (
            f"Backup {self.path} ({_size(self.manifest.size)}): {len(self.manifest.tables)} tables, "
            f"{self.manifest.rows:,} rows, verified."
        )
        if self.manifest.documents and self.manifest.documents["files"]:
            text += f" {len(self.manifest.documents['files'])} document file(s) beside it."
        if self.pruned:
            text += f" Removed {len(self.pruned)} backup(s) older than {self.keep_days} days."
        return text


@dataclass
class CheckedBackup:
    """A backup file that passed its checks; ``snapshot`` is its decompressed SQLite copy."""

    path: Path
    engine: str
    manifest: Manifest | None
    tables: dict[str, int]
    migrations: list[tuple[str, str]]
    snapshot: Path | None = None
    warnings: list[str] = field(default_factory=list)
    documents: Path | None = None  # the checked documents tar, when the backup has one

    @property
    def created_at(self) -> dt.datetime | None:
        if self.manifest:
            return dt.datetime.fromisoformat(self.manifest.created_at)
        return backup_time(self.path)

    def describe(self) -> str:
        when = self.created_at
        taken = f"taken {when:%Y-%m-%d %H:%M:%S} UTC" if when else "time unknown"
        version = f", app {self.manifest.app_version}" if self.manifest else ""
        counts = _main_counts_text(self.tables) if self.tables else "row counts unknown (no manifest)"
        return f"{self.path.name} ({taken}{version}): {counts}"


@dataclass
class RestoreResult:
    backup: CheckedBackup
    database: Database
    counts: dict[str, int]
    pre_restore: BackupResult | None
    pending_migrations: list[tuple[str, str]]
    documents: int | None = None  # files put back in the documents folder; None: the backup had none

    def summary(self) -> str:
        when = self.backup.created_at
        taken = f" (taken {when:%Y-%m-%d %H:%M:%S} UTC)" if when else ""
        text = (
            f"Restored {self.backup.path.name}{taken} into the {self.database.describe()}: "
            f"{_main_counts_text(self.counts)}."
        )
        if self.documents is not None:
            text += f" {self.documents} document file(s) put back."
        if self.pre_restore:
            text += f" The database as it was before is kept in {self.pre_restore.path}."
        return text


def _main_tables() -> list[tuple[str, str]]:
    """(table name, plural label) of the main models, from the models themselves."""
    from django.apps import apps

    tables = []
    for app_label, model_name in MAIN_MODELS:
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            continue
        tables.append((model._meta.db_table, str(model._meta.verbose_name_plural)))
    return tables


def _main_counts_text(counts: dict[str, int]) -> str:
    parts = [f"{counts[table]:,} {label}" for table, label in _main_tables() if table in counts]
    return ", ".join(parts) or "no CRM tables"


# --- files -------------------------------------------------------------------------------


def _ensure_directory(directory: Path) -> None:
    # Backups hold every LP's data: the folder and files are the service user's alone.
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"Cannot create the backups folder {directory}: {exc.strerror}.") from None
    if not os.access(directory, os.W_OK):
        raise BackupError(f"The backups folder {directory} is not writable by this user.")


@contextlib.contextmanager
def _temp_path(directory: Path, suffix: str) -> Iterator[Path]:
    """A private (0600) temporary file in ``directory`` (same filesystem, so renames are atomic)."""
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=directory)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """One backup at a time per folder: a manual run and the timer never pick the same name or prune together."""
    with open(directory / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _new_backup_path(directory: Path, prefix: str, suffix: str, now: dt.datetime) -> Path:
    stamp = now.astimezone(dt.UTC).strftime(STAMP_FORMAT)
    for seq in range(1000):
        path = directory / f"{prefix}-{stamp}{f'-{seq}' if seq else ''}{suffix}"
        if not path.exists() and not manifest_path(path).exists():
            return path
    raise BackupError(f"Too many backups named {prefix}-{stamp} in {directory}.")


def _gzip(source: Path, target: Path, inner_name: str) -> None:
    with open(source, "rb") as raw, open(target, "wb") as out:
        with gzip.GzipFile(filename=inner_name, mode="wb", fileobj=out, compresslevel=6) as packed:
            shutil.copyfileobj(raw, packed, CHUNK)
        out.flush()
        os.fsync(out.fileno())


def _gunzip(source: Path, target: Path) -> None:
    try:
        with gzip.open(source, "rb") as packed, open(target, "wb") as out:
            shutil.copyfileobj(packed, out, CHUNK)
    except (OSError, EOFError, zlib.error) as exc:
        raise BackupError(
            f"{source.name} is damaged: it does not decompress ({exc}). It may be truncated or corrupted; "
            "use another backup."
        ) from None


def _magic(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(len(SQLITE_MAGIC))


# --- SQLite ------------------------------------------------------------------------------


def _sqlite_uri(path: Path, mode: str) -> str:
    return f"{path.resolve().as_uri()}?mode={mode}"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sqlite_snapshot(source: Path, target: Path) -> None:
    # An empty file is no database either: backing it up would "verify" a backup of nothing.
    if not source.is_file() or source.stat().st_size == 0:
        raise BackupError(
            f"There is no database at {source} to back up (is CRM_DATA_DIR right? has `manage.py migrate` run?)."
        )
    try:
        # mode=rw: never create an empty database where the real one was expected.
        with (
            contextlib.closing(sqlite3.connect(_sqlite_uri(source, "rw"), uri=True)) as live,
            contextlib.closing(sqlite3.connect(target)) as copy,
        ):
            live.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            # All pages in one step = one read transaction on the live database: a snapshot of one
            # moment. In WAL mode writers carry on meanwhile; their commits simply are not in it.
            live.backup(copy)
            # The copy inherits WAL mode from the header; make it a self-contained file.
            copy.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"Could not read the database at {source}: {exc}.") from None


def _inspect_sqlite(path: Path, label: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Integrity check, then (row count per table, applied migrations) of a SQLite file."""
    try:
        with contextlib.closing(sqlite3.connect(_sqlite_uri(path, "ro"), uri=True)) as db:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"{label} failed SQLite's integrity check: {'; '.join(problems[:5])}.")
            names = [
                row[0]
                for row in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
            counts = {
                # Table names come from sqlite_master and are quoted: not user input.
                name: db.execute(f"SELECT COUNT(*) FROM {_quote(name)}").fetchone()[0]  # noqa: S608
                for name in names
            }
            migrations = []
            if "django_migrations" in counts:
                migrations = [tuple(row) for row in db.execute("SELECT app, name FROM django_migrations")]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{label} is not a readable SQLite database ({exc}).") from None
    return counts, sorted(migrations)


def _backup_sqlite(database: Database, directory: Path, prefix: str, now: dt.datetime) -> tuple[Path, Manifest]:
    path = _new_backup_path(directory, prefix, SQLITE_SUFFIX, now)
    with _temp_path(directory, ".sqlite3") as snapshot, _temp_path(directory, SQLITE_SUFFIX) as packed:
        _sqlite_snapshot(database.path, snapshot)
        tables, migrations = _inspect_sqlite(snapshot, "The snapshot")
        _gzip(snapshot, packed, inner_name=path.name.removesuffix(".gz"))
        manifest = Manifest(
            file=path.name,
            created_at=now.astimezone(dt.UTC).isoformat(timespec="seconds"),
            engine="sqlite",
            sha256=_sha256(packed),
            size=packed.stat().st_size,
            tables=tables,
            migrations=[list(pair) for pair in migrations],
            app_version=settings.VERSION,
            database_bytes=snapshot.stat().st_size,
            host=socket.gethostname(),
        )
        os.replace(packed, path)
    manifest.write(manifest_path(path))
    return path, manifest


def _close_django_connection(database: Database) -> None:
    """This process's own Django connection to ``database`` must not stay open across the switch."""
    from django.db import connections

    configured = settings.DATABASES.get(database.alias, {})
    if str(configured.get("NAME")) == str(database.config.get("NAME")):
        connections[database.alias].close()


def _restore_sqlite(snapshot: Path, database: Database) -> None:
    target = database.path
    _close_django_connection(database)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Restored data is as private as the live database: the file is 0600 (created so, or an old
    # 0644 one tightened) before any data goes in, and SQLite gives -wal/-shm the main file's mode.
    secure_sqlite(target)
    try:
        with (
            contextlib.closing(sqlite3.connect(_sqlite_uri(snapshot, "ro"), uri=True)) as source,
            contextlib.closing(sqlite3.connect(target)) as live,
        ):
            live.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            live.execute("PRAGMA journal_mode=WAL")
            # One step = one write transaction on the live file: readers see the old database
            # until it commits, then the restored one; a failure rolls it back whole.
            source.backup(live)
            live.execute("PRAGMA journal_mode=WAL")
            problems = [row[0] for row in live.execute("PRAGMA quick_check")]
    except sqlite3.Error as exc:
        raise BackupError(f"Could not write the restored database into {target}: {exc}.") from None
    if problems != ["ok"]:
        raise BackupError(f"The restored database at {target} fails its check: {'; '.join(problems[:5])}.")


def _reinstall_search(database: Database, migrations: list[tuple[str, str]]) -> None:
    """The restored database's search triggers and functions re-created from this code."""
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.utils import load_backend

    from crm.search import reinstall_indexes

    config = connections.configure_settings({DEFAULT_DB_ALIAS: dict(database.config)})[DEFAULT_DB_ALIAS]
    alias = f"crm_restored_{os.getpid()}"
    connection = load_backend(config["ENGINE"]).DatabaseWrapper(config, alias)
    connections[alias] = connection  # transaction.atomic looks its connection up by alias
    try:
        reinstall_indexes(connection, migrations)
    except Exception as exc:
        raise BackupError(f"The data was restored, but its search index could not be rebuilt: {exc}.") from None
    finally:
        connection.close()
        del connections[alias]


def _sqlite_counts(path: Path, tables: list[str]) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        existing = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {
            name: db.execute(f"SELECT COUNT(*) FROM {_quote(name)}").fetchone()[0]  # noqa: S608
            for name in tables
            if name in existing
        }


# --- PostgreSQL --------------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BackupError(
            f"{name} is not installed, and PostgreSQL backups need it. Install the PostgreSQL client tools "
            "of your server's major version (Debian/Ubuntu: apt-get install postgresql-client)."
        )
    return path


def _run(command: list[str], environ: dict[str, str], what: str) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(command, env=environ, capture_output=True, text=True, check=False)  # noqa: S603
    except OSError as exc:
        raise BackupError(f"Could not run {command[0]}: {exc}.") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: {' / '.join(detail[-5:]) or f'exit status {result.returncode}'}.")
    return result


PG_TOC_ENTRY = re.compile(r"^\d+; \d+ \d+ (?P<entry>.+)$")


def _pg_toc(path: Path, environ: dict[str, str]) -> list[str]:
    """A custom-format dump's table of contents (``pg_restore --list``): entries like ``TABLE public crm_user crm``."""
    result = _run([_pg_tool("pg_restore"), "--list", str(path)], environ, f"Reading {path.name} (pg_restore --list)")
    return [match["entry"] for line in result.stdout.splitlines() if (match := PG_TOC_ENTRY.match(line))]


def _pg_data_tables(toc: list[str]) -> set[str]:
    """Names of the tables whose data is in the dump."""
    return {match[1] for entry in toc if (match := re.match(r"^TABLE DATA \S+ (\S+) ", entry))}


def _pg_migrations(path: Path, environ: dict[str, str]) -> list[tuple[str, str]]:
    """The django_migrations rows inside a dump, read without restoring it."""
    result = _run(
        [_pg_tool("pg_restore"), "--data-only", "--table=django_migrations", "--file=-", str(path)],
        environ,
        f"Reading the migrations in {path.name}",
    )
    rows: list[tuple[str, str]] = []
    columns: list[str] = []
    for line in result.stdout.splitlines():
        header = re.match(r"^COPY \S*django_migrations \(([^)]*)\) FROM stdin;$", line)
        if header:
            columns = [name.strip() for name in header[1].split(",")]
            continue
        if columns:
            if line == "\\.":
                break
            values = dict(zip(columns, line.split("\t"), strict=False))
            rows.append((values.get("app", ""), values.get("name", "")))
    return sorted(rows)


def _backup_postgres(database: Database, directory: Path, prefix: str, now: dt.datetime) -> tuple[Path, Manifest]:
    from django.db import connections, transaction

    pg_dump = _pg_tool("pg_dump")
    _pg_tool("pg_restore")
    environ = database.pg_environ()
    path = _new_backup_path(directory, prefix, POSTGRES_SUFFIX, now)
    connection = connections[database.alias]
    with _temp_path(directory, POSTGRES_SUFFIX) as dump:
        with transaction.atomic(using=database.alias), connection.cursor() as cursor:
            # Counts and dump from one exported snapshot: they describe the same moment even
            # while the app writes.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot_id = cursor.fetchone()[0]
            tables = {}
            for name in sorted(connection.introspection.table_names(cursor)):
                cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(name)}")  # noqa: S608
                tables[name] = cursor.fetchone()[0]
            migrations = []
            if "django_migrations" in tables:
                cursor.execute("SELECT app, name FROM django_migrations")
                migrations = sorted(tuple(row) for row in cursor.fetchall())
            _run(
                [pg_dump, "--format=custom", f"--snapshot={snapshot_id}", f"--file={dump}"],
                environ,
                "pg_dump",
            )
        _fsync(dump)
        manifest = Manifest(
            file=path.name,
            created_at=now.astimezone(dt.UTC).isoformat(timespec="seconds"),
            engine="postgresql",
            sha256=_sha256(dump),
            size=dump.stat().st_size,
            tables=tables,
            migrations=[list(pair) for pair in migrations],
            app_version=settings.VERSION,
            host=socket.gethostname(),
        )
        os.replace(dump, path)
    manifest.write(manifest_path(path))
    return path, manifest


def _restore_postgres(path: Path, database: Database) -> None:
    _close_django_connection(database)
    _run(
        [
            _pg_tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={database.config.get('NAME')}",
            str(path),
        ],
        database.pg_environ(),
        "pg_restore",
    )


def _postgres_counts(database: Database, tables: list[str]) -> dict[str, int]:
    from django.db import connections

    connection = connections[database.alias]
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
        counts = {}
        for name in tables:
            if name in existing:
                cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(name)}")  # noqa: S608
                counts[name] = cursor.fetchone()[0]
    return counts


# --- checking a backup -------------------------------------------------------------------


def _check_ours(tables: dict[str, int] | set[str], migrations: list[tuple[str, str]], name: str) -> None:
    if "django_migrations" not in tables:
        raise BackupError(f"{name} is not a Venture CRM backup: it has no django_migrations table.")
    apps = {app for app, _ in migrations}
    missing = [app for app in OUR_APPS if app not in apps]
    if missing:
        raise BackupError(
            f"{name} is not a Venture CRM backup: it has no migrations of the app(s) {', '.join(missing)}."
        )
    absent = [table for table, _ in _main_tables() if table not in tables]
    if absent:
        raise BackupError(f"{name} is not a complete Venture CRM backup: table(s) {', '.join(absent)} are missing.")


def _refuse_newer(migrations: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    """Refuse a backup with migrations this code does not know; else this code's migrations it lacks."""
    unknown, pending = migration_gap(migrations)
    if unknown:
        names = ", ".join(f"{app}.{migration}" for app, migration in unknown[:5])
        raise BackupError(
            f"{name} was made by a newer version of Venture CRM (migrations this code does not have: "
            f"{names}). Update the code first, then restore."
        )
    return pending


# SQLite's own bookkeeping: AUTOINCREMENT counters, ANALYZE / PRAGMA optimize statistics, and
# the indexes behind UNIQUE / PRIMARY KEY constraints (named after their table, which is checked).
SQLITE_INTERNAL = re.compile(r"^sqlite_(?:sequence|stat[1-4]|autoindex_.+)$")


def _sqlite_schema(path: Path) -> set[tuple[str, str]]:
    """(type, name) of every table, index, view and trigger in a SQLite file."""
    with contextlib.closing(sqlite3.connect(_sqlite_uri(path, "ro"), uri=True)) as db:
        return {
            (kind, name)
            for kind, name in db.execute("SELECT type, name FROM sqlite_master")
            if not SQLITE_INTERNAL.match(name)
        }


@functools.lru_cache(maxsize=4)
def expected_sqlite_schema(migrations: tuple[tuple[str, str], ...]) -> frozenset[tuple[str, str]]:
    """(type, name) of what exactly ``migrations`` create, found by applying them to an empty SQLite file.

    Why migrate a scratch database rather than compare with the live one or list the models:
    the live database may itself be the thing that was tampered with (or be empty on a new
    machine), and the models describe today's code, not the older state a backup may be in.
    Applying this code's migrations, up to the ones recorded in the backup, to an empty file
    gives the objects Django would have created for that state, indexes and all; it takes a
    second or two and is cached per migration state.
    """
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.backends.sqlite3.base import DatabaseWrapper
    from django.db.migrations.executor import MigrationExecutor

    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as folder:
        scratch = Path(folder) / "expected.sqlite3"
        create_private_file(scratch)
        alias = f"crm_expected_schema_{os.getpid()}"
        config = connections.configure_settings(
            {DEFAULT_DB_ALIAS: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(scratch)}}
        )[DEFAULT_DB_ALIAS]
        connection = DatabaseWrapper(config, alias)
        # Data migrations look their connection up by alias (schema_editor.connection.alias), and
        # some third-party ones (django-tasks-db 0016) use the default manager, so the scratch
        # file also stands in as "default" while it is migrated, in this thread only.
        connections[alias] = connection
        live_default = connections[DEFAULT_DB_ALIAS]
        connections[DEFAULT_DB_ALIAS] = connection
        try:
            executor = MigrationExecutor(connection)
            graph = executor.loader.graph
            applied = set(migrations)
            # A backup from before a squash lists the migrations the squash replaces.
            for key, squash in executor.loader.replacements.items():
                if key in graph.nodes and any(tuple(replaced) in applied for replaced in squash.replaces):
                    applied.add(key)
            plan, planned = [], set()
            for target in sorted(key for key in applied if key in graph.nodes):
                for key in graph.forwards_plan(target):
                    if key not in planned:
                        planned.add(key)
                        plan.append((graph.nodes[key], False))
            executor.migrate([], plan=plan)
            # As `migrate` does afterwards (post_migrate): search triggers a table rebuild dropped.
            from crm.search import repair_indexes

            repair_indexes(connection)
        finally:
            connections[DEFAULT_DB_ALIAS] = live_default
            connection.close()
            del connections[alias]
        return frozenset(_sqlite_schema(scratch))


def _check_sqlite_schema(snapshot: Path, migrations: list[tuple[str, str]], name: str) -> None:
    """Refuse a database holding tables, indexes, views or triggers the app's migrations do not create.

    A trigger runs its own SQL inside the app's database: one on crm_user that copies each new
    password hash into a table of its own survives any number of restarts. ``--force`` does not
    lift this check: remove what is named from the copy if the rest is trusted.
    """
    _refuse_newer(migrations, name)
    found = _sqlite_schema(snapshot)
    expected = expected_sqlite_schema(tuple(sorted(tuple(pair) for pair in migrations)))
    extra = sorted(found - expected)
    missing = sorted(expected - found)
    if not extra and not missing:
        return
    problems = []
    if extra:
        listed = ", ".join(f"{kind} {object_name}" for kind, object_name in extra[:10])
        more = f" and {len(extra) - 10} more" if len(extra) > 10 else ""
        problems.append(f"it holds what the app's migrations do not create: {listed}{more}")
    if missing:
        listed = ", ".join(f"{kind} {object_name}" for kind, object_name in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        problems.append(f"it lacks what they do create: {listed}{more}")
    raise BackupError(
        f"{name} is not restored: {'; '.join(problems)}. Only a database with exactly the tables, indexes, views "
        "and triggers of the app's migrations is restored, even with --force: a planted trigger or view would run "
        "its own SQL inside the app's database. Nothing was changed."
    )


# What pg_dump writes for a database that Django's migrations made; anything else (a function,
# trigger, view, rule, policy, extension…) is refused. Longest first: "TABLE DATA" before "TABLE".
PG_ENTRY_TYPES = (
    "SEQUENCE OWNED BY",
    "FK CONSTRAINT",
    "SEQUENCE SET",
    "TABLE DATA",
    "CONSTRAINT",
    "SEQUENCE",
    "DEFAULT",
    "COMMENT",
    "SCHEMA",
    "INDEX",
    "TABLE",
    "ACL",
)


def expected_tables(migrations: tuple[tuple[str, str], ...]) -> frozenset[str]:
    """The tables ``migrations`` create, from the migration state (no database needed)."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    applied = set(migrations)
    for key, squash in loader.replacements.items():
        if key in loader.graph.nodes and any(tuple(replaced) in applied for replaced in squash.replaces):
            applied.add(key)
    nodes = sorted(key for key in applied if key in loader.graph.nodes)
    if not nodes:
        return frozenset({"django_migrations"})
    state = loader.project_state(nodes)
    models = state.apps.get_models(include_auto_created=True)
    return frozenset({model._meta.db_table for model in models if model._meta.managed} | {"django_migrations"})


def _check_postgres_schema(toc: list[str], migrations: list[tuple[str, str]], name: str) -> None:
    """Refuse a dump with functions, triggers, views & co., or tables the migrations do not create.

    Cheaper than SQLite's check (no scratch PostgreSQL database to migrate): the entry types
    are an allow-list of what pg_dump writes for Django's tables, and table names are compared
    with the migration state. Index and constraint names are not compared.
    """
    _refuse_newer(migrations, name)
    from crm.search import postgres_dump_entries

    tables = expected_tables(tuple(sorted(tuple(pair) for pair in migrations)))
    # The search index's own functions, triggers and tables (crm/lib/fulltext.py), by name;
    # restore_backup re-creates them from this code afterwards, whatever bodies the dump held.
    search_objects = postgres_dump_entries(migrations)
    unexpected = []
    for entry in toc:
        if entry.rsplit(" ", 1)[0] in search_objects or entry.strip() in search_objects:
            continue
        kind = next((kind for kind in PG_ENTRY_TYPES if entry.startswith(kind + " ")), None)
        if kind is None:
            unexpected.append(entry.rsplit(" ", 1)[0])  # without the owner
        elif kind == "TABLE":
            table = entry.split(" ")[2]
            if table not in tables:
                unexpected.append(f"table {table}")
        elif kind == "SCHEMA" and entry.split(" ")[2] != "public":
            unexpected.append(entry.rsplit(" ", 1)[0])
    if unexpected:
        listed = ", ".join(unexpected[:10]) + (f" and {len(unexpected) - 10} more" if len(unexpected) > 10 else "")
        raise BackupError(
            f"{name} is not restored: it holds what the app's migrations do not create: {listed}. Only the tables "
            "and data of the app's migrations are restored, even with --force: a planted function or trigger "
            "would run its own SQL inside the app's database. Nothing was changed."
        )


FORCE_HINT = (
    "Nothing was changed. If you know where this file comes from, `restore --force` restores it without the "
    "manifest (every other check still applies)."
)


def _manifest_problem(path: Path) -> tuple[Manifest | None, str]:
    """The manifest beside ``path`` if it is there, readable and matches the file; else (None, what is wrong)."""
    manifest_file = manifest_path(path)
    if not manifest_file.is_file():
        return None, (
            f"{path.name} has no manifest ({manifest_file.name} is not beside it), so its checksum and row counts "
            "cannot be checked."
        )
    try:
        manifest = Manifest.read(manifest_file)
    except BackupError as exc:
        return None, f"{exc} So {path.name} cannot be checked against it."
    except OSError as exc:
        return None, f"The manifest {manifest_file.name} cannot be read ({exc.strerror})."
    size = path.stat().st_size
    if size != manifest.size or _sha256(path) != manifest.sha256:
        return None, (
            f"{path.name} does not match its manifest ({size:,} bytes; the manifest says {manifest.size:,} "
            "and a different SHA-256): the file is damaged or is not the one the manifest describes."
        )
    return manifest, ""


@contextlib.contextmanager
def open_backup(
    path: Path | str, *, workdir: Path | None = None, require_app: bool = True, force: bool = False
) -> Iterator[CheckedBackup]:
    """Check a backup file and yield what it holds; raises BackupError when it cannot be trusted.

    Checks: the manifest beside it is there, readable, and matches the file's size, SHA-256 and
    row counts (``force`` turns a missing or mismatching manifest into a warning and the file is
    checked without it); the file decompresses; SQLite's integrity check passes; and
    (``require_app``) it is a database of this app holding nothing the app's migrations do not
    create (SQLite; ``force`` never lifts that). A SQLite backup is decompressed into ``workdir``
    (default: the system temp folder) for as long as the context lasts.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"There is no backup file at {path}.")
    manifest, problem = _manifest_problem(path)
    warnings = []
    if problem:
        if not force:
            raise BackupError(f"{problem} {FORCE_HINT}")
        warnings.append(f"{problem} Going ahead without it (--force).")
    magic = _magic(path)
    workdir = workdir or Path(tempfile.gettempdir())
    if magic.startswith(PGDUMP_MAGIC):
        environ = os.environ.copy()
        toc = _pg_toc(path, environ)
        listed = _pg_data_tables(toc)
        migrations = _pg_migrations(path, environ) if "django_migrations" in listed else []
        if manifest and set(manifest.tables) - listed:
            missing = sorted(set(manifest.tables) - listed)
            raise BackupError(f"{path.name} lacks the data of table(s) its manifest lists: {', '.join(missing[:5])}.")
        if require_app:
            _check_ours(listed, migrations, path.name)
            _check_postgres_schema(toc, migrations, path.name)
        documents = _check_documents(path, manifest)
        yield CheckedBackup(
            path,
            "postgresql",
            manifest,
            dict(manifest.tables) if manifest else {},
            migrations,
            None,
            warnings,
            documents,
        )
        return
    if not (magic.startswith(GZIP_MAGIC) or magic == SQLITE_MAGIC):
        raise BackupError(
            f"{path.name} is not a Venture CRM backup: it is neither a gzip-compressed SQLite database "
            "nor a PostgreSQL custom-format dump."
        )
    with _temp_path(workdir, ".sqlite3") as snapshot:
        if magic.startswith(GZIP_MAGIC):
            _gunzip(path, snapshot)
            if _magic(snapshot) != SQLITE_MAGIC:
                raise BackupError(f"{path.name} is not a Venture CRM backup: it does not hold a SQLite database.")
        else:
            shutil.copyfile(path, snapshot)
        tables, migrations = _inspect_sqlite(snapshot, path.name)
        if manifest and manifest.tables != tables:
            changed = sorted(
                name for name in set(tables) | set(manifest.tables) if tables.get(name) != manifest.tables.get(name)
            )
            raise BackupError(
                f"{path.name} does not hold what its manifest lists (row counts differ in {', '.join(changed[:5])})."
            )
        if require_app:
            _check_ours(tables, migrations, path.name)
            _check_sqlite_schema(snapshot, migrations, path.name)
        documents = _check_documents(path, manifest)
        yield CheckedBackup(path, "sqlite", manifest, tables, migrations, snapshot, warnings, documents)


def migration_gap(migrations: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(migrations in the backup this code does not know, this code's migrations the backup lacks)."""
    from django.apps import apps
    from django.db.migrations.loader import MigrationLoader

    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    installed = {config.label for config in apps.get_app_configs()}
    applied = {tuple(pair) for pair in migrations if pair[0] in installed}
    return sorted(applied - known), sorted(known - applied)


# --- the two operations ------------------------------------------------------------------


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def create_backup(
    directory: Path | str | None = None,
    *,
    keep_days: int | None = None,
    prefix: str = DAILY,
    database: Database | None = None,
    now: dt.datetime | None = None,
) -> BackupResult:
    """Back up ``database`` (default: the configured one) into ``directory``, verify it, apply retention.

    Retention (``keep_days``; 0 keeps everything) removes only daily backups (``crm-…``) whose
    name's timestamp is older than that, with their manifests; pre-restore copies stay.
    """
    database = database or Database.configured()
    directory = Path(directory or settings.CRM_BACKUP_DIR).resolve()
    keep_days = settings.CRM_BACKUP_KEEP_DAYS if keep_days is None else keep_days
    now = now or _utcnow()
    vendor = database.vendor
    _ensure_directory(directory)
    with _directory_lock(directory):
        if vendor == "sqlite":
            path, manifest = _backup_sqlite(database, directory, prefix, now)
        else:
            path, manifest = _backup_postgres(database, directory, prefix, now)
        _add_documents(path, manifest)
        try:
            with open_backup(path, workdir=directory, require_app=False):
                pass
        except BackupError as exc:
            path.unlink(missing_ok=True)
            manifest_path(path).unlink(missing_ok=True)
            documents_path(path).unlink(missing_ok=True)
            raise BackupError(f"The backup was written but did not verify, so it was removed: {exc}") from None
        pruned = prune_backups(directory, keep_days, now=now) if prefix == DAILY else []
    return BackupResult(path, manifest, pruned, keep_days)


def prune_backups(directory: Path | str, keep_days: int, *, now: dt.datetime | None = None) -> list[Path]:
    """Delete daily backups (``crm-YYYYmmdd-HHMMSS…``) older than ``keep_days`` and their manifests.

    Age comes from the timestamp in the name, not the file's mtime (copies and restores from
    off-site change mtimes). Anything not named like our daily backups is left alone.
    """
    if keep_days <= 0:
        return []
    directory = Path(directory)
    now = now or _utcnow()
    cutoff = now - dt.timedelta(days=keep_days)
    removed = []
    for path in sorted(directory.iterdir()):
        match = BACKUP_NAME.match(path.name)
        if not match or match["prefix"] != DAILY or not path.is_file():
            continue
        when = backup_time(path)
        if when is not None and when < cutoff:
            path.unlink()
            manifest_path(path).unlink(missing_ok=True)
            documents_path(path).unlink(missing_ok=True)
            removed.append(path)
    # Temporary files of a backup that was killed half-way.
    for path in directory.glob(f"{TEMP_PREFIX}*"):
        if path.is_file() and dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC) < now - dt.timedelta(days=1):
            path.unlink(missing_ok=True)
    return removed


def _has_database(database: Database) -> bool:
    if database.vendor == "sqlite":
        return database.path.is_file() and database.path.stat().st_size > 0
    return True


def restore_backup(
    checked: CheckedBackup,
    *,
    database: Database | None = None,
    directory: Path | str | None = None,
    now: dt.datetime | None = None,
) -> RestoreResult:
    """Replace ``database`` with a checked backup, after keeping a pre-restore copy of it in ``directory``."""
    database = database or Database.configured()
    if checked.engine != database.vendor:
        raise BackupError(
            f"{checked.path.name} is a {checked.engine} backup, but this app uses {database.describe()}; "
            "restore it into a matching database."
        )
    pending = _refuse_newer(checked.migrations, checked.path.name)
    pre_restore = None
    if _has_database(database):
        try:
            pre_restore = create_backup(directory, keep_days=0, prefix=PRE_RESTORE, database=database, now=now)
        except BackupError as exc:
            raise BackupError(f"Nothing was restored: the copy of the current database failed. {exc}") from None
    tables = [table for table, _ in _main_tables()]
    if checked.engine == "sqlite":
        assert checked.snapshot is not None
        _restore_sqlite(checked.snapshot, database)
        counts = _sqlite_counts(database.path, tables)
    else:
        _restore_postgres(checked.path, database)
        counts = _postgres_counts(database, tables)
    _reinstall_search(database, checked.migrations)
    documents = _restore_documents(checked.documents) if checked.documents else None
    return RestoreResult(checked, database, counts, pre_restore, pending, documents)
