from django.urls import path

from certification.certificates.views import decisions, registry
from certification.framework import views as framework_views
from certification.releases.views import applications as view_applications
from certification.releases.views import evidence as view_evidence
from certification.releases.views import modelcards
from certification.releases.views import releases as view_releases
from certification.releases.views import staff as view_staff
from certification.review import views as review_views
from certification.transparency import views as transparency_views

app_name = "certification"

urlpatterns = [
    # Public
    path("tier/", framework_views.tier_check, name="tier-check"),
    path("framework/", framework_views.version_list, name="framework-list"),
    path("framework/<str:version>/", framework_views.version_detail, name="framework-detail"),
    path("contact/confirm/<str:token>/", view_releases.contact_confirm, name="contact-confirm"),
    # Public registry and verification (DESIGN §7)
    path("registry/", registry.registry_list, name="registry"),
    path("registry/<str:number>/", registry.certificate_detail, name="certificate-detail"),
    path("registry/<str:number>/print/", registry.certificate_print, name="certificate-print"),
    path("registry/<str:number>/attestation.json", registry.certificate_attestation,
         name="certificate-attestation"),
    path("registry/<str:number>/badge.svg", registry.certificate_badge, name="certificate-badge"),
    path("registry/<str:number>/README.md", registry.certificate_modelcard, name="certificate-modelcard"),
    path("registry/<str:number>/evidence/<int:pk>/", registry.public_evidence, name="certificate-evidence"),
    path("registry/<str:number>/concern/", registry.certificate_concern, name="certificate-concern"),
    path("verify/", registry.verify_page, name="verify"),
    # Annual transparency report (issue 8): published years, open data; staff drafts and analytics
    path("report/", transparency_views.report_index, name="report-index"),
    path("report/<int:year>/", transparency_views.report_detail, name="report-detail"),
    path("report/<int:year>/report.json", transparency_views.report_snapshot_json, name="report-json"),
    path("report/<int:year>/data/<slug:table>.csv", transparency_views.report_table, {"fmt": "csv"}, name="report-csv"),
    path("report/<int:year>/data/<slug:table>.json", transparency_views.report_table, {"fmt": "json"},
         name="report-table-json"),
    path("staff/report/", transparency_views.staff_report, name="staff-report"),
    path("staff/report/refresh/", transparency_views.staff_report_refresh, name="staff-report-refresh"),
    path("staff/report/<int:year>/", transparency_views.staff_report_preview, name="staff-report-preview"),
    path("staff/report/<int:year>/publish/", transparency_views.staff_report_publish, name="staff-report-publish"),
    path("staff/report/<int:year>/data/<slug:table>.csv", transparency_views.staff_report_table, {"fmt": "csv"},
         name="staff-report-csv"),
    path("staff/report/<int:year>/data/<slug:table>.json", transparency_views.staff_report_table, {"fmt": "json"},
         name="staff-report-table-json"),
    path("staff/analytics/", transparency_views.staff_analytics, name="staff-analytics"),
    # Certificates: renewal (organization admins), suspension and revocation (staff), appeals
    path("registry/<str:number>/renew/", registry.certificate_renew, name="certificate-renew"),
    path("registry/<str:number>/suspend/", registry.certificate_suspend, name="certificate-suspend"),
    path("registry/<str:number>/reinstate/", registry.certificate_reinstate, name="certificate-reinstate"),
    path("registry/<str:number>/revoke/", registry.certificate_revoke, name="certificate-revoke"),
    path("applications/<int:pk>/appeal/", registry.application_appeal, name="application-appeal"),
    path("staff/appeals/", registry.appeal_list, name="appeal-list"),
    path("staff/appeals/<int:pk>/", registry.appeal_decide, name="appeal-decide"),
    path("staff/concerns/", registry.concern_list, name="concern-list"),
    path("staff/concerns/<int:pk>/dismiss/", registry.concern_dismiss, name="concern-dismiss"),
    # Organizations
    path("models/", view_releases.model_list, name="model-list"),
    path("models/new/", view_releases.model_create, name="model-create"),
    path("models/<int:pk>/", view_releases.model_detail, name="model-detail"),
    path("models/<int:pk>/releases/new/", view_releases.release_create, name="release-create"),
    path("releases/<int:pk>/", view_releases.release_detail, name="release-detail"),
    path("releases/<int:pk>/edit/", view_releases.release_edit, name="release-edit"),
    path("releases/<int:pk>/artifacts/", view_releases.release_artifacts, name="release-artifacts"),
    path("releases/<int:pk>/sections/<str:section>/", view_releases.section_edit, name="section-edit"),
    path("releases/<int:pk>/benchmarks/<int:result_pk>/delete/", view_releases.benchmark_delete,
         name="benchmark-delete"),
    path("releases/<int:pk>/evidence/", view_evidence.evidence_upload, name="evidence-upload"),
    path("evidence/<int:pk>/download/", view_evidence.evidence_download, name="evidence-download"),
    path("evidence/<int:pk>/delete/", view_evidence.evidence_delete, name="evidence-delete"),
    path("releases/<int:pk>/apply/", view_applications.application_start, name="application-start"),
    path("releases/<int:pk>/raise-tier/", view_staff.raise_tier, name="raise-tier"),
    path("releases/<int:pk>/modelcard/import/", modelcards.import_card, name="modelcard-import"),
    path("releases/<int:pk>/modelcard/export/", modelcards.export_card, name="modelcard-export"),
    path("applications/<int:pk>/", view_applications.application_detail, name="application-detail"),
    path("applications/<int:pk>/attest/", view_applications.application_attest, name="application-attest"),
    path("applications/<int:pk>/withdraw/", view_applications.application_withdraw, name="application-withdraw"),
    path("applications/<int:pk>/revisions/<int:number>/", view_applications.revision_detail, name="revision-detail"),
    # Community review (DESIGN §6): window pages for vetted evaluators and staff only
    path("review/windows/", review_views.window_list, name="review-windows"),
    path("review/windows/<int:pk>/", review_views.window_detail, name="review-window"),
    path("review/windows/<int:pk>/enrol/", review_views.window_enrol, name="review-enrol"),
    path("review/windows/<int:pk>/withdraw/", review_views.window_withdraw, name="review-withdraw"),
    path("review/windows/<int:pk>/override/", review_views.window_override, name="review-override"),
    path("review/windows/<int:pk>/findings/new/", review_views.finding_create, name="finding-create"),
    path("review/findings/<int:pk>/", review_views.finding_detail, name="finding-detail"),
    path("review/findings/<int:pk>/edit/", review_views.finding_edit, name="finding-edit"),
    path("review/findings/<int:pk>/submit/", review_views.finding_submit, name="finding-submit"),
    path("review/findings/<int:pk>/delete/", review_views.finding_delete, name="finding-delete"),
    path("review/findings/<int:pk>/attachments/", review_views.finding_attach, name="finding-attach"),
    path("review/findings/<int:pk>/triage/", review_views.finding_triage, name="finding-triage"),
    path("review/findings/<int:pk>/respond/", review_views.finding_respond, name="finding-respond"),
    path("review/findings/<int:pk>/rejoinder/", review_views.finding_rejoinder, name="finding-rejoinder"),
    path("review/attachments/<int:pk>/download/", review_views.attachment_download, name="finding-attachment"),
    path("applications/<int:pk>/findings/", review_views.application_findings, name="application-findings"),
    path("releases/<int:pk>/findings/", review_views.release_findings, name="release-findings"),
    # Staff
    path("staff/screening/", view_staff.screening_queue, name="screening-queue"),
    path("staff/benchmarks/", view_staff.benchmark_list, name="benchmark-list"),
    path("applications/<int:pk>/screen/", view_staff.application_screen, name="application-screen"),
    path("applications/<int:pk>/request-changes/", view_staff.application_request_changes,
         name="application-request-changes"),
    path("applications/<int:pk>/accept/", view_staff.application_accept, name="application-accept"),
    path("applications/<int:pk>/hand-over/", view_staff.application_hand_over, name="application-hand-over"),
    path("applications/<int:pk>/complete-review/", view_staff.application_complete_review,
         name="application-complete-review"),
    path("applications/<int:pk>/approve/", decisions.application_approve, name="application-approve"),
    path("applications/<int:pk>/reject/", decisions.application_reject, name="application-reject"),
    path("staff/framework/new/", framework_views.version_create, name="framework-create"),
    path("staff/framework/<str:version>/edit/", framework_views.version_edit, name="framework-edit"),
    path("staff/framework/<str:version>/publish/", framework_views.version_publish, name="framework-publish"),
]
