from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.http import HttpRequest

from contacts.services import overdue_count
from crm.models import SavedView
from crm.navigation import list_url, sections_for


def layout(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    nav = []
    if user is not None and user.is_authenticated:
        views = _saved_views(user)
        for item in sections_for(user):
            active = request.path == item.url if item.url == "/" else request.path.startswith(item.url)
            nav.append({"item": item, "active": active, "views": _views_of(views, item.list_key)})
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


def _saved_views(user) -> Callable[[], dict[str, list]]:
    """The sidebar's saved views, grouped by list: one query, only when a page draws the sidebar."""

    @cache
    def grouped() -> dict[str, list]:
        out: dict[str, list] = {}
        for view in SavedView.objects.visible_to(user).only("pk", "name", "query", "list_key", "shared"):
            view.url = f"{list_url(view.list_key)}?{view.query}"
            out.setdefault(view.list_key, []).append(view)
        if "opportunities" in out:  # the opportunities list lives under Pipeline
            out.setdefault("pipeline", []).extend(out["opportunities"])
        return out

    return grouped


def _views_of(views: Callable[[], dict[str, list]], list_key: str) -> Callable[[], list]:
    return lambda: views().get(list_key, []) if list_key else []
