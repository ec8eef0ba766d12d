from django.apps import AppConfig


class CertificationConfig(AppConfig):
    name = "certification"
    verbose_name = "Certification"

    def ready(self) -> None:
        """Load the modules that register with the layers below them: deadline kinds with the
        deadline engine, hooks and gates with the application workflow, the signing hook, and
        the Celery tasks of the transparency report and the registry export (autodiscovery only looks at
        ``<app>.tasks``)."""
        from certification.certificates import deadline_kinds as certificate_deadlines  # noqa: F401
        from certification.certificates import framework_notice  # noqa: F401 - deadline kind and publish hook
        from certification.certificates import services as certificate_services  # noqa: F401 - signing hook
        from certification.framework import deadline_kinds as framework_deadlines  # noqa: F401
        from certification.releases import deadline_kinds as release_deadlines  # noqa: F401
        from certification.review import deadline_kinds as review_deadlines  # noqa: F401
        from certification.review import services as review_services
        from certification.transparency import tasks  # noqa: F401
        from certification.certificates import tasks as certificate_tasks  # noqa: F401

        review_services.register_hooks()

        from certification.releases import checklist
        from certification.review import checklist_status

        checklist.PROCESS_STATUS_PROVIDERS["community_review"] = checklist_status.window_status

        from django.core.checks import register

        from certification.certificates import checks as certificate_checks
        from portal import checks as portal_checks

        register(certificate_checks.check_signing_key, portal_checks.TAG)

        from certification.certificates import demo as certificate_demo
        from certification.releases import dashboard
        from certification.releases import demo as release_demo
        from certification.review import demo as review_demo
        from certification.transparency import demo as transparency_demo
        from portal import demo, views

        demo.register_step("releases", 20, release_demo.step)
        demo.register_step("decisions", 25, certificate_demo.decide_story)
        demo.register_step("community-review", 40, review_demo.step)
        demo.register_step("certificates", 50, certificate_demo.step)
        demo.register_step("transparency-report", 60, transparency_demo.step)
        from certification.framework import demo as framework_demo

        demo.register_step("framework-review", 70, framework_demo.step)
        views.register_dashboard_panel("applications", dashboard.dashboard_counts)
        views.register_staff_console_panel("applications", dashboard.staff_console_counts)
        from certification.framework import views as framework_views

        views.register_staff_console_panel("framework_review", framework_views.review_panel)
        from certification.certificates import incidents
        from certification.releases.views import releases as release_views

        views.register_dashboard_panel("incidents", incidents.dashboard_panel)
        views.register_staff_console_panel("incidents", incidents.staff_console_panel)
        if incidents.incidents_of_release not in release_views.RELEASE_PANELS:
            release_views.RELEASE_PANELS.append(incidents.incidents_of_release)

        # Labels for the codes shown on pages (portal.labels): the framework's titles and the statuses.
        from django.utils.translation import gettext_lazy as _

        from certification.certificates.models import Certificate
        from certification.framework import labels as framework_labels
        from certification.framework.models import Severity
        from certification.releases.models import Application
        from portal import labels

        framework_labels.register()
        labels.register_choices("application_status", Application.Status)
        labels.register_choices("severity", Severity)
        labels.register_choices("certificate_status", Certificate.Status)
        labels.register("certificate_status", {"expired": _("Expired"), "not_found": _("Not found")})
        from certification.certificates.models import ConcernReport

        labels.register_choices("incident_status", ConcernReport.Status)
        labels.register_choices("incident_severity", ConcernReport.Severity)
        labels.register_choices("incident_resolution", ConcernReport.Resolution)

        from certification.certificates import lineage as certificate_lineage
        from certification.releases import lineage as release_lineage
        from certification.releases.models import Upstream

        release_lineage.register_resolver(certificate_lineage.links_of_release)
        labels.register_choices("upstream_relation", Upstream.Relation)
        labels.register_choices("upstream_kind", Upstream.Kind)
        labels.register("upstream_status", {
            "valid": _("Valid"), "suspended": _("Suspended"), "revoked": _("Revoked"), "expired": _("Expired"),
            "superseded": _("Superseded"), "uncertified": _("Not certified"), "unknown": _("Not in the registry")})
        labels.register("upstream_flag", {
            "suspended": _("Its certificate is suspended"), "revoked": _("Its certificate is revoked"),
            "lower_tier": _("Certified at a lower tier than this release")})
        # The notification settings list each kind of email by these (portal.digests).
        labels.register("notification_kind", {
            "appeal-decided": _("Appeal decided"),
            "appeal-filed": _("Appeal to decide"),
            "appeal-overdue": _("Appeal decision overdue"),
            "appeal-reminder": _("Appeal decision due soon"),
            "application-handed-over": _("Application handed over to you"),
            "application-lapsed": _("Application lapsed"),
            "application-submitted": _("Application submitted"),
            "application-withdrawn": _("Application withdrawn"),
            "benchmark-proposed": _("Custom benchmark proposed"),
            "certificate-expired": _("Certificate expired"),
            "certificate-expiry-reminder": _("Certificate expiring soon"),
            "certificate-reinstated": _("Certificate reinstated"),
            "certificate-revoked": _("Certificate revoked"),
            "certificate-suspended": _("Certificate suspended"),
            "certified": _("Release certified"),
            "changes-requested": _("Changes requested"),
            "changes-requested-reminder": _("Resubmission due soon"),
            "concern-contact": _("Concern sent to the vulnerability contact"),
            "concern-reported": _("Concern reported"),
            "decision-overdue": _("Decision overdue"),
            "decision-reminder": _("Decision due soon"),
            "finding-accepted": _("Community finding to respond to"),
            "finding-rejoinder": _("Rejoinder on a finding"),
            "finding-submitted": _("New community finding"),
            "finding-triage-overdue": _("Finding triage overdue"),
            "finding-triage-reminder": _("Finding awaiting triage"),
            "finding-triaged": _("Your finding was triaged"),
            "framework-review-overdue": _("Framework review overdue"),
            "framework-review-reminder": _("Framework review due soon"),
            "framework-version-effective": _("New framework version in force"),
            "incident-acknowledgement-overdue": _("Incident not acknowledged in time"),
            "incident-acknowledgement-reminder": _("Incident to acknowledge soon"),
            "incident-received": _("Incident reported"),
            "incident-reporter": _("News of an incident you reported"),
            "rejected": _("Application rejected"),
            "response-filed": _("The organization responded to your finding"),
            "response-overdue": _("Response to a finding overdue"),
            "response-reminder": _("Response to a finding due"),
            "revocation-proposed": _("Revocation proposed"),
            "upstream-certificate-changed": _("Upstream certificate changed"),
            "window-closed": _("Community review closed"),
            "window-closing-reminder": _("Review window closing soon"),
            "window-extended": _("Review window extended"),
        })
