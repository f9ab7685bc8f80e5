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
    path("funds/<int:pk>/calls/", views.capital_calls, name="capital_calls"),
    path("funds/<int:pk>/calls/new/", views.capital_call_create, name="capital_call_create"),
    path("calls/<int:pk>/", views.capital_call_detail, name="capital_call_detail"),
    path("calls/<int:pk>/notices/", views.call_notices, name="call_notices"),
    path("call-lines/<int:pk>/receipt/", views.call_line_receipt, name="call_line_receipt"),
    path("call-lines/<int:pk>/notice/", views.call_notice, name="call_notice"),
    path("funds/<int:pk>/distributions/", views.distributions, name="distributions"),
    path("funds/<int:pk>/distributions/new/", views.distribution_create, name="distribution_create"),
    path("distributions/<int:pk>/", views.distribution_detail, name="distribution_detail"),
    path("distributions/<int:pk>/notices/", views.distribution_notices, name="distribution_notices"),
    path("distribution-lines/<int:pk>/notice/", views.distribution_notice, name="distribution_notice"),
    path("funds/<int:pk>/accounts/", views.capital_accounts, name="capital_accounts"),
    path("funds/<int:pk>/accounts/export/", views.capital_account_export, name="capital_account_export"),
]
