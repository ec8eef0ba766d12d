"""Deadline kinds of certificates, appeals and incidents (DESIGN §2.4, issue 16 §2), registered with
the engine in ``portal.deadlines`` by ``CertificationConfig.ready``: certificate expiry, the appeal
decision and the acknowledgement of an incident. Reminders follow the framework version of each
certificate or application."""

from __future__ import annotations

from django.urls import reverse

from certification.certificates import incidents
from certification.certificates.appeals import deciding_staff
from certification.certificates.models import Appeal, ConcernReport
from certification.certificates.services import C
from certification.certificates.signing import certificate_url
from certification.framework import rules
from portal import audit, deadlines, organizations
from portal.notifications import notify

# --- deadlines (DESIGN §2.4) ----------------------------------------------------------------------


def _expiry_reminder(deadline, cert, offset) -> None:
    cert.refresh_from_db()
    if cert.effective_status() == "valid":
        notify(organizations.org_admins(cert.organization), "certificate-expiry-reminder",
               {"certificate": cert, "days_left": offset.days}, url=certificate_url(cert))


def _expiry_due(deadline, cert) -> None:
    # Expiry is computed on every read; the sweep only tells the organization.
    cert.refresh_from_db()
    if cert.status == C.VALID:
        audit.log("certification.certificate.expired", obj=cert, organization=cert.organization)
        notify(organizations.org_admins(cert.organization), "certificate-expired", {"certificate": cert},
               url=certificate_url(cert))


def _appeal_reminder(deadline, appeal, offset) -> None:
    if appeal.status == Appeal.Status.OPEN:
        notify(deciding_staff(appeal), "appeal-reminder",
               {"appeal": appeal, "application": appeal.application, "due_at": deadline.due_at,
                "days_left": offset.days}, url=reverse("certification:appeal-decide", args=[appeal.pk]))


def _appeal_due(deadline, appeal) -> None:
    if appeal.status == Appeal.Status.OPEN:
        notify(organizations.staff_users(), "appeal-overdue",
               {"appeal": appeal, "application": appeal.application, "due_at": deadline.due_at},
               url=reverse("certification:appeal-decide", args=[appeal.pk]))


deadlines.register(rules.deadline_kind(
    "certificate_expiry", _expiry_reminder, _expiry_due, pending=lambda cert: cert.effective_status() == "valid",
    description="Certificate expiry: organization admins reminded; expiry itself is computed on every read.",
))


deadlines.register(rules.deadline_kind(
    "appeal_decision", _appeal_reminder, _appeal_due, pending=lambda appeal: appeal.status == Appeal.Status.OPEN,
    description="Appeal decision by staff who took no part in the rejection; escalated to every staff member.",
))


def _acknowledgement_reminder(deadline, incident: ConcernReport, offset) -> None:
    incident.refresh_from_db(fields=["status"])
    if incident.status == ConcernReport.Status.RECEIVED:
        notify(organizations.org_admins(incident.certificate.organization), "incident-acknowledgement-reminder",
               {"incident": incident, "certificate": incident.certificate, "due_at": deadline.due_at,
                "days_left": offset.days}, url=incident.get_absolute_url())


def _acknowledgement_due(deadline, incident: ConcernReport) -> None:
    incident.refresh_from_db(fields=["status"])
    if incident.status == ConcernReport.Status.RECEIVED:
        notify(organizations.staff_users(), "incident-acknowledgement-overdue",
               {"incident": incident, "certificate": incident.certificate, "due_at": deadline.due_at},
               url=incident.get_absolute_url())


deadlines.register(rules.deadline_kind(
    incidents.KIND, _acknowledgement_reminder, _acknowledgement_due,
    pending=lambda incident: incident.status == ConcernReport.Status.RECEIVED,
    description="Acknowledgement of a post-release incident by the organization: its admins reminded, then "
                "every staff member told.",
))
