"""Stale relationships on the LP tracker (issue 17): the contacts list's Stale badge beside an LP
whose contact has gone untouched past its type's threshold, and a "stale" filter, with the
tracker's query count unchanged by the number of rows."""

from __future__ import annotations

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import HX
from contacts.models import ContactStatus, ContactType, StaleThreshold
from crm.testing.factories import comm, commitment, contact, fund, lp, org

LIST = reverse("lp_list")
BADGE = '<span class="badge badge--stale"'


@pytest.fixture
def fund_two(db):
    return fund("Fund II", vintage_year=2025)


def row_of(html: str, name: str) -> str:
    start = html.index(f">{name}</a>")
    return html[html.rindex("<tr", 0, start) : html.index("</tr>", start)]


def investor(last_name: str, days_ago: float | None, **extra):
    person = contact(last_name, contact_type=ContactType.INVESTOR, **extra)
    if days_ago is not None:
        comm(person, days_ago=days_ago)
    return person


@pytest.fixture
def book(fund_two):
    """Four LPs: touched 100 days ago (stale at 90), 10 days ago, never, and an inactive old one."""
    people = {
        "Old": investor("Old", 100),
        "Fresh": investor("Fresh", 10),
        "Never": investor("Never", None),
        "Quiet": investor("Quiet", 200, status=ContactStatus.INACTIVE),
    }
    for person in people.values():
        commitment(lp(person), fund_two)
    return people


def test_an_lp_past_its_types_threshold_gets_the_contacts_lists_stale_badge(member_client, book):
    html = member_client.get(LIST).content.decode()
    assert BADGE in row_of(html, book["Old"].full_name)
    assert BADGE in row_of(html, book["Never"].full_name)
    assert BADGE not in row_of(html, book["Fresh"].full_name)
    assert BADGE not in row_of(html, book["Quiet"].full_name)
    assert "never touched" in row_of(html, book["Never"].full_name)


def test_the_badge_follows_the_threshold_set_in_the_admin(member_client, book):
    StaleThreshold.objects.filter(contact_type=ContactType.INVESTOR).update(days=5)
    html = member_client.get(LIST).content.decode()
    assert BADGE in row_of(html, book["Fresh"].full_name)
    StaleThreshold.objects.filter(contact_type=ContactType.INVESTOR).delete()
    html = member_client.get(LIST).content.decode()
    assert BADGE not in html


def test_an_imported_last_contact_counts_as_a_touch(member_client, fund_two):
    person = investor("Imported", None, last_contacted=timezone.now() - datetime.timedelta(days=3))
    commitment(lp(person), fund_two)
    assert BADGE not in row_of(member_client.get(LIST).content.decode(), person.full_name)


def test_the_tracker_agrees_with_the_contacts_list(member_client, book):
    contacts_html = member_client.get(reverse("contact_list"), {"stale": "true"}).content.decode()
    tracker_html = member_client.get(LIST, {"stale": "true"}).content.decode()
    for name in ("Old", "Never", "Fresh", "Quiet"):
        assert (book[name].full_name in contacts_html) == (book[name].full_name in tracker_html), name


def test_the_stale_filter_keeps_only_stale_lps_and_not_stale_the_rest(member_client, book):
    stale = member_client.get(LIST, {"stale": "true"}).content.decode()
    assert book["Old"].full_name in stale and book["Never"].full_name in stale
    assert book["Fresh"].full_name not in stale and book["Quiet"].full_name not in stale
    assert "Clear filters" in stale
    fresh = member_client.get(LIST, {"stale": "false"}).content.decode()
    assert book["Fresh"].full_name in fresh and book["Quiet"].full_name in fresh
    assert book["Old"].full_name not in fresh


def test_the_filter_is_on_the_toolbar_and_the_htmx_refresh(member_client, book):
    html = member_client.get(LIST).content.decode()
    assert re.search(r'<select name="stale"[^>]*>', html) and "Stale relationship" in html
    fragment = member_client.get(LIST, {"stale": "true"}, headers=HX).content.decode()
    assert "<html" not in fragment and book["Old"].full_name in fragment and book["Fresh"].full_name not in fragment


def test_the_summary_and_export_follow_the_stale_filter(manager_client, book):
    export = manager_client.get(reverse("commitment_export"), {"stale": "true", "format": "csv"})
    body = b"".join(export.streaming_content).decode() if export.streaming else export.content.decode()
    assert "Old" in body and "Fresh" not in body


@pytest.mark.parametrize("stale, most", [("", 10), ("true", 11)])
def test_the_tracker_with_the_badge_runs_a_fixed_number_of_queries(manager_client, fund_two, stale, most):
    # The badge rides in the page's own query: the tracker's pin (10, with the sidebar's saved
    # views) holds; the filter adds one,
    # the thresholds it reads to build its condition.
    def queries_with(n: int) -> int:
        for i in range(n):
            person = investor(f"P{i}", 100 if i % 2 else 5, organization=org())
            commitment(lp(person), fund_two, wire_received=True)
        with CaptureQueriesContext(connection) as ctx:
            response = manager_client.get(LIST, {"fund": fund_two.pk, "o": "-committed", "stale": stale})
        assert response.status_code == 200
        marked = sum(1 for c in response.context["page_obj"] if c.lp.contact.is_stale)
        assert marked and response.content.decode().count(BADGE) == marked
        return len(ctx.captured_queries)

    small = queries_with(2)
    assert small == queries_with(30)
    assert small <= most
