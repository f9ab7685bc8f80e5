from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from crm import views
from crm.api.api import urls as api_urls
from crm.audit import views as audit
from crm.calendar_feed import views as calendar_feed
from crm.forms import SignInForm
from crm.security import passkeys
from crm.security import views as two_factor
from crm.security.forms import AdminSignInForm

static_lazy = lazy(static, str)

admin.site.site_header = "Venture CRM administration"
admin.site.site_title = "Venture CRM admin"
admin.site.index_title = "Users, custom fields, funds and stages"
# The admin's sign-in shows django-axes' lockout message like ours does.
admin.site.login_form = AdminSignInForm

urlpatterns = [
    path("health/", views.health, name="health"),
    # Browsers ask for /favicon.ico on pages that don't name one (the admin): send them to ours.
    path("favicon.ico", login_not_required(RedirectView.as_view(url=static_lazy("img/favicon.svg"))), name="favicon"),
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=SignInForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("login/verify/", two_factor.verify, name="two_factor_verify"),
    # The passkey ceremonies: JSON endpoints the browser script of django-otp-webauthn posts to.
    path("login/verify/passkey/begin/", passkeys.VerifyBegin.as_view(), name="passkey_verify_begin"),
    path("login/verify/passkey/complete/", passkeys.VerifyComplete.as_view(), name="passkey_verify_complete"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("search/", views.global_search, name="global_search"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/profile/", views.settings_profile, name="settings_profile"),
    path("settings/password/", views.settings_password, name="settings_password"),
    path("settings/two-factor/add/", two_factor.enrol, name="two_factor_enrol"),
    path("settings/two-factor/recovery-codes/", two_factor.recovery_codes, name="two_factor_recovery_codes"),
    path("settings/two-factor/remove/", two_factor.remove, name="two_factor_remove"),
    path("settings/passkeys/add/begin/", passkeys.RegisterBegin.as_view(), name="passkey_register_begin"),
    path("settings/passkeys/add/complete/", passkeys.RegisterComplete.as_view(), name="passkey_register_complete"),
    path("settings/passkeys/<int:pk>/name/", two_factor.passkey_rename, name="passkey_rename"),
    path("settings/passkeys/<int:pk>/remove/", two_factor.passkey_remove, name="passkey_remove"),
    path("settings/api-tokens/new/", views.api_token_create, name="api_token_create"),
    path("settings/api-tokens/<int:pk>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("settings/calendar/new/", views.calendar_feed_create, name="calendar_feed_create"),
    path("settings/calendar/<int:pk>/revoke/", views.calendar_feed_revoke, name="calendar_feed_revoke"),
    # Outside sign-in: the token is the credential (crm/calendar_feed/views.py).
    path("calendar/<str:token>.ics", calendar_feed.calendar_feed, name="calendar_feed"),
    path("settings/mailbox/", views.mailbox_save, name="mailbox_save"),
    path("settings/mailbox/disconnect/", views.mailbox_disconnect, name="mailbox_disconnect"),
    path("settings/mailbox/sync/", views.mailbox_sync, name="mailbox_sync"),
    path(
        "communications/<int:pk>/attachments/<int:position>/keep/",
        views.communication_attachment_keep,
        name="communication_attachment_keep",
    ),
    path(
        "communications/<int:pk>/attachments/<int:position>/",
        views.communication_attachment,
        name="communication_attachment",
    ),
    path("views/new/", views.saved_view_create, name="saved_view_create"),
    path("views/<int:pk>/delete/", views.saved_view_delete, name="saved_view_delete"),
    path("settings/tags/", views.tag_list, name="tag_list"),
    path("settings/tags/new/", views.tag_create, name="tag_create"),
    path("settings/tags/<int:pk>/edit/", views.tag_edit, name="tag_edit"),
    path("settings/tags/<int:pk>/delete/", views.tag_delete, name="tag_delete"),
    path("admin/", admin.site.urls),
    path("audit/", audit.audit_log, name="audit_log"),
    path("audit/export/", audit.audit_export, name="audit_export"),
    path("api/v1/", api_urls()),
    path("import/", include("crm.imports.urls")),
    path("", include("contacts.urls")),
    path("pipeline/", include("pipeline.urls")),
    path("tasks/", include("pipeline.task_urls")),
    path("lps/", include("lps.urls")),
    path("", include("reports.urls")),
]
