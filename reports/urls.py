from django.urls import path

from reports import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("dashboard/export/", views.dashboard_export, name="dashboard_export"),
    path("reports/", views.reports_index, name="reports_index"),
    path("closes/", views.close_planner, name="close_planner"),
    path("closes/<int:pk>/hold/", views.close_hold, name="close_hold"),
    # The re-up cockpit lives with the LP tracker in the URLs, here in the code (it reads the pipeline).
    path("lps/re-ups/", views.reup_list, name="reup_list"),
    path("lps/re-ups/export/", views.reup_export, name="reup_export"),
    path("lps/re-ups/<int:pk>/ask/", views.reup_ask_edit, name="reup_ask_edit"),
    path("lps/re-ups/<int:pk>/opportunity/", views.reup_opportunity_create, name="reup_opportunity_create"),
    # One URL name per report, so each export link (and the role table) names what it exports.
    path(
        "reports/fundraising/export/", views.report_export, {"report": "fundraising"}, name="report_fundraising_export"
    ),
    path("reports/conversion/export/", views.report_export, {"report": "conversion"}, name="report_conversion_export"),
    path("reports/team/export/", views.report_export, {"report": "team"}, name="report_team_export"),
    path(
        "reports/concentration/export/",
        views.report_export,
        {"report": "concentration"},
        name="report_concentration_export",
    ),
    path("reports/ladder/export/", views.report_export, {"report": "ladder"}, name="report_ladder_export"),
]
