"""Admin pieces shared by the apps' admin modules."""

from simple_history.admin import SimpleHistoryAdmin


class CRMRecordAdmin(SimpleHistoryAdmin):
    """History with the acting user (SimpleHistoryAdmin), and created_by filled on add."""

    def save_model(self, request, obj, form, change):
        if not change and hasattr(obj, "created_by_id") and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
