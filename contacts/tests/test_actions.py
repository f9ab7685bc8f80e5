"""Next actions: the upcoming-actions page, done/undo, reschedule, and the sidebar's overdue count."""

from __future__ import annotations

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import HX
from contacts.models import Communication
from crm.testing.factories import action, comm, contact, org

ACTIONS = reverse("actions")


def text(response) -> str:
    return response.content.decode()


def group_html(html: str, key: str) -> str:
    """The markup of one group section on the actions page."""
    match = re.search(rf'<section class="card action-group action-group--{key}".*?</section>', html, re.S)
    assert match, f"no {key} group"
    return match.group(0)


# --- The page -------------------------------------------------------------------------------


def test_actions_are_grouped_overdue_today_this_week_and_later(member_client, member_user):
    person = contact()
    action(person, -3, by=member_user, next_action="Late one")
    action(person, 0, by=member_user, next_action="Due today")
    action(person, 5, by=member_user, next_action="In five days")
    action(person, 30, by=member_user, next_action="Next month")
    action(person, None, by=member_user, next_action="Whenever")
    html = text(member_client.get(ACTIONS))
    assert "Late one" in group_html(html, "overdue")
    assert "Due today" in group_html(html, "today")
    assert "In five days" in group_html(html, "week")
    later = group_html(html, "later")
    assert "Next month" in later and "Whenever" in later
    assert later.index("Next month") < later.index("Whenever")  # undated last


def test_mine_shows_my_actions_and_everyone_shows_all(member_client, member_user, manager_user):
    person = contact()
    action(person, 1, by=member_user, next_action="My action")
    action(person, 1, by=manager_user, next_action="Mona's action")
    mine = text(member_client.get(ACTIONS))
    assert "My action" in mine and "Mona&#x27;s action" not in mine
    everyone = text(member_client.get(ACTIONS, {"who": "everyone"}))
    assert "My action" in everyone and "Mona&#x27;s action" in everyone


def test_done_and_empty_actions_are_not_listed(member_client, member_user):
    person = contact()
    action(person, 1, by=member_user, next_action="Finished", next_action_done=True)
    comm(person, created_by=member_user, next_action="")
    html = text(member_client.get(ACTIONS, {"who": "everyone"}))
    assert "Finished" not in html
    assert 'class="action-item' not in html


def test_actions_page_answers_the_groups_fragment_to_htmx(member_client, member_user):
    action(contact(), 1, by=member_user, next_action="Send deck")
    fragment = text(member_client.get(ACTIONS, headers=HX))
    assert fragment.lstrip().startswith('<div id="action-groups"') and "<html" not in fragment
    assert "Send deck" in fragment
    assert "<html" in text(member_client.get(ACTIONS))


@pytest.mark.parametrize("who", ["mine", "assigned", "everyone"])
def test_actions_page_runs_a_fixed_number_of_queries(member_client, member_user, who):
    def queries_with(n: int) -> int:
        for i in range(n):
            action(contact(organization=org()), i - 3, by=member_user)
        with CaptureQueriesContext(connection) as ctx:
            response = member_client.get(ACTIONS, {"who": who})
        assert response.status_code == 200
        return len(ctx.captured_queries)

    small = queries_with(2)
    assert small == queries_with(40)
    # Session, user, the tab counts, the group totals, one query per group (4), the badge, and
    # two per group the layers above register (crm.lib.next_actions: lps's MFN and compliance,
    # pipeline's tasks; pipeline/tests/test_task_pages.py pins the page with tasks in it), and
    # the sidebar's saved views.
    assert small <= 16


def test_a_long_group_shows_its_first_ten_and_offers_more(member_client, member_user):
    person = contact()
    for i in range(25):
        action(person, -1 - i, by=member_user, next_action=f"Overdue number {i:02d}")
    overdue = group_html(text(member_client.get(ACTIONS)), "overdue")
    assert overdue.count('class="action-item') == 10
    assert "Show more" in overdue and "15 more not shown" in overdue
    assert '<span class="count count--alert">25</span>' in overdue


def test_show_more_appends_the_next_ten_and_its_control_out_of_band(member_client, member_user):
    person = contact()
    for i in range(25):
        action(person, -1 - i, by=member_user, next_action=f"Overdue number {i:02d}")
    more = reverse("actions_more")
    html = text(member_client.get(more, {"group": "overdue", "offset": 10}, headers=HX))
    assert html.count('class="action-item') == 10 and "<html" not in html
    # Oldest date first: items 10..19 of the ordered group, none of the first ten again.
    assert "Overdue number 14" in html and "Overdue number 24" not in html
    assert '<p id="action-more-overdue" class="action-more" hx-swap-oob="true">' in html
    assert "offset=20" in html and "5 more not shown" in html
    last = text(member_client.get(more, {"group": "overdue", "offset": 20}, headers=HX))
    assert last.count('class="action-item') == 5 and "Show more" not in last


def test_show_more_without_htmx_draws_the_page_with_that_group_longer(member_client, member_user):
    person = contact()
    for i in range(25):
        action(person, -1 - i, by=member_user, next_action=f"Overdue number {i:02d}")
    response = member_client.get(reverse("actions_more"), {"who": "everyone", "group": "overdue", "offset": 10})
    assert response.status_code == 302
    assert response["Location"] == f"{ACTIONS}?who=everyone&group=overdue&shown=20#group-overdue"
    overdue = group_html(text(member_client.get(response["Location"])), "overdue")
    assert overdue.count('class="action-item') == 20 and "5 more not shown" in overdue
    assert member_client.get(reverse("actions_more"), {"group": "nonsense"})["Location"] == ACTIONS
    assert member_client.get(reverse("actions_more"), {"group": "nonsense"}, headers=HX).status_code == 404


@pytest.mark.parametrize("who", ["mine", "everyone"])
def test_actions_page_and_show_more_keep_queries_and_bytes_at_two_scales(member_client, member_user, who):
    def measure(n: int) -> list[tuple[int, int]]:
        for i in range(n):
            action(contact(organization=org()), -1 - i % 40, by=member_user, next_action=f"Action {i:04d}")
        out = []
        for url, params, headers in (
            (ACTIONS, {"who": who}, {}),
            (reverse("actions_more"), {"who": who, "group": "overdue", "offset": 10}, HX),
        ):
            with CaptureQueriesContext(connection) as ctx:
                response = member_client.get(url, params, headers=headers)
            assert response.status_code == 200
            out.append((len(ctx.captured_queries), len(response.content)))
        return out

    small = measure(30)
    large = measure(60)  # 90 in all: three times the first scale
    for (queries_small, bytes_small), (queries_large, bytes_large) in zip(small, large, strict=True):
        assert queries_small == queries_large
        assert bytes_large < bytes_small * 1.1  # ten items a page, whatever the number of actions


# --- Done / undo ------------------------------------------------------------------------------


def test_mark_done_records_when_and_by_whom_with_history(member_client, member_user):
    item = action(contact(), -1, by=member_user, next_action="Send the deck")
    response = member_client.post(reverse("action_done", args=[item.pk]), {"done": "1"}, headers=HX)
    assert response.status_code == 200
    item.refresh_from_db()
    assert item.next_action_done and item.next_action_done_by == member_user
    assert timezone.now() - item.next_action_done_at < datetime.timedelta(minutes=1)
    latest = item.history.first()
    assert latest.history_user == member_user and latest.next_action_done
    html = text(response)
    assert f'id="action-{item.pk}"' in html and "is-done" in html and "Undo" in html
    assert "Done by Max Member" in html
    assert "actionsChanged" in response["HX-Trigger"]
    # The sidebar badge follows: no overdue action left.
    assert '<span id="overdue-badge" class="nav-badge-empty" hx-swap-oob="true">' in html


def test_mark_done_without_htmx_redirects_back(member_client, member_user):
    item = action(contact(), 2, by=member_user)
    response = member_client.post(reverse("action_done", args=[item.pk]), {"done": "1", "next": "/communications/"})
    assert response.status_code == 302 and response["Location"] == "/communications/"
    item.refresh_from_db()
    assert item.next_action_done
    response = member_client.post(reverse("action_done", args=[item.pk]), {"done": "1", "next": "//evil.example/"})
    assert response["Location"] == ACTIONS


def test_undo_reopens_the_action(member_client, member_user):
    item = action(contact(), 2, by=member_user)
    url = reverse("action_done", args=[item.pk])
    member_client.post(url, {"done": "1"})
    member_client.post(url, {"done": "0"}, headers=HX)
    item.refresh_from_db()
    assert not item.next_action_done and item.next_action_done_at is None and item.next_action_done_by is None
    assert [h.next_action_done for h in item.history.order_by("history_date")] == [False, True, False]


def test_marking_done_twice_keeps_the_first_record(member_client, member_user, manager_user):
    item = action(contact(), 2, by=member_user)
    url = reverse("action_done", args=[item.pk])
    member_client.post(url, {"done": "1"})
    first = Communication.objects.get(pk=item.pk).next_action_done_at
    member_client.post(url, {"done": "1"})
    assert Communication.objects.get(pk=item.pk).next_action_done_at == first
    assert item.history.count() == 2


def test_done_needs_post_and_an_action(member_client):
    item = comm(contact(), next_action="")
    assert member_client.get(reverse("action_done", args=[item.pk])).status_code == 405
    assert member_client.post(reverse("action_done", args=[item.pk])).status_code == 404
    assert member_client.post(reverse("action_done", args=[999999])).status_code == 404


# --- Reschedule -------------------------------------------------------------------------------


def test_reschedule_form_as_fragment_and_page(member_client, member_user):
    item = action(contact(), -2, by=member_user, next_action="Call back")
    url = reverse("action_reschedule", args=[item.pk])
    fragment = text(member_client.get(url, headers=HX))
    assert fragment.lstrip().startswith('<div id="action-reschedule"') and "Call back" in fragment
    assert "<html" in text(member_client.get(url))


def test_reschedule_moves_the_date_with_history(member_client, member_user):
    item = action(contact(), -2, by=member_user)
    url = reverse("action_reschedule", args=[item.pk])
    new_date = timezone.localdate() + datetime.timedelta(days=10)
    response = member_client.post(url, {"next_action_date": new_date.isoformat()}, headers=HX)
    assert "closeDialog" in response["HX-Trigger"] and "communicationsChanged" in response["HX-Trigger"]
    item.refresh_from_db()
    assert item.next_action_date == new_date
    assert item.history.first().history_user == member_user
    assert item.history.first().next_action_date == new_date


def test_reschedule_without_htmx_redirects(member_client, member_user):
    item = action(contact(), 1, by=member_user)
    response = member_client.post(
        reverse("action_reschedule", args=[item.pk]),
        {"next_action_date": "2031-01-02", "next": "/actions/?who=everyone"},
    )
    assert response.status_code == 302 and response["Location"] == "/actions/?who=everyone"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Pick the new date."),
        ("next tuesday", "Enter a date like 2025-03-14."),
        ("2025-13-45", "Enter a date like 2025-03-14."),
    ],
)
def test_reschedule_refuses_a_bad_date(member_client, member_user, value, message):
    item = action(contact(), 1, by=member_user)
    before = item.next_action_date
    response = member_client.post(reverse("action_reschedule", args=[item.pk]), {"next_action_date": value}, headers=HX)
    assert response.status_code == 200
    assert message in text(response)
    item.refresh_from_db()
    assert item.next_action_date == before


def test_rescheduling_a_done_action_reopens_it(member_client, member_user):
    item = action(contact(), -5, by=member_user, next_action_done=True, next_action_done_by=member_user)
    member_client.post(reverse("action_reschedule", args=[item.pk]), {"next_action_date": "2031-05-01"})
    item.refresh_from_db()
    assert not item.next_action_done and item.next_action_done_by is None


def test_reschedule_of_a_communication_without_an_action_goes_to_its_form(member_client):
    item = comm(contact(), next_action="")
    response = member_client.get(reverse("action_reschedule", args=[item.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("communication_edit", args=[item.pk])


# --- The sidebar badge --------------------------------------------------------------------------


def test_sidebar_shows_my_overdue_count_linked_to_the_actions_page(member_client, member_user, manager_user):
    person = contact()
    action(person, -1, by=member_user)
    action(person, -9, by=member_user)
    action(person, -1, by=manager_user)  # someone else's
    action(person, 3, by=member_user)  # not overdue
    action(person, -4, by=member_user, next_action_done=True)  # done
    html = text(member_client.get(reverse("communication_list")))
    badge = re.search(r'<a id="overdue-badge"[^>]*>(\d+)</a>', html)
    assert badge and badge.group(1) == "2"
    assert f'href="{ACTIONS}"' in badge.group(0)
    assert 'aria-label="2 overdue tasks and next actions"' in badge.group(0)


def test_no_badge_without_overdue_actions(member_client, member_user):
    action(contact(), 2, by=member_user)
    html = text(member_client.get(reverse("communication_list")))
    assert '<a id="overdue-badge"' not in html and 'id="overdue-badge"' in html


def test_badge_costs_one_count_query_and_none_in_fragments(member_client, member_user):
    action(contact(), -1, by=member_user)

    def badge_queries(**headers) -> list[str]:
        with CaptureQueriesContext(connection) as ctx:
            member_client.get(reverse("organization_list"), headers=headers)
        return [
            q["sql"]
            for q in ctx.captured_queries
            if "next_action_date" in q["sql"] and "COUNT" in q["sql"].upper() and "contacts_communication" in q["sql"]
        ]

    assert len(badge_queries()) == 1
    assert badge_queries(**HX) == []


@pytest.mark.django_db
def test_the_overdue_badge_query_reads_the_partial_index_on_open_dated_actions(member_user):
    from contacts.services import overdue_count

    person = contact()
    for days in (-3, -1, 2):
        action(person, days, by=member_user, next_action="Call back")
    comm(person)  # no next action: not in the index
    done = action(person, -2, by=member_user, next_action="Done already")
    Communication.objects.filter(pk=done.pk).update(next_action_done=True)
    badge = (
        Communication.objects.visible_to(member_user)
        .open_actions()
        .filter(created_by=member_user, next_action_date__lt=timezone.localdate())
        .order_by()
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table is otherwise read whole
            # On a handful of rows PostgreSQL may as well read the wider (done, date) index; it is
            # dropped inside this test's transaction, so the plan shows whether the partial index
            # can serve the query at all (its condition must match the query's filters).
            # The same goes for everyone's open actions by date (the dashboard's index).
            for index in Communication._meta.indexes:
                if (
                    index.fields == ["next_action_done", "next_action_date"]
                    or index.name == "communication_open_date_idx"
                ):
                    cursor.execute(f'DROP INDEX "{index.name}"')
        plan = badge.explain()

    assert "communication_open_due_idx" in plan
    assert overdue_count(member_user) == badge.count() == 2
