"""manage.py backup / restore: snapshots of a live file database that verify, restore, and refuse bad files.

The pytest database is in-memory SQLite, so these tests work on real file databases in tmp_path:
a migrated and seeded template is built once per session by running the real commands in a
subprocess, and each test gets its own copy. The service functions are called with explicit
paths; the commands run in subprocesses with CRM_DATA_DIR pointing at the copy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import json
import os
import pty
import re
import select
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from crm.backups.services import (
    BACKUP_NAME,
    BackupError,
    Database,
    create_backup,
    documents_path,
    manifest_path,
    migration_gap,
    open_backup,
    prune_backups,
    restore_backup,
)

PROJECT_ROOT = Path(settings.BASE_DIR)
CRM_VARIABLES = ("CRM_", "DJANGO_SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
UTC = dt.UTC


# --- helpers -----------------------------------------------------------------------------


def environ_for(data_dir: Path, **extra: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(CRM_VARIABLES)}
    environ.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        CRM_DATA_DIR=str(data_dir),
        CRM_BACKUP_DIR=str(data_dir.parent / "backups"),
        DJANGO_SECRET_KEY="backup-tests-" + "x" * 50,
    )
    environ.update(extra)
    return environ


def manage(*args: str, environ: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def table_counts(path: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        names = [
            row[0]
            for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        ]
        return {name: db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in names}


def count(path: Path, sql: str) -> int:
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        return db.execute(sql).fetchone()[0]


def integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return "; ".join(row[0] for row in db.execute("PRAGMA integrity_check"))


def rows(path: Path, table: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(f'SELECT * FROM "{table}" ORDER BY id').fetchall()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def execute(path: Path, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        for statement in statements:
            db.execute(statement)
        db.commit()


DELETE_COMMUNICATIONS = (
    "DELETE FROM contacts_communication_contact_attendees",
    "DELETE FROM contacts_communication_team_attendees",
    "DELETE FROM contacts_communication",
)


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _scratch_database_allowed(django_db_blocker):
    """open_backup migrates a scratch SQLite file through its own connection to learn the expected schema.

    pytest-django blocks every connection outside the db fixtures; these tests use no test
    database at all, only files in tmp_path.
    """
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory) -> Path:
    """A migrated database with the demo set and a small bulk set, built once by the real commands."""
    data_dir = tmp_path_factory.mktemp("backup-template") / "data"
    build = (
        "from django.core.management import call_command\n"
        "call_command('migrate', interactive=False, verbosity=0)\n"
        "call_command('seed_demo')\n"
        "call_command('seed_bulk', scale=5, as_of=__import__('datetime').date(2026, 1, 15))\n"
    )
    result = manage("shell", "--no-imports", "-c", build, environ=environ_for(data_dir))
    assert result.returncode == 0, result.stderr
    return data_dir / "crm.sqlite3"


@pytest.fixture
def live_db(tmp_path, seeded_template) -> Path:
    """This test's own copy of the seeded database, in WAL mode like the running app's."""
    target = tmp_path / "data" / "crm.sqlite3"
    target.parent.mkdir()
    with (
        contextlib.closing(sqlite3.connect(seeded_template)) as source,
        contextlib.closing(sqlite3.connect(target)) as copy,
    ):
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=WAL")
    return target


@pytest.fixture
def backups(tmp_path) -> Path:
    return tmp_path / "backups"


@pytest.fixture
def good_backup(live_db, backups) -> Path:
    return create_backup(backups, database=Database.sqlite(live_db), keep_days=0).path


# --- backing up and restoring ------------------------------------------------------------


def test_backup_of_a_database_with_data_verifies_and_restores_into_a_fresh_data_dir(live_db, backups, tmp_path):
    source_counts = table_counts(live_db)
    assert source_counts["contacts_contact"] > 12 and source_counts["contacts_communication"] > 8

    result = create_backup(backups, database=Database.sqlite(live_db), keep_days=30)

    assert BACKUP_NAME.match(result.path.name) and result.path.name.startswith("crm-")
    assert result.path.name.endswith(".sqlite3.gz") and result.path.parent == backups
    assert result.path.stat().st_mode & 0o777 == 0o600  # every LP's data: the service user's alone
    manifest = json.loads(manifest_path(result.path).read_text())
    assert manifest["sha256"] == sha256(result.path)
    assert manifest["size"] == result.path.stat().st_size
    assert manifest["tables"] == source_counts
    assert ["crm", "0001_initial"] in manifest["migrations"]
    assert manifest["app_version"] == settings.VERSION and manifest["engine"] == "sqlite"
    # The copy inside is a self-contained database (no WAL needed beside it).
    with gzip.open(result.path) as packed:
        assert packed.read(16) == b"SQLite format 3\x00"
    # No temporary files left behind.
    assert sorted(p.name for p in backups.iterdir()) == sorted(
        [".lock", result.path.name, manifest_path(result.path).name, documents_path(result.path).name]
    )

    fresh = tmp_path / "fresh-data" / "crm.sqlite3"
    with open_backup(result.path) as checked:
        assert checked.warnings == []
        restored = restore_backup(checked, database=Database.sqlite(fresh), directory=backups)

    assert restored.pre_restore is None  # a fresh data dir has nothing to keep
    assert integrity(fresh) == "ok"
    assert table_counts(fresh) == source_counts
    assert rows(fresh, "contacts_contact") == rows(live_db, "contacts_contact")
    assert rows(fresh, "lps_commitment") == rows(live_db, "lps_commitment")
    assert restored.counts["contacts_contact"] == source_counts["contacts_contact"]
    assert f"{source_counts['contacts_organization']:,} organizations" in restored.summary()
    with contextlib.closing(sqlite3.connect(fresh)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_backup_and_restore_commands_round_trip_and_keep_a_pre_restore_copy(live_db, backups):
    environ = environ_for(live_db.parent)
    communications = count(live_db, "SELECT COUNT(*) FROM contacts_communication")

    backed_up = manage("backup", environ=environ)

    assert backed_up.returncode == 0, backed_up.stderr
    summary = re.fullmatch(
        r"Backup (\S+) \(\d+\.\d (?:KB|MB)\): (\d+) tables, ([\d,]+) rows, verified\.\n", backed_up.stdout
    )
    assert summary, backed_up.stdout
    backup_file = Path(summary[1])
    assert backup_file.parent == backups and backup_file.is_file()
    assert int(summary[2]) == len(table_counts(live_db))
    assert int(summary[3].replace(",", "")) == sum(table_counts(live_db).values())

    execute(live_db, *DELETE_COMMUNICATIONS)
    restored = manage("restore", str(backup_file), "--yes", environ=environ)

    assert restored.returncode == 0, restored.stderr
    assert count(live_db, "SELECT COUNT(*) FROM contacts_communication") == communications
    stamp = dt.datetime.strptime(BACKUP_NAME.match(backup_file.name)["stamp"], "%Y%m%d-%H%M%S")
    assert f"Restored {backup_file.name} (taken {stamp:%Y-%m-%d %H:%M:%S} UTC)" in restored.stdout
    assert f"{communications:,} communications" in restored.stdout
    pre_restore = sorted(backups.glob("pre-restore-*.sqlite3.gz"))
    assert len(pre_restore) == 1 and str(pre_restore[0]) in restored.stdout
    with open_backup(pre_restore[0]) as kept:
        assert kept.tables["contacts_communication"] == 0  # the database as it was just before


def test_backup_taken_while_records_are_being_written_restores_to_a_database_that_passes_its_integrity_check(
    live_db, backups, tmp_path
):
    stop = tmp_path / "stop"
    writer_code = (
        "import os, pathlib\n"
        "from django.db import transaction\n"
        "from contacts.models import Organization\n"
        "stop = pathlib.Path(os.environ['STOP_FILE'])\n"
        "n = 0\n"
        "while not stop.exists():\n"
        "    with transaction.atomic():\n"
        "        Organization.objects.create(name=f'Concurrent Capital {n}')\n"
        "    n += 1\n"
        "    if n == 25:\n"
        "        print('writing', flush=True)\n"
        "print(n, flush=True)\n"
    )
    writer = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", writer_code],
        cwd=PROJECT_ROOT,
        env=environ_for(live_db.parent, STOP_FILE=str(stop)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    written_sql = "SELECT COUNT(*) FROM contacts_organization WHERE name LIKE 'Concurrent Capital %'"
    try:
        for line in writer.stdout:  # after Django's own start-up lines
            if line.strip() == "writing":
                break
        else:
            pytest.fail("the writer stopped before it started writing")
        before = count(live_db, written_sql)
        result = create_backup(backups, database=Database.sqlite(live_db))
        after = count(live_db, written_sql)
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert int(out.strip()) >= after > before  # the writer really was committing while the backup ran

    fresh = tmp_path / "fresh-data" / "crm.sqlite3"
    with open_backup(result.path) as checked:
        restore_backup(checked, database=Database.sqlite(fresh), directory=backups)

    assert integrity(fresh) == "ok"
    assert table_counts(fresh) == result.manifest.tables
    in_backup = count(fresh, written_sql)
    assert before <= in_backup <= after
    # Only whole transactions: each organization in the snapshot has its creation history row.
    history = count(
        fresh,
        "SELECT COUNT(*) FROM contacts_historicalorganization "
        "WHERE history_type = '+' AND name LIKE 'Concurrent Capital %'",
    )
    assert history == in_backup


def test_restore_switches_a_running_apps_connections_over_in_one_transaction(live_db, backups):
    backup = create_backup(backups, database=Database.sqlite(live_db), keep_days=0).path
    linked = count(live_db, "SELECT COUNT(*) FROM contacts_contact WHERE organization_id IS NOT NULL")
    execute(
        live_db,
        "UPDATE contacts_contact SET organization_id = NULL",
        "UPDATE contacts_organization SET city = 'Changed'",
    )

    with contextlib.closing(sqlite3.connect(live_db, isolation_level=None)) as reader:
        reader.execute("BEGIN")
        assert reader.execute("SELECT COUNT(*) FROM contacts_organization WHERE city = 'Changed'").fetchone()[0] > 0
        with open_backup(backup) as checked:
            restore_backup(checked, database=Database.sqlite(live_db), directory=backups)
        # A reader inside its transaction keeps the database it started with…
        assert reader.execute("SELECT COUNT(*) FROM contacts_organization WHERE city = 'Changed'").fetchone()[0] > 0
        reader.execute("COMMIT")
        # …and its next transaction sees the restored one, whole.
        assert reader.execute("SELECT COUNT(*) FROM contacts_organization WHERE city = 'Changed'").fetchone()[0] == 0
        restored_links = "SELECT COUNT(*) FROM contacts_contact WHERE organization_id IS NOT NULL"
        assert reader.execute(restored_links).fetchone()[0] == linked > 0
    assert integrity(live_db) == "ok"


def test_a_restored_database_is_private_whatever_the_umask(live_db, backups, good_backup, tmp_path):
    fresh = tmp_path / "fresh-data" / "crm.sqlite3"
    live_db.chmod(0o644)  # a live database from before files were kept private
    old_umask = os.umask(0o022)
    try:
        for target in (fresh, live_db):
            with open_backup(good_backup) as checked:
                restore_backup(checked, database=Database.sqlite(target), directory=backups)
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE(fresh.parent.stat().st_mode) == 0o700
    for target in (fresh, live_db):
        assert stat.S_IMODE(target.stat().st_mode) == 0o600, target
        with contextlib.closing(sqlite3.connect(target)) as db:  # WAL: -wal and -shm exist while it is open
            db.execute("SELECT COUNT(*) FROM crm_user").fetchone()
            for companion in ("-wal", "-shm"):
                assert stat.S_IMODE(Path(f"{target}{companion}").stat().st_mode) == 0o600, companion


def test_backup_refuses_clearly_when_there_is_no_database(tmp_path, backups):
    missing = tmp_path / "data" / "crm.sqlite3"

    with pytest.raises(BackupError, match=r"There is no database at .*crm\.sqlite3 to back up"):
        create_backup(backups, database=Database.sqlite(missing))

    assert not missing.exists()  # never creates an empty database where the real one was expected
    assert [p.name for p in backups.iterdir()] == [".lock"]


def test_backups_taken_in_the_same_second_get_distinct_names(live_db, backups):
    now = dt.datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    first = create_backup(backups, database=Database.sqlite(live_db), keep_days=0, now=now)
    second = create_backup(backups, database=Database.sqlite(live_db), keep_days=0, now=now)

    assert first.path.name == "crm-20260301-020000.sqlite3.gz"
    assert second.path.name == "crm-20260301-020000-1.sqlite3.gz"
    assert manifest_path(second.path).name == "crm-20260301-020000-1.json"
    assert json.loads(manifest_path(first.path).read_text())["file"] == first.path.name


# --- retention ---------------------------------------------------------------------------


def test_retention_deletes_only_old_daily_backups_that_match_the_pattern(tmp_path):
    now = dt.datetime(2026, 3, 31, 2, 0, tzinfo=UTC)  # 30 days back: 2026-03-01 02:00:00
    files = {
        "crm-20260215-020000.sqlite3.gz": True,
        "crm-20260215-020000.json": True,  # its manifest goes with it
        "crm-20260301-015959.sqlite3.gz": True,
        "crm-20260228-020000-1.pgdump": True,
        "crm-20260301-020000.sqlite3.gz": False,  # exactly 30 days: kept
        "crm-20260330-020000.sqlite3.gz": False,
        "crm-20260330-020000.json": False,
        "pre-restore-20250101-000000.sqlite3.gz": False,  # safety copies are never pruned
        "crm-20200101.sqlite3.gz": False,
        "crm-20200101-000000.sqlite3.gz.bak": False,
        "crm-20200101-000000.sqlite3": False,
        "mycrm-20200101-000000.sqlite3.gz": False,
        "CRM-20200101-000000.sqlite3.gz": False,
        "notes.txt": False,
        "crm-20200101-000000.json": False,  # a manifest alone is not a backup
    }
    for name in files:
        (tmp_path / name).write_text(name)
    (tmp_path / "crm-20200102-000000.sqlite3.gz").mkdir()  # not a file
    ancient = (now - dt.timedelta(days=3650)).timestamp()
    for path in tmp_path.iterdir():
        os.utime(path, (ancient, ancient))
    fresh = now.timestamp()
    os.utime(tmp_path / "crm-20260215-020000.sqlite3.gz", (fresh, fresh))  # age is the name's, not mtime's

    removed = prune_backups(tmp_path, 30, now=now)

    assert sorted(p.name for p in removed) == [
        "crm-20260215-020000.sqlite3.gz",
        "crm-20260228-020000-1.pgdump",
        "crm-20260301-015959.sqlite3.gz",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [name for name, gone in files.items() if not gone] + ["crm-20200102-000000.sqlite3.gz"]
    )


def test_keep_days_zero_keeps_every_backup(tmp_path):
    (tmp_path / "crm-20000101-000000.sqlite3.gz").write_text("old")

    assert prune_backups(tmp_path, 0, now=dt.datetime(2026, 1, 1, tzinfo=UTC)) == []
    assert (tmp_path / "crm-20000101-000000.sqlite3.gz").exists()


def test_backup_applies_retention_after_it_verified_and_says_so(live_db, backups):
    backups.mkdir()
    (backups / "crm-20260101-020000.sqlite3.gz").write_text("an old daily")
    (backups / "crm-20260101-020000.json").write_text("{}")
    (backups / "crm-20260225-020000.sqlite3.gz").write_text("a recent daily")

    result = create_backup(
        backups, database=Database.sqlite(live_db), keep_days=7, now=dt.datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    )

    assert [p.name for p in result.pruned] == ["crm-20260101-020000.sqlite3.gz"]
    assert result.summary().endswith("verified. Removed 1 backup(s) older than 7 days.")
    assert sorted(p.name for p in backups.glob("crm-*")) == [
        "crm-20260225-020000.sqlite3.gz",
        "crm-20260301-020000.documents.tar",
        "crm-20260301-020000.json",
        "crm-20260301-020000.sqlite3.gz",
    ]


# --- refusing files that cannot be trusted -----------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0x5A for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))


def _without_manifest(damage):
    def apply(path: Path) -> None:
        manifest_path(path).unlink()
        damage(path)

    return apply


def _text_file(path: Path) -> None:
    manifest_path(path).unlink()
    path.write_text("name,email\nAda,ada@example.com\n")


def _gzipped_text(path: Path) -> None:
    manifest_path(path).unlink()
    path.write_bytes(gzip.compress(b"<script>alert(1)</script>" * 100))


def _gzipped_database(*statements: str):
    def apply(path: Path) -> None:
        manifest_path(path).unlink()
        other = path.with_name("other.sqlite3")
        execute(other, *statements)
        path.write_bytes(gzip.compress(other.read_bytes()))

    return apply


def _corrupt_pages(path: Path) -> None:
    manifest_path(path).unlink()
    raw = bytearray(gzip.decompress(path.read_bytes()))
    page = 4096
    for start in range(page * 3, len(raw) - page, page * 7):  # garble a stripe of b-tree pages
        raw[start + 8 : start + 200] = os.urandom(192)
    path.write_bytes(gzip.compress(bytes(raw)))


def _edit_manifest_counts(path: Path) -> None:
    manifest = json.loads(manifest_path(path).read_text())
    manifest["tables"]["contacts_contact"] += 1
    manifest_path(path).write_text(json.dumps(manifest))


def _foreign_manifest(path: Path) -> None:
    manifest_path(path).write_text(json.dumps({"app": "someone-else", "format": 1}))


def _garbled_manifest(path: Path) -> None:
    manifest = json.loads(manifest_path(path).read_text())
    manifest["created_at"] = "<script>alert(1)</script>"
    manifest_path(path).write_text(json.dumps(manifest))


# Each damage, and what refuses it. Files without a manifest are refused for that alone
# (test_a_backup_without_a_manifest_is_refused_unless_forced); these cases are opened with
# force=True to show that every other check still holds when the manifest is waived.
BROKEN = {
    "truncated, with its manifest": (_truncate, r"does not match its manifest"),
    "truncated, manifest lost": (_without_manifest(_truncate), r"is damaged: it does not decompress"),
    "corrupted bytes, manifest lost": (_without_manifest(_flip_bytes), r"is damaged: it does not decompress"),
    "a CSV file": (_text_file, r"is not a Venture CRM backup: it is neither a gzip-compressed SQLite database"),
    "gzipped text": (_gzipped_text, r"is not a Venture CRM backup: it does not hold a SQLite database"),
    "another app's database": (
        _gzipped_database("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"),
        r"is not a Venture CRM backup: it has no django_migrations table",
    ),
    "a Django database of another project": (
        _gzipped_database(
            "CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT, applied TEXT)",
            "INSERT INTO django_migrations (app, name, applied) VALUES ('auth', '0001_initial', '2026-01-01')",
        ),
        r"is not a Venture CRM backup: it has no migrations of the app\(s\) crm, contacts, pipeline, lps",
    ),
    "damaged database pages": (_corrupt_pages, r"integrity check|not a readable SQLite database"),
    "manifest counts that differ": (_edit_manifest_counts, r"does not hold what its manifest lists .*contacts_contact"),
    "another app's manifest": (_foreign_manifest, r"is not a Venture CRM backup manifest"),
    "a garbled manifest": (_garbled_manifest, r"is not a Venture CRM backup manifest"),
}


@pytest.mark.parametrize("damage", BROKEN.values(), ids=BROKEN.keys())
def test_a_backup_that_cannot_be_trusted_is_refused_with_a_clear_message(good_backup, damage, tmp_path):
    damage_file, message = damage
    damage_file(good_backup)
    force = not manifest_path(good_backup).exists()  # waive only what is gone, so the next check speaks
    target = tmp_path / "data" / "crm.sqlite3"
    before = sha256(target)

    with pytest.raises(BackupError, match=message), open_backup(good_backup, force=force) as checked:
        restore_backup(checked, database=Database.sqlite(target), directory=tmp_path / "backups")

    assert sha256(target) == before
    assert list((tmp_path / "backups").glob("pre-restore-*")) == []


def test_restore_of_a_missing_file_says_so(tmp_path):
    with (
        pytest.raises(BackupError, match=r"There is no backup file at .*nope\.sqlite3\.gz"),
        open_backup(tmp_path / "nope.sqlite3.gz"),
    ):
        pass


@pytest.mark.parametrize(
    ("damage", "flags", "message"),
    [
        (_truncate, [], "does not match its manifest"),
        (_text_file, [], "has no manifest"),
        (_text_file, ["--force"], "is not a Venture CRM backup"),
    ],
    ids=["truncated", "no manifest", "not a backup, forced"],
)
def test_restore_command_refuses_a_bad_file_and_leaves_the_database_untouched(
    live_db, backups, good_backup, damage, flags, message
):
    damage(good_backup)
    before = sha256(live_db)

    result = manage("restore", str(good_backup), "--yes", *flags, environ=environ_for(live_db.parent))

    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert sha256(live_db) == before
    assert list(backups.glob("pre-restore-*")) == []


def test_restore_without_yes_and_without_a_terminal_refuses(live_db, backups, good_backup):
    execute(live_db, *DELETE_COMMUNICATIONS)
    before = sha256(live_db)

    result = manage("restore", str(good_backup), environ=environ_for(live_db.parent))

    assert result.returncode == 1
    assert "Refusing to restore without confirmation: there is no terminal to ask on" in result.stderr
    assert "--yes" in result.stderr
    assert sha256(live_db) == before
    assert list(backups.glob("pre-restore-*")) == []


def _run_on_a_terminal(args: list[str], environ: dict[str, str], answer: str) -> str:
    """Run manage.py with a pseudo-terminal as stdin/stdout, answering the confirmation question."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=environ, stdin=child, stdout=child, stderr=child
    )
    os.close(child)
    output = b""
    answered = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 1)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            if not answered and b"Type 'yes'" in output:
                os.write(main, answer.encode() + b"\n")
                answered = True
            if process.poll() is not None and not ready:
                break
        process.wait(timeout=30)
    finally:
        os.close(main)
        if process.poll() is None:
            process.kill()
    assert answered, output.decode(errors="replace")
    return output.decode(errors="replace")


def test_restore_on_a_terminal_asks_and_anything_but_yes_cancels(live_db, backups, good_backup):
    execute(live_db, *DELETE_COMMUNICATIONS)
    before = sha256(live_db)

    output = _run_on_a_terminal(["restore", str(good_backup)], environ_for(live_db.parent), "y")

    assert "It will replace the SQLite database" in output
    assert "Restore cancelled. Nothing was changed." in output
    assert sha256(live_db) == before
    assert list(backups.glob("pre-restore-*")) == []


def test_restore_on_a_terminal_restores_after_yes(live_db, backups, good_backup):
    communications = count(live_db, "SELECT COUNT(*) FROM contacts_communication")
    execute(live_db, *DELETE_COMMUNICATIONS)

    output = _run_on_a_terminal(["restore", str(good_backup)], environ_for(live_db.parent), "yes")

    assert f"Restored {good_backup.name}" in output
    assert count(live_db, "SELECT COUNT(*) FROM contacts_communication") == communications
    assert len(list(backups.glob("pre-restore-*.sqlite3.gz"))) == 1


def test_a_backup_made_by_a_newer_version_is_refused(live_db, backups, tmp_path):
    execute(
        live_db,
        "INSERT INTO django_migrations (app, name, applied) VALUES ('crm', '9999_from_the_future', '2030-01-01')",
    )
    backup = create_backup(backups, database=Database.sqlite(live_db), keep_days=0).path
    target = tmp_path / "other" / "crm.sqlite3"

    newer = r"newer version of Venture CRM .*crm\.9999_from_the_future"
    with pytest.raises(BackupError, match=newer), open_backup(backup) as checked:
        restore_backup(checked, database=Database.sqlite(target), directory=backups)

    assert not target.exists()


def test_migration_gap_names_what_the_backup_lacks_and_what_the_code_lacks():
    unknown, pending = migration_gap([("crm", "0001_initial"), ("crm", "9999_future"), ("not_installed", "0001")])

    assert unknown == [("crm", "9999_future")]
    assert ("contacts", "0001_initial") in pending
    assert ("crm", "0001_initial") not in pending


# --- the manifest is required; planted schema objects are refused ------------------------


def _lose_manifest(path: Path) -> None:
    manifest_path(path).unlink()


def _unreadable_manifest(path: Path) -> None:
    manifest_path(path).write_text("{not json")


def _manifest_of_another_backup(path: Path) -> None:
    manifest = json.loads(manifest_path(path).read_text())
    manifest["sha256"] = "0" * 64
    manifest_path(path).write_text(json.dumps(manifest))


MANIFEST_PROBLEMS = {
    "missing": (_lose_manifest, r"has no manifest \(crm-\S+\.json is not beside it\)"),
    "unreadable": (_unreadable_manifest, r"The manifest crm-\S+\.json is not a Venture CRM backup manifest"),
    "checksum mismatch": (_manifest_of_another_backup, r"does not match its manifest .*a different SHA-256"),
}


@pytest.mark.parametrize("problem", MANIFEST_PROBLEMS.values(), ids=MANIFEST_PROBLEMS.keys())
def test_a_backup_without_a_valid_manifest_is_refused_unless_forced(good_backup, live_db, problem, tmp_path):
    damage, message = problem
    damage(good_backup)
    target = tmp_path / "fresh" / "crm.sqlite3"

    with pytest.raises(BackupError, match=message) as refused, open_backup(good_backup):
        pass
    assert "--force" in str(refused.value) and "Nothing was changed" in str(refused.value)

    with open_backup(good_backup, force=True) as checked:
        assert len(checked.warnings) == 1 and re.search(message, checked.warnings[0])
        assert "Going ahead without it (--force)" in checked.warnings[0]
        restore_backup(checked, database=Database.sqlite(target), directory=tmp_path / "backups")
    assert table_counts(target) == table_counts(live_db)


def _rewrite_backup(path: Path, *statements: str, manifest: bool) -> None:
    """Change the database inside a backup; with ``manifest``, write one that matches it, as an attacker could."""
    inner = path.with_name("inner.sqlite3")
    inner.write_bytes(gzip.decompress(path.read_bytes()))
    execute(inner, *statements)
    path.write_bytes(gzip.compress(inner.read_bytes()))
    if manifest:
        described = json.loads(manifest_path(path).read_text())
        described.update(sha256=sha256(path), size=path.stat().st_size, tables=table_counts(inner))
        manifest_path(path).write_text(json.dumps(described))
    else:
        manifest_path(path).unlink()
    inner.unlink()


PLANT_LOOT = (
    "CREATE TABLE loot (username TEXT, password TEXT, taken TEXT DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TRIGGER steal_passwords AFTER UPDATE OF password ON crm_user "
    "BEGIN INSERT INTO loot (username, password) VALUES (NEW.username, NEW.password); END",
)


def test_the_planted_trigger_copies_a_changed_password_into_its_own_table(tmp_path):
    # The refusal tests below are only worth something if the planted trigger really steals.
    db = tmp_path / "planted.sqlite3"
    execute(db, "CREATE TABLE crm_user (id INTEGER PRIMARY KEY, username TEXT, password TEXT)", *PLANT_LOOT)
    execute(db, "INSERT INTO crm_user (username, password) VALUES ('admin', 'old')")
    execute(db, "UPDATE crm_user SET password = 'pbkdf2_sha256$new' WHERE username = 'admin'")

    with contextlib.closing(sqlite3.connect(db)) as planted:
        assert planted.execute("SELECT username, password FROM loot").fetchall() == [("admin", "pbkdf2_sha256$new")]


@pytest.mark.parametrize("with_manifest", [True, False], ids=["with a matching manifest", "without a manifest"])
def test_restore_refuses_a_backup_with_a_planted_trigger_even_with_force(live_db, backups, good_backup, with_manifest):
    _rewrite_backup(good_backup, *PLANT_LOOT, manifest=with_manifest)
    before = sha256(live_db)

    result = manage("restore", str(good_backup), "--yes", "--force", environ=environ_for(live_db.parent))

    assert result.returncode == 1, result.stdout
    assert "it holds what the app's migrations do not create: table loot, trigger steal_passwords" in result.stderr
    assert "is restored, even with --force" in result.stderr
    assert "Traceback" not in result.stderr
    assert sha256(live_db) == before
    assert count(live_db, "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('loot', 'steal_passwords')") == 0
    assert list(backups.glob("pre-restore-*")) == []


PLANTED = {
    "a view": (("CREATE VIEW staff AS SELECT username, password FROM crm_user",), r"view staff"),
    "an index": (("CREATE INDEX contact_emails ON contacts_contact (email)",), r"index contact_emails"),
    "a dropped index": (("DROP INDEX contacts_co_source_871cf5_idx",), r"lacks .*index contacts_co_source_871cf5_idx"),
}


@pytest.mark.parametrize("planted", PLANTED.values(), ids=PLANTED.keys())
def test_a_backup_whose_schema_differs_from_the_migrations_is_refused_naming_the_difference(
    good_backup, planted, tmp_path
):
    statements, message = planted
    _rewrite_backup(good_backup, *statements, manifest=True)
    target = tmp_path / "data" / "crm.sqlite3"
    before = sha256(target)

    with pytest.raises(BackupError, match=message), open_backup(good_backup, force=True) as checked:
        restore_backup(checked, database=Database.sqlite(target), directory=tmp_path / "backups")

    assert sha256(target) == before


def test_a_backup_that_predates_a_migration_passes_the_schema_check_and_is_migrated_after_restoring(
    live_db, backups, tmp_path
):
    # Roll contacts back to before 0003 (which adds an index): the backup's schema is that older state.
    rolled_back = manage("migrate", "contacts", "0002", environ=environ_for(live_db.parent))
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert count(live_db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'contacts_co_source_871cf5_idx'") == 0
    backup = create_backup(backups, database=Database.sqlite(live_db), keep_days=0).path
    target = tmp_path / "fresh" / "crm.sqlite3"

    with open_backup(backup) as checked:
        result = restore_backup(checked, database=Database.sqlite(target), directory=backups)

    assert ("contacts", "0003_contact_source_index") in result.pending_migrations
    assert count(target, "SELECT COUNT(*) FROM contacts_contact") == count(
        live_db, "SELECT COUNT(*) FROM contacts_contact"
    )


# --- PostgreSQL --------------------------------------------------------------------------


def test_postgres_backup_without_pg_dump_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    database = Database({"ENGINE": "django.db.backends.postgresql", "NAME": "crm", "PASSWORD": "s3cret"})

    with pytest.raises(BackupError, match=r"pg_dump is not installed.*postgresql-client"):
        create_backup(tmp_path / "backups", database=database)


def test_postgres_password_travels_in_the_environment():
    database = Database(
        {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "crm",
            "USER": "crm",
            "PASSWORD": "s3cret pass",
            "HOST": "db.internal",
            "PORT": 5433,
            "OPTIONS": {"sslmode": "require"},
        }
    )

    environ = database.pg_environ()

    assert environ["PGPASSWORD"] == "s3cret pass"
    assert (environ["PGHOST"], environ["PGPORT"], environ["PGUSER"], environ["PGDATABASE"]) == (
        "db.internal",
        "5433",
        "crm",
        "crm",
    )
    assert environ["PGSSLMODE"] == "require"


@contextlib.contextmanager
def scratch_postgres(prefix: str):
    """A throwaway database on the test server, dropped afterwards: yields (URL, password)."""
    import psycopg

    config = settings.DATABASES["default"]
    password = config.get("PASSWORD") or "unused-by-trust-auth"
    scratch = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(
        host=config["HOST"],
        port=config["PORT"],
        user=config["USER"],
        password=config.get("PASSWORD") or None,
        dbname=config["NAME"],
        autocommit=True,
    )
    try:
        admin.execute(f'CREATE DATABASE "{scratch}"')
        yield f"postgres://{config['USER']}:{password}@{config['HOST']}:{config['PORT']}/{scratch}", password
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.close()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (make test-postgres)")
def test_postgres_backup_and_restore_round_trip_without_the_password_on_the_command_line(tmp_path):
    # A shim that records how pg_dump/pg_restore are called, then runs the real one.
    shim = tmp_path / "bin"
    shim.mkdir()
    log = tmp_path / "calls.log"
    for tool in ("pg_dump", "pg_restore"):
        real = shutil.which(tool)
        script = shim / tool
        script.write_text(
            f'#!/bin/sh\necho "{tool} $* PGPASSWORD=${{PGPASSWORD:+set}}" >> "{log}"\nexec "{real}" "$@"\n'
        )
        script.chmod(0o755)
    with scratch_postgres("crm_backup") as (url, password):
        environ = environ_for(tmp_path / "data", DATABASE_URL=url, PATH=f"{shim}:{os.environ['PATH']}")
        for args in (("migrate", "--noinput"), ("seed_demo",)):
            assert manage(*args, environ=environ).returncode == 0
        backed_up = manage("backup", environ=environ)
        assert backed_up.returncode == 0, backed_up.stderr
        backup_file = Path(re.match(r"Backup (\S+\.pgdump) ", backed_up.stdout)[1])
        manifest = json.loads(manifest_path(backup_file).read_text())
        assert manifest["engine"] == "postgresql" and manifest["tables"]["contacts_contact"] == 12

        delete = "from contacts.models import Communication; Communication.objects.all().delete()"
        assert manage("shell", "-c", delete, environ=environ).returncode == 0
        restored = manage("restore", str(backup_file), "--yes", environ=environ)

        assert restored.returncode == 0, restored.stderr
        assert "9 communications" in restored.stdout
        counted = manage(
            "shell",
            "-c",
            "from contacts.models import Communication; print(Communication.objects.count())",
            environ=environ,
        )
        assert counted.stdout.strip().splitlines()[-1] == "9"
        assert len(list((tmp_path / "backups").glob("pre-restore-*.pgdump"))) == 1
        calls = log.read_text()
        assert "pg_dump --format=custom --snapshot=" in calls
        assert "pg_restore --clean --if-exists" in calls
        assert password not in calls
        connecting = [line for line in calls.splitlines() if "--snapshot=" in line or "--clean" in line]
        assert len(connecting) == 3  # backup, pre-restore copy, restore
        assert all(line.endswith("PGPASSWORD=set") for line in connecting)


# A dump's table of contents as `pg_restore --list` prints it for a migrated database (abridged).
TOC_TABLES = (
    "crm_user",
    "contacts_organization",
    "contacts_contact",
    "contacts_communication",
    "lps_lpprofile",
    "lps_commitment",
    "pipeline_opportunity",
    "django_migrations",
    "django_session",
)
CLEAN_TOC = [
    *(f"{200 + n}; 1259 {16000 + n} TABLE public {table} crm" for n, table in enumerate(TOC_TABLES)),
    *(f"{3600 + n}; 0 {16000 + n} TABLE DATA public {table} crm" for n, table in enumerate(TOC_TABLES)),
    "224; 1259 16447 SEQUENCE public crm_user_id_seq crm",
    "3400; 0 0 SEQUENCE OWNED BY public crm_user_id_seq crm",
    "3300; 2604 16451 DEFAULT public crm_user id crm",
    "3650; 0 0 SEQUENCE SET public crm_user_id_seq crm",
    "3460; 2606 16455 CONSTRAINT public crm_user crm_user_pkey crm",
    "3461; 1259 16800 INDEX public crm_user_username_like crm",
    "3500; 2606 16900 FK CONSTRAINT public contacts_contact contacts_contact_organization_id_fk crm",
]


def _toc_lines(entries: list[str]) -> str:
    return "\n".join([";", "; Selected TOC Entries:", ";", *entries]) + "\n"


def test_a_postgres_dump_with_a_function_trigger_or_unknown_table_is_refused_naming_each(tmp_path, monkeypatch):
    # pg_restore is replaced by a script printing a table of contents, so this runs without PostgreSQL.
    shim = tmp_path / "bin"
    shim.mkdir()
    toc = tmp_path / "toc.txt"
    migrations = "".join(f"{app}\t{name}\n" for app, name in migration_gap([])[1])
    (tmp_path / "migrations.txt").write_text(
        f"COPY public.django_migrations (app, name) FROM stdin;\n{migrations}\\.\n"
    )
    (shim / "pg_restore").write_text(
        f'#!/bin/sh\ncase "$1" in --list) cat "{toc}" ;; *) cat "{tmp_path / "migrations.txt"}" ;; esac\n'
    )
    (shim / "pg_restore").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    dump = tmp_path / "crm-20260301-020000.pgdump"
    dump.write_bytes(b"PGDMP" + b"\0" * 100)
    planted = [
        "230; 1255 16999 FUNCTION public steal() crm",
        "231; 1259 17000 TABLE public loot crm",
        "3700; 2620 17001 TRIGGER public crm_user steal_passwords crm",
    ]
    toc.write_text(_toc_lines(CLEAN_TOC))

    with open_backup(dump, force=True) as checked:  # the clean table of contents passes
        assert checked.engine == "postgresql"

    toc.write_text(_toc_lines(CLEAN_TOC + planted))
    refused = r"holds what the app's migrations do not create: FUNCTION public steal\(\), table loot, TRIGGER public"
    with pytest.raises(BackupError, match=refused), open_backup(dump, force=True):
        pass


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (make test-postgres)")
def test_postgres_restore_refuses_a_dump_with_a_planted_trigger_even_with_force(tmp_path):
    import psycopg

    with scratch_postgres("crm_planted") as (url, _password):
        environ = environ_for(tmp_path / "data", DATABASE_URL=url)
        assert manage("migrate", "--noinput", environ=environ).returncode == 0
        with psycopg.connect(url, autocommit=True) as planted:
            planted.execute("CREATE TABLE loot (username text, password text)")
            planted.execute(
                "CREATE FUNCTION steal() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN INSERT INTO loot VALUES (NEW.username, NEW.password); RETURN NEW; END $$"
            )
            planted.execute(
                "CREATE TRIGGER steal_passwords AFTER UPDATE OF password ON crm_user "
                "FOR EACH ROW EXECUTE FUNCTION steal()"
            )
        backed_up = manage("backup", environ=environ)  # its manifest matches: only the schema check can refuse it
        assert backed_up.returncode == 0, backed_up.stderr
        backup_file = Path(re.match(r"Backup (\S+\.pgdump) ", backed_up.stdout)[1])

        restored = manage("restore", str(backup_file), "--yes", "--force", environ=environ)

        assert restored.returncode == 1, restored.stdout
        for name in ("FUNCTION public steal()", "table loot", "TRIGGER public crm_user steal_passwords"):
            assert name in restored.stderr
        assert "Nothing was changed" in restored.stderr
        assert list((tmp_path / "backups").glob("pre-restore-*")) == []


# --- the search index in backups (crm/lib/fulltext.py) -----------------------------------


def test_a_restored_sqlite_database_finds_its_rows_through_triggers_recreated_from_this_code(
    live_db, backups, tmp_path
):
    contact_id, last_name = sqlite3.connect(live_db).execute("SELECT id, last_name FROM contacts_contact").fetchone()
    # Same name, another body: the schema check compares names, so the restore re-creates ours.
    execute(
        live_db,
        "DROP TRIGGER contacts_contact_search__contacts_contact_insert",
        "CREATE TRIGGER contacts_contact_search__contacts_contact_insert AFTER INSERT ON contacts_contact "
        "BEGIN SELECT 1; END",
    )
    backup = create_backup(backups, database=Database.sqlite(live_db), keep_days=0).path
    fresh = tmp_path / "fresh-data" / "crm.sqlite3"
    with open_backup(backup) as checked:
        restore_backup(checked, database=Database.sqlite(fresh), directory=backups)

    with contextlib.closing(sqlite3.connect(fresh)) as db:
        trigger = db.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'contacts_contact_search__contacts_contact_insert'"
        ).fetchone()[0]
        assert "INSERT INTO contacts_contact_search" in trigger
        found = db.execute(
            "SELECT rowid FROM contacts_contact_search WHERE contacts_contact_search MATCH ?", [f'"{last_name}"*']
        ).fetchall()
        assert (contact_id,) in found
        columns = [row[1] for row in db.execute("PRAGMA table_info(contacts_contact)") if row[1] != "id"]
        copied = ", ".join({"last_name": "'Zyzzyva'", "email": "''"}.get(column, column) for column in columns)
        db.execute(f"INSERT INTO contacts_contact ({', '.join(columns)}) SELECT {copied} FROM contacts_contact LIMIT 1")
        assert (
            db.execute(
                "SELECT count(*) FROM contacts_contact_search WHERE contacts_contact_search MATCH 'zyzzyva'"
            ).fetchone()[0]
            == 1
        )


def test_a_postgres_dump_with_the_search_index_passes_and_a_lookalike_function_is_refused(tmp_path, monkeypatch):
    from crm.search import postgres_dump_entries

    shim = tmp_path / "bin"
    shim.mkdir()
    toc = tmp_path / "toc.txt"
    applied = migration_gap([])[1]
    migrations = "".join(f"{app}\t{name}\n" for app, name in applied)
    (tmp_path / "migrations.txt").write_text(
        f"COPY public.django_migrations (app, name) FROM stdin;\n{migrations}\\.\n"
    )
    (shim / "pg_restore").write_text(
        f'#!/bin/sh\ncase "$1" in --list) cat "{toc}" ;; *) cat "{tmp_path / "migrations.txt"}" ;; esac\n'
    )
    (shim / "pg_restore").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    dump = tmp_path / "crm-20260301-020000.pgdump"
    dump.write_bytes(b"PGDMP" + b"\0" * 100)
    search = [
        f"{400 + n}; 1255 {17000 + n} {entry} crm" for n, entry in enumerate(sorted(postgres_dump_entries(applied)))
    ]
    # The extension and its comment have no owner: pg_restore --list ends them with a space.
    search = [line.removesuffix(" crm") + " " if " - " in line else line for line in search]
    assert len(search) == 3 + 4 + 2 * 7  # extension, its comment, the fold function; tables; functions, triggers
    toc.write_text(_toc_lines(CLEAN_TOC + search))

    with open_backup(dump, force=True) as checked:
        assert checked.engine == "postgresql"

    toc.write_text(_toc_lines([*CLEAN_TOC, *search, "500; 1255 17100 FUNCTION public crm_search_fold2(text) crm"]))
    with pytest.raises(BackupError, match=r"FUNCTION public crm_search_fold2\(text\)"), open_backup(dump, force=True):
        pass


# --- the documents folder ------------------------------------------------------------------


def _documents(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_backup_carries_the_documents_folder_and_a_restore_brings_it_back(live_db, backups, tmp_path, settings):
    root = Path(settings.DOCUMENTS_DIR)
    (root / "2026" / "03").mkdir(parents=True)
    (root / "2026" / "03" / "a1.pdf").write_bytes(b"%PDF-1.4 subscription")
    (root / "2026" / "03" / "b2.txt").write_bytes(b"wire instructions")
    before = _documents(root)

    result = create_backup(backups, database=Database.sqlite(live_db), keep_days=0)

    manifest = json.loads(manifest_path(result.path).read_text())
    tar_path = documents_path(result.path)
    assert manifest["documents"]["file"] == tar_path.name and manifest["documents"]["sha256"] == sha256(tar_path)
    assert manifest["documents"]["files"] == {name: hashlib.sha256(data).hexdigest() for name, data in before.items()}
    assert "2 document file(s)" in result.summary()

    # Files change after the backup: one removed, one added, one altered.
    (root / "2026" / "03" / "a1.pdf").unlink()
    (root / "2026" / "03" / "b2.txt").write_bytes(b"tampered")
    (root / "later.txt").write_bytes(b"uploaded after the backup")
    with open_backup(result.path) as checked:
        restored = restore_backup(checked, database=Database.sqlite(live_db), directory=backups)

    assert _documents(root) == before
    assert all(p.stat().st_mode & 0o077 == 0 for p in root.rglob("*"))
    assert "2 document file(s) put back" in restored.summary()
    # The pre-restore copy kept the folder as it was just before.
    [kept] = backups.glob("pre-restore-*.sqlite3.gz")
    assert set(json.loads(manifest_path(kept).read_text())["documents"]["files"]) == {"2026/03/b2.txt", "later.txt"}
    assert not list(root.parent.glob(".tmp-crm-*"))  # no half-swapped folder left


@pytest.mark.parametrize("damage", ["flip", "missing"])
def test_a_backup_whose_documents_are_damaged_is_refused_before_anything_changes(live_db, backups, settings, damage):
    root = Path(settings.DOCUMENTS_DIR)
    root.mkdir(parents=True)
    (root / "k1.pdf").write_bytes(b"%PDF-1.4 K-1")
    result = create_backup(backups, database=Database.sqlite(live_db), keep_days=0)
    tar_path = documents_path(result.path)
    if damage == "missing":
        tar_path.unlink()
    else:
        _flip_bytes(tar_path)
    (root / "k1.pdf").write_bytes(b"current")

    with pytest.raises(BackupError, match="documents"), open_backup(result.path):
        pass
    assert (root / "k1.pdf").read_bytes() == b"current"


def test_retention_removes_a_backups_documents_with_it(tmp_path):
    now = dt.datetime(2026, 3, 31, 2, 0, tzinfo=UTC)
    for name in ("crm-20260101-020000.sqlite3.gz", "crm-20260101-020000.json", "crm-20260101-020000.documents.tar"):
        (tmp_path / name).write_text(name)
    prune_backups(tmp_path, 30, now=now)
    assert list(tmp_path.iterdir()) == []
