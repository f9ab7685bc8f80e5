"""The LP tracker's FilterSet: it drives the table, the summary cards, the htmx refresh and the export."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils import timezone

from contacts.models import Contact, OrganizationType
from crm.lib.filters import every_word_matches
from lps import compliance
from lps.models import Commitment, CommitmentStatus, ComplianceKind, Fund, ProvisionCategory, SideLetterProvision

MISSING_CHOICES = (
    ("docs", "Legal docs not signed"),
    ("wire", "Wire not received"),
    ("k1", "K-1 not sent (latest tax year)"),
    ("accredited", "Not marked accredited"),
    ("compliance", "Accreditation expired or not verified"),
)
STALE_CHOICES = (("true", "Stale relationship"), ("false", "Not stale"))
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
    # The LP's contact by the contacts list's rule (StaleThreshold per contact type, set in the admin).
    stale = django_filters.ChoiceFilter(
        choices=STALE_CHOICES, method="filter_stale", empty_label="Any last touch", label="Stale"
    )
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
        fields = ["q", "fund", "investor_type", "status", "missing", "stale"]

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
        if value == "compliance":
            # Read from the checks themselves, so an expired verification counts as missing.
            return queryset.exclude(compliance.verified(ComplianceKind.ACCREDITATION, timezone.localdate(), lp="lp"))
        lookup = MISSING_LOOKUPS.get(value)
        return queryset.filter(lookup) if lookup is not None else queryset

    def filter_stale(self, queryset, name, value):
        if value not in ("true", "false"):
            return queryset
        stale = Contact.objects.all().stale().values("pk")
        return queryset.filter(lp__contact__in=stale) if value == "true" else queryset.exclude(lp__contact__in=stale)

    @property
    def selected_fund(self) -> Fund | None:
        if self.is_bound and self.form.is_valid():
            return self.form.cleaned_data.get("fund")
        return None

    @property
    def is_filtered(self) -> bool:
        data = self.form.data if self.is_bound else {}
        return any(data.get(name) for name in ("q", "fund", "investor_type", "status", "missing", "stale"))


class ProvisionFilter(django_filters.FilterSet):
    """The side-letter register: it drives the page, its htmx refresh and the export."""

    q = django_filters.CharFilter(method="search", label="Search")
    category = django_filters.ChoiceFilter(choices=ProvisionCategory.choices, empty_label="Every category")
    fund = django_filters.ModelChoiceFilter(
        field_name="side_letter__commitment__fund",
        queryset=lambda request: Fund.objects.visible_to(request.user).order_by("-vintage_year", "name"),
        empty_label="All funds",
    )

    class Meta:
        model = SideLetterProvision
        fields = ["q", "category", "fund"]

    def search(self, queryset, name, value):
        return every_word_matches(
            queryset,
            value,
            (
                "text",
                "side_letter__commitment__lp__contact__first_name",
                "side_letter__commitment__lp__contact__last_name",
                "side_letter__commitment__lp__contact__organization__name",
                "side_letter__commitment__investing_entity",
            ),
        )
