"""The data folder and the SQLite files stay the service user's alone, whatever the umask.

The database holds every LP's data and the session table (a row of it is enough to take
over a signed-in admin's session), so it gets the same 0600 as the secret key and the
backups. SQLite creates a new database file 0644 minus the umask, and gives its -wal and
-shm files the main file's mode: so the main file is created 0600 the moment before
SQLite opens it (PrivateFileConnection, the sqlite3 connection factory in DATABASES), and
an existing one is tightened at start-up.

Policy: what we create is private from the start; what already exists and belongs to this
user is tightened to owner-only, with a warning in the log (someone could have read it
until now); what belongs to another user is left as it is, with a warning, because changing
another account's folder is not ours to decide. ``check --deploy`` (crm.W010) reports
whatever is still open.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger("crm.files")

FILE_MODE = 0o600
FOLDER_MODE = 0o700
OPEN_BITS = 0o077  # any permission for group or others
# Files SQLite keeps beside a database: WAL mode's two, and the rollback journal.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def open_mode(path: Path) -> int | None:
    """The permission bits of ``path`` when group or others have any access to it, else None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return mode if mode & OPEN_BITS else None


def tighten(path: Path) -> bool:
    """Remove group and other permissions from ``path`` if it is ours; True when it changed."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    mode = stat.S_IMODE(info.st_mode)
    if not mode & OPEN_BITS:
        return False
    if info.st_uid != os.geteuid():
        logger.warning(
            "%s is open to other users (mode %04o) and belongs to another user (uid %d), so it is left as it is; "
            "make it owner-only (chmod go-rwx).",
            path,
            mode,
            info.st_uid,
        )
        return False
    try:
        os.chmod(path, mode & ~OPEN_BITS & 0o777)
    except OSError as exc:
        logger.warning("%s is open to other users (mode %04o) and could not be tightened: %s.", path, mode, exc)
        return False
    logger.warning(
        "%s was open to other users (mode %04o); it is now %04o (owner only).", path, mode, mode & ~OPEN_BITS & 0o777
    )
    return True


def private_folder(path: Path) -> None:
    """Create ``path`` mode 0700 (its missing parents get the usual mode), or tighten it if it exists."""
    # mkdir's mode is reduced by the umask, which can only take bits away from 0700.
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    tighten(path)


def create_private_file(path: Path) -> None:
    """Create an empty file 0600 unless ``path`` exists, so whatever writes into it later finds it private.

    An empty file is a valid empty SQLite database. O_EXCL: several gunicorn workers may start
    at once; one creates it, the rest find it there.
    """
    if not path.parent.is_dir():
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


class PrivateFileConnection(sqlite3.Connection):
    """A sqlite3 connection that first creates a missing database file 0600 (DATABASES OPTIONS "factory").

    Creating it here, rather than at start-up, leaves no empty database behind where a command
    never connects (``check``, ``benchmark``'s parent process), and leaves no instant in which a
    fresh 0644 file could be opened by another user before a chmod.
    """

    def __init__(self, database, *args, **kwargs):
        name = os.fspath(database)
        if isinstance(name, str) and name and not name.startswith((":memory:", "file:")):
            create_private_file(Path(name))
        super().__init__(database, *args, **kwargs)


def sqlite_files(path: Path) -> list[Path]:
    """A SQLite database file and the companion files SQLite keeps beside it."""
    return [path] + [path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS]


def sqlite_path(config: Mapping[str, Any]) -> Path | None:
    """The file of a SQLite DATABASES entry, or None (another engine, or an in-memory database)."""
    if not str(config.get("ENGINE", "")).endswith("sqlite3"):
        return None
    name = str(config.get("NAME") or "")
    if not name or name.startswith((":memory:", "file:")) or "mode=memory" in name:
        return None
    return Path(name)


def secure_sqlite(path: Path) -> None:
    """Make sure a SQLite database (created now if missing) and its companions are 0600."""
    create_private_file(path)
    for file in sqlite_files(path):
        tighten(file)


def secure_at_start(data_dir: Path, secret_key: Path, databases: Mapping[str, Mapping[str, Any]]) -> None:
    """At start-up: an existing data folder, secret key and SQLite database (with -wal/-shm) become private."""
    private_folder(data_dir)
    tighten(secret_key)
    for config in databases.values():
        path = sqlite_path(config)
        if path is not None:
            for file in sqlite_files(path):
                tighten(file)


def on_connection_created(sender, connection, **kwargs) -> None:
    """connection_created: a database SQLite created without the factory (a DATABASE_URL one) is tightened."""
    if connection.vendor != "sqlite":
        return
    path = sqlite_path(connection.settings_dict)
    if path is not None:
        for file in sqlite_files(path):
            tighten(file)


def open_paths(folders: Iterable[Path], files: Iterable[Path]) -> list[tuple[Path, int]]:
    """(path, mode) of each existing folder or file that group or others can access."""
    found = []
    for path in [*folders, *files]:
        mode = open_mode(path)
        if mode is not None:
            found.append((path, mode))
    return found
