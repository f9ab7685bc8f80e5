"""Every benchmarked page runs as many queries and returns about as many bytes at three times
the data (issue 13): lists page, the board draws its first cards per column, pickers replace
long selects. Deterministic (counts and sizes), never timed: `make benchmark` measures time."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.demo.benchmark import pages
from crm.demo.seed_bulk import seed_bulk

pytestmark = pytest.mark.slow


def measure(client) -> dict[str, tuple[int, int]]:
    out = {}
    for label, url in pages():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, label
        out[label] = (len(queries), len(response.content))
    return out


def measured_at(client, scale: int) -> dict[str, tuple[int, int]]:
    """(queries, bytes) per page over a bulk seed of ``scale``, rolled back afterwards."""
    with transaction.atomic():
        seed_bulk(scale)
        out = measure(client)
        transaction.set_rollback(True)
    return out


# Bytes a page may return whatever the data size, about 1.5× what it returns today at the
# larger seed: the board's is the budget for the biggest fund.
BYTE_BUDGETS = {
    "Dashboard": 70_000,
    "Contacts": 140_000,
    "Organizations": 60_000,
    "Pipeline board": 600_000,
    "Opportunities": 85_000,
    "New opportunity": 30_000,
    "Communications": 100_000,
    "LPs": 280_000,
    "Next actions": 100_000,
    "Reports": 110_000,
    "Search": 60_000,
}


def test_every_page_runs_the_same_queries_and_bounded_bytes_at_three_times_the_data(admin_client):
    small = measured_at(admin_client, 300)
    large = measured_at(admin_client, 900)
    assert set(small) == set(BYTE_BUDGETS)  # a page added to the benchmark gets a budget here
    for label, (queries, size) in small.items():
        more_queries, more_size = large[label]
        assert more_queries == queries, label
        # Three times the data: a page that grew with it would be near 3× (the board's columns
        # fill up to their first 50 cards between the two sizes, the rest are paged already).
        assert more_size < size * 1.5, label
        assert more_size <= BYTE_BUDGETS[label], label
