from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from crm.calendar_feed.feed import build_calendar
from crm.models import CalendarFeed


@require_GET
@never_cache
@login_not_required
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The one page outside sign-in that shows CRM data: the secret token in the URL is the
    credential (calendar apps cannot sign in). Unknown, revoked, or of a deactivated user: 404,
    the same answer for each, so the URL tells nothing about which tokens exist.
    """
    now = timezone.now()
    feed = CalendarFeed.authenticate(token, now)
    if feed is None:
        raise Http404("No such calendar.")
    calendar = build_calendar(feed, request.get_host().split(":")[0], request.build_absolute_uri, now)
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="venture-crm.ics"'
    # The token is in the URL: keep it out of Referer headers should the feed ever be opened in a browser.
    response["Referrer-Policy"] = "no-referrer"
    return response
