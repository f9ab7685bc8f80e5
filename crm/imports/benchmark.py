"""How fast an import runs: a generated base of any size, and the import rate on a fresh database.

``generate_base`` writes a whole base (firms, people, commitments, deals, conversations) as
CSV files with a mapping file, named the way another fund might name things (nothing like
the Airtable sample's tables or columns), so the benchmark and the concurrency test do not
measure only what the sample happens to contain. ``report_imports`` is what ``manage.py
benchmark`` prints: each base imported by ``import_airtable`` into a new, empty database,
a few times, with the median rate (history written, as always).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection

FIRST = [
    "Amara",
    "Bastian",
    "Celeste",
    "Dario",
    "Elodie",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonah",
    "Kaia",
    "Lorenzo",
    "Mireille",
    "Nikhil",
    "Odette",
    "Pavel",
    "Quinn",
    "Rosalind",
    "Soren",
    "Tamsin",
    "Ulric",
    "Vesna",
    "Wendell",
    "Ximena",
    "Yusuf",
    "Zelda",
]
LAST = [
    "Abernathy",
    "Brightwater",
    "Castellanos",
    "Drummond",
    "Eskildsen",
    "Fairweather",
    "Galloway",
    "Hawthorne",
    "Isaksen",
    "Jovanovic",
    "Kowalczyk",
    "Lindqvist",
    "Montgomery",
    "Nakashima",
    "Oyelaran",
    "Pemberton",
    "Quarshie",
    "Rasmussen",
    "Sandoval",
    "Thorsen",
    "Underwood",
    "Valentini",
    "Whitcombe",
    "Yamaguchi",
    "Zimmermann",
    "Ashcroft",
    "Beaumont",
    "Cavendish",
    "Delacroix",
    "Everhart",
]
WORDS = [
    "Harbor",
    "Summit",
    "Meridian",
    "Cobalt",
    "Juniper",
    "Granite",
    "Lantern",
    "Orchard",
    "Beacon",
    "Willow",
    "Falcon",
    "Aspen",
]
SEGMENTS = ("Family Office", "Endowment", "Corporate")
KINDS = ("LP", "Prospect", "Adviser")
VEHICLES = ("Growth III", "Seed IV")
STATES = ("Soft", "Hard", "Executed", "Closed")
PHASES = ("Intro", "Diligence", "Docs")
MEDIUMS = ("E-mail", "Phone", "In person")

# Of every 10 rows: firms, people, commitments, deals, conversations.
SHARES = {"firms": 1, "people": 3, "commitments": 1, "deals": 1, "conversations": 4}


def _mapping() -> dict[str, Any]:
    create = {name: {"create": name} for name in VEHICLES}
    return {
        "time_zone": "UTC",
        "tables": [
            {
                "entity": "organizations",
                "files": ["Accounts.csv"],
                "airtable_links": False,
                "columns": {
                    "Account": "name",
                    "Segment": "type",
                    "Homepage": "website",
                    "Main Line": "phone",
                    "Town": "city",
                    "Nation": "country",
                    "Labels": "tags",
                },
                "values": {
                    "type": {"Family Office": "family_office", "Endowment": "endowment", "Corporate": "corporate"}
                },
            },
            {
                "entity": "contacts",
                "files": ["Relationships.csv"],
                "airtable_links": False,
                "columns": {
                    "Given": "first_name",
                    "Surname": "last_name",
                    "Mail": "email",
                    "Employer": "organization",
                    "Position": "title",
                    "Kind": "contact_type",
                    "Labels": "tags",
                    "Memo": "notes",
                },
                "values": {"contact_type": {"LP": "investor", "Prospect": "prospect", "Adviser": "advisor"}},
            },
            {
                "entity": "commitments",
                "files": ["Allocations.csv"],
                "airtable_links": False,
                "columns": {
                    "Investor": "contact",
                    "Investor Mail": "contact_email",
                    "Vehicle": "fund",
                    "Allocation State": "status",
                    "Allocated": "commitment_amount",
                    "Paid In": "funded_amount",
                    "Allocated On": "commitment_date",
                },
                "values": {
                    "fund": create,
                    "status": {"Soft": "soft_circle", "Hard": "hard_circle", "Executed": "signed", "Closed": "closed"},
                },
            },
            {
                "entity": "opportunities",
                "files": ["Mandates.csv"],
                "airtable_links": False,
                "columns": {
                    "Mandate": "name",
                    "Counterparty": "contact",
                    "Counterparty Mail": "contact_email",
                    "Vehicle": "fund",
                    "Phase": "stage",
                    "Ticket Size": "expected_amount",
                    "Target Close": "expected_close_date",
                },
                "values": {"fund": create, "stage": {name: {"create": name} for name in PHASES}},
            },
            {
                "entity": "communications",
                "files": ["Activity Log.csv"],
                "airtable_links": False,
                "columns": {
                    "Topic": "subject",
                    "Medium": "type",
                    "Happened": "communication_date",
                    "Attendee": "contact",
                    "Attendee Mail": "contact_email",
                    "Write-up": "body",
                },
                "values": {"type": {"E-mail": "email", "Phone": "call", "In person": "meeting"}},
            },
        ],
    }


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def generate_base(folder: Path, rows: int = 20_000) -> Path:
    """Write a base of about ``rows`` data rows into ``folder``; returns the mapping file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    unit = max(1, rows // sum(SHARES.values()))
    counts = {name: share * unit for name, share in SHARES.items()}
    firms = [
        f"{WORDS[i % len(WORDS)]} {LAST[(i // len(WORDS)) % len(LAST)]} Partners {i}" for i in range(counts["firms"])
    ]
    _write(
        folder / "Accounts.csv",
        ["Account", "Segment", "Homepage", "Main Line", "Town", "Nation", "Labels"],
        [
            [
                name,
                SEGMENTS[i % 3],
                f"https://firm{i}.example",
                f"+1 555 01{i % 100:02d}",
                "Lisbon",
                "Portugal",
                f"tier {i % 4}, region {i % 5}",
            ]
            for i, name in enumerate(firms)
        ],
    )
    people = [
        (FIRST[i % len(FIRST)], f"{LAST[(i // len(FIRST)) % len(LAST)]}-{i}", f"person{i}@people.example")
        for i in range(counts["people"])
    ]
    _write(
        folder / "Relationships.csv",
        ["Given", "Surname", "Mail", "Employer", "Position", "Kind", "Labels", "Memo"],
        [
            [
                first,
                last,
                email,
                firms[i % len(firms)],
                "Partner",
                KINDS[i % 3],
                f"tier {i % 4}",
                f"Met at the {WORDS[i % len(WORDS)]} dinner.",
            ]
            for i, (first, last, email) in enumerate(people)
        ],
    )
    _write(
        folder / "Allocations.csv",
        ["Investor", "Investor Mail", "Vehicle", "Allocation State", "Allocated", "Paid In", "Allocated On"],
        [
            [
                f"{people[i][0]} {people[i][1]}",
                people[i][2],
                VEHICLES[i % 2],
                STATES[i % 4],
                f"${(i % 40 + 1) * 250_000:,}",
                f"{(i % 40 + 1) * 100_000}",
                f"2024-{i % 12 + 1:02d}-{i % 27 + 1:02d}",
            ]
            for i in range(min(counts["commitments"], len(people)))
        ],
    )
    _write(
        folder / "Mandates.csv",
        ["Mandate", "Counterparty", "Counterparty Mail", "Vehicle", "Phase", "Ticket Size", "Target Close"],
        [
            [
                f"{WORDS[i % len(WORDS)]} mandate {i}",
                f"{people[-1 - i][0]} {people[-1 - i][1]}",
                people[-1 - i][2],
                VEHICLES[i % 2],
                PHASES[i % 3],
                f"{(i % 20 + 1) * 500_000}",
                f"2025-{i % 12 + 1:02d}-15",
            ]
            for i in range(min(counts["deals"], len(people)))
        ],
    )
    _write(
        folder / "Activity Log.csv",
        ["Topic", "Medium", "Happened", "Attendee", "Attendee Mail", "Write-up"],
        [
            [
                f"Catch-up {i}",
                MEDIUMS[i % 3],
                f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d} {i % 10 + 8:02d}:{i % 60:02d}",
                f"{people[i % len(people)][0]} {people[i % len(people)][1]}",
                people[i % len(people)][2],
                "Talked through the fund's progress and next steps.",
            ]
            for i in range(counts["conversations"])
        ],
    )
    mapping = folder / "mapping.json"
    mapping.write_text(json.dumps(_mapping(), indent=2), encoding="utf-8")
    return mapping


def data_rows(folder: Path) -> int:
    total = 0
    for path in folder.glob("*.csv"):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            total += max(0, sum(1 for _ in csv.reader(handle)) - 1)
    return total


@dataclass
class ImportMeasurement:
    label: str
    rows: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.rows / self.median if self.median else 0.0


def _use_database(path: Path) -> None:
    connection.close()
    connection.settings_dict["NAME"] = str(path)


def _template(work: Path) -> Path:
    """A new, migrated database with the importing user, to copy for each run."""
    from crm.models import Role, User

    template = work / "template.sqlite3"
    _use_database(template)
    call_command("migrate", interactive=False, verbosity=0)
    User.objects.create_user("importer", role=Role.ADMIN, full_name="Benchmark Importer")
    connection.close()
    return template


def _import(folder: Path, mapping: Path | None) -> float:
    arguments = [str(folder), "--user", "importer"] + (["--mapping", str(mapping)] if mapping else [])
    started = time.perf_counter()
    call_command("import_airtable", *arguments, stdout=io.StringIO())
    return time.perf_counter() - started


def measure_imports(
    bases: list[tuple[str, Path, Path | None]], repeat: int, undo: tuple[Path, Path] | None = None
) -> tuple[list[ImportMeasurement], ImportMeasurement | None]:
    """Import each (label, folder, mapping) ``repeat`` times, each time into a copy of one new, empty database.

    With ``undo`` (folder, mapping): also import that base and time undoing it, ``repeat``
    times; its measurement counts the records undone. Only for a throwaway run: it points the
    default (SQLite) connection at files of its own.
    """
    from crm.imports.undo import undo_run
    from crm.models import ImportRun, User

    original = connection.settings_dict["NAME"]
    work = Path(tempfile.mkdtemp(prefix="crm-import-benchmark-"))
    try:
        template = _template(work)
        results = []
        undone = None
        for label, folder, mapping in [*bases, *([("undo", *undo)] if undo else [])]:
            seconds = []
            records = 0
            for attempt in range(repeat):
                copy = work / f"run-{attempt}.sqlite3"
                shutil.copyfile(template, copy)
                _use_database(copy)
                took = _import(folder, mapping)
                if label == "undo":
                    run = ImportRun.objects.latest("pk")
                    records = run.records.count()
                    started = time.perf_counter()
                    undo_run(run, User.objects.get(username="importer"))
                    took = time.perf_counter() - started
                seconds.append(took)
                connection.close()
                copy.unlink()
            if label == "undo":
                undone = ImportMeasurement(f"Undo of an import ({records:,} records)", records, seconds)
            else:
                results.append(ImportMeasurement(label, data_rows(folder), seconds))
        return results, undone
    finally:
        _use_database(Path(original))
        shutil.rmtree(work, ignore_errors=True)


def report_imports(stdout: Any, repeat: int, rows: int = 20_000, undo_rows: int = 1_000) -> None:
    """What ``manage.py benchmark`` prints about imports (SQLite only: it swaps database files)."""
    if connection.vendor != "sqlite":
        stdout.write("Import rates are measured on SQLite only; skipped.")
        return
    work = Path(tempfile.mkdtemp(prefix="crm-import-base-"))
    try:
        bases: list[tuple[str, Path, Path | None]] = []
        sample = Path(settings.BASE_DIR).parent / "shared" / "samples" / "airtable"
        if (sample / "expected.json").exists():
            sample_mapping = work / "sample-mapping.json"
            sample_mapping.write_text(
                json.dumps(
                    {
                        "time_zone": "America/Los_Angeles",
                        "tables": [
                            {
                                "entity": "opportunities",
                                "files": ["Fundraising Pipeline*.csv"],
                                "values": {"stage": {"Soft-circled": {"create": "Soft circle"}}},
                            }
                        ],
                    }
                ),
                encoding="utf-8",
            )
            bases.append(("Airtable sample", sample, sample_mapping))
        generated = work / "generated"
        bases.append((f"Generated base ({rows:,} rows)", generated, generate_base(generated, rows)))
        small = work / "undo"
        results, undone = measure_imports(bases, repeat, undo=(small, generate_base(small, undo_rows)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stdout.write("")
    stdout.write(f"Imports (import_airtable into an empty database, history written; median of {repeat}):")
    for m in results:
        stdout.write(
            f"  {m.label:32} {m.rows:>7,} rows  {m.median:6.2f} s  {m.rate:8,.0f} rows/s  "
            f"(runs: {', '.join(f'{s:.2f}' for s in m.seconds)})"
        )
    if undone is not None:
        stdout.write(
            f"  {undone.label:32} {'':12}  {undone.median:6.2f} s  {undone.rate:8,.0f} records/s  "
            f"(runs: {', '.join(f'{s:.2f}' for s in undone.seconds)}; goal < 2 s)"
        )
