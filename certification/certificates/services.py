"""Decisions and certificates (DESIGN §4, §7): staff approval (four-eyes for Tier 3/4) and
rejection, issuing the certificate, suspension and reinstatement, revocation by two staff,
supersession and renewal.

Every state change is one function here: it checks the current state, runs in a transaction,
moves the status with a conditional UPDATE, writes the audit entry and notifies.

**Renewal** opens a new application on the same release (allowed because the certified one is
closed) with ``previous`` set and the documentation pre-filled from the certified revision; its
certificate supersedes the previous certificate when issued. It may start once
``renewal_after_months`` of the certificate's framework version have passed.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from certification.certificates import incidents, lineage, modelsigning, tasks, verify_cache
from certification.certificates.models import Certificate, ConcernReport, Decision, RevocationProposal
from certification.certificates.signing import certificate_url, sign_certificate
from certification.framework import rules, tiers
from certification.framework import services as framework_services
from certification.framework.services import require_staff
from certification.releases import services as release_services
from certification.releases.applications import move_application
from certification.releases.models import Application, Documentation
from portal import audit, deadlines, labels
from portal import organizations as portal_organizations
from portal.models import User
from portal.notifications import notify
from portal.organizations import org_admins


def _certificate_number(now) -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return f"RRC-{now.year}-" + "".join(secrets.choice(alphabet) for _ in range(8))


def approve(app: Application, actor: User, request=None) -> Application:
    """Approve; certify once the tier's number of distinct staff approvals is reached."""
    require_staff(actor)
    rules = app.framework_version.rules
    needed = tiers.tier_settings(rules, app.tier or 1).get("approvals_required", 1)
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=app.pk)
        if locked.status != S.DECISION_PENDING:
            raise WorkflowError(_("Only an application awaiting decision can be approved."))
        if Decision.objects.filter(application=app, decided_by=actor, outcome=Decision.Outcome.APPROVE).exists():
            raise WorkflowError(_("You have already approved this application; another staff member must approve it."))
        Decision.objects.create(application=app, outcome=Decision.Outcome.APPROVE, decided_by=actor)
        approvals = Decision.objects.filter(application=app, outcome=Decision.Outcome.APPROVE).values(
            "decided_by").distinct().count()
        audit.log("certification.application.approved", actor=actor, obj=app,
                  organization=app.release.organization, request=request,
                  payload={"approvals": approvals, "needed": needed})
        if approvals >= needed:
            issue_certificate(app, actor)
    return app


def issue_certificate(app: Application, actor: User | None) -> Certificate:
    now = timezone.now()
    rules = app.framework_version.rules
    validity = tiers.tier_settings(rules, app.tier or 1).get("certificate_validity_days", 365)
    move_application(app, S.CERTIFIED, actor, [S.DECISION_PENDING], decided_at=now)
    deadlines.close_deadlines(app, "staff_decision")
    release = app.release
    cert = Certificate.objects.create(
        number=_certificate_number(now), application=app, release=release, organization=release.organization,
        framework_version=app.framework_version, tier=app.tier or 1, issued_at=now,
        expires_at=now + timedelta(days=validity), updated_at=now,
    )
    audit.log("certification.certificate.issued", actor=actor, obj=cert, organization=release.organization,
              payload={"number": cert.number, "tier": cert.tier})
    for hook in CERTIFICATE_ISSUED_HOOKS:
        hook(cert)
    notify(org_admins(release.organization), "certified", {"application": app, "certificate": cert},
           url=reverse("certification:application-detail", args=[app.pk]))
    return cert


# The certificates work item signs the attestation here.
CERTIFICATE_ISSUED_HOOKS: list = []


def reject(app: Application, actor: User, reasons: str, request=None) -> Application:
    require_staff(actor)
    if not reasons.strip():
        raise WorkflowError(_("Give the reasons for the rejection."), field="reasons")
    with transaction.atomic():
        move_application(app, S.REJECTED, actor, [S.DECISION_PENDING], decided_at=timezone.now())
        Decision.objects.create(application=app, outcome=Decision.Outcome.REJECT, decided_by=actor, reasons=reasons)
        deadlines.close_deadlines(app, "staff_decision")
        audit.log("certification.application.rejected", actor=actor, obj=app,
                  organization=app.release.organization, request=request)
        notify(org_admins(app.release.organization), "rejected", {"application": app, "reasons": reasons},
               url=reverse("certification:application-detail", args=[app.pk]))
    return app

log = logging.getLogger(__name__)

S = Application.Status
C = Certificate.Status
WorkflowError = framework_services.WorkflowError



def on_certificate_issued(cert: Certificate) -> None:
    """Hook of ``services.issue_certificate`` (inside its transaction)."""
    release = cert.release
    Certificate.objects.filter(pk=cert.pk).update(
        hub_repo_id=release.ai_model.hub_repo_id, hub_revision=release.hub_revision
    )
    cert.hub_repo_id, cert.hub_revision = release.ai_model.hub_repo_id, release.hub_revision
    sign_certificate(cert)
    # Its files are recorded now: cached "not found" answers for its number, files and repo end here.
    verify_cache.invalidate(cert)
    transaction.on_commit(tasks.schedule_refresh)  # the static registry export
    # The OpenSSF model-signing bundle of the certified files (a renewal's certificate gets its own).
    modelsigning.issue_bundle(cert)
    deadlines.open_deadline(cert, "certificate_expiry", cert.expires_at)
    if cert.application.previous_id:
        previous = Certificate.objects.filter(application_id=cert.application.previous_id).first()
        if previous is not None:
            _supersede(previous, cert)


CERTIFICATE_ISSUED_HOOKS.append(on_certificate_issued)


# --- status changes ------------------------------------------------------------------------------


def _set_status(cert: Certificate, to: str, from_statuses: list[str], **extra) -> None:
    now = timezone.now()
    updated = Certificate.objects.filter(pk=cert.pk, status__in=from_statuses).update(
        status=to, updated_at=now, **extra
    )
    if not updated:
        current = Certificate.objects.filter(pk=cert.pk).values_list("status", flat=True).first()
        raise WorkflowError(_("This certificate is %(status)s now; the action no longer applies.")
                            % {"status": dict(C.choices).get(current, current)})
    cert.status, cert.updated_at = to, now
    for key, value in extra.items():
        setattr(cert, key, value)
    verify_cache.invalidate(cert)
    lineage.on_status_change(cert, to)  # the organizations of its certified derivatives are told
    transaction.on_commit(tasks.schedule_refresh)  # the static registry export


def require_reason(reason: str, field_name: str = "reason") -> str:
    if not (reason or "").strip():
        raise WorkflowError(_("Give the reason."), field=field_name)
    return reason.strip()


def _notify_org(cert: Certificate, kind: str, context: dict) -> None:
    notify(portal_organizations.org_admins(cert.organization), kind, {"certificate": cert, **context},
           url=certificate_url(cert))


def suspend(cert: Certificate, actor: User, reason: str, concern: ConcernReport | None = None,
            request=None) -> Certificate:
    """One staff member suspends a valid certificate, with a reason; from an incident, it escalates it."""
    framework_services.require_staff(actor)
    reason = require_reason(reason)
    if cert.effective_status() == "expired":
        raise WorkflowError(_("This certificate has expired; suspending it changes nothing."))
    with transaction.atomic():
        _set_status(cert, C.SUSPENDED, [C.VALID], status_reason=reason)
        if concern is not None and concern.certificate_id == cert.pk:
            # The incident is escalated (if still open): its acknowledgement deadline closes, its reporter is told.
            incidents.on_escalated(concern, actor)
        audit.log("certification.certificate.suspended", actor=actor, obj=cert, organization=cert.organization,
                  request=request, payload={"reason": reason, "concern": concern.pk if concern else None})
        _notify_org(cert, "certificate-suspended", {"reason": reason})
    return cert


def reinstate(cert: Certificate, actor: User, reason: str, request=None) -> Certificate:
    framework_services.require_staff(actor)
    reason = require_reason(reason)
    with transaction.atomic():
        _set_status(cert, C.VALID, [C.SUSPENDED], status_reason=reason)
        audit.log("certification.certificate.reinstated", actor=actor, obj=cert, organization=cert.organization,
                  request=request, payload={"reason": reason})
        _notify_org(cert, "certificate-reinstated", {"reason": reason})
    return cert


def open_revocation(cert: Certificate) -> RevocationProposal | None:
    return cert.revocation_proposals.filter(confirmed_at__isnull=True, cancelled_at__isnull=True).first()


def propose_revocation(cert: Certificate, actor: User, reason: str, request=None) -> RevocationProposal:
    """The first of the two staff members: proposes, with the reason."""
    framework_services.require_staff(actor)
    reason = require_reason(reason)
    if cert.status not in (C.VALID, C.SUSPENDED):
        raise WorkflowError(_("Only a valid or suspended certificate can be revoked."))
    try:
        with transaction.atomic():
            proposal = RevocationProposal.objects.create(certificate=cert, reason=reason, proposed_by=actor)
            audit.log("certification.certificate.revocation_proposed", actor=actor, obj=cert,
                      organization=cert.organization, request=request, payload={"reason": reason})
            others = portal_organizations.staff_users().exclude(pk=actor.pk)
            notify(others, "revocation-proposed", {"certificate": cert, "reason": reason, "proposer": actor},
                   url=certificate_url(cert))
    except IntegrityError:
        raise WorkflowError(_("A revocation is already proposed; another staff member must confirm it.")) from None
    return proposal


def confirm_revocation(cert: Certificate, actor: User, request=None) -> Certificate:
    """The second staff member confirms: the certificate is revoked for good."""
    framework_services.require_staff(actor)
    with transaction.atomic():
        proposal = (RevocationProposal.objects.select_for_update()
                    .filter(certificate=cert, confirmed_at__isnull=True, cancelled_at__isnull=True).first())
        if proposal is None:
            raise WorkflowError(_("No revocation is proposed for this certificate."))
        if proposal.proposed_by_id == actor.pk:
            raise WorkflowError(_("You proposed this revocation; another staff member must confirm it."))
        _set_status(cert, C.REVOKED, [C.VALID, C.SUSPENDED], status_reason=proposal.reason)
        now = timezone.now()
        RevocationProposal.objects.filter(pk=proposal.pk).update(confirmed_by=actor, confirmed_at=now)
        deadlines.close_deadlines(cert, "certificate_expiry", state="cancelled")
        audit.log("certification.certificate.revoked", actor=actor, obj=cert, organization=cert.organization,
                  request=request, payload={"reason": proposal.reason, "proposed_by": proposal.proposed_by.pseudonym})
        _notify_org(cert, "certificate-revoked", {"reason": proposal.reason})
    return cert


def cancel_revocation(cert: Certificate, actor: User, request=None) -> None:
    framework_services.require_staff(actor)
    with transaction.atomic():
        if not RevocationProposal.objects.filter(
            certificate=cert, confirmed_at__isnull=True, cancelled_at__isnull=True
        ).update(cancelled_at=timezone.now()):
            raise WorkflowError(_("No revocation is proposed for this certificate."))
        audit.log("certification.certificate.revocation_cancelled", actor=actor, obj=cert,
                  organization=cert.organization, request=request)


def _supersede(old: Certificate, new: Certificate) -> None:
    # Only a valid certificate is superseded; a suspended or revoked one keeps saying so.
    if not Certificate.objects.filter(pk=old.pk, status=C.VALID).update(
        status=C.SUPERSEDED, superseded_by=new, updated_at=timezone.now()
    ):
        return
    verify_cache.invalidate(old)
    transaction.on_commit(tasks.schedule_refresh)
    deadlines.close_deadlines(old, "certificate_expiry", state="cancelled")
    audit.log("certification.certificate.superseded", obj=old, organization=old.organization,
              payload={"by": new.number})


# --- renewal --------------------------------------------------------------------------------------


add_months = rules.add_months


def renewal_opens_at(cert: Certificate) -> dt.datetime:
    return add_months(cert.issued_at, rules.setting(cert.framework_version.rules, "certificates",
                                                    "renewal_after_months"))


def renewal_of(cert: Certificate) -> Application | None:
    return Application.objects.filter(previous_id=cert.application_id).order_by("-created_at").first()


def start_renewal(cert: Certificate, actor: User, request=None) -> Application:
    """An organization admin renews: a new application on the same release,
    pre-filled from the certified revision."""
    if not portal_organizations.is_org_admin(actor, cert.organization):
        raise WorkflowError(_("Only an admin of %(org)s can renew.") % {"org": cert.organization.name})
    status = cert.effective_status()
    if status not in ("valid", "expired"):
        raise WorkflowError(_("A %(status)s certificate cannot be renewed.") % {"status": status})
    opens = renewal_opens_at(cert)
    if timezone.now() < opens:
        raise WorkflowError(_("Renewal opens six months after issue, on %(date)s.")
                            % {"date": labels.day(opens)})
    release = cert.release
    open_app = release_services.editable_application(release)
    if open_app is not None:
        if open_app.previous_id == cert.application_id:
            return open_app
        raise WorkflowError(_("Another application for this release is open."))
    fv = framework_services.version_in_force()
    revision = cert.application.revisions.order_by("-number").first()
    try:
        with transaction.atomic():
            app = Application.objects.create(
                release=release, framework_version=fv, tier=release_services.effective_tier(release, fv.rules),
                previous=cert.application, created_by=actor,
            )
            doc, _created = Documentation.objects.select_for_update().get_or_create(release=release)
            frozen = revision.content.get("sections", {}) if revision else {}
            if frozen and doc.sections != frozen:
                doc.sections = frozen
                doc.updated_at, doc.updated_by = timezone.now(), actor
                doc.save(update_fields=["sections", "updated_at", "updated_by"])
            audit.log("certification.certificate.renewal_started", actor=actor, obj=cert,
                      organization=cert.organization, request=request,
                      payload={"application": app.pk, "framework_version": fv.version})
    except IntegrityError:
        raise WorkflowError(_("Another application for this release is open.")) from None
    return app
