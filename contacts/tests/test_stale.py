"""Stale relationships (issue 17): per-type thresholds, the list filter, the digest's query."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts.models import (
    Communication,
    Contact,
    ContactStatus,
    ContactType,
    StaleThreshold,
    refresh_last_touch,
    stale_contacts_owned_by,
)
from crm.testing.factories import comm as make_comm
from crm.testing.factories import contact as make_contact

URL = reverse("contact_list")
pytestmark = pytest.mark.django_db


def names(response) -> list[str]:
    return sorted(c.last_name for c in response.context["page_obj"].object_list)


def test_the_migration_creates_a_threshold_for_every_contact_type():
    days = dict(StaleThreshold.objects.values_list("contact_type", "days"))
    assert set(days) == set(ContactType.values)
    assert days[ContactType.INVESTOR] == 90 and days[ContactType.PROSPECT] == 21


def test_each_type_goes_stale_after_its_own_threshold():
    investor = make_contact("Investor40", contact_type=ContactType.INVESTOR)
    prospect = make_contact("Prospect40", contact_type=ContactType.PROSPECT)
    make_comm(investor, days_ago=40)
    make_comm(prospect, days_ago=40)
    assert list(Contact.objects.stale()) == [prospect]
    StaleThreshold.objects.filter(contact_type=ContactType.INVESTOR).update(days=30)
    assert set(Contact.objects.stale()) == {investor, prospect}


def test_a_contact_never_touched_is_stale_but_an_imported_recent_touch_counts():
    never = make_contact("Never", contact_type=ContactType.PROSPECT)
    imported = make_contact(
        "Imported", contact_type=ContactType.PROSPECT, last_contacted=timezone.now() - datetime.timedelta(days=3)
    )
    assert never in Contact.objects.stale() and imported not in Contact.objects.stale()


def test_inactive_and_do_not_contact_contacts_are_never_stale_nor_a_type_without_threshold():
    make_contact("Inactive", status=ContactStatus.INACTIVE)
    make_contact("Dnc", status=ContactStatus.DO_NOT_CONTACT)
    StaleThreshold.objects.filter(contact_type=ContactType.ADVISOR).delete()
    make_contact("Advisor", contact_type=ContactType.ADVISOR)
    assert not Contact.objects.stale().exists()


def test_stale_contacts_owned_by_lists_only_the_users_own_never_touched_first(member_user, manager_user):
    mine_old = make_contact("MineOld", owner=member_user)
    mine_never = make_contact("MineNever", owner=member_user)
    mine_fresh = make_contact("MineFresh", owner=member_user)
    make_comm(mine_old, days_ago=50)
    make_comm(mine_fresh, days_ago=2)
    make_contact("Theirs", owner=manager_user)
    assert list(stale_contacts_owned_by(member_user, timezone.localdate())) == [mine_never, mine_old]


def test_stale_contacts_follow_the_given_day():
    person = make_contact("Later", contact_type=ContactType.PROSPECT)
    make_comm(person, days_ago=5)
    today = timezone.localdate()
    assert not Contact.objects.stale(today).exists()
    assert list(Contact.objects.stale(today + datetime.timedelta(days=30))) == [person]


def test_the_stale_filter_on_the_list_keeps_only_stale_contacts(member_client):
    fresh = make_contact("Fresh")
    make_comm(fresh, days_ago=1)
    make_contact("Forgotten")
    response = member_client.get(URL, {"stale": "true"})
    assert names(response) == ["Forgotten"]
    assert 'name="stale" id="id_stale" value="true" checked' in response.content.decode()
    assert names(member_client.get(URL, {"stale": "false"})) == ["Fresh"]
    everyone = member_client.get(URL)
    assert names(everyone) == ["Forgotten", "Fresh"]
    assert {c.last_name: c.is_stale for c in everyone.context["page_obj"].object_list} == {
        "Forgotten": True,
        "Fresh": False,
    }
    assert everyone.content.decode().count('class="badge badge--stale"') == 1


@pytest.mark.django_db
def test_the_stale_filter_runs_the_same_number_of_queries_for_4_and_40_contacts(
    member_client, django_assert_num_queries
):
    def populate(n):
        for i in range(n):
            make_comm(make_contact(f"S{i}-{Contact.objects.count()}"), days_ago=30 + i)

    populate(4)
    member_client.get(URL)
    with CaptureQueriesContext(connection) as small:
        member_client.get(URL, {"stale": "true"})
    populate(36)
    with django_assert_num_queries(len(small.captured_queries)):
        response = member_client.get(URL, {"stale": "true"})
    assert len(response.context["page_obj"].object_list) == 40


def test_the_dashboard_card_counts_my_stale_relationships_first_and_links_to_the_filtered_list(
    member_client, member_user, manager_user
):
    make_contact("MineStale", owner=member_user)
    make_contact("TheirStale", owner=manager_user)
    fresh = make_contact("MineFresh", owner=member_user)
    make_comm(fresh, days_ago=1)
    response = member_client.get(reverse("dashboard"))
    assert response.context["stale"] == {"all": 2, "mine": 1}
    body = response.content.decode()
    assert f'href="{URL}?stale=true&amp;owner={member_user.pk}">1</a>' in body
    assert f'href="{URL}?stale=true" data-kpi="stale-all">2 stale relationships</a>' in body


def test_the_dashboard_runs_the_same_number_of_queries_for_few_and_many_stale_contacts(member_client, member_user):
    def populate(n):
        for i in range(n):
            make_contact(f"D{i}-{Contact.objects.count()}", owner=member_user)

    populate(2)
    member_client.get(reverse("dashboard"))
    with CaptureQueriesContext(connection) as small:
        member_client.get(reverse("dashboard"))
    populate(30)
    with CaptureQueriesContext(connection) as large:
        response = member_client.get(reverse("dashboard"))
    assert response.context["stale"]["mine"] == 32
    assert len(large.captured_queries) == len(small.captured_queries)


# --- The stored last touch (issue 13): the stale count reads a column, not the log ---------------


def stored_touch(person: Contact) -> datetime.datetime | None:
    return Contact.objects.values_list("last_touch_at", flat=True).get(pk=person.pk)


def test_the_stored_last_touch_follows_communications_saved_moved_and_deleted():
    ada, bea = make_contact("Ada"), make_contact("Bea")
    older = make_comm(ada, days_ago=50)
    newer = make_comm(ada, days_ago=5)
    assert stored_touch(ada) == newer.communication_date and stored_touch(bea) is None
    moved = Communication.objects.get(pk=newer.pk)
    moved.contact = bea
    moved.save()
    assert stored_touch(ada) == older.communication_date and stored_touch(bea) == newer.communication_date
    older.delete()
    assert stored_touch(ada) is None
    assert list(Contact.objects.stale()) == [ada]


def test_last_contacted_counts_when_later_and_a_stale_copy_of_the_contact_cannot_undo_a_touch():
    person = make_contact("Okafor", last_contacted=timezone.now() - datetime.timedelta(days=200))
    assert stored_touch(person) == person.last_contacted
    loaded = Contact.objects.get(pk=person.pk)
    touch = make_comm(person, days_ago=2)
    loaded.title = "Partner"
    loaded.save()  # loaded before the communication: its last touch must not go back
    assert stored_touch(person) == touch.communication_date
    loaded.last_contacted = timezone.now() - datetime.timedelta(days=1)
    loaded.save(update_fields=["last_contacted"])
    assert stored_touch(person) == loaded.last_contacted


def test_refresh_last_touch_repairs_rows_written_around_the_signals():
    person = make_contact("Bulk")
    Communication.objects.bulk_create([Communication(contact=person, communication_date=timezone.now())])
    assert stored_touch(person) is None
    assert refresh_last_touch([person.pk]) == 1
    assert stored_touch(person) is not None


def test_the_stale_count_reads_no_communications_whatever_the_number_of_contacts():
    for i in range(5):
        make_comm(make_contact(f"Count{i}"), days_ago=10 * i)
    with CaptureQueriesContext(connection) as ctx:
        assert Contact.objects.stale().count() == 2  # the prospects' 21 days: 30 and 40 days ago
    counted = [q["sql"] for q in ctx.captured_queries if "COUNT" in q["sql"]]
    assert len(counted) == 1 and "communication" not in counted[0]
