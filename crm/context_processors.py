from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.http import HttpRequest

from contacts.services import overdue_count
from crm.navigation import sections_for


def layout(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    nav = []
    if user is not None and user.is_authenticated:
        for item in sections_for(user):
            active = request.path == item.url if item.url == "/" else request.path.startswith(item.url)
            nav.append({"item": item, "active": active})
    return {"nav_sections": nav, "app_version": settings.VERSION, "overdue_actions": _overdue_actions(user)}


def _overdue_actions(user) -> Callable[[], int] | int:
    """The sidebar badge's count: one COUNT query, run only when a template asks for it
    (htmx fragments never do) and at most once per request."""
    if user is None or not user.is_authenticated:
        return 0

    @cache
    def count() -> int:
        return overdue_count(user)

    return count
