"""Relationship strength (issue 17): the formula, the stored scores and where they show."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts import strength
from contacts.models import Communication, CommunicationType, Contact, Direction, RelationshipStrength
from crm.testing.factories import comm as make_comm
from crm.testing.factories import contact as make_contact
from crm.testing.factories import org as make_org

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def ago(days: float) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


# --- The formula ------------------------------------------------------------------------------


def test_a_meeting_scores_more_than_an_email_on_the_same_day():
    meeting = strength.score([(CommunicationType.MEETING, "", ago(3))], NOW)
    email = strength.score([(CommunicationType.EMAIL, Direction.OUTBOUND, ago(3))], NOW)
    assert meeting > email > 0


def test_two_way_email_scores_more_than_the_same_emails_one_way():
    one_way = [
        (CommunicationType.EMAIL, Direction.OUTBOUND, ago(2)),
        (CommunicationType.EMAIL, Direction.OUTBOUND, ago(1)),
    ]
    two_way = [
        (CommunicationType.EMAIL, Direction.OUTBOUND, ago(2)),
        (CommunicationType.EMAIL, Direction.INBOUND, ago(1)),
    ]
    assert strength.score(two_way, NOW) > strength.score(one_way, NOW)


def test_the_same_touch_scores_less_as_it_ages_and_nothing_at_all_scores_zero():
    scores = [strength.score([(CommunicationType.CALL, "", ago(days))], NOW) for days in (1, 60, 365)]
    assert scores[0] > scores[1] > scores[2]
    assert strength.score([], NOW) == 0


def test_more_touches_score_more_but_never_above_100():
    few = strength.score([(CommunicationType.MEETING, "", ago(1))] * 2, NOW)
    many = strength.score([(CommunicationType.MEETING, "", ago(1))] * 50, NOW)
    assert few < many <= 100


# --- Stored and kept in step -----------------------------------------------------------------


def test_adding_and_deleting_a_communication_recomputes_the_contact_and_pair_scores(
    member_user, django_capture_on_commit_callbacks
):
    person = make_contact("Okafor")
    with django_capture_on_commit_callbacks(execute=True):
        touch = make_comm(person, days_ago=1, type=CommunicationType.MEETING, created_by=member_user)
    person.refresh_from_db()
    assert person.strength > 0
    assert RelationshipStrength.objects.get(contact=person, user=member_user).score == person.strength
    with django_capture_on_commit_callbacks(execute=True):
        touch.delete()
    person.refresh_from_db()
    assert person.strength == 0
    assert not RelationshipStrength.objects.filter(contact=person).exists()


def test_an_attendee_of_a_meeting_gets_a_pair_score(member_user, manager_user, django_capture_on_commit_callbacks):
    person = make_contact("Okafor")
    with django_capture_on_commit_callbacks(execute=True):
        meeting = make_comm(person, days_ago=1, type=CommunicationType.MEETING, created_by=member_user)
        meeting.team_attendees.add(manager_user)
    assert set(RelationshipStrength.objects.filter(contact=person).values_list("user", flat=True)) == {
        member_user.pk,
        manager_user.pk,
    }


def test_a_recompute_writes_no_history_for_the_contact():
    person = make_contact("Okafor")
    Communication.objects.bulk_create([Communication(contact=person, communication_date=ago(1))])
    before = person.history.count()
    strength.recompute([person.pk])
    person.refresh_from_db()
    assert person.strength > 0 and person.history.count() == before


def test_the_bulk_write_hook_recomputes_the_contacts_an_import_touched(admin_user, django_capture_on_commit_callbacks):
    person = make_contact("Okafor")
    written = Communication.objects.bulk_create([Communication(contact=person, communication_date=ago(1))])
    assert not Contact.objects.get(pk=person.pk).strength  # bulk_create skipped the signals
    with django_capture_on_commit_callbacks(execute=True):
        Communication.after_bulk_write(written, admin_user, "Import")
    assert Contact.objects.get(pk=person.pk).strength > 0


def test_the_command_recomputes_every_contact_as_time_passes():
    person = make_contact("Okafor")
    Communication.objects.bulk_create([Communication(contact=person, communication_date=ago(1))])
    out = io.StringIO()
    call_command("recompute_strength", stdout=out)
    assert Contact.objects.get(pk=person.pk).strength > 0 and "1 contacts" in out.getvalue()
    strength.recompute_all(now=NOW + datetime.timedelta(days=3650))
    assert Contact.objects.get(pk=person.pk).strength == 0


# --- Where it shows --------------------------------------------------------------------------


def test_the_contacts_list_sorts_by_strength_and_explains_it(member_client):
    weak, strong = make_contact("Weak"), make_contact("Strong")
    Contact.objects.filter(pk=weak.pk).update(strength=10)
    Contact.objects.filter(pk=strong.pk).update(strength=80)
    response = member_client.get(reverse("contact_list"), {"o": "-strength"})
    assert [c.last_name for c in response.context["page_obj"].object_list] == ["Strong", "Weak"]
    assert f'title="{strength.FORMULA}"' in response.content.decode()


def test_the_contacts_export_has_a_strength_column(admin_client):
    person = make_contact("Okafor")
    Contact.objects.filter(pk=person.pk).update(strength=42)
    response = admin_client.get(reverse("contact_export"), {"format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    column = rows[0].index("Strength")
    assert rows[1][column] == "42"


def test_an_organizations_page_ranks_who_knows_them_best(member_client, member_user, manager_user, admin_user):
    org = make_org("Northwind")
    a, b = make_contact("A", organization=org), make_contact("B", organization=org)
    elsewhere = make_contact("Elsewhere")
    RelationshipStrength.objects.create(contact=a, user=member_user, score=30)
    RelationshipStrength.objects.create(contact=b, user=member_user, score=20)
    RelationshipStrength.objects.create(contact=a, user=manager_user, score=70)
    RelationshipStrength.objects.create(contact=elsewhere, user=admin_user, score=99)
    response = member_client.get(reverse("organization_detail", args=[org.pk]))
    ranked = [row["user"] for row in response.context["who_knows_best"]]
    assert ranked == [manager_user.pk, member_user.pk]
    assert "Who knows them best" in response.content.decode()


def test_an_organizations_page_runs_the_same_number_of_queries_for_2_and_20_strengths(member_client, member_user):
    org = make_org("Northwind")

    def populate(n):
        for _ in range(n):
            RelationshipStrength.objects.create(contact=make_contact(organization=org), user=member_user, score=5)

    populate(2)
    url = reverse("organization_detail", args=[org.pk])
    member_client.get(url)
    with CaptureQueriesContext(connection) as small:
        member_client.get(url)
    populate(18)
    with CaptureQueriesContext(connection) as large:
        member_client.get(url)
    assert len(large.captured_queries) == len(small.captured_queries)


def test_an_import_stores_the_strength_of_the_contacts_its_communications_touch(
    tmp_path, manager_user, django_capture_on_commit_callbacks
):
    from crm.imports.benchmark import generate_base

    folder = tmp_path / "base"
    mapping = generate_base(folder, 30)
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "import_airtable",
            str(folder),
            "--mapping",
            str(mapping),
            "--user",
            manager_user.username,
            stdout=io.StringIO(),
        )
    touched = Contact.objects.filter(communications__isnull=False).distinct()
    assert touched.exists()
    assert not touched.filter(strength__isnull=True).exists()  # bulk_create left them NULL
