from django.urls import path

from crm.imports import views

urlpatterns = [
    path("", views.import_start, name="import_start"),
    path("history/", views.import_history, name="import_history"),
    path("mappings/", views.import_mappings, name="import_mappings"),
    path("mappings/<int:pk>/download/", views.import_saved_mapping_download, name="import_saved_mapping_download"),
    path("mappings/<int:pk>/delete/", views.import_saved_mapping_delete, name="import_saved_mapping_delete"),
    path("<int:pk>/", views.import_detail, name="import_detail"),
    path("<int:pk>/kind/", views.import_entity, name="import_entity"),
    path("<int:pk>/mapping/", views.import_mapping, name="import_mapping"),
    path("<int:pk>/mapping.json", views.import_mapping_download, name="import_mapping_download"),
    path("<int:pk>/preview/", views.import_preview, name="import_preview"),
    path("<int:pk>/run/", views.import_run, name="import_run"),
    path("<int:pk>/discard/", views.import_discard, name="import_discard"),
    path("<int:pk>/progress/", views.import_progress, name="import_progress"),
    path("<int:pk>/cancel/", views.import_cancel, name="import_cancel"),
    path("<int:pk>/rows.csv", views.import_row_report, name="import_row_report"),
    path("<int:pk>/undo/", views.import_undo, name="import_undo"),
]
