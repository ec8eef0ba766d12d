"""Certificates after issue: signing, suspension, revocation, supersession,
renewal, appeals against rejections and public concern reports (DESIGN §4, §7).

Every state change is one function here, like ``certification.services``: it
checks the current state, runs in a transaction, moves the status with a
conditional UPDATE, writes the audit entry and notifies.

Choices this module makes where the design leaves room:

- **Attestation subjects** are the release's artifacts as frozen in the
  submitted revision. A release that lists no artifacts is certified on its
  documentation: the statement then has one subject, the frozen revision
  (``documentation-revision-<n>.json`` with the revision's sha256).
- **Appeal granted** certifies the application at once (``issue_certificate``)
  once enough uninvolved staff grant it (one for Tier 1/2, two distinct for
  Tier 3/4). The appeal panel decides on the same frozen submission whose
  gates already held, so sending it back to review would only repeat them.
  "Took part in the rejection" means having cast any decision (approve or
  reject) on the application.
- **Renewal** opens a new application on the same release (allowed because the
  certified one is closed) with ``previous`` set and the documentation
  pre-filled from the certified revision; its certificate supersedes the
  previous certificate when issued.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import audit, deadlines
from portal.canonical import canonical_json
from portal.models import OutboxEmail, User
from portal.notifications import enqueue_delivery, notify, render_email

from . import attestations, services, signing_keys, tiers
from .framework_data import FRAMEWORK_2025_1
from .models import (
    Appeal,
    AppealVote,
    Application,
    Certificate,
    CertifiedArtifact,
    ConcernReport,
    Decision,
    Documentation,
    RevocationProposal,
)

log = logging.getLogger(__name__)

S = Application.Status
C = Certificate.Status
WorkflowError = services.WorkflowError

APPEAL_WINDOW_DAYS = 30
APPEAL_DECISION_DAYS = 30
RENEWAL_AFTER_MONTHS = 6
REVOCATIONS_PAYLOAD_TYPE = "application/vnd.responsible-release.revocations+json"
REVOCATIONS_TYPE = "https://certification.responsible-release.org/revocations/v1"
# Later work items (audits, community review) add functions ``(application) -> list[dict]``.
AUDIT_SUMMARY_PROVIDERS: list = []
REVIEW_SUMMARY_PROVIDERS: list = []


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def certificate_url(cert: Certificate) -> str:
    return reverse("certification:certificate-detail", args=[cert.number])


# --- the signed statement -----------------------------------------------------------------------


def fired_rules(content: dict, rules: dict, tier: int) -> list[dict]:
    """The classification rules that fired for the frozen release facts, plus the
    declared or staff-raised tier when it is above the computed one."""
    facts = {k: content.get("release", {}).get(k) for k in tiers.FIELDS}
    try:
        classification = tiers.classify(facts, rules)
    except (tiers.ClassificationError, ValueError):
        return []
    result = [{"id": r.id, "tier": r.tier, "text": r.text} for r in classification.rules]
    if tier > classification.tier:
        raised = content.get("release", {}).get("raised_tier")
        declared = content.get("release", {}).get("declared_tier")
        if raised and raised >= tier:
            result.insert(0, {"id": "raised_by_staff", "tier": raised, "text": "Tier raised by Alliance staff."})
        elif declared:
            result.insert(0, {"id": "declared_tier", "tier": declared,
                              "text": "The organization declared a higher tier than computed."})
    return result


def statement_subjects(content: dict, revision_number: int, revision_sha256: str) -> list[dict]:
    artifacts = [{"path": a["path"], "size": a.get("size"), "sha256": a["sha256"].lower()}
                 for a in content.get("artifacts", [])]
    if artifacts:
        return artifacts
    return [{"path": f"documentation-revision-{revision_number}.json", "size": None, "sha256": revision_sha256}]


def build_predicate(cert: Certificate) -> tuple[dict, list[dict]]:
    """The predicate of DESIGN §7 and the statement's subjects, from the frozen revision."""
    app = cert.application
    revision = app.revisions.order_by("-number").first()
    content = revision.content
    fv = cert.framework_version
    previous = Certificate.objects.filter(application_id=app.previous_id).values_list("number", flat=True).first()
    predicate = {
        "certificate": cert.number,
        "organization": {"name": cert.organization.name, "slug": cert.organization.slug},
        "model": {
            "name": content.get("model", {}).get("name", ""),
            "slug": content.get("model", {}).get("slug", ""),
            "hub_repo_id": cert.hub_repo_id,
        },
        "release": {
            "version": cert.release.version,
            "hub_revision": cert.hub_revision,
            "documentation_revision": revision.number,
            "documentation_sha256": revision.sha256,
        },
        "tier": cert.tier,
        "rules": fired_rules(content, fv.rules, cert.tier),
        "framework_version": fv.version,
        "framework_digest": fv.digest,
        "audit_summary": [item for provider in AUDIT_SUMMARY_PROVIDERS for item in provider(app)],
        "review_summary": [item for provider in REVIEW_SUMMARY_PROVIDERS for item in provider(app)],
        "renews": previous,
        "issued_at": iso(cert.issued_at),
        "expires_at": iso(cert.expires_at),
    }
    return predicate, statement_subjects(content, revision.number, revision.sha256)


def sign_certificate(cert: Certificate, force: bool = False) -> bool:
    """Build, sign and store the certificate's envelope. Returns False when it
    was already signed (and ``force`` is off): signing is idempotent."""
    if cert.attestation and not force:
        return False
    predicate, subjects = build_predicate(cert)
    payload = attestations.build_statement([(s["path"], s["sha256"]) for s in subjects], predicate)
    key, keyid = signing_keys.load_signing_key()
    data = attestations.envelope_bytes(attestations.sign_envelope(payload, key))
    with transaction.atomic():
        updated = Certificate.objects.filter(pk=cert.pk)
        if not force:
            updated = updated.filter(attestation__isnull=True)
        if not updated.update(attestation=data, attestation_keyid=keyid):
            return False
        CertifiedArtifact.objects.filter(certificate=cert).delete()
        CertifiedArtifact.objects.bulk_create(
            [CertifiedArtifact(certificate=cert, path=s["path"], size=s["size"], sha256=s["sha256"]) for s in subjects]
        )
        audit.log("certification.certificate.signed", obj=cert, organization=cert.organization,
                  payload={"keyid": keyid, "sha256": hashlib.sha256(data).hexdigest()})
    cert.attestation, cert.attestation_keyid = data, keyid
    return True


def envelope_of(cert: Certificate) -> bytes | None:
    return bytes(cert.attestation) if cert.attestation is not None else None


def on_certificate_issued(cert: Certificate) -> None:
    """Hook of ``services.issue_certificate`` (inside its transaction)."""
    release = cert.release
    Certificate.objects.filter(pk=cert.pk).update(
        hub_repo_id=release.ai_model.hub_repo_id, hub_revision=release.hub_revision
    )
    cert.hub_repo_id, cert.hub_revision = release.ai_model.hub_repo_id, release.hub_revision
    sign_certificate(cert)
    deadlines.open_deadline(cert, "certificate_expiry", cert.expires_at)
    if cert.application.previous_id:
        previous = Certificate.objects.filter(application_id=cert.application.previous_id).first()
        if previous is not None:
            _supersede(previous, cert)


services.CERTIFICATE_ISSUED_HOOKS.append(on_certificate_issued)


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


def _require_reason(reason: str, field_name: str = "reason") -> str:
    if not (reason or "").strip():
        raise WorkflowError(_("Give the reason."), field=field_name)
    return reason.strip()


def _notify_org(cert: Certificate, kind: str, context: dict) -> None:
    notify(services.org_admins(cert.organization), kind, {"certificate": cert, **context},
           url=certificate_url(cert))


def suspend(cert: Certificate, actor: User, reason: str, concern: ConcernReport | None = None,
            request=None) -> Certificate:
    """One staff member suspends a valid certificate, with a reason."""
    services._require_staff(actor)
    reason = _require_reason(reason)
    if cert.effective_status() == "expired":
        raise WorkflowError(_("This certificate has expired; suspending it changes nothing."))
    with transaction.atomic():
        _set_status(cert, C.SUSPENDED, [C.VALID], status_reason=reason)
        if concern is not None:
            ConcernReport.objects.filter(pk=concern.pk, certificate=cert).update(
                status=ConcernReport.Status.ACTIONED, handled_by=actor, handled_at=timezone.now())
        audit.log("certification.certificate.suspended", actor=actor, obj=cert, organization=cert.organization,
                  request=request, payload={"reason": reason, "concern": concern.pk if concern else None})
        _notify_org(cert, "certificate-suspended", {"reason": reason})
    return cert


def reinstate(cert: Certificate, actor: User, reason: str, request=None) -> Certificate:
    services._require_staff(actor)
    reason = _require_reason(reason)
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
    services._require_staff(actor)
    reason = _require_reason(reason)
    if cert.status not in (C.VALID, C.SUSPENDED):
        raise WorkflowError(_("Only a valid or suspended certificate can be revoked."))
    try:
        with transaction.atomic():
            proposal = RevocationProposal.objects.create(certificate=cert, reason=reason, proposed_by=actor)
            audit.log("certification.certificate.revocation_proposed", actor=actor, obj=cert,
                      organization=cert.organization, request=request, payload={"reason": reason})
            others = services.staff_users().exclude(pk=actor.pk)
            notify(others, "revocation-proposed", {"certificate": cert, "reason": reason, "proposer": actor},
                   url=certificate_url(cert))
    except IntegrityError:
        raise WorkflowError(_("A revocation is already proposed; another staff member must confirm it.")) from None
    return proposal


def confirm_revocation(cert: Certificate, actor: User, request=None) -> Certificate:
    """The second staff member confirms: the certificate is revoked for good."""
    services._require_staff(actor)
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
    services._require_staff(actor)
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
    deadlines.close_deadlines(old, "certificate_expiry", state="cancelled")
    audit.log("certification.certificate.superseded", obj=old, organization=old.organization,
              payload={"by": new.number})


# --- renewal --------------------------------------------------------------------------------------


def add_months(value: dt.datetime, months: int) -> dt.datetime:
    month = value.month - 1 + months
    year, month = value.year + month // 12, month % 12 + 1
    for day in (value.day, 30, 29, 28):
        try:
            return value.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def renewal_opens_at(cert: Certificate) -> dt.datetime:
    return add_months(cert.issued_at, RENEWAL_AFTER_MONTHS)


def renewal_of(cert: Certificate) -> Application | None:
    return Application.objects.filter(previous_id=cert.application_id).order_by("-created_at").first()


def start_renewal(cert: Certificate, actor: User, request=None) -> Application:
    """An organization admin renews: a new application on the same release,
    pre-filled from the certified revision."""
    if not services.is_org_admin(actor, cert.organization):
        raise WorkflowError(_("Only an admin of %(org)s can renew.") % {"org": cert.organization.name})
    status = cert.effective_status()
    if status not in ("valid", "expired"):
        raise WorkflowError(_("A %(status)s certificate cannot be renewed.") % {"status": status})
    opens = renewal_opens_at(cert)
    if timezone.now() < opens:
        raise WorkflowError(_("Renewal opens six months after issue, on %(date)s.")
                            % {"date": opens.strftime("%d %b %Y")})
    release = cert.release
    open_app = services.editable_application(release)
    if open_app is not None:
        if open_app.previous_id == cert.application_id:
            return open_app
        raise WorkflowError(_("Another application for this release is open."))
    fv = services.version_in_force()
    revision = cert.application.revisions.order_by("-number").first()
    try:
        with transaction.atomic():
            app = Application.objects.create(
                release=release, framework_version=fv, tier=services.effective_tier(release, fv.rules),
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


# --- appeals --------------------------------------------------------------------------------------


def involved_staff_ids(app: Application) -> set[int]:
    """Staff who took part in the decision that was rejected."""
    return set(Decision.objects.filter(application=app).values_list("decided_by_id", flat=True))


def deciding_staff(appeal: Appeal):
    """Staff who may decide the appeal and have not voted yet."""
    voted = appeal.votes.values_list("decided_by_id", flat=True)
    return (services.staff_users().exclude(pk__in=involved_staff_ids(appeal.application))
            .exclude(pk__in=list(voted)))


def appeal_deadline(app: Application) -> dt.datetime | None:
    return app.decided_at + timedelta(days=APPEAL_WINDOW_DAYS) if app.decided_at else None


def can_appeal(app: Application, at=None) -> bool:
    at = at or timezone.now()
    return (app.status == S.REJECTED and not Appeal.objects.filter(application=app).exists()
            and app.decided_at is not None and at <= appeal_deadline(app))


def file_appeal(app: Application, actor: User, grounds: str, request=None) -> Appeal:
    """The organization appeals a rejection: once, within 30 days."""
    if not services.is_org_admin(actor, app.release.organization):
        raise WorkflowError(_("Only an admin of the organization can appeal."))
    grounds = _require_reason(grounds, "grounds")
    if app.status != S.REJECTED:
        raise WorkflowError(_("Only a rejected application can be appealed."))
    if Appeal.objects.filter(application=app).exists():
        raise WorkflowError(_("This rejection has already been appealed; an application can be appealed once."))
    if app.decided_at is None or timezone.now() > appeal_deadline(app):
        raise WorkflowError(_("The 30 days to appeal this rejection have passed."))
    with transaction.atomic():
        try:
            with transaction.atomic():
                appeal = Appeal.objects.create(application=app, grounds=grounds, filed_by=actor)
                services._move(app, S.APPEALED, actor, [S.REJECTED])
        except IntegrityError:
            raise WorkflowError(_("This rejection has already been appealed, or another application for the "
                                  "release is open.")) from None
        deadlines.open_deadline(appeal, "appeal_decision", appeal.filed_at + timedelta(days=APPEAL_DECISION_DAYS))
        audit.log("certification.application.appealed", actor=actor, obj=app,
                  organization=app.release.organization, request=request)
        notify(deciding_staff(appeal), "appeal-filed", {"application": app, "appeal": appeal},
               url=reverse("certification:appeal-decide", args=[appeal.pk]))
    return appeal


def appeal_votes_needed(app: Application) -> int:
    return tiers.tier_settings(app.framework_version.rules, app.tier or 1).get("approvals_required", 1)


def decide_appeal(appeal: Appeal, actor: User, outcome: str, reasons: str, request=None) -> Appeal:
    """A staff member who took no part in the rejection grants or denies the appeal.
    It is decided once the tier's number of distinct staff agree (two for Tier 3/4)."""
    services._require_staff(actor)
    reasons = _require_reason(reasons, "reasons")
    if outcome not in AppealVote.Outcome.values:
        raise WorkflowError(_("Choose to grant or deny the appeal."), field="outcome")
    app = appeal.application
    if actor.pk in involved_staff_ids(app):
        raise WorkflowError(_("You took part in the rejection; staff who did not must decide the appeal."))
    with transaction.atomic():
        locked = Appeal.objects.select_for_update().get(pk=appeal.pk)
        if locked.status != Appeal.Status.OPEN:
            raise WorkflowError(_("This appeal has already been decided."))
        if AppealVote.objects.filter(appeal=appeal, decided_by=actor).exists():
            raise WorkflowError(_("You have already decided; another staff member must decide too."))
        AppealVote.objects.create(appeal=appeal, outcome=outcome, reasons=reasons, decided_by=actor)
        needed = appeal_votes_needed(app)
        agreeing = AppealVote.objects.filter(appeal=appeal, outcome=outcome).values("decided_by").distinct().count()
        audit.log("certification.appeal.voted", actor=actor, obj=app, organization=app.release.organization,
                  request=request, payload={"outcome": outcome, "votes": agreeing, "needed": needed})
        if agreeing < needed:
            return appeal
        now = timezone.now()
        final = Appeal.Status.GRANTED if outcome == AppealVote.Outcome.GRANT else Appeal.Status.DENIED
        Appeal.objects.filter(pk=appeal.pk).update(status=final, decided_at=now)
        appeal.status, appeal.decided_at = final, now
        deadlines.close_deadlines(appeal, "appeal_decision")
        if final == Appeal.Status.GRANTED:
            services._move(app, S.DECISION_PENDING, actor, [S.APPEALED])
            services.issue_certificate(app, actor)
        else:
            services._move(app, S.REJECTED, actor, [S.APPEALED], decided_at=now)
        audit.log(f"certification.appeal.{final}", actor=actor, obj=app, organization=app.release.organization,
                  request=request)
        notify(services.org_admins(app.release.organization), "appeal-decided",
               {"application": app, "appeal": appeal, "granted": final == Appeal.Status.GRANTED, "reasons": reasons},
               url=reverse("certification:application-detail", args=[app.pk]))
    return appeal


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
                   reporter: User | None = None, request=None) -> ConcernReport:
    """Anyone reports a concern: the release's vulnerability contact and staff are told."""
    errors = {}
    if not (summary or "").strip():
        errors["summary"] = [_("Summarise the concern.")]
    if not (details or "").strip():
        errors["details"] = [_("Describe the concern.")]
    if errors:
        raise WorkflowError(_("Check the report."), errors=errors)
    with transaction.atomic():
        concern = ConcernReport.objects.create(
            certificate=cert, summary=summary.strip()[:200], details=details.strip(),
            reporter_email=(reporter_email or "").strip(),
            reporter=reporter if reporter is not None and reporter.is_authenticated else None,
            ip=audit.client_ip(request),
        )
        audit.log("certification.concern.reported", obj=cert, organization=cert.organization,
                  payload={"concern": concern.pk})
        contact = vulnerability_contact(cert)
        if contact:
            # The contact is an address, not an account: straight to the outbox.
            subject, text, html = render_email("concern-contact", {"certificate": cert, "concern": concern,
                                                                    "url": certificate_url(cert)})
            row = OutboxEmail.objects.create(to=contact, subject=subject, body_text=text, body_html=html)
            transaction.on_commit(lambda: enqueue_delivery([row.pk]))
        notify(services.staff_users(), "concern-reported", {"certificate": cert, "concern": concern},
               url=reverse("certification:concern-list"))
    return concern


def dismiss_concern(concern: ConcernReport, actor: User, request=None) -> None:
    services._require_staff(actor)
    with transaction.atomic():
        if not ConcernReport.objects.filter(pk=concern.pk, status=ConcernReport.Status.OPEN).update(
            status=ConcernReport.Status.DISMISSED, handled_by=actor, handled_at=timezone.now()
        ):
            raise WorkflowError(_("This concern has already been handled."))
        audit.log("certification.concern.dismissed", actor=actor, obj=concern.certificate,
                  organization=concern.certificate.organization, request=request, payload={"concern": concern.pk})


# --- the signed revocation list -------------------------------------------------------------------


def revocation_list() -> bytes:
    """A DSSE envelope listing every revoked and suspended certificate, with the
    latest published audit-chain head (DESIGN §3, §7).

    ``as_of`` is the latest status change of any certificate, so the bytes stay
    the same until something changes (Ed25519 signatures are deterministic) and
    the ETag works."""
    rows = list(Certificate.objects.filter(status__in=[C.REVOKED, C.SUSPENDED]).order_by("number")
                .values_list("number", "status", "updated_at"))
    as_of = Certificate.objects.aggregate(t=Max("updated_at"))["t"] or signing_keys.EPOCH
    head = audit.latest_publication()
    body = {
        "_type": REVOCATIONS_TYPE,
        "as_of": iso(as_of),
        "audit_head": {"seq": head.seq, "hash": head.hash, "published_at": iso(head.published_at)} if head else None,
        "certificates": [{"number": n, "status": s, "since": iso(t)} for n, s, t in rows],
    }
    key, _keyid = signing_keys.load_signing_key()
    envelope = attestations.sign_envelope(canonical_json(body), key, payload_type=REVOCATIONS_PAYLOAD_TYPE)
    return attestations.envelope_bytes(envelope)


# --- verification of files (offline command and the verify page) ---------------------------------


def parse_keys(data: bytes | str | dict) -> list[attestations.PublicKeyInfo]:
    """Keys in the shape of ``GET /api/v1/keys/``."""
    body = json.loads(data) if isinstance(data, (bytes, str)) else data
    keys = []
    for entry in body.get("keys", []):
        until = entry.get("valid_until")
        keys.append(attestations.PublicKeyInfo(
            entry["keyid"], base64.b64decode(entry["public_key"], validate=True),
            dt.datetime.fromisoformat(entry["valid_from"].replace("Z", "+00:00")),
            dt.datetime.fromisoformat(until.replace("Z", "+00:00")) if until else None,
        ))
    return keys


def verify_revocation_list(data: bytes, keys: list[attestations.PublicKeyInfo], at=None) -> dict:
    """The body of a signed revocation list, or ``VerificationError``. The signing
    key must be valid at ``at`` (default now): a list is as fresh as its key."""
    at = at or timezone.now()
    payload_type, payload, signatures = attestations._parse_envelope(data)
    if payload_type != REVOCATIONS_PAYLOAD_TYPE:
        raise attestations.VerificationError(attestations.VerificationError.PAYLOAD_TYPE, payload_type)
    by_id = {k.keyid: k for k in keys}
    message = attestations.pae(payload_type, payload)
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    for keyid, sig in signatures:
        key = by_id.get(keyid)
        if key is None or not key.valid_at(at):
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key_raw).verify(sig, message)
        except InvalidSignature:
            continue
        body = json.loads(payload)
        if body.get("_type") != REVOCATIONS_TYPE:
            raise attestations.VerificationError(attestations.VerificationError.MALFORMED, "not a revocation list")
        return body
    raise attestations.VerificationError(attestations.VerificationError.BAD_SIGNATURE,
                                         "no valid signature by a key valid now")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class OfflineReport:
    ok: bool = False
    number: str = ""
    statement: attestations.VerifiedStatement | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def verify_offline(envelope: bytes, keys: list[attestations.PublicKeyInfo], *, revocations: bytes | None = None,
                   model_dir: Path | None = None, now: dt.datetime | None = None) -> OfflineReport:
    """Steps: (1) signature by a published key valid at the issue time; (2) not
    expired at ``now``; (3) not listed in the signed revocation list, if given;
    (4) every artifact subject present in ``model_dir`` with its sha256, if given."""
    now = now or timezone.now()
    report = OfflineReport()
    try:
        verified = attestations.verify_envelope(envelope, keys)
    except attestations.VerificationError as exc:
        report.problems.append(f"signature: {exc}")
        return report
    report.statement = verified
    predicate = verified.predicate
    report.number = str(predicate.get("certificate", ""))
    report.notes.append(f"signed by {verified.keyid}, valid at issue time {predicate.get('issued_at')}")
    try:
        expires = dt.datetime.fromisoformat(str(predicate.get("expires_at")).replace("Z", "+00:00"))
    except ValueError:
        report.problems.append("the statement has no valid expires_at")
    else:
        if expires <= now:
            report.problems.append(f"expired at {predicate.get('expires_at')}")
    if revocations is not None:
        try:
            body = verify_revocation_list(revocations, keys, now)
        except attestations.VerificationError as exc:
            report.problems.append(f"revocation list: {exc}")
        else:
            listed = {c["number"]: c["status"] for c in body.get("certificates", [])}
            if report.number in listed:
                report.problems.append(f"{listed[report.number]} according to the revocation list of {body['as_of']}")
            else:
                report.notes.append(f"not in the revocation list of {body['as_of']}")
    if model_dir is not None:
        documentation_only = all(name.startswith("documentation-revision-") for name, _sha in verified.subjects)
        if documentation_only:
            report.notes.append("the certificate lists no artifact files; nothing to compare in the model directory")
        for name, sha in verified.subjects:
            if documentation_only:
                break
            path = (model_dir / name)
            if not path.is_file():
                report.problems.append(f"{name}: missing from {model_dir}")
            elif sha256_file(path) != sha:
                report.problems.append(f"{name}: sha256 differs")
            else:
                report.notes.append(f"{name}: sha256 matches")
    report.ok = not report.problems
    return report


# --- deadlines (DESIGN §2.4) ----------------------------------------------------------------------


def _offsets(kind: str) -> tuple[timedelta, ...]:
    entry = next(d for d in FRAMEWORK_2025_1["deadlines"] if d["kind"] == kind)
    return tuple(timedelta(days=r["days_before"]) for r in entry.get("reminders", []))


def _expiry_reminder(deadline, cert, offset) -> None:
    cert.refresh_from_db()
    if cert.effective_status() == "valid":
        notify(services.org_admins(cert.organization), "certificate-expiry-reminder",
               {"certificate": cert, "days_left": offset.days}, url=certificate_url(cert))


def _expiry_due(deadline, cert) -> None:
    # Expiry is computed on every read; the sweep only tells the organization.
    cert.refresh_from_db()
    if cert.status == C.VALID:
        audit.log("certification.certificate.expired", obj=cert, organization=cert.organization)
        notify(services.org_admins(cert.organization), "certificate-expired", {"certificate": cert},
               url=certificate_url(cert))


def _appeal_reminder(deadline, appeal, offset) -> None:
    if appeal.status == Appeal.Status.OPEN:
        notify(deciding_staff(appeal), "appeal-reminder",
               {"appeal": appeal, "application": appeal.application, "due_at": deadline.due_at,
                "days_left": offset.days}, url=reverse("certification:appeal-decide", args=[appeal.pk]))


def _appeal_due(deadline, appeal) -> None:
    if appeal.status == Appeal.Status.OPEN:
        notify(services.staff_users(), "appeal-overdue",
               {"appeal": appeal, "application": appeal.application, "due_at": deadline.due_at},
               url=reverse("certification:appeal-decide", args=[appeal.pk]))


deadlines.register(deadlines.DeadlineKind(
    "certificate_expiry", _offsets("certificate_expiry"), _expiry_reminder, _expiry_due,
    description="Certificate expiry: organization admins reminded; expiry itself is computed on every read.",
))
deadlines.register(deadlines.DeadlineKind(
    "appeal_decision", _offsets("appeal_decision"), _appeal_reminder, _appeal_due,
    description="Appeal decision by staff who took no part in the rejection; escalated to every staff member.",
))
