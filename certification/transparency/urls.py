"""The annual transparency report: published years, open data, staff drafts and analytics. Gathered under the ``certification`` namespace by
``certification/urls.py``."""

from django.urls import path

from certification.transparency import views

urlpatterns = [
    path("report/", views.report_index, name="report-index"),
    path("report/<int:year>/", views.report_detail, name="report-detail"),
    path("report/<int:year>/report.json", views.report_snapshot_json, name="report-json"),
    path("report/<int:year>/data/<slug:table>.csv", views.report_table, {"fmt": "csv"}, name="report-csv"),
    path("report/<int:year>/data/<slug:table>.json", views.report_table, {"fmt": "json"},
         name="report-table-json"),
    path("staff/report/", views.staff_report, name="staff-report"),
    path("staff/report/refresh/", views.staff_report_refresh, name="staff-report-refresh"),
    path("staff/report/<int:year>/", views.staff_report_preview, name="staff-report-preview"),
    path("staff/report/<int:year>/publish/", views.staff_report_publish, name="staff-report-publish"),
    path("staff/report/<int:year>/data/<slug:table>.csv", views.staff_report_table, {"fmt": "csv"},
         name="staff-report-csv"),
    path("staff/report/<int:year>/data/<slug:table>.json", views.staff_report_table, {"fmt": "json"},
         name="staff-report-table-json"),
    path("staff/analytics/", views.staff_analytics, name="staff-analytics"),
]
