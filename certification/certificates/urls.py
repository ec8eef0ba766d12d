"""The registry, certificates, verification, staff decisions, appeals, concerns and incidents. Gathered
under the ``certification`` namespace by ``certification/urls.py``."""

from django.urls import path

from certification.certificates.views import decisions, incidents, model_signing, registry

urlpatterns = [
    path("registry/", registry.registry_list, name="registry"),
    path("registry/<str:number>/", registry.certificate_detail, name="certificate-detail"),
    path("registry/<str:number>/print/", registry.certificate_print, name="certificate-print"),
    path("registry/<str:number>/attestation.json", registry.certificate_attestation,
         name="certificate-attestation"),
    # The OpenSSF model-signing bundle, named <number>.sig, and the key that signed it.
    path("registry/<str:number>.sig", model_signing.certificate_model_signature, name="certificate-model-signature"),
    path("registry/<str:number>/alliance.pub", model_signing.certificate_model_signing_key,
         name="certificate-model-signing-key"),
    path("registry/<str:number>/badge.svg", registry.certificate_badge, name="certificate-badge"),
    path("registry/<str:number>/README.md", registry.certificate_modelcard, name="certificate-modelcard"),
    path("registry/<str:number>/evidence/<int:pk>/", registry.public_evidence, name="certificate-evidence"),
    path("registry/<str:number>/concern/", registry.certificate_concern, name="certificate-concern"),
    path("verify/", registry.verify_page, name="verify"),
    path("registry/<str:number>/renew/", registry.certificate_renew, name="certificate-renew"),
    path("registry/<str:number>/suspend/", registry.certificate_suspend, name="certificate-suspend"),
    path("registry/<str:number>/reinstate/", registry.certificate_reinstate, name="certificate-reinstate"),
    path("registry/<str:number>/revoke/", registry.certificate_revoke, name="certificate-revoke"),
    path("applications/<int:pk>/appeal/", registry.application_appeal, name="application-appeal"),
    path("staff/appeals/", registry.appeal_list, name="appeal-list"),
    path("staff/appeals/<int:pk>/", registry.appeal_decide, name="appeal-decide"),
    path("staff/concerns/", registry.concern_list, name="concern-list"),
    path("staff/concerns/<int:pk>/dismiss/", registry.concern_dismiss, name="concern-dismiss"),
    # Post-release incidents (issue 16 §2): the organization's list and answers, staff's severity.
    path("incidents/", incidents.incident_list, name="incident-list"),
    path("incidents/<int:pk>/", incidents.incident_detail, name="incident-detail"),
    path("incidents/<int:pk>/acknowledge/", incidents.incident_acknowledge, name="incident-acknowledge"),
    path("incidents/<int:pk>/investigate/", incidents.incident_investigate, name="incident-investigate"),
    path("incidents/<int:pk>/resolve/", incidents.incident_resolve, name="incident-resolve"),
    path("incidents/<int:pk>/severity/", incidents.incident_severity, name="incident-severity"),
    path("applications/<int:pk>/approve/", decisions.application_approve, name="application-approve"),
    path("applications/<int:pk>/reject/", decisions.application_reject, name="application-reject"),
]
