"""The one scoping queryset every model's manager starts from."""

from __future__ import annotations

from typing import Any

from django.db import models


class ScopedQuerySet(models.QuerySet):
    """Every query that serves a user starts from ``visible_to(user)``.

    The team shares one book of relationships today, so an active user sees every record;
    the method is the single place where row-level scoping goes when that changes.
    """

    def visible_to(self, user: Any) -> ScopedQuerySet:
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        return self.all()
