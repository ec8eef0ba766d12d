"""Who may see what (DESIGN §3), decided on every request from stored states:
auditors see only their own offers and engagements, and the frozen submission
of an application only while they hold a seat on it (a reassignment ends that
at the next request) and their accreditation is active."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404

from auditors.models import Accreditation, Engagement, Offer, ReportCondition
from certification.releases.models import Application, EvidenceFile
from portal.models import Membership


def reading_engagements(user):
    """Engagements that open the frozen submission to this auditor right now."""
    return Engagement.objects.current().filter(
        accreditation__user=user,
        accreditation__in=Accreditation.objects.active(),
    ).exclude(application__status__in=Application.CLOSED_STATES)


def engaged_auditor_may_read_evidence(user, evidence: EvidenceFile) -> bool:
    """Registered in ``certification.releases.access.EVIDENCE_ACCESS_CHECKS`` by ``AuditorsConfig.ready``."""
    if not user.is_authenticated:
        return False
    return reading_engagements(user).filter(application__release_id=evidence.release_id).exists()


def get_offer_for_user(user, pk: int) -> Offer:
    offer = (Offer.objects.visible_to(user)
             .select_related("accreditation__user", "application__release__ai_model__organization",
                             "application__framework_version")
             .filter(pk=pk).first())
    if offer is None:
        raise Http404
    return offer


def get_engagement_for_user(user, pk: int) -> Engagement:
    """Staff, the engaged auditor while the engagement holds a seat, or a member of the applicant."""
    engagement = (Engagement.objects.visible_to(user)
                  .select_related("accreditation__user", "application__release__ai_model__organization",
                                  "application__framework_version", "application__owner", "report")
                  .filter(pk=pk).first())
    if engagement is None:
        raise Http404
    return engagement


def is_engaged_auditor(user, engagement: Engagement) -> bool:
    return engagement.accreditation.user_id == user.pk and engagement.holds_seat


def get_submission_engagement(user, pk: int) -> Engagement:
    """The frozen submission: staff, or the auditor while engaged (404 otherwise, even to the applicant)."""
    qs = Engagement.objects.select_related("accreditation__user", "application__release__ai_model__organization",
                                           "application__framework_version")
    if user.is_authenticated and user.is_alliance_staff:
        engagement = qs.filter(pk=pk).first()
    elif user.is_authenticated:
        engagement = qs.filter(pk__in=reading_engagements(user).values("pk"), pk=pk).first()
    else:
        engagement = None
    if engagement is None:
        raise Http404
    return engagement


def get_report_engagement(user, pk: int) -> Engagement:
    """Report pages: staff, the engaged auditor, and (once filed) the applicant's members."""
    engagement = get_engagement_for_user(user, pk)
    if user.is_alliance_staff or is_engaged_auditor(user, engagement):
        return engagement
    report = getattr(engagement, "report", None)
    if report is not None and report.is_filed and engagement.holds_seat:
        return engagement
    raise Http404


def get_application_audit(user, pk: int) -> tuple[Application, Membership | None]:
    """The audit page of an application: staff and the applicant's members."""
    app = (Application.objects.visible_to(user)
           .select_related("release__ai_model__organization", "framework_version", "owner")
           .filter(pk=pk).first())
    if app is None:
        raise Http404
    membership = Membership.objects.filter(user=user, organization=app.release.ai_model.organization).first()
    return app, membership


def get_condition_for_user(user, pk: int) -> ReportCondition:
    condition = (ReportCondition.objects
                 .select_related("report__engagement__accreditation__user",
                                 "report__engagement__application__release__ai_model__organization")
                 .filter(pk=pk, report__filed_at__isnull=False)
                 .filter(Q(report__engagement__accreditation__user=user,
                           report__engagement__status=Engagement.Status.COMPLETED)
                         | Q(report__engagement__application__release__ai_model__organization__memberships__user=user))
                 .distinct().first()) if user.is_authenticated else None
    if condition is None:
        raise Http404
    return condition
