from django.urls import path

from . import framework_views, modelcard_views, views

app_name = "certification"

urlpatterns = [
    # Public
    path("tier/", framework_views.tier_check, name="tier-check"),
    path("framework/", framework_views.version_list, name="framework-list"),
    path("framework/<str:version>/", framework_views.version_detail, name="framework-detail"),
    path("contact/confirm/<str:token>/", views.contact_confirm, name="contact-confirm"),
    # Organizations
    path("models/", views.model_list, name="model-list"),
    path("models/new/", views.model_create, name="model-create"),
    path("models/<int:pk>/", views.model_detail, name="model-detail"),
    path("models/<int:pk>/releases/new/", views.release_create, name="release-create"),
    path("releases/<int:pk>/", views.release_detail, name="release-detail"),
    path("releases/<int:pk>/edit/", views.release_edit, name="release-edit"),
    path("releases/<int:pk>/artifacts/", views.release_artifacts, name="release-artifacts"),
    path("releases/<int:pk>/sections/<str:section>/", views.section_edit, name="section-edit"),
    path("releases/<int:pk>/benchmarks/<int:result_pk>/delete/", views.benchmark_delete, name="benchmark-delete"),
    path("releases/<int:pk>/evidence/", views.evidence_upload, name="evidence-upload"),
    path("evidence/<int:pk>/download/", views.evidence_download, name="evidence-download"),
    path("evidence/<int:pk>/delete/", views.evidence_delete, name="evidence-delete"),
    path("releases/<int:pk>/apply/", views.application_start, name="application-start"),
    path("releases/<int:pk>/raise-tier/", views.raise_tier, name="raise-tier"),
    path("releases/<int:pk>/modelcard/import/", modelcard_views.import_card, name="modelcard-import"),
    path("releases/<int:pk>/modelcard/export/", modelcard_views.export_card, name="modelcard-export"),
    path("applications/<int:pk>/", views.application_detail, name="application-detail"),
    path("applications/<int:pk>/attest/", views.application_attest, name="application-attest"),
    path("applications/<int:pk>/withdraw/", views.application_withdraw, name="application-withdraw"),
    path("applications/<int:pk>/revisions/<int:number>/", views.revision_detail, name="revision-detail"),
    # Staff
    path("staff/screening/", views.screening_queue, name="screening-queue"),
    path("staff/benchmarks/", views.benchmark_list, name="benchmark-list"),
    path("applications/<int:pk>/screen/", views.application_screen, name="application-screen"),
    path("applications/<int:pk>/request-changes/", views.application_request_changes, name="application-request-changes"),
    path("applications/<int:pk>/accept/", views.application_accept, name="application-accept"),
    path("applications/<int:pk>/hand-over/", views.application_hand_over, name="application-hand-over"),
    path("applications/<int:pk>/complete-review/", views.application_complete_review, name="application-complete-review"),
    path("applications/<int:pk>/approve/", views.application_approve, name="application-approve"),
    path("applications/<int:pk>/reject/", views.application_reject, name="application-reject"),
    path("staff/framework/new/", framework_views.version_create, name="framework-create"),
    path("staff/framework/<str:version>/edit/", framework_views.version_edit, name="framework-edit"),
    path("staff/framework/<str:version>/publish/", framework_views.version_publish, name="framework-publish"),
]
