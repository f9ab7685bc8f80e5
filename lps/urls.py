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
    path("call-lines/<int:pk>/receipt/", views.call_line_receipt, name="call_line_receipt"),
    path("side-letters/", views.side_letter_register, name="side_letter_register"),
    path("side-letters/export/", views.side_letter_export, name="side_letter_export"),
    path("commitments/<int:pk>/side-letters/new/", views.side_letter_create, name="side_letter_create"),
    path("side-letters/<int:pk>/edit/", views.side_letter_edit, name="side_letter_edit"),
    path("mfn-rounds/new/", views.mfn_round_create, name="mfn_round_create"),
    path("mfn-rounds/<int:pk>/", views.mfn_round_detail, name="mfn_round_detail"),
    path("mfn-elections/<int:pk>/", views.mfn_election_edit, name="mfn_election_edit"),
    path("<int:pk>/compliance/", views.compliance_edit, name="compliance_edit"),
]
