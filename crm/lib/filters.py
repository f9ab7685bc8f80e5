"""Pieces shared by the FilterSets."""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet

from crm.lib.text import SEARCH_MAX

# More words than this add nothing to a search but cost a join each.
MAX_SEARCH_WORDS = 8


def every_word_matches(queryset: QuerySet, value: str, fields: tuple[str, ...]) -> QuerySet:
    """Keep rows where each word of ``value`` is in at least one of ``fields`` (any case).

    "ada atlas" finds Ada at Atlas Family Office: the words may match different fields.
    Only the first SEARCH_MAX characters count: a megabyte typed (or posted) in the search
    box would otherwise become a megabyte LIKE pattern tried against every row.
    """
    for word in value[:SEARCH_MAX].split()[:MAX_SEARCH_WORDS]:
        queryset = queryset.filter(reduce(or_, (Q(**{f"{field}__icontains": word}) for field in fields)))
    return queryset
