from django.apps import AppConfig


class AuditorsConfig(AppConfig):
    name = "auditors"
    verbose_name = "Auditors and evaluators"

    def ready(self) -> None:
        """Register the deadline kinds and plug into the certification workflow:
        review start, the audit gate, and evidence access for engaged auditors."""
        from auditors import access, deadline_kinds, reports  # noqa: F401 - deadline_kinds registers kinds
        from certification.releases import access as release_access
        from certification.releases import applications

        if reports.on_review_started not in applications.REVIEW_STARTED_HOOKS:
            applications.REVIEW_STARTED_HOOKS.append(reports.on_review_started)
        if reports.audit_gates not in applications.GATE_PROVIDERS:
            applications.GATE_PROVIDERS.append(reports.audit_gates)
        if access.engaged_auditor_may_read_evidence not in release_access.EVIDENCE_ACCESS_CHECKS:
            release_access.EVIDENCE_ACCESS_CHECKS.append(access.engaged_auditor_may_read_evidence)

        from auditors import checklist_status
        from certification.releases import checklist

        checklist.PROCESS_STATUS_PROVIDERS["third_party_audit"] = checklist_status.audit_status

        from auditors import demo
        from auditors.models import Accreditation
        from portal import demo as portal_demo
        from portal.models import register_role_provider

        register_role_provider("accreditations", Accreditation.objects.active_roles)
        portal_demo.register_step("accreditations", 10, demo.accredit_demo_logins)
        portal_demo.register_step("auditor-network", 30, demo.step)

        from django.utils.translation import gettext_lazy as _

        from auditors import conflicts
        from auditors.models import AuditReport
        from portal import labels

        labels.register_choices("audit_recommendation", AuditReport.Recommendation)
        labels.register("conflict", {
            conflicts.CURRENT_AFFILIATION: _("current affiliation with the applicant"),
            conflicts.FINANCIAL_INTEREST: _("financial interest in the applicant"),
            conflicts.CONTRIBUTED: _("contributed to the release"),
            conflicts.OWN_FIRM: _("own firm is the applicant"),
            conflicts.DECLARED: _("conflict declared by the auditor"),
            conflicts.RECENT_AFFILIATION: _("recent affiliation with the applicant"),
            conflicts.SHARED_EMAIL_DOMAIN: _("shared email domain"),
            conflicts.REPEAT_AUDITOR: _("audited the last three releases"),
        })
        # The notification settings list each kind of email by these (portal.digests).
        labels.register("notification_kind", {
            "accreditation-approved": _("Accreditation approved"),
            "accreditation-expiry-reminder": _("Accreditation ending soon"),
            "accreditation-lapsed": _("Accreditation ended"),
            "accreditation-received": _("New application to join the network"),
            "accreditation-reinstated": _("Accreditation reinstated"),
            "accreditation-rejected": _("Application to join the network declined"),
            "accreditation-suspended": _("Accreditation suspended"),
            "engagement-assignment-needed": _("Auditors to assign"),
            "engagement-conflict-declared": _("Conflict declared by an auditor"),
            "engagement-ended": _("Engagement ended"),
            "offer-accepted": _("Auditor engaged"),
            "offer-declined": _("Audit offer declined"),
            "offer-expired": _("Audit offer expired"),
            "offer-none-left": _("No eligible auditor left"),
            "offer-reminder": _("Audit offer expiring soon"),
            "offer-sent": _("Audit offer"),
            "offer-withdrawn": _("Audit offer withdrawn"),
            "report-condition-accepted": _("Report condition accepted"),
            "report-condition-resolved": _("Report condition resolved"),
            "report-condition-returned": _("Report condition returned"),
            "report-filed": _("Audit report filed"),
            "report-overdue": _("Audit report overdue"),
            "report-reminder": _("Audit report due soon"),
        })
