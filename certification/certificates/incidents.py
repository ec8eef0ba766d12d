"""Post-release incidents (issue 16 §2; DESIGN §4, §7.2): the lifecycle of a concern report once it
is filed (``concerns.report_concern``).

    received ──acknowledge──▶ acknowledged ──start_investigation──▶ investigating
        │                          │                                     │
        │                          └───────────────resolve───────────────┤──▶ resolved (public note)
        └──── staff: dismiss (concerns.dismiss_concern) or escalate to a suspension
              (certificates.services.suspend with the incident) from any open state

The organization's admins acknowledge, investigate and resolve; members and staff read. The
acknowledgement has a deadline (``incident_acknowledgement``, 5 days by default, from the framework
version of the certificate) run by the deadline engine (``deadline_kinds``). The reporter, if they
left an address or were signed in, is told of every step. Each transition is one function here:
it checks the actor, moves the status with a conditional UPDATE, writes the audit entry and tells
the reporter, in one transaction.

What the public sees (``public_history``): the summary as the title, the dates, the status and the
resolution with its note, once the incident is resolved or ``public_history_days`` (90 by default)
after its acknowledgement, whichever comes first; never the details, the reporter or the severity.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from certification.certificates.models import Certificate, ConcernReport
from certification.certificates.signing import certificate_url
from certification.framework import rules
from certification.framework.services import WorkflowError, require_staff
from certification.releases.models import Release
from portal import audit, deadlines, organizations
from portal.models import Deadline, Organization, OutboxEmail, User
from portal.notifications import enqueue_delivery, notify, render_email

I = ConcernReport.Status  # noqa: E741 - the incident's status, as S is an application's elsewhere
KIND = "incident_acknowledgement"


# --- rules from the framework data ------------------------------------------------------------------


def acknowledgement_length(concern: ConcernReport) -> timedelta:
    return rules.deadline_length(rules.rules_of(concern), KIND)


def public_after(cert: Certificate) -> timedelta:
    """How long after its acknowledgement an unresolved incident joins the public history."""
    return timedelta(days=int(rules.setting(cert.framework_version.rules, "incidents", "public_history_days")))


# --- the reporter --------------------------------------------------------------------------------------


def tell_reporter(concern: ConcernReport, step: str) -> None:
    """Tell the reporter of a step: a signed-in reporter through ``notify()`` (in-app and email), an
    address left on the form straight to the outbox (it is not an account). Nobody when neither."""
    cert = concern.certificate
    context = {"incident": concern, "certificate": cert, "step": step}
    url = certificate_url(cert)
    reporter = concern.reporter
    if reporter is not None and reporter.is_active:
        notify(reporter, "incident-reporter", context, url=url)
        return
    if not concern.reporter_email:
        return
    subject, text, html = render_email("incident-reporter", {**context, "url": url})
    row = OutboxEmail.objects.create(to=concern.reporter_email, subject=subject, body_text=text, body_html=html)
    transaction.on_commit(lambda: enqueue_delivery([row.pk]))


# --- transitions -----------------------------------------------------------------------------------------


def open_acknowledgement(concern: ConcernReport) -> Deadline:
    """Inside ``report_concern``'s transaction: the organization has until then to acknowledge."""
    return deadlines.open_deadline(concern, KIND, concern.created_at + acknowledgement_length(concern))


def _require_admin(concern: ConcernReport, actor: User) -> Organization:
    org = concern.certificate.organization
    if not organizations.is_org_admin(actor, org):
        raise WorkflowError(_("Only an admin of %(org)s can answer incidents about its releases.") % {"org": org.name})
    return org


def _move(concern: ConcernReport, to: str, from_states, refused: str, **fields) -> None:
    """The conditional UPDATE of a transition (a concurrent one wins, this one is refused)."""
    if not ConcernReport.objects.filter(pk=concern.pk, status__in=list(from_states)).update(status=to, **fields):
        raise WorkflowError(refused)
    concern.status = to
    for name, value in fields.items():
        setattr(concern, name, value)


def acknowledge(concern: ConcernReport, actor: User, request=None) -> ConcernReport:
    """The organization confirms it has the report: the acknowledgement deadline closes."""
    org = _require_admin(concern, actor)
    with transaction.atomic():
        _move(concern, I.ACKNOWLEDGED, [I.RECEIVED], _("Only a received incident can be acknowledged."),
              acknowledged_at=timezone.now(), acknowledged_by=actor)
        deadlines.close_deadlines(concern, KIND)
        audit.log("certification.incident.acknowledged", actor=actor, obj=concern.certificate, organization=org,
                  request=request, payload={"incident": concern.pk})
        tell_reporter(concern, "acknowledged")
    return concern


def start_investigation(concern: ConcernReport, actor: User, request=None) -> ConcernReport:
    org = _require_admin(concern, actor)
    with transaction.atomic():
        _move(concern, I.INVESTIGATING, [I.ACKNOWLEDGED],
              _("Only an acknowledged incident can move to investigation."), investigating_at=timezone.now())
        audit.log("certification.incident.investigating", actor=actor, obj=concern.certificate, organization=org,
                  request=request, payload={"incident": concern.pk})
        tell_reporter(concern, "investigating")
    return concern


def resolve(concern: ConcernReport, actor: User, resolution: str, note: str, fixed_in: str = "",
            request=None) -> ConcernReport:
    """The organization resolves an acknowledged incident, with a public note; "fixed" names the release."""
    org = _require_admin(concern, actor)
    note, fixed_in = (note or "").strip(), (fixed_in or "").strip()
    errors: dict[str, list[str]] = {}
    if resolution not in ConcernReport.Resolution.values:
        errors["resolution"] = [_("Choose fixed in a release, mitigated, not reproducible or out of scope.")]
    if not note:
        errors["note"] = [_("Write the public note: what was found and what changed.")]
    if resolution == ConcernReport.Resolution.FIXED and not fixed_in:
        errors["fixed_in"] = [_("Name the release that fixes it.")]
    if errors:
        raise WorkflowError(_("The incident could not be resolved."), errors=errors)
    if resolution != ConcernReport.Resolution.FIXED:
        fixed_in = ""
    with transaction.atomic():
        _move(concern, I.RESOLVED, [I.ACKNOWLEDGED, I.INVESTIGATING],
              _("Only an acknowledged incident or one under investigation can be resolved."),
              resolved_at=timezone.now(), resolved_by=actor, resolution=resolution, fixed_in=fixed_in[:100],
              resolution_note=note)
        audit.log("certification.incident.resolved", actor=actor, obj=concern.certificate, organization=org,
                  request=request, payload={"incident": concern.pk, "resolution": resolution, "fixed_in": fixed_in})
        tell_reporter(concern, "resolved")
    return concern


def set_severity(concern: ConcernReport, actor: User, severity: str, request=None) -> ConcernReport:
    """Staff rate the incident (or change the reporter's rating)."""
    require_staff(actor)
    if severity not in ConcernReport.Severity.values:
        raise WorkflowError(_("Choose low, medium, high or critical."), field="severity")
    with transaction.atomic():
        before = ConcernReport.objects.select_for_update().values_list("severity", flat=True).get(pk=concern.pk)
        if before == severity:
            return concern
        ConcernReport.objects.filter(pk=concern.pk).update(severity=severity)
        concern.severity = severity
        audit.log("certification.incident.severity_set", actor=actor, obj=concern.certificate,
                  organization=concern.certificate.organization, request=request,
                  payload={"incident": concern.pk, "from": before, "to": severity})
    return concern


def on_escalated(concern: ConcernReport, actor: User) -> bool:
    """Inside ``certificates.services.suspend``: staff suspended the certificate from this incident.
    Returns False when the incident was no longer open (it stays as it was)."""
    try:
        _move(concern, I.ESCALATED, ConcernReport.OPEN_STATES, "", handled_by=actor, handled_at=timezone.now())
    except WorkflowError:
        return False
    deadlines.close_deadlines(concern, KIND)
    tell_reporter(concern, "escalated")
    return True


# --- reading ----------------------------------------------------------------------------------------------


def get_incident_for_user(user, pk: int) -> ConcernReport | None:
    """One incident for its organization's members and staff; None (a 404) for anyone else."""
    return (ConcernReport.objects.visible_to(user)
            .select_related("certificate__organization", "certificate__release__ai_model",
                            "certificate__framework_version", "acknowledged_by", "resolved_by", "handled_by")
            .filter(pk=pk).first())


def acknowledgement_dues(concerns) -> dict[int, dt.datetime]:
    """{incident id: acknowledgement due time} for these incidents, in one query."""
    ids = [c.pk for c in concerns]
    if not ids:
        return {}
    ct = ContentType.objects.get_for_model(ConcernReport)
    return dict(Deadline.objects.filter(content_type=ct, object_id__in=ids, kind=KIND)
                .order_by("created_at").values_list("object_id", "due_at"))


def overdue_ids():
    """Ids of received incidents whose acknowledgement deadline has passed (a subquery)."""
    now = timezone.now()
    return (Deadline.objects.filter(content_type=ContentType.objects.get_for_model(ConcernReport), kind=KIND)
            .filter(Q(state=Deadline.State.PASSED) | Q(state=Deadline.State.OPEN, due_at__lte=now))
            .values("object_id"))


@dataclass(frozen=True)
class PublicIncident:
    """What the public sees of an incident: never its details, reporter or severity."""

    title: str
    status: str
    reported_at: dt.datetime
    acknowledged_at: dt.datetime | None
    resolved_at: dt.datetime | None
    resolution: str
    fixed_in: str
    resolution_note: str

    def as_json(self) -> dict:
        return {"title": self.title, "status": self.status, "reported_at": self.reported_at,
                "acknowledged_at": self.acknowledged_at, "resolved_at": self.resolved_at,
                "resolution": self.resolution or None, "fixed_in": self.fixed_in or None,
                "resolution_note": self.resolution_note or None}


def public_history(cert: Certificate, at: dt.datetime | None = None) -> list[PublicIncident]:
    """The certificate's incidents the public may see at ``at`` (decided on every read from the
    stored times, never by the sweep), oldest report first. One query."""
    at = at or timezone.now()
    rows = cert.concerns.public_history(at, public_after(cert)).order_by("created_at", "pk").only(
        "summary", "status", "created_at", "acknowledged_at", "resolved_at", "resolution", "fixed_in",
        "resolution_note", "certificate_id")
    return [PublicIncident(title=c.summary, status=c.status, reported_at=c.created_at,
                           acknowledged_at=c.acknowledged_at,
                           resolved_at=c.resolved_at if c.status == I.RESOLVED else None,
                           resolution=c.resolution if c.status == I.RESOLVED else "",
                           fixed_in=c.fixed_in if c.status == I.RESOLVED else "",
                           resolution_note=c.resolution_note if c.status == I.RESOLVED else "")
            for c in rows]


def incidents_of_release(release: Release, user) -> dict:
    """The release page's panel (registered with ``releases.views.releases.RELEASE_PANELS``):
    the incidents about the release's certificates, for its organization's members and staff."""
    if not (getattr(user, "is_authenticated", False)
            and (user.is_alliance_staff or organizations.is_org_member(user, release.organization))):
        return {}
    if not release.certificates.exists():
        return {}  # never certified: nothing can be reported about it
    incidents = list(ConcernReport.objects.filter(certificate__release=release)
                     .select_related("certificate").order_by("-created_at", "-pk")[:50])
    return {"release_incidents": incidents}


def _count(condition: Q) -> Count:
    return Count("pk", filter=condition)


def dashboard_panel(user: User, org: Organization | None) -> dict:
    """The organization's incidents on the dashboard: open ones, and those still to acknowledge."""
    if org is None:
        return {}
    mine = ConcernReport.objects.filter(certificate__organization=org)
    counts = mine.aggregate(
        open=_count(Q(status__in=ConcernReport.OPEN_STATES)),
        received=_count(Q(status=I.RECEIVED)),
        overdue=_count(Q(status=I.RECEIVED, pk__in=overdue_ids())),
    )
    return {"org_incidents": counts}


def staff_console_panel(user: User) -> dict:
    """The staff console's row: incidents open, waiting for acknowledgement, overdue (one query)."""
    counts = ConcernReport.objects.aggregate(
        open=_count(Q(status__in=ConcernReport.OPEN_STATES)),
        received=_count(Q(status=I.RECEIVED)),
        overdue=_count(Q(status=I.RECEIVED, pk__in=overdue_ids())),
    )
    return {"incident_counts": counts}
