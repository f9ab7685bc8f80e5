from django.urls import path

from reports import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("dashboard/export/", views.dashboard_export, name="dashboard_export"),
]
