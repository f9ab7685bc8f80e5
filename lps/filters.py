"""The LP tracker's FilterSet: it drives the table, the summary cards, the htmx refresh and the export."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from contacts.models import OrganizationType
from crm.lib.filters import every_word_matches
from lps.models import Commitment, CommitmentStatus, Fund

MISSING_CHOICES = (
    ("docs", "Legal docs not signed"),
    ("wire", "Wire not received"),
    ("k1", "K-1 not sent (latest tax year)"),
    ("accredited", "Not marked accredited"),
)
MISSING_LOOKUPS = {
    "docs": Q(legal_docs_signed=False),
    "wire": Q(wire_received=False),
    # k1_sent: the annotation Commitment.objects.for_tracker() adds (the latest tax year's K-1).
    "k1": Q(k1_sent=False),
    "accredited": Q(lp__accredited=False),
}


class CommitmentFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    fund = django_filters.ModelChoiceFilter(
        queryset=lambda request: Fund.objects.visible_to(request.user).order_by("-vintage_year", "name"),
        empty_label="All funds",
    )
    investor_type = django_filters.ChoiceFilter(
        field_name="lp__investor_type", choices=OrganizationType.choices, empty_label="All investor types"
    )
    status = django_filters.ChoiceFilter(choices=CommitmentStatus.choices, empty_label="Any status")
    missing = django_filters.ChoiceFilter(choices=MISSING_CHOICES, method="filter_missing", empty_label="Any paperwork")
    o = django_filters.OrderingFilter(
        fields=(
            ("lp__contact__last_name", "lp"),
            ("lp__contact__organization__name", "organization"),
            ("lp__investor_type", "type"),
            ("fund__name", "fund"),
            ("status", "status"),
            ("commitment_amount", "committed"),
            ("funded_amount", "funded"),
            ("pct_funded", "percent"),
            ("commitment_date", "date"),
        ),
        label="Sort",
    )

    class Meta:
        model = Commitment
        fields = ["q", "fund", "investor_type", "status", "missing"]

    def search(self, queryset, name, value):
        return every_word_matches(
            queryset,
            value,
            (
                "lp__contact__first_name",
                "lp__contact__last_name",
                "lp__contact__email",
                "lp__contact__organization__name",
                "investing_entity",
            ),
        )

    def filter_missing(self, queryset, name, value):
        lookup = MISSING_LOOKUPS.get(value)
        return queryset.filter(lookup) if lookup is not None else queryset

    @property
    def selected_fund(self) -> Fund | None:
        if self.is_bound and self.form.is_valid():
            return self.form.cleaned_data.get("fund")
        return None

    @property
    def is_filtered(self) -> bool:
        data = self.form.data if self.is_bound else {}
        return any(data.get(name) for name in ("q", "fund", "investor_type", "status", "missing"))
