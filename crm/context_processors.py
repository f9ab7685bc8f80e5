from django.conf import settings
from django.http import HttpRequest

from crm.navigation import sections_for


def layout(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    nav = []
    if user is not None and user.is_authenticated:
        for item in sections_for(user):
            active = request.path == item.url if item.url == "/" else request.path.startswith(item.url)
            nav.append({"item": item, "active": active})
    return {"nav_sections": nav, "app_version": settings.VERSION}
