"""One FilterSet per list: it drives the page, the htmx refresh and the export alike."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from contacts.models import Communication, CommunicationType, Contact, Organization, OrganizationType, Tag
from contacts.pickers import ContactPicker, ContactPickerField
from crm.models import User


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


# --- Communications (issue 5) -----------------------------------------------------------


class ContactPickerFilter(django_filters.ModelChoiceFilter):
    """A contact filter chosen with the search-as-you-type picker (or typed, without JS)."""

    field_class = ContactPickerField


OPEN_ACTION_CHOICES = (("yes", "Open next action"), ("no", "No open next action"))


class CommunicationFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    type = django_filters.ChoiceFilter(choices=CommunicationType.choices, empty_label="All types")
    contact = ContactPickerFilter(
        queryset=lambda request: Contact.objects.visible_to(request.user),
        widget=ContactPicker(event="filterContactPicked", placeholder="Any contact", attrs={"id": "filter-contact"}),
        label="Contact",
    )
    organization = django_filters.ModelChoiceFilter(
        field_name="contact__organization",
        queryset=lambda request: Organization.objects.visible_to(request.user).only("pk", "name"),
        empty_label="All organizations",
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
        for word in value.split()[:8]:
            queryset = queryset.filter(Q(subject__icontains=word) | Q(body__icontains=word))
        return queryset

    def filter_open_action(self, queryset, name, value):
        open_ids = Communication.objects.open_actions().values("pk")
        if value == "yes":
            return queryset.filter(pk__in=open_ids)
        if value == "no":
            return queryset.exclude(pk__in=open_ids)
        return queryset

    @property
    def is_filtered(self) -> bool:
        data = self.form.data if self.is_bound else {}
        return any(data.get(name) for name in [*self.filters, "contact_search"])
