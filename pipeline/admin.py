from django.contrib import admin

from crm.lib.admin import CRMRecordAdmin
from pipeline.models import Opportunity, Stage


@admin.register(Stage)
class StageAdmin(CRMRecordAdmin):
    list_display = ("name", "order", "default_probability", "outcome")
    list_editable = ("order", "default_probability", "outcome")
    list_filter = ("outcome",)
    search_fields = ("name",)


@admin.register(Opportunity)
class OpportunityAdmin(CRMRecordAdmin):
    list_display = ("name", "contact", "fund", "stage", "expected_amount", "probability", "owner", "priority")
    list_filter = ("fund", "stage", "priority", "owner")
    search_fields = ("name", "contact__first_name", "contact__last_name", "organization__name")
    autocomplete_fields = ("contact", "organization")
    list_select_related = ("contact", "fund", "stage", "owner")
    readonly_fields = ("created_by", "created_at", "updated_at", "stage_changed_at")
