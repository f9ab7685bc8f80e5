"""Role checks for views. Templates may hide a button; only these decide what is allowed."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from crm.models import Role
from crm.permissions import Capability, require


def role_required(role: str) -> Callable:
    """Refuse (403) a signed-in user whose role ranks below ``role``."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_role(role):
                raise PermissionDenied(f"This needs the {Role(role).label.lower()} role.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


manager_required = role_required(Role.MANAGER)


def capability_required(capability: Capability) -> Callable:
    """Refuse (403) a user without ``capability``. The model refuses the write anyway (see
    crm.permissions); this only turns the user away before a form is shown."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            require(request.user, capability)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
