"""Concern reports about a certified release (DESIGN §4, post-release monitoring): anyone may
file one (rate limited per address); it goes to the organization's vulnerability contact, its
admins and staff, and becomes an incident (``incidents``) that the organization acknowledges,
investigates and resolves, or that staff dismiss or escalate to a suspension of the certificate."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from certification.certificates import incidents
from certification.certificates.models import Certificate, ConcernReport
from certification.certificates.signing import certificate_url
from certification.framework.services import WorkflowError, require_staff
from portal import audit, deadlines, organizations
from portal.models import OutboxEmail, User
from portal.notifications import enqueue_delivery, notify, render_email

# --- concern reports ------------------------------------------------------------------------------


def concern_limit() -> tuple[int, int]:
    """(reports, seconds) allowed per client address."""
    return getattr(settings, "CONCERN_REPORTS_PER_HOUR", 5), 3600


def concern_allowed(ip: str | None) -> bool:
    """Count a report against the client's address; False once over the limit.
    The counter lives in the shared cache, so every web process counts together."""
    limit, window = concern_limit()
    key = f"concern-reports:{ip or 'unknown'}"
    cache.add(key, 0, window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window)
        count = 1
    return count <= limit


def vulnerability_contact(cert: Certificate) -> str:
    revision = cert.application.revisions.order_by("-number").first()
    sections = revision.content.get("sections", {}) if revision else {}
    return (sections.get("vulnerability_contact") or {}).get("email", "")


def report_concern(cert: Certificate, *, summary: str, details: str, reporter_email: str = "",
                   severity: str = "", reporter: User | None = None, request=None) -> ConcernReport:
    """Anyone reports a concern: a received incident. The release's vulnerability contact, the
    organization's admins (who have ``incident_acknowledgement`` days to acknowledge it), staff and
    the reporter are told."""
    errors = {}
    if not (summary or "").strip():
        errors["summary"] = [_("Summarise the concern.")]
    if not (details or "").strip():
        errors["details"] = [_("Describe the concern.")]
    severity = (severity or "").strip()
    if severity and severity not in ConcernReport.Severity.values:
        errors["severity"] = [_("Choose low, medium, high or critical, or leave it to staff.")]
    if errors:
        raise WorkflowError(_("Check the report."), errors=errors)
    with transaction.atomic():
        concern = ConcernReport.objects.create(
            certificate=cert, summary=summary.strip()[:200], details=details.strip(),
            reporter_email=(reporter_email or "").strip(),
            reporter=reporter if reporter is not None and reporter.is_authenticated else None,
            ip=audit.client_ip(request), severity=severity,
        )
        audit.log("certification.concern.reported", obj=cert, organization=cert.organization,
                  payload={"concern": concern.pk, "severity": severity})
        deadline = incidents.open_acknowledgement(concern)
        contact = vulnerability_contact(cert)
        if contact:
            # The contact is an address, not an account: straight to the outbox.
            subject, text, html = render_email("concern-contact", {"certificate": cert, "concern": concern,
                                                                    "url": certificate_url(cert)})
            row = OutboxEmail.objects.create(to=contact, subject=subject, body_text=text, body_html=html)
            transaction.on_commit(lambda: enqueue_delivery([row.pk]))
        notify(organizations.org_admins(cert.organization), "incident-received",
               {"certificate": cert, "incident": concern, "due_at": deadline.due_at}, url=concern.get_absolute_url())
        notify(organizations.staff_users(), "concern-reported", {"certificate": cert, "concern": concern},
               url=reverse("certification:concern-list"))
        incidents.tell_reporter(concern, "received")
    return concern


def dismiss_concern(concern: ConcernReport, actor: User, request=None) -> None:
    """Staff judge an open report not to be an incident (spam, the wrong model...): it never joins the
    public history, its acknowledgement deadline closes and the reporter is told."""
    require_staff(actor)
    with transaction.atomic():
        if not ConcernReport.objects.filter(pk=concern.pk, status__in=ConcernReport.OPEN_STATES).update(
            status=ConcernReport.Status.DISMISSED, handled_by=actor, handled_at=timezone.now()
        ):
            raise WorkflowError(_("This concern has already been handled."))
        concern.status = ConcernReport.Status.DISMISSED
        deadlines.close_deadlines(concern, incidents.KIND, state="cancelled")
        audit.log("certification.concern.dismissed", actor=actor, obj=concern.certificate,
                  organization=concern.certificate.organization, request=request, payload={"concern": concern.pk})
        incidents.tell_reporter(concern, "dismissed")
