"""Files at rest: the data folder is 0700 and the SQLite files 0600 whatever the umask; check --deploy says when not.

The session table alone is enough to take over a signed-in admin's session, so the database
gets the same protection as the secret key and the backups. Every test runs with a
permissive umask (0022, the usual default), under which anything created without care is
0644 / 0755.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from crm.checks import files_open_to_others
from crm.lib import private_files

PROJECT_ROOT = Path(settings.BASE_DIR)
CRM_VARIABLES = ("CRM_", "DJANGO_SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
SQLITE = "django.db.backends.sqlite3"


@pytest.fixture(autouse=True)
def permissive_umask():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def environ_for(data_dir: Path, **extra: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(CRM_VARIABLES)}
    environ.update(DJANGO_SETTINGS_MODULE="crm.settings", CRM_DATA_DIR=str(data_dir), **extra)
    return environ


def manage(*args: str, environ: dict[str, str]) -> subprocess.CompletedProcess:
    # The child inherits this process's umask, 0022 here.
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=environ, capture_output=True, text=True, timeout=300
    )


# Run inside the app: open the database (creating -wal and -shm), write, and report each file's mode.
REPORT_MODES = (
    "import os, stat\n"
    "from django.conf import settings\n"
    "from django.db import connection\n"
    "from contacts.models import Organization\n"
    "Organization.objects.create(name='Mode Check Capital')\n"
    "data = settings.DATA_DIR\n"
    "for name in ('', 'crm.sqlite3', 'crm.sqlite3-wal', 'crm.sqlite3-shm', 'secret_key'):\n"
    "    print(name or '.', oct(stat.S_IMODE(os.stat(data / name).st_mode)))\n"
)


def reported_modes(output: str) -> dict[str, str]:
    return dict(line.split() for line in output.splitlines() if line.startswith((".", "crm.", "secret_key")))


def test_the_umask_here_really_is_permissive(tmp_path):
    # Without this, every "created 0600" below could pass for the umask's sake alone.
    (tmp_path / "plain").write_text("x")
    (tmp_path / "folder").mkdir()
    assert mode(tmp_path / "plain") == 0o644
    assert mode(tmp_path / "folder") == 0o755


def test_a_new_install_creates_a_private_data_folder_database_and_wal_files(tmp_path):
    data_dir = tmp_path / "srv" / "data"
    environ = environ_for(data_dir)

    migrated = manage("migrate", "--noinput", environ=environ)
    assert migrated.returncode == 0, migrated.stderr
    result = manage("shell", "--no-imports", "-c", REPORT_MODES, environ=environ)

    assert result.returncode == 0, result.stderr
    assert reported_modes(result.stdout) == {
        ".": "0o700",
        "crm.sqlite3": "0o600",
        "crm.sqlite3-wal": "0o600",
        "crm.sqlite3-shm": "0o600",
        "secret_key": "0o600",
    }
    # Nothing had to be repaired: the files were private from their first byte (the connection
    # factory), not chmod-ed after SQLite made them 0644.
    assert "open to other users" not in migrated.stderr + result.stderr
    assert mode(data_dir.parent) == 0o755  # only the data folder itself is ours to close


def test_an_existing_open_database_and_data_folder_are_tightened_at_start_and_the_change_is_logged(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database = data_dir / "crm.sqlite3"
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE django_session (session_key TEXT, session_data TEXT)")
        db.commit()
        # This connection stays open, so the -wal and -shm files stay there, 0644 like the database.
        before = {path.name: mode(path) for path in private_files.sqlite_files(database) if path.exists()}
        assert before == {"crm.sqlite3": 0o644, "crm.sqlite3-wal": 0o644, "crm.sqlite3-shm": 0o644}
        assert mode(data_dir) == 0o755

        result = manage("check", environ=environ_for(data_dir, DJANGO_SECRET_KEY=secrets.token_urlsafe(50)))

        assert result.returncode == 0, result.stderr
        assert mode(data_dir) == 0o700
        assert {path.name: mode(path) for path in private_files.sqlite_files(database) if path.exists()} == {
            "crm.sqlite3": 0o600,
            "crm.sqlite3-wal": 0o600,
            "crm.sqlite3-shm": 0o600,
        }
    assert f"{database} was open to other users (mode 0644); it is now 0600 (owner only)." in result.stderr
    assert f"{data_dir} was open to other users (mode 0755); it is now 0700 (owner only)." in result.stderr


def test_a_folder_that_belongs_to_another_user_is_left_as_it_is_with_a_warning(tmp_path, monkeypatch, caplog):
    shared = tmp_path / "shared-data"
    shared.mkdir()
    someone_else = os.geteuid() + 1
    monkeypatch.setattr(private_files.os, "geteuid", lambda: someone_else)

    with caplog.at_level(logging.WARNING, logger="crm.files"):
        private_files.private_folder(shared)

    assert mode(shared) == 0o755
    assert f"{shared} is open to other users (mode 0755) and belongs to another user" in caplog.text


def test_the_connection_factory_creates_the_database_private_before_sqlite_opens_it(tmp_path):
    database = tmp_path / "crm.sqlite3"

    with contextlib.closing(sqlite3.connect(database, factory=private_files.PrivateFileConnection)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        db.commit()
        modes = {path.name: mode(path) for path in private_files.sqlite_files(database) if path.exists()}

    assert modes == {"crm.sqlite3": 0o600, "crm.sqlite3-wal": 0o600, "crm.sqlite3-shm": 0o600}


# --- check --deploy ----------------------------------------------------------------------


def open_install(tmp_path: Path) -> tuple[Path, Path, dict]:
    """A data folder, database with -wal/-shm, secret key and backups, all readable by everyone."""
    data_dir, backup_dir = tmp_path / "data", tmp_path / "backups"
    data_dir.mkdir()
    backup_dir.mkdir()
    for name in ("crm.sqlite3", "crm.sqlite3-wal", "crm.sqlite3-shm", "secret_key"):
        (data_dir / name).write_text("")
    (backup_dir / "crm-20260301-020000.sqlite3.gz").write_text("")
    (backup_dir / "notes.txt").write_text("not a backup: not ours to judge")
    return data_dir, backup_dir, {"default": {"ENGINE": SQLITE, "NAME": data_dir / "crm.sqlite3"}}


def test_the_deploy_check_names_each_file_and_folder_open_to_other_users_and_stops_once_fixed(tmp_path):
    data_dir, backup_dir, databases = open_install(tmp_path)

    warnings = files_open_to_others(data_dir, backup_dir, databases)

    assert {warning.id for warning in warnings} == {"crm.W010"}
    named = {warning.msg.split(" is open to other users")[0] for warning in warnings}
    assert named == {
        str(data_dir),
        str(data_dir / "crm.sqlite3"),
        str(data_dir / "crm.sqlite3-wal"),
        str(data_dir / "crm.sqlite3-shm"),
        str(data_dir / "secret_key"),
        str(backup_dir),
        str(backup_dir / "crm-20260301-020000.sqlite3.gz"),
    }
    hints = {warning.hint for warning in warnings}
    assert f"Make it the service user's alone: chmod 700 {data_dir}" in hints
    assert f"Make it the service user's alone: chmod 600 {data_dir / 'crm.sqlite3'}" in hints

    for path in [data_dir, backup_dir, *data_dir.iterdir(), *backup_dir.iterdir()]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    assert files_open_to_others(data_dir, backup_dir, databases) == []


def test_the_deploy_check_looks_for_no_database_file_on_postgresql(tmp_path):
    data_dir, backup_dir, _ = open_install(tmp_path)
    for path in (data_dir, backup_dir, data_dir / "secret_key", backup_dir / "crm-20260301-020000.sqlite3.gz"):
        path.chmod(0o700 if path.is_dir() else 0o600)
    postgres = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": str(data_dir / "crm.sqlite3")}}

    assert files_open_to_others(data_dir, backup_dir, postgres) == []


def test_check_deploy_warns_about_an_open_backups_folder_until_it_is_closed(tmp_path):
    # Start-up tightens the data folder and database; the backups folder (often a mount or a
    # sync target) is only reported, so check --deploy is what tells the admin.
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    environ = environ_for(
        tmp_path / "data",
        CRM_BACKUP_DIR=str(backup_dir),
        CRM_HTTPS="1",
        CRM_ALLOWED_HOSTS="crm.example.ts.net",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
    )
    assert manage("migrate", "--noinput", environ=environ).returncode == 0

    warned = manage("check", "--deploy", "--fail-level", "WARNING", environ=environ)

    assert warned.returncode != 0
    assert f"(crm.W010) {backup_dir} is open to other users (mode 0755)" in warned.stderr
    assert warned.stderr.count("crm.W010") == 1  # the data folder and database were private already

    backup_dir.chmod(0o700)
    passed = manage("check", "--deploy", "--fail-level", "WARNING", environ=environ)
    assert passed.returncode == 0, passed.stderr
