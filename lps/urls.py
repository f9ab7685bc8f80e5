from django.urls import path

from lps import views

urlpatterns = [
    path("", views.lp_list, name="lp_list"),
    path("new/", views.lp_create, name="lp_create"),
    path("export/", views.commitment_export, name="commitment_export"),
    path("<int:pk>/", views.lp_detail, name="lp_detail"),
    path("<int:pk>/edit/", views.lp_edit, name="lp_edit"),
    path("<int:pk>/commitments/new/", views.commitment_create, name="commitment_create"),
    path("commitments/<int:pk>/edit/", views.commitment_edit, name="commitment_edit"),
    path("commitments/<int:pk>/toggle/", views.commitment_toggle, name="commitment_toggle"),
]
