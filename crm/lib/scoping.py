"""The one scoping queryset every model's manager starts from, and the one access helper."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import Http404

PK_LIMIT = 2**63 - 1


class ScopedQuerySet(models.QuerySet):
    """Every query that serves a user starts from ``visible_to(user)``.

    The team shares one book of relationships today, so an active user sees every record;
    the method is the single place where row-level scoping goes when that changes.
    """

    def visible_to(self, user: Any) -> ScopedQuerySet:
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        return self.all()

    def get_for_user(self, user: Any, pk: Any, *, write: bool = False) -> Any:
        """The record ``pk`` for ``user``: every detail, edit, delete, panel and action view
        resolves its object here, after chaining what it shows (``select_related``,
        annotations) onto the queryset.

        Not there, not visible to the user, or not a number at all: 404, never a 500 and
        never a hint that a hidden record exists. ``write=True``: also refuse (403) a user
        who may not change this kind of record at all (``refuse_write``, which guarded
        models define from their ``WRITE_RULES``), the same rule their save checks.
        """
        try:
            pk = int(str(pk).strip())
        except (TypeError, ValueError):
            pk = None
        if pk is None or not -PK_LIMIT <= pk <= PK_LIMIT:  # past 64 bits the database would raise
            raise Http404(f"No such {self.model._meta.verbose_name}.")
        try:
            record = self.visible_to(user).get(pk=pk)
        except self.model.DoesNotExist:
            raise Http404(f"No such {self.model._meta.verbose_name}.") from None
        if write:
            refuse_write = getattr(record, "refuse_write", None)
            if refuse_write is not None:
                refuse_write(user)
        return record
