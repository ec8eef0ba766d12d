"""Community review pages (DESIGN §6): windows for vetted evaluators and staff, findings. Gathered under the ``certification`` namespace by
``certification/urls.py``."""

from django.urls import path

from certification.review import views

urlpatterns = [
    path("review/windows/", views.window_list, name="review-windows"),
    path("review/windows/<int:pk>/", views.window_detail, name="review-window"),
    path("review/windows/<int:pk>/enrol/", views.window_enrol, name="review-enrol"),
    path("review/windows/<int:pk>/withdraw/", views.window_withdraw, name="review-withdraw"),
    path("review/windows/<int:pk>/override/", views.window_override, name="review-override"),
    path("review/windows/<int:pk>/findings/new/", views.finding_create, name="finding-create"),
    path("review/findings/<int:pk>/", views.finding_detail, name="finding-detail"),
    path("review/findings/<int:pk>/edit/", views.finding_edit, name="finding-edit"),
    path("review/findings/<int:pk>/submit/", views.finding_submit, name="finding-submit"),
    path("review/findings/<int:pk>/delete/", views.finding_delete, name="finding-delete"),
    path("review/findings/<int:pk>/attachments/", views.finding_attach, name="finding-attach"),
    path("review/findings/<int:pk>/triage/", views.finding_triage, name="finding-triage"),
    path("review/findings/<int:pk>/respond/", views.finding_respond, name="finding-respond"),
    path("review/findings/<int:pk>/rejoinder/", views.finding_rejoinder, name="finding-rejoinder"),
    path("review/attachments/<int:pk>/download/", views.attachment_download, name="finding-attachment"),
    path("applications/<int:pk>/findings/", views.application_findings, name="application-findings"),
    path("releases/<int:pk>/findings/", views.release_findings, name="release-findings"),
]
