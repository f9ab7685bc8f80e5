"""Configurable list grids (issue 14): the columns a list declares, and what one request shows.

A list page declares its columns once (a ``Grid``): key, label, whether and how it sorts in
SQL, whether it shows by default, and what it needs from the queryset (a ``select_related``
or a prefetch), so a hidden column costs nothing and a shown one costs no query per row.
Custom fields of the list's entity become optional columns read from the row's JSON column.

The URL carries the state (``cols``, ``density``, ``per_page`` beside the filters and
``o``), so a saved view is just a query string and a bookmark works; a request that names
any of them also remembers it in the user's ``ListPreference`` for the next visit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import django_filters
from django.db.models import F, QuerySet
from django.db.models.fields.json import KT
from django.http import HttpRequest, QueryDict
from django_filters.constants import EMPTY_VALUES

from crm.models import PAGE_SIZES, CustomField, Density, ListPreference, SavedView

CUSTOM_PREFIX = "cf_"
CUSTOM_KEY = re.compile(r"cf_[a-z0-9_]{1,60}")
# Query parameters that shape the grid, not which records match: saved views keep them,
# "select all matching" and the export drop them.
GRID_PARAMS = ("cols", "density", "per_page")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    # Fields (or expressions) to order by, in order; empty: the column does not sort.
    order: tuple[Any, ...] = ()
    default: bool = True
    # Always shown: the first column carries the record's link (and the keyboard's row).
    locked: bool = False
    numeric: bool = False
    # What the column needs from the queryset when shown: one join or one prefetch, never per row.
    needs: Callable[[QuerySet], QuerySet] | None = None
    custom: CustomField | None = None

    @property
    def sortable(self) -> bool:
        return bool(self.order)


def custom_column(definition: CustomField) -> Column:
    # Values are JSON-safe strings (numbers as decimal strings, dates ISO), so text order is
    # right for dates and selects; numbers sort as text, still in SQL and without a query.
    return Column(
        CUSTOM_PREFIX + definition.key,
        definition.name,
        order=(KT(f"custom_fields__{definition.key}"),),
        default=False,
        custom=definition,
    )


@dataclass(frozen=True)
class Grid:
    key: str
    columns: tuple[Column, ...]
    # Appended to every ordering so that pages never overlap.
    tie_break: tuple[str, ...] = ("pk",)
    custom_entity: str | None = None

    def column(self, key: str) -> Column | None:
        for column in self.columns:
            if column.key == key:
                return column
        return None

    def ordering(self, value: str) -> list[Any]:
        """``order_by()`` arguments for ``?o=key`` / ``-key``, nulls last; [] for no such column."""
        descending = value.startswith("-")
        key = value.lstrip("-")
        column = self.column(key)
        if column is not None:
            fields = column.order
        elif CUSTOM_KEY.fullmatch(key) and self.custom_entity:
            fields = (KT(f"custom_fields__{key[len(CUSTOM_PREFIX) :]}"),)
        else:
            return []
        out = []
        for item in fields:
            expression = F(item) if isinstance(item, str) else item
            out.append(expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True))
        return out

    def state(self, request: HttpRequest) -> GridState:
        """What this request shows: the URL's choices, else the user's remembered ones.

        Two small queries whatever the data (the custom-field definitions and the user's
        preference row); a third writes the preference only when the URL changes it.
        """
        definitions = list(CustomField.objects.for_entity(self.custom_entity)) if self.custom_entity else []
        available = (*self.columns, *(custom_column(d) for d in definitions))
        user = request.user
        preference = ListPreference.objects.filter(user=user, list_key=self.key).first()
        stored = {
            "columns": preference.columns if preference else None,
            "density": preference.density if preference else Density.COMPACT,
            "page_size": preference.page_size if preference else 50,
        }
        wanted = dict(stored)
        data = request.GET
        known = {column.key for column in available}
        if "cols" in data:
            wanted["columns"] = [key for key in dict.fromkeys(data.getlist("cols")) if key in known]
        if data.get("density") in Density.values:
            wanted["density"] = data["density"]
        if data.get("per_page", "").isdigit() and int(data["per_page"]) in PAGE_SIZES:
            wanted["page_size"] = int(data["per_page"])
        if wanted != stored:
            ListPreference.objects.update_or_create(
                user=user,
                list_key=self.key,
                defaults={"columns": wanted["columns"], "density": wanted["density"], "page_size": wanted["page_size"]},
            )
        chosen = wanted["columns"]
        shown = [
            column
            for column in available
            if column.locked or (column.key in chosen if chosen is not None else column.default)
        ]
        return GridState(
            grid=self,
            available=available,
            shown=shown,
            density=wanted["density"],
            page_size=wanted["page_size"],
            sort=data.get("o", ""),
            query=data,
        )

    def views_for(self, user: Any) -> QuerySet:
        return SavedView.objects.visible_to(user).filter(list_key=self.key).select_related("owner")


@dataclass
class GridState:
    grid: Grid
    available: Sequence[Column]
    shown: Sequence[Column]
    density: str
    page_size: int
    sort: str
    query: QueryDict
    keys: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.keys = {column.key for column in self.shown}

    @property
    def compact(self) -> bool:
        return self.density == Density.COMPACT

    @property
    def custom_shown(self) -> list[Column]:
        return [column for column in self.shown if column.custom is not None]

    @property
    def page_sizes(self) -> tuple[int, ...]:
        return PAGE_SIZES

    def prepare(self, queryset: QuerySet) -> QuerySet:
        """Apply what the shown columns (and the sort column) need: the rest cost nothing."""
        sort_column = self.grid.column(self.sort.lstrip("-"))
        for column in {*self.shown, *([sort_column] if sort_column else [])}:
            if column.needs is not None:
                queryset = column.needs(queryset)
        return queryset

    def hidden_inputs(self, drop: Iterable[str] = ("cols", "page")) -> list[tuple[str, str]]:
        """The current query minus ``drop``: hidden fields of the chooser's plain GET form."""
        return [(name, value) for name, values in self.query.lists() if name not in drop for value in values]

    @property
    def view_query(self) -> str:
        """What a view saved now keeps: the filters and sort, the shown columns, the page size."""
        query = QueryDict(mutable=True)
        for name, value in self.hidden_inputs(drop=("page", *GRID_PARAMS)):
            query.appendlist(name, value)
        query.setlist("cols", [column.key for column in self.shown])
        query["per_page"] = str(self.page_size)
        return query.urlencode()

    def choices(self) -> list[tuple[Column, bool]]:
        return [(column, column.key in self.keys) for column in self.available]


class GridOrderingFilter(django_filters.OrderingFilter):
    """``?o=`` for any sortable column of a grid (custom fields too), nulls last, stable ties.

    The FilterSet owns sorting so the page, its htmx refresh and the export agree; the grid
    says how each column sorts.
    """

    def __init__(self, grid: Grid, *args, **kwargs):
        self.grid = grid
        kwargs["fields"] = [(column.key, column.key) for column in grid.columns if column.sortable]
        super().__init__(*args, **kwargs)

    @property
    def field(self):
        field = super().field
        if not getattr(field, "_accepts_custom", False):
            accepts = field.valid_value
            custom = self.grid.custom_entity is not None

            def valid_value(value: str) -> bool:
                return accepts(value) or (custom and bool(CUSTOM_KEY.fullmatch(str(value).lstrip("-"))))

            field.valid_value = valid_value
            field._accepts_custom = True
        return field

    def filter(self, qs, value):
        if value in EMPTY_VALUES:
            return qs
        ordering = [item for param in value if param not in EMPTY_VALUES for item in self.grid.ordering(param)]
        return qs.order_by(*ordering, *self.grid.tie_break) if ordering else qs
