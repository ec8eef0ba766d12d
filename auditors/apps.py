from django.apps import AppConfig


class AuditorsConfig(AppConfig):
    name = "auditors"
    verbose_name = "Auditors and evaluators"

    def ready(self) -> None:
        """Register the deadline kinds and plug into the certification workflow:
        review start, the audit gate, and evidence access for engaged auditors."""
        from certification import services as cert_services
        from certification import views as cert_views

        from . import access, deadline_kinds, services  # noqa: F401 - deadline_kinds registers kinds

        if services.on_review_started not in cert_services.REVIEW_STARTED_HOOKS:
            cert_services.REVIEW_STARTED_HOOKS.append(services.on_review_started)
        if services.audit_gates not in cert_services.GATE_PROVIDERS:
            cert_services.GATE_PROVIDERS.append(services.audit_gates)
        from certification import certificates

        if services.audit_summary not in certificates.AUDIT_SUMMARY_PROVIDERS:
            certificates.AUDIT_SUMMARY_PROVIDERS.append(services.audit_summary)
        if access.engaged_auditor_may_read_evidence not in cert_views.EVIDENCE_ACCESS_CHECKS:
            cert_views.EVIDENCE_ACCESS_CHECKS.append(access.engaged_auditor_may_read_evidence)
