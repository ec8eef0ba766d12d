"""Models, releases, documentation, evidence, applications and the staff screening pages. Gathered under the ``certification`` namespace by
``certification/urls.py``."""

from django.urls import path

from certification.releases.views import applications, evidence, lineage, modelcards, releases, staff

urlpatterns = [
    path("contact/confirm/<str:token>/", releases.contact_confirm, name="contact-confirm"),
    path("models/", releases.model_list, name="model-list"),
    path("models/new/", releases.model_create, name="model-create"),
    path("models/<int:pk>/", releases.model_detail, name="model-detail"),
    path("models/<int:pk>/releases/new/", releases.release_create, name="release-create"),
    path("releases/<int:pk>/", releases.release_detail, name="release-detail"),
    path("releases/<int:pk>/edit/", releases.release_edit, name="release-edit"),
    path("releases/<int:pk>/artifacts/", releases.release_artifacts, name="release-artifacts"),
    path("releases/<int:pk>/upstreams/", lineage.release_upstreams, name="release-upstreams"),
    path("releases/<int:pk>/upstreams/<int:upstream_pk>/delete/", lineage.upstream_delete, name="upstream-delete"),
    path("releases/<int:pk>/sections/<str:section>/", releases.section_edit, name="section-edit"),
    path("releases/<int:pk>/benchmarks/<int:result_pk>/delete/", releases.benchmark_delete,
         name="benchmark-delete"),
    path("releases/<int:pk>/evidence/", evidence.evidence_upload, name="evidence-upload"),
    path("evidence/<int:pk>/download/", evidence.evidence_download, name="evidence-download"),
    path("evidence/<int:pk>/delete/", evidence.evidence_delete, name="evidence-delete"),
    path("releases/<int:pk>/apply/", applications.application_start, name="application-start"),
    path("releases/<int:pk>/raise-tier/", staff.raise_tier, name="raise-tier"),
    path("releases/<int:pk>/modelcard/import/", modelcards.import_card, name="modelcard-import"),
    path("releases/<int:pk>/modelcard/export/", modelcards.export_card, name="modelcard-export"),
    path("applications/<int:pk>/", applications.application_detail, name="application-detail"),
    path("applications/<int:pk>/attest/", applications.application_attest, name="application-attest"),
    path("applications/<int:pk>/withdraw/", applications.application_withdraw, name="application-withdraw"),
    path("applications/<int:pk>/revisions/<int:number>/", applications.revision_detail, name="revision-detail"),
    path("applications/<int:pk>/revisions/<int:number>/json/", applications.revision_json, name="revision-json"),
    path("staff/screening/", staff.screening_queue, name="screening-queue"),
    path("staff/benchmarks/", staff.benchmark_list, name="benchmark-list"),
    path("applications/<int:pk>/screen/", staff.application_screen, name="application-screen"),
    path("applications/<int:pk>/request-changes/", staff.application_request_changes,
         name="application-request-changes"),
    path("applications/<int:pk>/accept/", staff.application_accept, name="application-accept"),
    path("applications/<int:pk>/hand-over/", staff.application_hand_over, name="application-hand-over"),
    path("applications/<int:pk>/complete-review/", staff.application_complete_review,
         name="application-complete-review"),
]
