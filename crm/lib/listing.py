"""Pagination and export plumbing shared by every list page."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpRequest

from crm.lib.export import FORMATS

PER_PAGE = 50


def paginate(request: HttpRequest, queryset, per_page: int = PER_PAGE) -> Page:
    """The requested page (``?page=``); a bad or too-large number gives the nearest page."""
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def export_format(request: HttpRequest) -> str:
    """The requested export format; only roles allowed to bulk-export get this far."""
    if not request.user.can_bulk_export:
        raise PermissionDenied("Exports need the manager role.")
    fmt = request.GET.get("format", "csv")
    return fmt if fmt in FORMATS else "csv"
