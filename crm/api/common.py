"""What every list and write endpoint shares: the list pages' FilterSets, pages, and forms."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db import models
from django.http import HttpRequest, QueryDict
from ninja import Schema

from crm.api.errors import Problem, form_errors, invalid

PAGE_SIZE = 50
PAGE_SIZE_MAX = 200
# Query parameters of the pagination itself, not of the FilterSet.
PAGING = ("page", "page_size")


class Page(Schema):
    """One page of a list: ``total`` records match; ``next`` is the next page's number, or null."""

    total: int
    page: int
    page_size: int
    next: int | None


def filter_parameters(filterset_class: type[django_filters.FilterSet]) -> dict[str, Any]:
    """The FilterSet's fields as OpenAPI query parameters (strings, as the list page's URL)."""
    parameters = [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string", "maxLength": 200}}
        for name in filterset_class.base_filters
    ]
    parameters += [
        {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
        {
            "name": "page_size",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_SIZE_MAX},
        },
    ]
    return {"parameters": parameters}


def _positive(request: HttpRequest, name: str, default: int, maximum: int) -> int:
    value = request.GET.get(name, "")
    if value == "":
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise Problem(422, "The request has invalid fields.", {name: [f"A whole number from 1 to {maximum}."]})
    return int(value)


def filtered_page(
    request: HttpRequest, filterset_class: type[django_filters.FilterSet], queryset: models.QuerySet
) -> tuple[dict[str, Any], list[Any]]:
    """``queryset`` filtered by the list page's FilterSet from the query string, in a stable
    order (the page's own, then id), and the requested page of it with the total."""
    data = QueryDict(mutable=True)
    for key, values in request.GET.lists():
        if key not in PAGING:
            data.setlist(key, values)
    filterset = filterset_class(data or None, queryset=queryset, request=request)
    if filterset.is_bound and not filterset.is_valid():
        raise Problem(422, "The filters are invalid.", form_errors(filterset.form))
    page = _positive(request, "page", 1, 10**6)
    page_size = _positive(request, "page_size", PAGE_SIZE, PAGE_SIZE_MAX)
    rows = filterset.qs
    ordering = list(rows.query.order_by or rows.model._meta.ordering or [])
    rows = rows.order_by(*ordering, "pk")
    total = rows.count()
    start = (page - 1) * page_size
    items = list(rows[start : start + page_size]) if start < total else []
    more = start + page_size < total
    return {"total": total, "page": page, "page_size": page_size, "next": page + 1 if more else None}, items


def bound_form(form: forms.BaseForm) -> forms.BaseForm:
    """``form`` validated: a 422 problem with its field errors when it is not."""
    if not form.is_valid():
        raise invalid(form)
    return form


def form_data(initial: dict[str, Any], changes: dict[str, Any]) -> QueryDict:
    """Form data as a browser would post it: the record's values, overlaid with the request's."""
    data = QueryDict(mutable=True)
    for name, value in {**initial, **changes}.items():
        if value is None or value is False:
            continue
        if isinstance(value, list | tuple):
            data.setlist(name, [str(v) for v in value])
        elif value is True:
            data[name] = "on"
        else:
            data[name] = str(value)
    return data
