from django.urls import path

from contacts.views import organizations

urlpatterns = [
    path("organizations/", organizations.organization_list, name="organization_list"),
    path("organizations/new/", organizations.organization_create, name="organization_create"),
    path("organizations/export/", organizations.organization_export, name="organization_export"),
    path("organizations/<int:pk>/", organizations.organization_detail, name="organization_detail"),
    path("organizations/<int:pk>/edit/", organizations.organization_edit, name="organization_edit"),
    path("organizations/<int:pk>/delete/", organizations.organization_delete, name="organization_delete"),
]
