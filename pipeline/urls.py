from django.urls import path

from pipeline import views

urlpatterns = [
    path("", views.pipeline_board, name="pipeline_board"),
    path("reorder/", views.pipeline_reorder, name="pipeline_reorder"),
    path("changes/", views.pipeline_changes, name="pipeline_changes"),
    path("cards/", views.pipeline_board_cards, name="pipeline_board_cards"),
    path("calibration/", views.stage_calibration, name="stage_calibration"),
    path("calibration/adopt/", views.stage_calibration_adopt, name="stage_calibration_adopt"),
    path("opportunities/", views.opportunity_list, name="opportunity_list"),
    path("opportunities/new/", views.opportunity_create, name="opportunity_create"),
    path("opportunities/export/", views.opportunity_export, name="opportunity_export"),
    path("opportunities/<int:pk>/", views.opportunity_detail, name="opportunity_detail"),
    path("opportunities/<int:pk>/edit/", views.opportunity_edit, name="opportunity_edit"),
    path("opportunities/<int:pk>/move/", views.opportunity_move, name="opportunity_move"),
    path("opportunities/<int:pk>/delete/", views.opportunity_delete, name="opportunity_delete"),
]
