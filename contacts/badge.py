"""The sidebar's overdue badge out-of-band: every view that changes a next action or a task
appends it, so the count follows the change at once (static/js/app.js brings the
communications tab's "N overdue" in step when it lands)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from contacts.services import overdue_count

BADGE_TEMPLATE = "contacts/actions_badge.html"


def with_badge(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Append the sidebar's overdue badge out-of-band, so it follows a change at once."""
    html = render_to_string(BADGE_TEMPLATE, {"overdue_actions": overdue_count(request.user), "oob": True})
    response.content = response.content + html.encode()
    return response
