"""What a calendar feed holds, as one iCalendar document.

Bounded so a calendar app's fetch stays small and fixed in cost: next actions dated from
LOOKBACK back to LOOKAHEAD ahead, meetings from now to LOOKAHEAD, closes in the same window,
each kind capped at EVENT_CAP. One query per kind. Every event's UID names its record and the
host (``communication-12@crm.example``), so a calendar app updates an event on the next fetch
rather than adding a copy.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event

from contacts.models import Communication, CommunicationType
from crm.models import CalendarFeed
from lps.models import Close
from pipeline.models import Task

LOOKBACK = datetime.timedelta(days=90)
LOOKAHEAD = datetime.timedelta(days=365)
EVENT_CAP = 500
MEETING_LENGTH = datetime.timedelta(hours=1)

# Builds an absolute URL (scheme and host of the request) from a path.
AbsoluteUrl = Callable[[str], str]


def build_calendar(feed: CalendarFeed, host: str, absolute: AbsoluteUrl, now: datetime.datetime) -> Calendar:
    user = feed.user
    everyone = feed.includes_everyone
    calendar = Calendar()
    calendar.add("prodid", "-//Venture CRM//Calendar feed//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "Venture CRM (everyone)" if everyone else f"Venture CRM ({user.display_name})")
    for event in (
        *_next_actions(user, everyone, host, absolute, now),
        *_tasks(user, everyone, host, absolute, now),
        *_meetings(user, everyone, host, absolute, now),
        *_closes(user, host, absolute, now),
    ):
        calendar.add_component(event)
    return calendar


def _event(uid: str, summary: str, url: str, description: str, now: datetime.datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", now)
    event.add("summary", summary)
    event.add("description", f"{description}\n{url}".strip())
    event.add("url", url)
    return event


def _all_day(event: Event, day: datetime.date) -> Event:
    event.add("dtstart", day)
    event.add("dtend", day + datetime.timedelta(days=1))
    event.add("transp", "TRANSPARENT")  # a reminder of a day, not a busy slot
    return event


def _next_actions(user, everyone: bool, host: str, absolute: AbsoluteUrl, now) -> Iterable[Event]:
    today = timezone.localdate(now)
    actions = (
        Communication.objects.visible_to(user)
        .open_actions()
        .filter(next_action_date__gte=today - LOOKBACK, next_action_date__lte=today + LOOKAHEAD)
        .select_related("contact", "created_by")
        .only(
            "next_action",
            "next_action_date",
            "subject",
            "type",
            "contact__first_name",
            "contact__last_name",
            "created_by__username",
            "created_by__full_name",
        )
        .order_by("next_action_date", "pk")
    )
    if not everyone:
        actions = actions.filter(created_by=user)
    for action in actions[:EVENT_CAP]:
        summary = f"Next: {action.next_action} — {action.contact.short_name}"
        if everyone:
            owner = action.created_by.display_name if action.created_by else "nobody"
            summary = f"{summary} ({owner})"
        url = absolute(reverse("communication_detail", args=[action.pk]))
        # Not str(action): it would read the contact's deferred name fields, a query per event.
        origin = action.subject or action.get_type_display()
        description = f"From: {origin}\nContact: {absolute(action.contact.get_absolute_url())}"
        event = _event(f"communication-{action.pk}@{host}", summary, url, description, now)
        yield _all_day(event, action.next_action_date)


def _meetings(user, everyone: bool, host: str, absolute: AbsoluteUrl, now) -> Iterable[Event]:
    meetings = (
        Communication.objects.visible_to(user)
        .filter(type=CommunicationType.MEETING, communication_date__gte=now, communication_date__lte=now + LOOKAHEAD)
        .select_related("contact")
        .only("subject", "type", "communication_date", "duration_minutes", "contact__first_name", "contact__last_name")
        .order_by("communication_date", "pk")
    )
    if not everyone:
        # Whose meeting: who logged it, or a team member who attends it.
        meetings = meetings.filter(Q(created_by=user) | Q(team_attendees=user)).distinct()
    for meeting in meetings[:EVENT_CAP]:
        url = absolute(reverse("communication_detail", args=[meeting.pk]))
        summary = f"{meeting.subject or 'Meeting'} — {meeting.contact.short_name}"
        description = f"Contact: {absolute(meeting.contact.get_absolute_url())}"
        # The next-action event of the same record is "communication-<pk>": the meeting needs its own UID.
        event = _event(f"meeting-{meeting.pk}@{host}", summary, url, description, now)
        length = datetime.timedelta(minutes=meeting.duration_minutes) if meeting.duration_minutes else MEETING_LENGTH
        event.add("dtstart", meeting.communication_date)
        event.add("dtend", meeting.communication_date + length)
        yield event


def _closes(user, host: str, absolute: AbsoluteUrl, now) -> Iterable[Event]:
    today = timezone.localdate(now)
    closes = (
        Close.objects.visible_to(user)
        .filter(date__gte=today - LOOKBACK, date__lte=today + LOOKAHEAD)
        .select_related("fund")
        .order_by("date", "pk")
    )
    url = absolute(reverse("close_planner"))
    for close in closes[:EVENT_CAP]:
        summary = f"{close.fund.name}: {close.name} ({close.get_state_display().lower()})"
        event = _event(f"close-{close.pk}@{host}", summary, url, "", now)
        yield _all_day(event, close.date)


def _tasks(user, everyone: bool, host: str, absolute: AbsoluteUrl, now) -> Iterable[Event]:
    """Open tasks' due dates (issue 17): the user's own, or every one on an "everyone" feed."""
    today = timezone.localdate(now)
    tasks = (
        Task.objects.visible_to(user)
        .open()
        .filter(due_date__gte=today - LOOKBACK, due_date__lte=today + LOOKAHEAD)
        .select_related("owner", "contact")
        .order_by("due_date", "pk")
    )
    if not everyone:
        tasks = tasks.filter(owner=user)
    for task in tasks[:EVENT_CAP]:
        summary = f"Task: {task.title}"
        if everyone:
            summary = f"{summary} ({task.owner.display_name})"
        description = f"Contact: {task.contact.full_name}" if task.contact else ""
        event = _event(f"task-{task.pk}@{host}", summary, absolute(task.get_absolute_url()), description, now)
        yield _all_day(event, task.due_date)
