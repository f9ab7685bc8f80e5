"""What every list and write endpoint shares: the list pages' FilterSets, pages, and forms."""

from __future__ import annotations

from typing import Annotated, Any

import django_filters
from django import forms
from django.db import models
from django.http import HttpRequest, QueryDict
from ninja import Field, Path, Schema
from pydantic import model_validator

from crm.api.errors import Problem, form_errors, invalid

PAGE_SIZE = 50
PAGE_SIZE_MAX = 200
PK_MAX = 2**63 - 1
# Query parameters of the pagination itself, not of the FilterSet.
PAGING = ("page", "page_size")


# A record's id in a path or a body: a positive 64-bit integer (larger ones never reach the database).
RecordId = Annotated[int, Field(ge=1, le=PK_MAX)]
PathId = Annotated[int, Path(ge=1, le=PK_MAX)]


class Body(Schema):
    """A request body: a JSON object (ninja would otherwise read fields off a list as absent)."""

    @model_validator(mode="wrap")
    @classmethod
    def _an_object(cls, data: Any, handler: Any) -> Any:
        raw = getattr(data, "_obj", data)
        if not isinstance(raw, dict) and not isinstance(raw, Schema):
            raise ValueError("Send a JSON object.")
        return handler(data)


class Page(Schema):
    """One page of a list: ``total`` records match; ``next`` is the next page's number, or null."""

    total: int
    page: int
    page_size: int
    next: int | None


def _parameter_schema(field: django_filters.Filter) -> dict[str, Any]:
    """A filter's values as JSON Schema, as far as they are known without a request."""
    if isinstance(field, django_filters.OrderingFilter):
        names = list(field.param_map)
        return {"type": "string", "enum": names + [f"-{name}" for name in names]}
    if isinstance(field, django_filters.ModelChoiceFilter | django_filters.ModelMultipleChoiceFilter):
        record = {"type": "integer", "minimum": 1, "maximum": PK_MAX, "description": "A record's id."}
        if field.extra.get("null_label"):
            return {"anyOf": [record, {"type": "string", "enum": ["null"], "description": "None set."}]}
        return record
    if isinstance(field, django_filters.ChoiceFilter) and isinstance(field.extra.get("choices"), list | tuple):
        return {"type": "string", "enum": [str(value) for value, _ in field.extra["choices"]]}
    if isinstance(field, django_filters.NumberFilter):
        bounds = {"minimum": field.extra.get("min_value"), "maximum": field.extra.get("max_value")}
        return {"type": "number", **{key: value for key, value in bounds.items() if value is not None}}
    if isinstance(field, django_filters.DateFilter):
        return {"type": "string", "description": "A date like 2025-03-14."}
    return {"type": "string"}


def _typed(field: django_filters.Filter | None) -> bool:
    """Whether the filter's schema is more than free text (an id, a choice, a number, a date)."""
    return field is not None and _parameter_schema(field) != {"type": "string"}


def filter_parameters(filterset_class: type[django_filters.FilterSet]) -> dict[str, Any]:
    """The FilterSet's fields as OpenAPI query parameters: the list page's own query string."""
    parameters = [
        {"name": name, "in": "query", "required": False, "schema": _parameter_schema(field)}
        for name, field in filterset_class.base_filters.items()
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
    value = request.GET.get(name)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise Problem(422, "The request has invalid fields.", {name: [f"A whole number from 1 to {maximum}."]})
    return int(value)


def filtered_page(
    request: HttpRequest, filterset_class: type[django_filters.FilterSet], queryset: models.QuerySet
) -> tuple[dict[str, Any], list[Any]]:
    """``queryset`` filtered by the list page's FilterSet from the query string, in a stable
    order (the page's own, then id), and the requested page of it with the total."""
    repeated = {key: ["Give this parameter once."] for key, values in request.GET.lists() if len(values) > 1}
    if repeated:
        raise Problem(422, "A query parameter was given more than once.", repeated)
    # An empty typed filter ("tag=") is refused rather than read as no filter, as the list page
    # reads it: the schema says an id or a choice, and a script that sent one meant something.
    empty = {
        key: ["Leave the parameter out, or give it a value."]
        for key, value in request.GET.items()
        if value == "" and (key in PAGING or _typed(filterset_class.base_filters.get(key)))
    }
    if empty:
        raise Problem(422, "The request has invalid fields.", empty)
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


def record_values(form: forms.BaseForm) -> dict[str, Any]:
    """What an unbound ``form`` shows for its record (custom fields included), as form values:
    a PATCH overlays these with the fields it sends, so the fields it leaves out keep their values."""
    values: dict[str, Any] = {}
    for name, field in form.fields.items():
        value = form.get_initial_for_field(field, name)
        if isinstance(value, models.Model):
            value = value.pk
        elif isinstance(value, list | tuple):
            value = [v.pk if isinstance(v, models.Model) else v for v in value]
        values[name] = value
    return values
