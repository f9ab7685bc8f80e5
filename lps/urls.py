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
    path("funds/<int:pk>/k1s/", views.k1_status, name="k1_status"),
    path("<int:pk>/documents/new/", views.lp_document_upload, name="lp_document_upload"),
    path("call-lines/<int:pk>/documents/new/", views.call_line_document_upload, name="call_line_document_upload"),
    path("documents/<int:pk>/", views.document_download, name="document_download"),
    path("documents/<int:pk>/delete/", views.document_delete, name="document_delete"),
    path("commitments/<int:pk>/k1s/", views.k1_record, name="k1_record"),
]
