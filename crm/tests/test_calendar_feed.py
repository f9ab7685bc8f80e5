"""The private calendar feed: made, regenerated and revoked in Settings, read without a session."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from icalendar import Calendar

from conftest import make_user
from contacts.models import Communication, CommunicationType, Contact
from crm.models import CalendarFeed, Role, hash_api_token
from lps.models import Close, CloseState, Fund
from pipeline.models import Task

HOST = "testserver"


def fetch(client, raw: str):
    return client.get(reverse("calendar_feed", args=[raw]))


def events_of(response) -> dict[str, object]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    return {str(event["uid"]): event for event in calendar.walk("VEVENT")}


@pytest.fixture
def contact(db):
    return Contact.objects.create(first_name="Ada", last_name="Okafor")


def action(contact, user, text: str, day: datetime.date, **extra) -> Communication:
    extra.setdefault("subject", "Intro call")
    return Communication.objects.create(
        contact=contact,
        communication_date=timezone.now() - datetime.timedelta(days=3),
        next_action=text,
        next_action_date=day,
        created_by=user,
        **extra,
    )


def test_a_feed_lists_the_users_open_next_actions_as_all_day_events_with_stable_uids(client, member_user, contact):
    today = timezone.localdate()
    mine = action(contact, member_user, "Send the deck", today + datetime.timedelta(days=2))
    action(contact, member_user, "Done already", today, next_action_done=True)
    action(contact, make_user("olga", Role.MEMBER), "Someone else's", today)
    _, raw = CalendarFeed.issue(member_user)

    events = events_of(fetch(client, raw))

    assert set(events) == {f"communication-{mine.pk}@{HOST}"}
    event = events[f"communication-{mine.pk}@{HOST}"]
    assert str(event["summary"]) == "Next: Send the deck — Ada Okafor"
    assert event.decoded("dtstart") == today + datetime.timedelta(days=2)
    assert not isinstance(event.decoded("dtstart"), datetime.datetime)  # all-day
    assert f"http://{HOST}{reverse('contact_detail', args=[contact.pk])}" in str(event["description"])
    assert "dtstamp" in event
    # Fetched again, the same UIDs: calendar apps update the events rather than copy them.
    assert set(events_of(fetch(client, raw))) == set(events)


def test_next_actions_far_in_the_past_or_future_are_left_out(client, member_user, contact):
    today = timezone.localdate()
    kept = action(contact, member_user, "Soon", today + datetime.timedelta(days=300))
    action(contact, member_user, "Long ago", today - datetime.timedelta(days=200))
    action(contact, member_user, "Years ahead", today + datetime.timedelta(days=800))
    _, raw = CalendarFeed.issue(member_user)
    assert set(events_of(fetch(client, raw))) == {f"communication-{kept.pk}@{HOST}"}


def test_future_meetings_and_the_funds_closes_are_in_the_feed(client, member_user, contact):
    start = (timezone.now() + datetime.timedelta(days=5)).replace(microsecond=0)
    meeting = Communication.objects.create(
        contact=contact,
        type=CommunicationType.MEETING,
        subject="Annual meeting",
        communication_date=start,
        duration_minutes=90,
        created_by=member_user,
    )
    Communication.objects.create(
        contact=contact,
        type=CommunicationType.MEETING,
        subject="Last week",
        communication_date=timezone.now() - datetime.timedelta(days=7),
        created_by=member_user,
    )
    fund = Fund.objects.create(name="Fund III", vintage_year=2026, target_size=Decimal("150000000"))
    ahead = timezone.localdate() + datetime.timedelta(days=60)
    planned = Close.objects.create(fund=fund, name="Final close", date=ahead)
    held = Close.objects.create(
        fund=fund, name="First close", date=timezone.localdate() - datetime.timedelta(days=10), state=CloseState.HELD
    )
    _, raw = CalendarFeed.issue(member_user)

    events = events_of(fetch(client, raw))

    assert set(events) == {f"meeting-{meeting.pk}@{HOST}", f"close-{planned.pk}@{HOST}", f"close-{held.pk}@{HOST}"}
    event = events[f"meeting-{meeting.pk}@{HOST}"]
    assert event.decoded("dtstart") == start
    assert event.decoded("dtend") - event.decoded("dtstart") == datetime.timedelta(minutes=90)
    assert str(events[f"close-{planned.pk}@{HOST}"]["summary"]) == "Fund III: Final close (planned)"
    assert str(events[f"close-{held.pk}@{HOST}"]["summary"]) == "Fund III: First close (held)"
    assert events[f"close-{held.pk}@{HOST}"].decoded("dtstart") == held.date


def test_hostile_text_survives_the_round_trip(client, member_user, db):
    contact = Contact.objects.create(first_name="Zoë; \\", last_name="Ørsted, Jr.")
    text = "Call back, then; sign\nBEGIN:VEVENT\nUID:evil — 日本"
    mine = action(contact, member_user, text, timezone.localdate())
    _, raw = CalendarFeed.issue(member_user)

    response = fetch(client, raw)
    events = events_of(response)

    assert set(events) == {f"communication-{mine.pk}@{HOST}"}  # no injected event
    assert str(events[f"communication-{mine.pk}@{HOST}"]["summary"]) == f"Next: {text} — Zoë; \\ Ørsted, Jr."
    # The newlines went out escaped: no line of the file starts an event but the real one.
    assert response.content.split(b"\r\n").count(b"BEGIN:VEVENT") == 1


def test_the_everyone_feed_shows_every_users_actions_with_the_owner(client, admin_user, member_user, contact):
    today = timezone.localdate()
    theirs = action(contact, member_user, "Chase the side letter", today)
    _, raw = CalendarFeed.issue(admin_user, everyone=True)
    event = events_of(fetch(client, raw))[f"communication-{theirs.pk}@{HOST}"]
    assert str(event["summary"]) == "Next: Chase the side letter — Ada Okafor (Max Member)"


def test_open_tasks_due_dates_are_in_the_owners_feed_and_all_are_in_the_everyone_feed(
    client, admin_user, member_user, contact
):
    today = timezone.localdate()
    mine = Task.objects.create(title="Send Q3 letter", owner=member_user, contact=contact, due_date=today)
    Task.objects.create(title="Done one", owner=member_user, due_date=today, done=True)
    Task.objects.create(title="Undated", owner=member_user)
    theirs = Task.objects.create(title="Admin's", owner=admin_user, due_date=today)
    _, raw = CalendarFeed.issue(member_user)
    events = events_of(fetch(client, raw))
    tasks = {uid for uid in events if uid.startswith("task-")}
    assert tasks == {f"task-{mine.pk}@{HOST}"}
    assert str(events[f"task-{mine.pk}@{HOST}"]["summary"]) == "Task: Send Q3 letter"
    assert events[f"task-{mine.pk}@{HOST}"].decoded("dtstart") == today
    _, everyone = CalendarFeed.issue(admin_user, everyone=True)
    events = events_of(fetch(client, everyone))
    assert {f"task-{mine.pk}@{HOST}", f"task-{theirs.pk}@{HOST}"} <= set(events)
    assert str(events[f"task-{mine.pk}@{HOST}"]["summary"]) == "Task: Send Q3 letter (Max Member)"


def test_only_admins_may_make_an_everyone_feed(client, manager_user):
    with pytest.raises(PermissionDenied):
        CalendarFeed.issue(manager_user, everyone=True)
    client.force_login(manager_user)
    response = client.post(reverse("calendar_feed_create"), {"everyone": "1"})
    assert response.status_code == 403
    assert not CalendarFeed.objects.exists()


def test_a_demoted_admin_gets_only_their_own_actions_from_an_everyone_feed(client, admin_user, member_user, contact):
    action(contact, member_user, "Theirs", timezone.localdate())
    _, raw = CalendarFeed.issue(admin_user, everyone=True)
    admin_user.role = Role.MEMBER
    admin_user.save()
    assert events_of(fetch(client, raw)) == {}


def test_unknown_revoked_and_deactivated_users_tokens_get_404(client, member_user, contact):
    action(contact, member_user, "Send the deck", timezone.localdate())
    feed, raw = CalendarFeed.issue(member_user)
    assert fetch(client, raw).status_code == 200
    assert fetch(client, raw[:-1] + ("a" if raw[-1] != "a" else "b")).status_code == 404
    assert fetch(client, "not-a-token").status_code == 404

    member_user.is_active = False
    member_user.save()
    assert fetch(client, raw).status_code == 404
    member_user.is_active = True
    member_user.save()
    assert fetch(client, raw).status_code == 200

    feed.revoke(timezone.now())
    assert fetch(client, raw).status_code == 404


def test_the_feed_needs_no_session_and_sets_none(client, member_user):
    _, raw = CalendarFeed.issue(member_user)
    response = fetch(client, raw)
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_the_token_is_not_stored_only_its_hash(member_user):
    feed, raw = CalendarFeed.issue(member_user)
    feed.refresh_from_db()
    assert feed.key_hash == hash_api_token(raw)
    stored = [str(value) for value in CalendarFeed.objects.values_list().get(pk=feed.pk)]
    assert raw not in stored
    assert raw.startswith(feed.key_start)


def test_settings_shows_the_new_url_once_and_regenerating_revokes_the_old_one(client, member_user):
    client.force_login(member_user)
    response = client.post(reverse("calendar_feed_create"))
    assert response.status_code == 200
    first = re.search(r'value="(http://testserver/calendar/[^"]+\.ics)"', response.content.decode()).group(1)
    assert client.get(first).status_code == 200
    assert first not in client.get(reverse("settings")).content.decode()  # shown once

    response = client.post(reverse("calendar_feed_create"), HTTP_HX_REQUEST="true")
    second = re.search(r'value="(http://testserver/calendar/[^"]+\.ics)"', response.content.decode()).group(1)
    assert second != first
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    assert CalendarFeed.objects.filter(user=member_user, revoked_at__isnull=True).count() == 1


@pytest.mark.parametrize("htmx", [False, True])
def test_revoking_in_settings_stops_the_feed(client, member_user, htmx):
    feed, raw = CalendarFeed.issue(member_user)
    client.force_login(member_user)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.post(reverse("calendar_feed_revoke", args=[feed.pk]), **headers)
    assert response.status_code == (200 if htmx else 302)
    assert fetch(client, raw).status_code == 404


def test_nobody_revokes_someone_elses_calendar_url(client, admin_user, member_user):
    feed, raw = CalendarFeed.issue(member_user)
    client.force_login(admin_user)
    assert client.post(reverse("calendar_feed_revoke", args=[feed.pk])).status_code == 404
    assert fetch(client, raw).status_code == 200


def _seed(contact, user, fund, count: int) -> None:
    today = timezone.localdate()
    for i in range(count):
        # No subject: the description then names the type, with no per-event query.
        action(contact, user, f"Action {i}", today + datetime.timedelta(days=i), subject="")
        meeting = Communication.objects.create(
            contact=contact,
            type=CommunicationType.MEETING,
            communication_date=timezone.now() + datetime.timedelta(days=i + 1),
            created_by=user,
        )
        meeting.team_attendees.add(user)
        Close.objects.create(fund=fund, name=f"Close {i}", date=today + datetime.timedelta(days=i))
        Task.objects.create(title=f"Task {i}", owner=user, contact=contact, due_date=today + datetime.timedelta(days=i))


@pytest.mark.parametrize("count", [2, 20])
def test_the_feed_runs_a_fixed_number_of_queries(client, member_user, contact, count, django_assert_num_queries):
    fund = Fund.objects.create(name="Fund III", vintage_year=2026, target_size=Decimal("150000000"))
    _seed(contact, member_user, fund, count)
    _, raw = CalendarFeed.issue(member_user)
    # The feed and its user, the fetch time, then next actions, tasks, meetings and closes: one query each.
    with django_assert_num_queries(6):
        events = events_of(fetch(client, raw))
    assert len(events) == 4 * count


def test_a_browser_signed_in_but_owing_a_second_factor_still_gets_the_feed(client, member_user):
    # The token is the credential, not the session: the second-step hold must not turn it into a redirect.
    TOTPDevice.objects.create(user=member_user, name="Authenticator app", confirmed=True)
    _, raw = CalendarFeed.issue(member_user)
    client.force_login(member_user)
    assert client.get(reverse("settings")).status_code == 302  # held at the second step
    assert fetch(client, raw).status_code == 200
