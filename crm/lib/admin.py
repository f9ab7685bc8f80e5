"""Admin pieces shared by the apps' admin modules."""

from django.db import models
from simple_history.admin import SimpleHistoryAdmin


class CRMRecordAdmin(SimpleHistoryAdmin):
    """History with the acting user (SimpleHistoryAdmin), and created_by filled on add."""

    # Django 6's default, chosen now: a typed "example.com" becomes https://, and the
    # RemovedInDjango60Warning (an error under the test settings) goes away.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change):
        if not change and hasattr(obj, "created_by_id") and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def view_on_site(self, obj):
        # Link straight to the record's CRM page, and not at all while it has none: Django's
        # /admin/r/ redirect fails with a server error when get_absolute_url() returns None.
        return obj.get_absolute_url() if hasattr(obj, "get_absolute_url") else None
