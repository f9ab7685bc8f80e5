"""One FilterSet per list: it drives the page, the htmx refresh and the export alike."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from contacts.models import Organization, OrganizationType, Tag


class OrganizationFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    type = django_filters.ChoiceFilter(choices=OrganizationType.choices, empty_label="All types")
    tag = django_filters.ModelChoiceFilter(
        field_name="tags", queryset=Tag.objects.all(), empty_label="All tags", label="Tag"
    )
    o = django_filters.OrderingFilter(
        fields=(
            ("name", "name"),
            ("type", "type"),
            ("city", "city"),
            ("contact_count", "contacts"),
            ("total_committed", "committed"),
            ("updated_at", "updated"),
        ),
        label="Sort",
    )

    class Meta:
        model = Organization
        fields = ["q", "type", "tag"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(city__icontains=value)
            | Q(country__icontains=value)
            | Q(website__icontains=value)
            | Q(description__icontains=value)
        )
