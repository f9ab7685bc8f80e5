from django.contrib import admin

from contacts.models import CaptureExclusion, Communication, Contact, Organization, StaleThreshold, Tag
from crm.lib.admin import CRMRecordAdmin


@admin.register(Tag)
class TagAdmin(CRMRecordAdmin):
    list_display = ("name", "colour")
    search_fields = ("name",)


@admin.register(Organization)
class OrganizationAdmin(CRMRecordAdmin):
    list_display = ("name", "type", "city", "country", "updated_at")
    list_filter = ("type", "tags", "country")
    search_fields = ("name", "website", "email", "city")
    autocomplete_fields = ("tags",)
    readonly_fields = ("created_by", "created_at", "updated_at")


@admin.register(Contact)
class ContactAdmin(CRMRecordAdmin):
    list_display = ("__str__", "email", "organization", "contact_type", "status", "owner", "updated_at")
    list_filter = ("contact_type", "status", "owner", "tags")
    search_fields = ("first_name", "last_name", "email", "organization__name", "title")
    autocomplete_fields = ("organization", "tags")
    list_select_related = ("organization", "owner")
    readonly_fields = ("created_by", "created_at", "updated_at")


@admin.register(Communication)
class CommunicationAdmin(CRMRecordAdmin):
    list_display = ("__str__", "contact", "type", "communication_date", "next_action_date", "next_action_done")
    list_filter = ("type", "next_action_done", "created_by")
    search_fields = ("subject", "body", "contact__first_name", "contact__last_name")
    date_hierarchy = "communication_date"
    autocomplete_fields = ("contact", "opportunity", "contact_attendees")
    filter_horizontal = ("team_attendees",)
    list_select_related = ("contact",)
    readonly_fields = ("created_by", "created_at", "updated_at")


@admin.register(CaptureExclusion)
class CaptureExclusionAdmin(CRMRecordAdmin):
    """The team's addresses and domains email capture leaves out (mailboxes are their owners' own: not here)."""

    list_display = ("value", "note", "updated_at")
    search_fields = ("value", "note")


@admin.register(StaleThreshold)
class StaleThresholdAdmin(admin.ModelAdmin):
    """Per-type stale thresholds (issue 17): configuration, not a CRM record."""

    list_display = ("contact_type", "days")
    list_editable = ("days",)
