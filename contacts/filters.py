"""One FilterSet per list: it drives the page, the htmx refresh and the export alike."""

from __future__ import annotations

import datetime

import django_filters
from django.db.models import Exists, OuterRef
from django.utils import timezone

from contacts import grids, search_index
from contacts.models import (
    Communication,
    CommunicationType,
    Contact,
    ContactStatus,
    ContactType,
    Organization,
    OrganizationType,
    Tag,
)
from contacts.pickers import ContactPicker, ContactPickerField, OrganizationPicker, OrganizationPickerField
from crm.lib import fulltext
from crm.lib.grid import GridOrderingFilter
from crm.models import User


class OrganizationFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    type = django_filters.ChoiceFilter(choices=OrganizationType.choices, empty_label="All types")
    tag = django_filters.ModelChoiceFilter(
        field_name="tags",
        queryset=lambda request: Tag.objects.visible_to(request.user),
        empty_label="All tags",
        label="Tag",
    )
    o = GridOrderingFilter(grids.ORGANIZATIONS, label="Sort")

    class Meta:
        model = Organization
        fields = ["q", "type", "tag"]

    def search(self, queryset, name, value):
        return fulltext.matching(queryset, search_index.ORGANIZATIONS, value)


# --- Contacts ----------------------------------------------------------------------------


class ContactFilter(django_filters.FilterSet):
    """The contacts list: the page, its htmx refresh, the export and bulk "all matching"."""

    q = django_filters.CharFilter(method="search", label="Search")
    type = django_filters.ChoiceFilter(
        field_name="contact_type", choices=ContactType.choices, empty_label="All", label="Type"
    )
    status = django_filters.ChoiceFilter(choices=ContactStatus.choices, empty_label="Any status")
    tag = django_filters.ModelChoiceFilter(
        field_name="tags",
        queryset=lambda request: Tag.objects.visible_to(request.user),
        empty_label="Any tag",
        label="Tag",
    )
    owner = django_filters.ModelChoiceFilter(
        queryset=User.objects.team(), empty_label="Any owner", null_label="No owner", label="Owner"
    )
    # A name rather than a picker: thousands of organizations make a select unusable. An id
    # (a link from an organization's page) matches exactly.
    organization = django_filters.CharFilter(method="filter_organization", label="Organization")
    # The user's sources, set per request in __init__.
    source = django_filters.ChoiceFilter(choices=[], empty_label="Any source")
    untouched = django_filters.NumberFilter(
        method="filter_untouched",
        label="No touch in (days)",
        min_value=1,
        max_value=3650,
        help_text="Contacts with no communication in this many days, or never.",
    )
    stale = django_filters.BooleanFilter(
        method="filter_stale",
        label="Stale",
        widget=django_filters.widgets.BooleanWidget,
        help_text="Contacts not touched within their type's threshold (set in the admin).",
    )
    o = GridOrderingFilter(grids.CONTACTS, label="Sort")

    class Meta:
        model = Contact
        fields = ["q", "type", "status", "tag", "owner", "organization", "source", "untouched", "stale"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A plain function (filters are deep-copied; a bound method would copy the request),
        # called only when the form is drawn or validated.
        user, choices_for = self.user, self.source_choices
        self.filters["source"].extra["choices"] = lambda: choices_for(user)

    @property
    def user(self):
        return getattr(self.request, "user", None)

    @staticmethod
    def source_choices(user) -> list[tuple[str, str]]:
        visible = Contact.objects.visible_to(user)
        sources = visible.exclude(source="").order_by("source").values_list("source", flat=True).distinct()
        return [(s, s) for s in sources[:200]]

    def search(self, queryset, name, value):
        return fulltext.matching(queryset, search_index.CONTACTS, value)

    def filter_organization(self, queryset, name, value):
        value = value.strip()
        if value.isdigit():
            return queryset.filter(organization_id=int(value))
        return queryset.filter(organization__name__icontains=value) if value else queryset

    def filter_untouched(self, queryset, name, value):
        since = timezone.now() - datetime.timedelta(days=int(value))
        touched = Communication.objects.visible_to(self.user).filter(
            contact=OuterRef("pk"), communication_date__gte=since
        )
        return queryset.filter(~Exists(touched)).exclude(last_contacted__gte=since)

    def filter_stale(self, queryset, name, value):
        if value is None:
            return queryset
        stale = queryset.model.objects.all().stale().values("pk")
        return queryset.filter(pk__in=stale) if value else queryset.exclude(pk__in=stale)

    def without_type(self):
        """The filtered queryset before the type tab applies: what the tab counts count."""
        queryset = self.queryset.all()
        if not self.is_bound:
            return queryset
        self.form.is_valid()  # invalid values drop out of cleaned_data, as in .qs
        for name, value in self.form.cleaned_data.items():
            if name not in ("type", "o"):
                queryset = self.filters[name].filter(queryset, value)
        return queryset


# --- Communications (issue 5) -----------------------------------------------------------


class ContactPickerFilter(django_filters.ModelChoiceFilter):
    """A contact filter chosen with the search-as-you-type picker (or typed, without JS)."""

    field_class = ContactPickerField


class OrganizationPickerFilter(django_filters.ModelChoiceFilter):
    """An organization filter chosen with the picker: a select would list every organization."""

    field_class = OrganizationPickerField


OPEN_ACTION_CHOICES = (("yes", "Open next action"), ("no", "No open next action"))


class CommunicationFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    type = django_filters.ChoiceFilter(choices=CommunicationType.choices, empty_label="All types")
    contact = ContactPickerFilter(
        queryset=lambda request: Contact.objects.visible_to(request.user),
        widget=ContactPicker(event="filterContactPicked", placeholder="Any contact", attrs={"id": "filter-contact"}),
        label="Contact",
    )
    organization = OrganizationPickerFilter(
        field_name="contact__organization",
        queryset=lambda request: Organization.objects.visible_to(request.user),
        widget=OrganizationPicker(
            event="filterOrganizationPicked", placeholder="Any organization", attrs={"id": "filter-organization"}
        ),
        label="Organization",
    )
    logged_by = django_filters.ModelChoiceFilter(
        field_name="created_by",
        queryset=User.objects.order_by("full_name", "username"),
        empty_label="Anyone",
        label="Logged by",
    )
    date_from = django_filters.DateFilter(field_name="communication_date", lookup_expr="date__gte", label="From")
    date_to = django_filters.DateFilter(field_name="communication_date", lookup_expr="date__lte", label="To")
    open_action = django_filters.ChoiceFilter(
        choices=OPEN_ACTION_CHOICES, method="filter_open_action", empty_label="Any next action", label="Next action"
    )
    opportunity = django_filters.NumberFilter(field_name="opportunity_id", label="Opportunity")

    class Meta:
        model = Communication
        fields = ["q", "type", "contact", "organization", "logged_by", "date_from", "date_to", "open_action"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form.fields["logged_by"].label_from_instance = lambda user: user.display_name
        for name in ("date_from", "date_to"):
            self.form.fields[name].widget.input_type = "date"
            self.form.fields[name].error_messages["invalid"] = "Enter a date like 2025-03-14."

    def search(self, queryset, name, value):
        return fulltext.matching(queryset, search_index.COMMUNICATIONS, value)

    def filter_open_action(self, queryset, name, value):
        open_ids = Communication.objects.visible_to(getattr(self.request, "user", None)).open_actions().values("pk")
        if value == "yes":
            return queryset.filter(pk__in=open_ids)
        if value == "no":
            return queryset.exclude(pk__in=open_ids)
        return queryset

    @property
    def is_filtered(self) -> bool:
        data = self.form.data if self.is_bound else {}
        return any(data.get(name) for name in [*self.filters, "contact_search", "organization_search"])
