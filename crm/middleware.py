"""Every request that writes is one transaction: all of it is saved, or none of it.

Django's ATOMIC_REQUESTS would wrap reads too, and on SQLite our transactions begin
IMMEDIATE (they take the write lock up front), so every page view would queue behind
every save. Only unsafe methods (POST, PUT, PATCH, DELETE) are wrapped here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import ProtectedError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
WRITE_FAILED_TEMPLATE = "crm/write_failed.html"


class AtomicWritesMiddleware:
    """Run each writing view inside ``transaction.atomic()``; keep it last in MIDDLEWARE.

    A view that raises leaves nothing behind: the row, its history, tags and custom field
    values go back together. A database failure (a lock held too long, a lost connection)
    answers 503 with a page that says nothing was saved; any other error goes on to
    Django's handler (403, 404, or the 500 page, which says the same). Flash messages the
    view queued before failing ("Saved …") are dropped: they would announce what was not.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Callable, args: Any, kwargs: Any) -> HttpResponse | None:
        if request.method in SAFE_METHODS or getattr(view, "_non_atomic_requests", None):
            return None
        try:
            with transaction.atomic():
                return view(request, *args, **kwargs)
        except ProtectedError as refusal:
            # A delete that would take records others still need (a commitment with capital
            # call lines): say what holds it, rather than "the database could not finish".
            _drop_queued_messages(request)
            held_by = sorted({str(obj._meta.verbose_name_plural) for obj in refusal.protected_objects})
            context = {"reason": f"It is still referred to by {', '.join(held_by)}, which must stay on record."}
            return render(request, WRITE_FAILED_TEMPLATE, context, status=409)
        except DatabaseError:
            logger.exception("A write to %s failed; it was rolled back", request.path)
            _drop_queued_messages(request)
            return render(request, WRITE_FAILED_TEMPLATE, status=503)
        except Exception:
            _drop_queued_messages(request)
            raise


def _drop_queued_messages(request: HttpRequest) -> None:
    storage = getattr(request, "_messages", None)
    if storage is not None:
        storage._queued_messages.clear()  # messages has no public way to take back what was added
