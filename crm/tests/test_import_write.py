"""The import's write path: planned in memory, written in bulk in short transactions, all or nothing.

On a generated base (crm.imports.benchmark): its size is a parameter, so the same import can
be run at N and 3N rows.
"""

from __future__ import annotations

import io
import re
import threading
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Communication, Contact, Organization, Tag
from crm.imports import runner, writer
from crm.imports.benchmark import generate_base
from crm.models import ImportedRecord, ImportRun, ImportStatus
from lps.models import Commitment, Fund, LPProfile
from pipeline.models import Opportunity, Stage

pytestmark = pytest.mark.django_db

MODELS = (Organization, Contact, Tag, LPProfile, Commitment, Fund, Opportunity, Stage, Communication)
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def import_base(folder, mapping, user, *extra: str) -> str:
    out = io.StringIO()
    call_command("import_airtable", str(folder), "--mapping", str(mapping), "--user", user.username, *extra, stdout=out)
    return out.getvalue()


def queries_of_an_import(tmp_path, rows: int, user) -> tuple[int, int]:
    """(reads, writes) of importing a generated base of ``rows`` rows, rolled back afterwards."""
    folder = tmp_path / f"base-{rows}"
    mapping = generate_base(folder, rows)
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        import_base(folder, mapping, user)
        transaction.set_rollback(True)
    writes = sum(1 for q in queries.captured_queries if WRITE.match(q["sql"]))
    return len(queries.captured_queries) - writes, writes


def test_an_import_reads_as_many_times_for_three_times_the_rows(tmp_path, manager_user, monkeypatch):
    # One write transaction for both sizes: each further one adds its own few reads (pinned below).
    monkeypatch.setattr(writer, "CHUNK", 100_000)
    monkeypatch.setattr(writer, "LOCK_BUDGET", 3600)
    queries_of_an_import(tmp_path, 30, manager_user)  # fills the content type and other per-process caches
    reads, writes = queries_of_an_import(tmp_path, 150, manager_user)
    more_reads, more_writes = queries_of_an_import(tmp_path, 450, manager_user)
    assert more_reads == reads
    # Writes are bulk statements: SQLite takes at most 999 values per statement, so their number
    # grows with the rows, but by batches, never by one statement (or more) per row.
    assert more_writes < 450 / 5
    assert writes < more_writes


def test_a_dry_run_writes_nothing_at_all(tmp_path, manager_user):
    folder = tmp_path / "base"
    mapping = generate_base(folder, 200)
    before = counts()
    with CaptureQueriesContext(connection) as queries:
        out = import_base(folder, mapping, manager_user, "--dry-run")
    assert "Dry run finished: nothing was written." in out
    assert [q["sql"] for q in queries.captured_queries if WRITE.match(q["sql"])] == []
    assert counts() == before


def test_the_import_writes_history_naming_the_importer_and_the_import(tmp_path, manager_user):
    folder = tmp_path / "base"
    mapping = generate_base(folder, 100)
    before = sum(counts().values())  # the pipeline's stages come with the database
    import_base(folder, mapping, manager_user)
    run = ImportRun.objects.latest("pk")
    contact = Contact.objects.filter(email="person0@people.example").get()
    row = contact.history.get()
    assert (row.history_type, row.history_user, row.history_change_reason) == ("+", manager_user, run.change_reason)
    # The tags are in the record's one history row, as a save with tags would have them.
    assert sorted(t.tag.name for t in row.tags.all()) == sorted(contact.tags.values_list("name", flat=True))
    assert contact.tags.exists()
    records = ImportedRecord.objects.filter(run=run)
    assert records.count() == sum(counts().values()) - before
    assert records.get(object_id=contact.pk, content_type__model="contact").last_history_id == row.history_id


def test_a_large_import_is_written_in_several_short_transactions(tmp_path, manager_user, monkeypatch):
    monkeypatch.setattr(writer, "CHUNK", 60)
    monkeypatch.setattr(writer, "CHUNK_PAUSE", 0)
    folder = tmp_path / "base"
    mapping = generate_base(folder, 200)
    before = sum(counts().values())
    sizes = []
    original = runner.record_changes

    def record(run, marks, user, written, **kwargs):
        sizes.append(sum(len(items) for items in written.values()))
        original(run, marks, user, written, **kwargs)

    monkeypatch.setattr(runner, "record_changes", record)
    import_base(folder, mapping, manager_user)
    run = ImportRun.objects.latest("pk")
    assert run.status == ImportStatus.IMPORTED
    assert len(sizes) > 3
    assert max(sizes) <= 60
    assert run.records.count() == sum(sizes) == sum(counts().values()) - before


def test_on_sqlite_a_write_transaction_ends_when_its_time_is_up(tmp_path, manager_user, monkeypatch):
    monkeypatch.setattr(writer, "LOCK_BUDGET", 0)  # every slice is over the budget: one slice each
    monkeypatch.setattr(writer, "SLICE", 25)
    monkeypatch.setattr(writer, "CHUNK_PAUSE", 0)
    folder = tmp_path / "base"
    mapping = generate_base(folder, 100)
    sizes = []
    original = runner.record_changes
    monkeypatch.setattr(
        runner,
        "record_changes",
        lambda run, marks, user, written, **kwargs: (
            sizes.append(sum(map(len, written.values()))),
            original(run, marks, user, written, **kwargs),
        ),
    )
    import_base(folder, mapping, manager_user)
    if connection.vendor == "sqlite":
        assert max(sizes) <= 25 and len(sizes) > 4
    else:
        assert len(sizes) == 1  # PostgreSQL never locks other writers out: one transaction
    contact = Contact.objects.get(email="person0@people.example")
    assert contact.history.get().tags.count() == contact.tags.count() > 0


def test_a_failure_in_the_second_chunk_takes_the_first_back_and_keeps_nothing(tmp_path, manager_user, monkeypatch):
    monkeypatch.setattr(writer, "CHUNK", 60)
    monkeypatch.setattr(writer, "CHUNK_PAUSE", 0)
    folder = tmp_path / "base"
    mapping = generate_base(folder, 200)
    before = counts()
    original = writer.PlanWriter._step

    def fail_in_the_middle_of_the_second_chunk(self, step):
        original(self, step)
        if self.committed == 1:  # its first step is written, the transaction not yet committed
            raise OSError("the disk is full")

    monkeypatch.setattr(writer.PlanWriter, "_step", fail_in_the_middle_of_the_second_chunk)
    with pytest.raises(CommandError, match="the disk is full"):
        import_base(folder, mapping, manager_user)
    assert counts() == before
    run = ImportRun.objects.latest("pk")
    assert run.status == ImportStatus.FAILED
    assert "Nothing was imported" in run.message
    # The first chunk was in the database; the history says it was taken back.
    written = run.records.count()
    assert written > 0
    assert Organization.history.filter(history_type="+", history_user=manager_user).count() > 0
    deleted = sum(
        model.history.filter(history_type="-", history_change_reason=f"Undo of import #{run.pk}").count()
        for model in MODELS
    )
    assert deleted == written


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has one writer at a time; see test_import_concurrency"
)
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_save_during_the_write_phase_returns_at_once(tmp_path, manager_user, monkeypatch):
    folder = tmp_path / "base"
    mapping = generate_base(folder, 200)
    waits: list[float] = []
    original = writer.PlanWriter._step

    def save_elsewhere() -> None:
        started = time.monotonic()
        try:
            other = Organization(name="Saved while the import writes")
            other._history_user = manager_user
            other.save()
            Contact.objects.filter(pk=colleague.pk).update(title="Partner")
        finally:
            connection.close()
        waits.append(time.monotonic() - started)

    def step_then_let_someone_else_save(self, step):
        original(self, step)
        if not waits and step.objects and step.model is Organization:  # the import's transaction is open
            other = threading.Thread(target=save_elsewhere)
            other.start()
            other.join(timeout=10)
            assert waits, "the other save was still waiting for the import"

    colleague = Contact.objects.create(first_name="Kim", last_name="Colleague")
    monkeypatch.setattr(writer.PlanWriter, "_step", step_then_let_someone_else_save)
    import_base(folder, mapping, manager_user)
    assert ImportRun.objects.latest("pk").status == ImportStatus.IMPORTED
    assert waits and waits[0] < 1.0
    assert Organization.objects.filter(name="Saved while the import writes").exists()


def test_an_import_killed_between_two_write_transactions_is_taken_back_when_found(tmp_path, manager_user, monkeypatch):
    from crm.imports import jobs

    monkeypatch.setattr(writer, "CHUNK", 60)
    monkeypatch.setattr(writer, "CHUNK_PAUSE", 0)
    folder = tmp_path / "base"
    mapping = generate_base(folder, 200)
    before = counts()
    original = writer.PlanWriter._step

    def die_in_the_second_transaction(self, step):
        if self.committed == 1:
            raise KeyboardInterrupt  # as good as kill -9 for the runner: nothing of it runs after this
        original(self, step)

    monkeypatch.setattr(writer.PlanWriter, "_step", die_in_the_second_transaction)
    with pytest.raises(KeyboardInterrupt):
        import_base(folder, mapping, manager_user)
    run = ImportRun.objects.latest("pk")
    assert run.status == ImportStatus.RUNNING and run.records.exists()
    assert counts() != before
    monkeypatch.setattr(jobs, "_is_dead", lambda run, now: True)
    assert jobs.recover_interrupted() == 1
    run.refresh_from_db()
    assert run.status == ImportStatus.FAILED
    assert "nothing was kept" in run.message
    assert counts() == before


def _tables() -> list[tuple[type, type | None]]:
    """Every table an import writes: (model, the model its ``id`` column names, for history tables)."""
    from simple_history.models import HistoricalRecords

    tables: list[tuple[type, type | None]] = [(ImportRun, None), (ImportedRecord, None)]
    for model in writer.write_order():
        tables += [(model, None), (model.history.model, model)]
        for field in model._meta.many_to_many:
            through = field.remote_field.through
            tables.append((through, None))
            if field in HistoricalRecords.m2m_models:
                tables.append((HistoricalRecords.m2m_models[field], through))
    return tables


def written_rows(since) -> dict[str, list[tuple]]:
    """Every row of every table an import writes, with ids as their rank in their table (ids differ
    between two runs on PostgreSQL, whose sequences do not roll back; so is the run's number in the
    change reason) and times the run set as "now"."""
    from django.contrib.contenttypes.models import ContentType

    tables = _tables()
    rank = {
        model: {pk: i for i, pk in enumerate(model._base_manager.order_by("pk").values_list("pk", flat=True))}
        for model, _ in tables
    }
    history_of = {model: history for history, model in tables if model is not None}

    def value(model, field, row, named):
        raw = row[field.attname]
        if field.primary_key:
            return rank[model][raw]
        if field.is_relation and field.related_model in rank:
            return None if raw is None else rank[field.related_model][raw]
        if field.attname == "id" and named is not None:
            return rank[named][raw]
        if model is ImportedRecord and field.attname in ("object_id", "last_history_id", "before_history_id"):
            target = ContentType.objects.get_for_id(row["content_type_id"]).model_class()
            table = target if field.attname == "object_id" else history_of[target]
            return None if raw is None else rank[table][raw]
        if hasattr(raw, "tzinfo") and raw >= since:
            return "now"
        if field.attname == "history_change_reason" and raw:
            return re.sub(r"#\d+", "#<run>", raw)  # the run's pk
        return raw

    return {
        model._meta.label: sorted(
            tuple(value(model, f, row, named) for f in model._meta.concrete_fields)
            for row in model._base_manager.values(*(f.attname for f in model._meta.concrete_fields))
        )
        for model, named in tables
    }


def test_the_fast_write_and_django_simple_history_write_the_same_rows_and_history(tmp_path, manager_user, monkeypatch):
    # Several transactions each, so that the history ids found per transaction are exercised too.
    monkeypatch.setattr(writer, "CHUNK", 70)
    monkeypatch.setattr(writer, "CHUNK_PAUSE", 0)
    folder = tmp_path / "base"
    mapping = generate_base(folder, 150)
    since = timezone.now()

    def both_ways() -> list[dict]:
        results = []
        for fast in (False, True):
            monkeypatch.setattr(writer, "FAST", fast)
            with transaction.atomic():
                import_base(folder, mapping, manager_user)
                results.append(written_rows(since))
                transaction.set_rollback(True)
        return results

    library, fast = both_ways()  # into an empty CRM: every record created
    assert library == fast
    assert len(fast["contacts.HistoricalContact"]) == 45
    assert len(fast["contacts.HistoricalContact_tags"]) == 45

    monkeypatch.setattr(writer, "FAST", True)
    import_base(folder, mapping, manager_user)
    people = folder / "Relationships.csv"
    people.write_text(
        people.read_text().replace("Partner,", "Managing Partner,").replace(",tier 1,", ',"tier 1, vip",'),
        encoding="utf-8",
    )
    library, fast = both_ways()  # every person changed, some given a tag beside the one they have
    assert library == fast
    updates = [row for row in fast["contacts.HistoricalContact"] if "~" in row]
    assert len(updates) == 45 and all("Managing Partner" in row for row in updates)
    assert len(fast["contacts.HistoricalContact_tags"]) == 45 + 45 + len(fast["contacts.Contact_tags"]) - 45
