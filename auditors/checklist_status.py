"""Where the third-party audit of a release stands, for its compliance checklist (registered with
``certification.releases.checklist.PROCESS_STATUS_PROVIDERS`` by ``AuditorsConfig.ready``: the
releases layer cannot import auditors)."""

from __future__ import annotations

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from auditors.assignment import facts
from auditors.models import AuditReport, Engagement, ReportCondition
from certification.releases import checklist
from certification.releases.models import Release


def audit_status(release: Release) -> tuple[str, str] | None:
    """Completed once every seat of the release's latest application has a filed report that does not
    fail, with every condition accepted; None before an application asks for an audit. Three queries."""
    app = release.applications.select_related("framework_version").order_by("-created_at", "-pk").first()
    if app is None:
        return None
    seats = facts.seats_required(app)
    if seats == 0:
        return None
    engagements = list(Engagement.objects.filter(application=app, status__in=Engagement.SEAT_STATES)
                       .select_related("report").order_by("seat"))
    filed = [e.report for e in engagements
             if e.status == Engagement.Status.COMPLETED and hasattr(e, "report") and e.report.filed_at]
    if not filed:
        if not engagements:
            return checklist.PROCESS, _("Waiting for an auditor to accept.")
        return checklist.PROCESS, _("Audit under way: %(n)d of %(m)d reports filed.") % {"n": 0, "m": seats}
    notes = [_("Audit report filed %(date)s: %(recommendation)s.") % {
        "date": date_format(r.filed_at, "j F Y"), "recommendation": r.get_recommendation_display()} for r in filed]
    open_conditions = ReportCondition.objects.filter(report__in=filed, accepted_at__isnull=True).count()
    if open_conditions:
        notes.append(ngettext("%(n)d condition is not met yet.", "%(n)d conditions are not met yet.",
                              open_conditions) % {"n": open_conditions})
    if len(filed) < seats:
        notes.append(_("%(n)d of %(m)d reports filed.") % {"n": len(filed), "m": seats})
    failed = any(r.recommendation == AuditReport.Recommendation.FAIL for r in filed)
    done = len(filed) >= seats and not open_conditions and not failed
    return (checklist.COMPLETED if done else checklist.PROCESS), " ".join(notes)
