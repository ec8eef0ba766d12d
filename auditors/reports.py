"""Audit reports and their conditions (DESIGN §5): drafts, filing (a filed report is locked),
conditions resolved by the organization and accepted or returned by the auditor; the audit gate
of the application workflow, the start of audits when review starts, and the audit summary
that goes into attestations and onto the certificate page."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from auditors.assignment import facts
from auditors.models import (
    AuditReport,
    Engagement,
    ReportCondition,
)
from auditors.services import (
    REPORT_KIND,
    application_url,
    delete_private_file,
    engagement_url,
    load_application,
    organization_of,
    staff_contacts,
    store_private_file,
)
from certification.framework.services import WorkflowError
from certification.releases import applications as release_applications
from certification.releases import evidence
from certification.releases.models import Application
from portal import audit, deadlines, organizations
from portal.canonical import canonical_sha256
from portal.models import Membership, User
from portal.notifications import notify

REPORT_TEXT_FIELDS = ("scope", "methods")


def _clean_issues(issues) -> list[dict]:
    cleaned = []
    for issue in issues or []:
        title = (issue.get("title") or "").strip()
        if not title:
            continue
        severity = issue.get("severity") or AuditReport.Severity.INFO
        if severity not in AuditReport.Severity.values:
            raise WorkflowError(_("Unknown severity %(s)s.") % {"s": severity}, field="issues")
        cleaned.append({"title": title, "severity": severity, "description": (issue.get("description") or "").strip()})
    return cleaned


def _clean_reproduced(rows) -> list[dict]:
    cleaned = []
    for row in rows or []:
        if not row.get("benchmark"):
            continue
        cleaned.append({k: str(row.get(k) or "").strip() for k in ("benchmark", "metric", "reported", "reproduced",
                                                                     "notes")})
    return cleaned


def _editable_report(engagement: Engagement, user: User) -> AuditReport:
    if engagement.accreditation.user_id != user.pk:
        raise WorkflowError(_("Only the engaged auditor can write this report."))
    if engagement.status != Engagement.Status.ACTIVE:
        raise WorkflowError(_("This engagement is not active."))
    report = AuditReport.objects.select_for_update().get(engagement=engagement)
    if report.is_filed:
        raise WorkflowError(_("A filed report is locked."))
    return report


def _store_signed_file(signed_file) -> dict | None:
    if signed_file is None:
        return None
    try:
        return store_private_file(signed_file, "reports", families=("pdf",))
    except evidence.EvidenceError as exc:
        raise WorkflowError(str(exc), field="signed_file") from exc


def _attach_signed_file(report: AuditReport, stored: dict) -> str:
    """Point the report at a newly stored file; gives the stored name of the file it replaces, if any."""
    previous = report.signed_file_stored
    report.signed_file_name = stored["display_name"]
    report.signed_file_stored = stored["stored_name"]
    report.signed_file_sha256 = stored["sha256"]
    report.signed_file_size = stored["size"]
    return previous if previous != stored["stored_name"] else ""


def save_report_draft(engagement: Engagement, user: User, data: dict, conditions: list[str] | None = None,
                      signed_file=None, request=None) -> AuditReport:
    """Save the draft, with the signed file if one is attached: a draft keeps its file until replaced."""
    stored = _store_signed_file(signed_file)
    replaced = ""
    try:
        with transaction.atomic():
            report = _editable_report(engagement, user)
            _apply_report_data(report, data)
            if conditions is not None:
                _replace_conditions(report, conditions)
            if stored:
                replaced = _attach_signed_file(report, stored)
            report.updated_at = timezone.now()
            report.save()
            audit.log("auditors.report.draft_saved", actor=user, obj=engagement,
                      organization=organization_of(engagement.application), request=request,
                      payload={"signed_file_sha256": stored["sha256"]} if stored else None)
    except BaseException:
        if stored:
            delete_private_file("reports", stored["stored_name"])
        raise
    if replaced:
        delete_private_file("reports", replaced)
    return report


def filing_problems(report: AuditReport) -> dict[str, list[str]]:
    """What stops the report from being filed, by field; empty when it can be filed."""
    errors: dict[str, list[str]] = {}
    if not report.scope:
        errors["scope"] = [_("Describe the scope of the audit.")]
    if not report.methods:
        errors["methods"] = [_("Describe the methods.")]
    if not report.recommendation:
        errors["recommendation"] = [_("Choose a recommendation.")]
    n_conditions = report.conditions.count()
    if report.recommendation == AuditReport.Recommendation.PASS_WITH_CONDITIONS and not n_conditions:
        errors["conditions"] = [_("List the conditions of a pass with conditions.")]
    if report.recommendation != AuditReport.Recommendation.PASS_WITH_CONDITIONS and n_conditions:
        errors["conditions"] = [_("Conditions go only with a pass with conditions.")]
    if not report.signed_file_stored:
        errors["signed_file"] = [_("Attach the signed report (PDF).")]
    return errors


def _apply_report_data(report: AuditReport, data: dict) -> None:
    for key in REPORT_TEXT_FIELDS:
        if key in data:
            setattr(report, key, (data.get(key) or "").strip())
    if "issues" in data:
        report.issues = _clean_issues(data["issues"])
    if "reproduced_results" in data:
        report.reproduced_results = _clean_reproduced(data["reproduced_results"])
    if "recommendation" in data:
        rec = data.get("recommendation") or ""
        if rec and rec not in AuditReport.Recommendation.values:
            raise WorkflowError(_("Choose a recommendation."), field="recommendation")
        report.recommendation = rec


def _replace_conditions(report: AuditReport, conditions: list[str]) -> None:
    report.conditions.all().delete()
    ReportCondition.objects.bulk_create([
        ReportCondition(report=report, number=n, text=text.strip())
        for n, text in enumerate((c for c in conditions if c and c.strip()), start=1)
    ])


def report_snapshot(report: AuditReport) -> dict:
    return {
        "engagement": report.engagement_id,
        "application": report.engagement.application_id,
        "scope": report.scope, "methods": report.methods,
        "reproduced_results": report.reproduced_results, "issues": report.issues,
        "recommendation": report.recommendation,
        "conditions": [c.text for c in report.conditions.order_by("number")],
        "signed_file_sha256": report.signed_file_sha256,
    }


def file_report(engagement: Engagement, user: User, data: dict | None = None, conditions: list[str] | None = None,
                signed_file=None, request=None) -> AuditReport:
    """File the report: complete, signed, then locked. Ends the report deadline."""
    stored = _store_signed_file(signed_file)
    replaced = ""
    try:
        with transaction.atomic():
            report = _editable_report(engagement, user)
            _apply_report_data(report, data or {})
            if conditions is not None:
                _replace_conditions(report, conditions)
            if stored:
                replaced = _attach_signed_file(report, stored)
            errors = filing_problems(report)
            if errors:
                raise WorkflowError(_("The report cannot be filed yet."), errors=errors)
            n_conditions = report.conditions.count()
            now = timezone.now()
            report.filed_at = now
            report.updated_at = now
            report.sha256 = canonical_sha256(report_snapshot(report))
            report.save()
            updated = Engagement.objects.filter(pk=engagement.pk, status=Engagement.Status.ACTIVE).update(
                status=Engagement.Status.COMPLETED)
            if not updated:
                raise WorkflowError(_("This engagement is not active."))
            engagement.status = Engagement.Status.COMPLETED
            deadlines.close_deadlines(engagement, REPORT_KIND)
            app = load_application(engagement.application_id)
            audit.log("auditors.report.filed", actor=user, obj=engagement, organization=organization_of(app),
                      request=request,
                      payload={"sha256": report.sha256, "recommendation": report.recommendation,
                               "conditions": n_conditions})
            notify([*organizations.org_admins(organization_of(app)), *staff_contacts(app)], "report-filed",
                   {"application": app, "report": report, "conditions": n_conditions}, url=application_url(app))
            release_applications.advance_if_ready(app, user)
    except BaseException:
        if stored:
            delete_private_file("reports", stored["stored_name"])
        raise
    if replaced:
        delete_private_file("reports", replaced)
    return report


# --- conditions ------------------------------------------------------------------------------------


def resolve_condition(condition: ReportCondition, user: User, resolution: str, request=None) -> ReportCondition:
    app = load_application(condition.report.engagement.application_id)
    if not Membership.objects.filter(user=user, organization=organization_of(app)).exists():
        raise WorkflowError(_("Only members of the organization can resolve a condition."))
    if not (resolution or "").strip():
        raise WorkflowError(_("Describe how the condition was met."), field="resolution")
    with transaction.atomic():
        updated = ReportCondition.objects.filter(pk=condition.pk, accepted_at__isnull=True).update(
            resolved_at=timezone.now(), resolved_by=user, resolution=resolution.strip())
        if not updated:
            raise WorkflowError(_("The auditor has already accepted this condition."))
        condition.refresh_from_db()
        audit.log("auditors.condition.resolved", actor=user, obj=condition.report.engagement,
                  organization=organization_of(app),
                  request=request, payload={"condition": condition.number})
        notify(condition.report.engagement.accreditation.user, "report-condition-resolved",
               {"condition": condition, "application": app}, url=engagement_url(condition.report.engagement))
    return condition


def accept_condition(condition: ReportCondition, user: User, note: str = "", request=None) -> ReportCondition:
    engagement = condition.report.engagement
    if engagement.accreditation.user_id != user.pk or engagement.status != Engagement.Status.COMPLETED:
        raise WorkflowError(_("Only the auditor who filed the report can accept its conditions."))
    with transaction.atomic():
        updated = ReportCondition.objects.filter(pk=condition.pk, resolved_at__isnull=False,
                                                 accepted_at__isnull=True).update(
            accepted_at=timezone.now(), auditor_note=note.strip())
        if not updated:
            raise WorkflowError(_("Only a resolved, not yet accepted condition can be accepted."))
        condition.refresh_from_db()
        app = load_application(engagement.application_id)
        audit.log("auditors.condition.accepted", actor=user, obj=engagement, organization=organization_of(app),
                  request=request,
                  payload={"condition": condition.number})
        notify(organizations.org_admins(organization_of(app)), "report-condition-accepted", {"condition": condition,
                                                                                             "application": app},
               url=application_url(app))
        release_applications.advance_if_ready(app, user)
    return condition


def return_condition(condition: ReportCondition, user: User, note: str, request=None) -> ReportCondition:
    """The auditor is not satisfied: the condition goes back to the organization."""
    engagement = condition.report.engagement
    if engagement.accreditation.user_id != user.pk or engagement.status != Engagement.Status.COMPLETED:
        raise WorkflowError(_("Only the auditor who filed the report can return its conditions."))
    if not (note or "").strip():
        raise WorkflowError(_("Say what is still missing."), field="note")
    with transaction.atomic():
        updated = ReportCondition.objects.filter(pk=condition.pk, resolved_at__isnull=False,
                                                 accepted_at__isnull=True).update(
            resolved_at=None, auditor_note=note.strip())
        if not updated:
            raise WorkflowError(_("Only a resolved, not yet accepted condition can be returned."))
        condition.refresh_from_db()
        app = load_application(engagement.application_id)
        audit.log("auditors.condition.returned", actor=user, obj=engagement, organization=organization_of(app),
                  request=request,
                  payload={"condition": condition.number})
        notify(organizations.org_admins(organization_of(app)), "report-condition-returned", {"condition": condition,
                                                                                             "application": app},
               url=application_url(app))
    return condition


# --- gates and hooks -------------------------------------------------------------------------------


def audit_gates(app: Application) -> list[str]:
    """Open audit gates: every required report filed, every condition resolved and accepted."""
    seats = facts.seats_required(app)
    if seats == 0:
        return []
    reasons = []
    filed = list(Engagement.objects.filter(application=app, status=Engagement.Status.COMPLETED))
    if len(filed) < seats:
        reasons.append(_("Audit reports filed: %(n)d of %(m)d.") % {"n": len(filed), "m": seats})
    for c in ReportCondition.objects.filter(report__engagement__in=filed, accepted_at__isnull=True).order_by(
            "report__engagement_id", "number"):
        if c.resolved_at is None:
            reasons.append(_("Audit condition %(n)d is not resolved by the organization.") % {"n": c.number})
        else:
            reasons.append(_("Audit condition %(n)d awaits the auditor's acceptance.") % {"n": c.number})
    return reasons


def on_review_started(app: Application) -> None:
    """Tier 3/4 accepted into review: the owner is asked to assign auditors."""
    if facts.seats_required(app) == 0:
        return
    notify(staff_contacts(app), "engagement-assignment-needed",
           {"application": app, "seats": facts.seats_required(app)},
           url=reverse("auditors:staff-application", args=[app.pk]))


def next_condition_number(report: AuditReport) -> int:
    return (report.conditions.aggregate(n=Max("number"))["n"] or 0) + 1


def audit_summary(app) -> list[dict]:
    """What the signed attestation and the certificate page say of the audits (DESIGN §7):
    per filed report, the firm, recommendation, filing time, report hash, issues by
    severity and conditions. Auditors are named by firm, not as people."""
    from auditors.models import AuditReport

    reports = (
        AuditReport.objects.filter(engagement__application=app, filed_at__isnull=False)
        .select_related("engagement__accreditation")
        .prefetch_related("conditions")
        .order_by("filed_at", "pk")
    )
    summary = []
    for report in reports:
        severities: dict[str, int] = {}
        for issue in report.issues or []:
            key = str(issue.get("severity", "unknown"))
            severities[key] = severities.get(key, 0) + 1
        conditions = list(report.conditions.all())
        summary.append({
            "firm": report.engagement.accreditation.firm,
            "recommendation": report.recommendation,
            "filed_at": report.filed_at.isoformat(),
            "report_sha256": report.sha256,
            "issues_by_severity": dict(sorted(severities.items())),
            "conditions": len(conditions),
            "conditions_accepted": sum(1 for c in conditions if c.accepted_at),
        })
    return summary
