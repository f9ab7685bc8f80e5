from django.contrib import admin
from django.db import transaction
from django.utils import timezone

from crm.lib.admin import CRMRecordAdmin
from pipeline import todo
from pipeline.models import Opportunity, Stage, Task


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


class TaskStateFilter(admin.SimpleListFilter):
    """Open, overdue (open and due before today, snoozed or not), snoozed, done."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", "Open"), ("overdue", "Overdue"), ("snoozed", "Snoozed"), ("done", "Done"))

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "open":
            return queryset.open()
        if self.value() == "overdue":
            return queryset.open().filter(due_date__lt=today)
        if self.value() == "snoozed":
            return queryset.open().filter(snoozed_until__gt=today)
        if self.value() == "done":
            return queryset.filter(done=True)
        return queryset


@admin.register(Task)
class TaskAdmin(CRMRecordAdmin):
    """Tasks in the admin, under the model's own rule (Task.save/delete: the owner, the creator,
    managers and admins): the change and delete permissions ask ``may_change``, and the bulk
    delete goes through the service, one task at a time, so each delete is checked and kept
    in history like one made on the Tasks page."""

    list_display = ("title", "owner", "due_date", "done", "snoozed_until", "contact", "opportunity", "created_by")
    list_filter = (TaskStateFilter, "done", "owner", "created_by", "due_date")
    search_fields = (
        "title",
        "notes",
        "contact__first_name",
        "contact__last_name",
        "opportunity__name",
        "owner__full_name",
        "owner__username",
    )
    autocomplete_fields = ("contact", "opportunity", "lp_profile", "commitment")
    list_select_related = ("owner", "created_by", "contact", "opportunity")
    readonly_fields = ("created_by", "done_at", "done_by", "created_at", "updated_at")
    date_hierarchy = "due_date"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "owner":
            # The services' rule: a task belongs to an active member of the team.
            kwargs["queryset"] = todo.active_team()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.may_change(request.user))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.may_change(request.user))

    def save_model(self, request, obj, form, change):
        # Done and its who/when move together, as complete_task/reopen_task keep them.
        if "done" in form.changed_data or not change:
            obj.done_at, obj.done_by = (timezone.now(), request.user) if obj.done else (None, None)
        with transaction.atomic():
            super().save_model(request, obj, form, change)  # Task.save checks the acting user

    def delete_model(self, request, obj):
        todo.delete_task(obj, request.user)

    def delete_queryset(self, request, queryset):
        # No joins under FOR UPDATE: PostgreSQL refuses to lock the nullable side of an outer join.
        with transaction.atomic():
            for task in queryset.select_related(None).select_for_update():
                todo.delete_task(task, request.user)
