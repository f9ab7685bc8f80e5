from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from crm import views
from crm.forms import SignInForm

admin.site.site_header = "Venture CRM administration"
admin.site.site_title = "Venture CRM admin"
admin.site.index_title = "Users, custom fields, funds and stages"

urlpatterns = [
    path("health/", views.health, name="health"),
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=SignInForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("admin/", admin.site.urls),
    path("", include("contacts.urls")),
    path("", include("reports.urls")),
]
