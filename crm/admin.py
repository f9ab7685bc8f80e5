from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.shortcuts import redirect
from django_otp_webauthn.admin import WebAuthnCredentialAdmin
from django_otp_webauthn.models import WebAuthnCredential
from simple_history.admin import SimpleHistoryAdmin

from contacts.forms import SharedMailboxForm
from contacts.models import SharedMailbox
from contacts.services import delete_shared_mailbox, save_shared_mailbox
from crm.capture import tasks as capture_tasks
from crm.models import CustomField, ImportRun, SavedMapping, SecurityPolicy, User


class CRMUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("username", "full_name", "email", "role")


class CRMUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(SimpleHistoryAdmin, DjangoUserAdmin):
    form = CRMUserChangeForm
    add_form = CRMUserCreationForm
    list_display = ("username", "full_name", "email", "role", "is_active", "last_login")
    list_filter = ("role", "is_active")
    search_fields = ("username", "full_name", "email")
    ordering = ("username",)
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("full_name", "email")}),
        ("Access", {"fields": ("role", "is_active"), "description": "Admins may use this admin site."}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "full_name", "email", "role", "password1", "password2")}),
    )
    readonly_fields = ("last_login", "date_joined")


@admin.register(CustomField)
class CustomFieldAdmin(SimpleHistoryAdmin):
    list_display = ("name", "entity", "field_type", "required", "display_order", "key")
    list_filter = ("entity", "field_type", "required")
    list_editable = ("display_order",)
    search_fields = ("name", "key")
    ordering = ("entity", "display_order", "name")


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    """Imports are read here; they are made and undone through /import/ or import_airtable."""

    list_display = ("created_at", "file_name", "entity", "source", "status", "user", "created_count", "updated_count")
    list_filter = ("status", "source", "entity")
    search_fields = ("file_name", "user__username", "user__full_name")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    exclude = ("source_text",)  # the uploaded file itself: large, and it is in the import's own page

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SavedMapping)
class SavedMappingAdmin(admin.ModelAdmin):
    list_display = ("name", "entity", "created_by", "updated_at")
    list_filter = ("entity",)
    search_fields = ("name",)


@admin.register(SecurityPolicy)
class SecurityPolicyAdmin(SimpleHistoryAdmin):
    """One row: the list page opens it straight away, and it can be neither added twice nor deleted."""

    fields = ("two_factor_required", "server_setting", "updated_at")
    readonly_fields = ("server_setting", "updated_at")

    @admin.display(description="Server setting (CRM_2FA_REQUIRED)")
    def server_setting(self, obj: SecurityPolicy) -> str:
        return f"{settings.CRM_2FA_REQUIRED} — in force now: {SecurityPolicy.stricter(obj.two_factor_required)}"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        policy = SecurityPolicy.load()
        return redirect("admin:crm_securitypolicy_change", policy.pk)


# django-otp-webauthn ships this admin without registering it: registered here, an admin can
# remove the passkey of a user who lost it, like django-otp's authenticator and recovery codes.
admin.site.register(WebAuthnCredential, WebAuthnCredentialAdmin)


@admin.register(SharedMailbox)
class SharedMailboxAdmin(admin.ModelAdmin):
    """The team's "BCC/forward to CRM" mailboxes (issue 17). Personal mailboxes are their owners'
    own, in Settings, and never listed here. Every write goes through contacts.services, which
    lets admins only."""

    form = SharedMailboxForm
    list_display = ("username", "host", "enabled", "last_sync_at", "last_sync_ok", "last_sync_message")
    readonly_fields = ("last_sync_at", "last_sync_ok", "last_sync_message")
    actions = ["sync_now"]

    def save_model(self, request, obj, form, change):
        save_shared_mailbox(obj, request.user)

    def delete_model(self, request, obj):
        delete_shared_mailbox(obj, request.user)

    def delete_queryset(self, request, queryset):
        for mailbox in queryset:
            delete_shared_mailbox(mailbox, request.user)

    @admin.action(description="Sync now")
    def sync_now(self, request, queryset):
        queued = 0
        for mailbox in queryset.filter(enabled=True):
            capture_tasks.sync_mailbox.enqueue(mailbox.pk)
            queued += 1
        self.message_user(
            request, f"Queued {queued} sync{'s' if queued != 1 else ''}; the status changes when it has run."
        )
