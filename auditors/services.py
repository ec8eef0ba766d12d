"""State changes of the auditor network (DESIGN §5): applications to join,
accreditation decisions, conflicts, offers, engagements, reports, conditions.

Every function checks the current state, runs in one transaction, moves the
state with a conditional UPDATE or under a row lock, writes the audit entry
and notifies. HTML views, API views and deadline handlers all call these.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from pathlib import Path

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from certification import evidence as evidence_files
from certification import services as cert
from certification.models import Application, FrameworkVersion
from certification.services import WorkflowError
from portal import audit, deadlines
from portal.canonical import canonical_sha256
from portal.models import Membership, Organization, User
from portal.notifications import notify

from . import assignment, conflicts
from .models import (
    Accreditation,
    Affiliation,
    AuditReport,
    ConflictRecord,
    Engagement,
    Offer,
    ReportCondition,
    SupportingFile,
)

A = Accreditation.Status
OFFER_DAYS = 5
REPORT_DAYS = {3: 30, 4: 45}
VALIDITY_YEARS = 2
OFFER_KIND = "offer_acceptance"
REPORT_KIND = "audit_report"
EXPIRY_KIND = "accreditation_expiry"


# --- helpers ---------------------------------------------------------------------------------


def _require_staff(actor: User) -> None:
    if not actor.is_alliance_staff:
        raise WorkflowError(_("Only Alliance staff can do this."))


def staff_contacts(app: Application):
    """The application's owner, or every staff member while it has none."""
    return [app.owner] if app.owner_id and app.owner.is_active else list(cert.staff_users())


def _org(app: Application) -> Organization:
    return app.release.ai_model.organization


def _app_url(app: Application) -> str:
    return reverse("auditors:application-audit", args=[app.pk])


def _offer_url(offer: Offer) -> str:
    return reverse("auditors:offer-detail", args=[offer.pk])


def _engagement_url(engagement: Engagement) -> str:
    return reverse("auditors:engagement-detail", args=[engagement.pk])


def _rules() -> dict:
    fv = FrameworkVersion.objects.in_force()
    return fv.rules if fv else {}


def _load_app(app_or_pk) -> Application:
    pk = app_or_pk.pk if isinstance(app_or_pk, Application) else app_or_pk
    return Application.objects.select_related("release__ai_model__organization", "framework_version", "owner").get(
        pk=pk)


# --- private files (supporting files, signed reports) ------------------------------------------


def store_private_file(uploaded, folder: str, families: tuple[str, ...] | None = None) -> dict:
    """Check and store an upload the way evidence files are (DESIGN §3): family by
    content agreeing with the extension, size limit while streaming, a server-side
    name, sha256 recorded, outside any public URL."""
    display_name, family = evidence_files.check_name(uploaded.name or "")
    if families and family not in families:
        raise WorkflowError(_("Upload a PDF file."), field="signed_file")
    directory = Path(settings.PRIVATE_STORAGE_ROOT) / folder
    directory.mkdir(parents=True, exist_ok=True)
    stored_name = uuid.uuid4().hex
    target = directory / stored_name
    digest = hashlib.sha256()
    size, head = 0, b""
    try:
        with open(target, "xb") as out:
            for chunk in uploaded.chunks(evidence_files.CHUNK):
                size += len(chunk)
                if size > evidence_files.max_size():
                    raise evidence_files.EvidenceError(_("The file is larger than the limit of %(size)s.")
                                                       % {"size": filesizeformat(evidence_files.max_size())})
                if len(head) < 8:
                    head += chunk[: 8 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise evidence_files.EvidenceError(_("The file is empty."))
        evidence_files.check_content(target, family, head)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return {"display_name": display_name, "stored_name": stored_name, "family": family, "size": size,
            "sha256": digest.hexdigest()}


def private_path(folder: str, stored_name: str) -> Path:
    return Path(settings.PRIVATE_STORAGE_ROOT) / folder / stored_name


# --- joining the network ----------------------------------------------------------------------


def _clean_domains(values) -> list[str]:
    return sorted({conflicts.normalize_domain(v) for v in values or [] if conflicts.normalize_domain(v)})


def apply_to_join(user: User, role: str, data: dict, affiliations: list[dict] | None = None, files=(),
                  request=None) -> Accreditation:
    """An auditor (or evaluator) applies; a rejected or lapsed person may apply again."""
    if role not in Accreditation.Role.values:
        raise WorkflowError(_("Unknown role."), field="role")
    existing = Accreditation.objects.filter(user=user, role=role).first()
    if existing and existing.status in (A.PENDING, A.APPROVED, A.SUSPENDED):
        raise WorkflowError(_("You already have an application or accreditation in this role (%(status)s).")
                            % {"status": existing.get_status_display()})
    is_auditor = role == Accreditation.Role.AUDITOR
    if is_auditor and not data.get("requested_tiers"):
        raise WorkflowError(_("Choose the tiers you ask to audit."), field="requested_tiers")
    fields = {
        "kind": data.get("kind") or Accreditation.Kind.INDEPENDENT_LAB,
        "firm": (data.get("firm") or "").strip(),
        "requested_tiers": sorted(int(t) for t in data.get("requested_tiers") or []) if is_auditor else [],
        "requested_domains": sorted(data.get("requested_domains") or []),
        "capacity": int(data.get("capacity") or (2 if is_auditor else 1)),
        "email_domains": _clean_domains(data.get("email_domains")),
        "statement": (data.get("statement") or "").strip(),
        "status": A.PENDING, "tiers": [], "domains": [], "approved_at": None, "valid_until": None,
        "decided_by": None, "decided_at": None, "decision_reason": "", "updated_at": timezone.now(),
    }
    stored = []
    try:
        for upload in files or ():
            stored.append(store_private_file(upload, "accreditation"))
    except evidence_files.EvidenceError as exc:
        for s in stored:
            private_path("accreditation", s["stored_name"]).unlink(missing_ok=True)
        raise WorkflowError(str(exc), field="files") from exc
    with transaction.atomic():
        if existing:
            for key, value in fields.items():
                setattr(existing, key, value)
            existing.save()
            acc = existing
            acc.affiliations.all().delete()
        else:
            acc = Accreditation.objects.create(user=user, role=role, **fields)
        for aff in affiliations or []:
            _create_affiliation(acc, aff)
        for s in stored:
            SupportingFile.objects.create(accreditation=acc, **s)
        audit.log("auditors.accreditation.applied", actor=user, obj=acc, request=request,
                  payload={"role": role, "requested_tiers": acc.requested_tiers,
                           "requested_domains": acc.requested_domains, "files": [s["sha256"] for s in stored]})
        notify(cert.staff_users(), "accreditation-received", {"accreditation": acc},
               url=reverse("auditors:staff-accreditation", args=[acc.pk]))
    return acc


def _create_affiliation(acc: Accreditation, data: dict) -> Affiliation:
    org = data.get("organization")
    if isinstance(org, int):
        org = Organization.objects.filter(pk=org).first()
    name = (data.get("organization_name") or (org.name if org else "")).strip()
    if org is None and name:
        # An organization of the portal named as declared: tie the row to it.
        org = Organization.objects.filter(Q(name__iexact=name) | Q(legal_name__iexact=name) | Q(slug__iexact=name)).first()
    if not name:
        raise WorkflowError(_("Name the organization of each affiliation."), field="affiliations")
    if data.get("relation") not in Affiliation.Relation.values:
        raise WorkflowError(_("Choose the relation of each affiliation."), field="affiliations")
    started, ended = data.get("started_on"), data.get("ended_on")
    if started and ended and ended < started:
        raise WorkflowError(_("An affiliation cannot end before it starts."), field="affiliations")
    return Affiliation.objects.create(accreditation=acc, organization=org, organization_name=name,
                                      relation=data["relation"], started_on=started, ended_on=ended)


def add_affiliation(acc: Accreditation, actor: User, data: dict, request=None) -> Affiliation:
    """Affiliations can be declared at any time; they count from the next check on."""
    if acc.user_id != actor.pk:
        raise WorkflowError(_("Only the person can declare their affiliations."))
    with transaction.atomic():
        aff = _create_affiliation(acc, data)
        audit.log("auditors.affiliation.declared", actor=actor, obj=acc, request=request,
                  payload={"relation": aff.relation, "staff_only": {"organization": aff.organization_name}})
    return aff


def set_listing(acc: Accreditation, actor: User, listed: bool, request=None) -> Accreditation:
    if acc.user_id != actor.pk:
        raise WorkflowError(_("Only the person can change their directory listing."))
    with transaction.atomic():
        Accreditation.objects.filter(pk=acc.pk).update(listed_publicly=listed, updated_at=timezone.now())
        acc.listed_publicly = listed
        audit.log("auditors.accreditation.listing_changed", actor=actor, obj=acc, request=request,
                  payload={"listed": listed})
    return acc


def default_valid_until(now=None):
    now = now or timezone.now()
    years = VALIDITY_YEARS
    for entry in _rules().get("deadlines", []):
        if entry.get("kind") == EXPIRY_KIND and entry.get("length_years"):
            years = int(entry["length_years"])
    return now + relativedelta(years=years)


def _move_accreditation(acc: Accreditation, to: str, from_statuses, **extra) -> None:
    now = timezone.now()
    updated = Accreditation.objects.filter(pk=acc.pk, status__in=list(from_statuses)).update(
        status=to, updated_at=now, **extra)
    if not updated:
        current = Accreditation.objects.filter(pk=acc.pk).values_list("status", flat=True).first()
        raise WorkflowError(_("This accreditation is %(status)s now; the action no longer applies.")
                            % {"status": dict(A.choices).get(current, current)})
    acc.status = to
    for key, value in extra.items():
        setattr(acc, key, value)


def approve_accreditation(acc: Accreditation, actor: User, *, tiers=None, domains=None, capacity=None,
                          valid_until=None, request=None) -> Accreditation:
    _require_staff(actor)
    now = timezone.now()
    tiers = sorted({int(t) for t in (acc.requested_tiers if tiers is None else tiers)})
    domains = sorted(set(acc.requested_domains if domains is None else domains))
    if acc.role == Accreditation.Role.AUDITOR and not tiers:
        raise WorkflowError(_("Choose at least one tier to accredit."), field="tiers")
    if any(t not in (3, 4) for t in tiers):
        raise WorkflowError(_("Auditors are accredited for Tier 3 and Tier 4 audits."), field="tiers")
    known = {d["id"] for d in _rules().get("classification", {}).get("sensitive_domains", [])}
    unknown = [d for d in domains if known and d not in known]
    if unknown:
        raise WorkflowError(_("Unknown sensitive domain: %(d)s.") % {"d": ", ".join(unknown)}, field="domains")
    valid_until = valid_until or default_valid_until(now)
    if valid_until <= now:
        raise WorkflowError(_("The validity must end in the future."), field="valid_until")
    with transaction.atomic():
        _move_accreditation(acc, A.APPROVED, [A.PENDING], tiers=tiers, domains=domains,
                            capacity=int(capacity or acc.capacity), approved_at=now, valid_until=valid_until,
                            decided_by=actor, decided_at=now, decision_reason="")
        deadlines.open_deadline(acc, EXPIRY_KIND, valid_until)
        audit.log("auditors.accreditation.approved", actor=actor, obj=acc, request=request,
                  payload={"tiers": tiers, "domains": domains, "capacity": acc.capacity,
                           "valid_until": valid_until.isoformat()})
        notify(acc.user, "accreditation-approved", {"accreditation": acc}, url=reverse("auditors:my-network"))
    return acc


def reject_accreditation(acc: Accreditation, actor: User, reason: str, request=None) -> Accreditation:
    _require_staff(actor)
    if not (reason or "").strip():
        raise WorkflowError(_("Give the reason for the rejection."), field="reason")
    with transaction.atomic():
        _move_accreditation(acc, A.REJECTED, [A.PENDING], decided_by=actor, decided_at=timezone.now(),
                            decision_reason=reason.strip())
        audit.log("auditors.accreditation.rejected", actor=actor, obj=acc, request=request,
                  payload={"reason": reason.strip()})
        notify(acc.user, "accreditation-rejected", {"accreditation": acc, "reason": reason.strip()},
               url=reverse("auditors:my-network"))
    return acc


def suspend_accreditation(acc: Accreditation, actor: User, reason: str, request=None) -> Accreditation:
    """No new offers; open offers are withdrawn and passed on. Engagements stay
    until staff reassign them, but the submission closes at once."""
    _require_staff(actor)
    if not (reason or "").strip():
        raise WorkflowError(_("Give the reason for the suspension."), field="reason")
    with transaction.atomic():
        _move_accreditation(acc, A.SUSPENDED, [A.APPROVED], decision_reason=reason.strip(), decided_by=actor,
                            decided_at=timezone.now())
        audit.log("auditors.accreditation.suspended", actor=actor, obj=acc, request=request,
                  payload={"reason": reason.strip()})
        for offer in list(acc.offers.open().select_related("application")):
            _withdraw_offer(offer, actor, _("The auditor's accreditation was suspended."))
            send_next_offer(offer.application, actor)
        notify(acc.user, "accreditation-suspended", {"accreditation": acc, "reason": reason.strip()},
               url=reverse("auditors:my-network"))
    return acc


def reinstate_accreditation(acc: Accreditation, actor: User, request=None) -> Accreditation:
    _require_staff(actor)
    if acc.valid_until and acc.valid_until <= timezone.now():
        raise WorkflowError(_("The accreditation's validity has ended; the person must apply again."))
    with transaction.atomic():
        _move_accreditation(acc, A.APPROVED, [A.SUSPENDED], decision_reason="", decided_by=actor,
                            decided_at=timezone.now())
        audit.log("auditors.accreditation.reinstated", actor=actor, obj=acc, request=request)
        notify(acc.user, "accreditation-reinstated", {"accreditation": acc}, url=reverse("auditors:my-network"))
    return acc


def lapse_accreditation(acc: Accreditation) -> bool:
    """The validity ended (deadline sweep). Access already stopped at ``valid_until``."""
    with transaction.atomic():
        updated = Accreditation.objects.filter(pk=acc.pk, status=A.APPROVED,
                                               valid_until__lte=timezone.now()).update(
            status=A.LAPSED, updated_at=timezone.now())
        if not updated:
            return False
        acc.status = A.LAPSED
        audit.log("auditors.accreditation.lapsed", obj=acc)
        notify([acc.user, *cert.staff_users()], "accreditation-lapsed", {"accreditation": acc},
               url=reverse("auditors:my-network"))
    return True


# --- conflicts -----------------------------------------------------------------------------------


def conflicts_for(app: Application, acc: Accreditation) -> list[conflicts.Conflict]:
    facts = assignment.load([_load_app(app)])
    auditor = facts.by_id.get(acc.pk)
    if auditor is None:
        return []
    return conflicts.check(auditor, facts.apps[app.pk], timezone.localdate())


def override_conflict(app: Application, acc: Accreditation, actor: User, code: str, reason: str,
                      request=None) -> ConflictRecord:
    """Staff lift a potential conflict with a recorded reason; hard ones never."""
    _require_staff(actor)
    if not (reason or "").strip():
        raise WorkflowError(_("Give the reason for the override."), field="reason")
    if code in conflicts.HARD_CODES:
        raise WorkflowError(_("A hard conflict of interest cannot be overridden."), field="code")
    found = {c.code: c for c in conflicts_for(app, acc)}
    if code not in found:
        raise WorkflowError(_("This auditor has no such potential conflict with this application."), field="code")
    with transaction.atomic():
        record = ConflictRecord.objects.create(application=app, accreditation=acc, kind=ConflictRecord.Kind.OVERRIDE,
                                               code=code, reason=reason.strip(), recorded_by=actor)
        audit.log("auditors.conflict.overridden", actor=actor, obj=app, organization=_org(app), request=request,
                  payload={"code": code, "staff_only": {"auditor": acc.user.pseudonym,
                                                        "conflict": found[code].reason, "reason": reason.strip()}})
    return record


def declare_conflict(app: Application, acc: Accreditation, actor: User, reason: str, request=None) -> ConflictRecord:
    """The auditor declares a conflict at any time: an open offer is declined, an
    engagement is flagged to staff for reassignment."""
    if acc.user_id != actor.pk:
        raise WorkflowError(_("Only the auditor can declare their own conflict."))
    if not (reason or "").strip():
        raise WorkflowError(_("Describe the conflict."), field="reason")
    with transaction.atomic():
        record = ConflictRecord.objects.create(application=app, accreditation=acc, kind=ConflictRecord.Kind.DECLARED,
                                               reason=reason.strip(), recorded_by=actor)
        audit.log("auditors.conflict.declared", actor=actor, obj=app, organization=_org(app), request=request,
                  payload={"staff_only": {"auditor": acc.user.pseudonym, "reason": reason.strip()}})
        offer = Offer.objects.open().filter(application=app, accreditation=acc).first()
        if offer is not None:
            _decline(offer, Offer.DeclineReason.CONFLICT, reason.strip())
        engaged = Engagement.objects.current().filter(application=app, accreditation=acc).exists()
        notify(staff_contacts(app), "engagement-conflict-declared",
               {"application": app, "auditor": acc.user, "engaged": engaged, "reason": reason.strip()},
               url=reverse("auditors:staff-application", args=[app.pk]))
        if offer is not None:
            send_next_offer(app)
    return record


# --- offers ----------------------------------------------------------------------------------------


def _eligibility(app: Application, acc: Accreditation) -> assignment.Candidate | None:
    facts = assignment.load([app])
    auditor = facts.by_id.get(acc.pk)
    if auditor is None:
        return None
    state = facts.states[app.pk]
    covered = frozenset().union(*(facts.by_id[a].domains for a in state.engaged if a in facts.by_id))
    remaining = facts.apps[app.pk].flagged_domains - covered
    return assignment.evaluate(auditor, facts.apps[app.pk], state, timezone.localdate(), remaining)


def send_offer(app: Application, acc: Accreditation, actor: User | None, request=None,
               check_seats: bool = True) -> Offer:
    """Offer a seat to an eligible auditor (staff, or the system passing an offer on)."""
    if actor is not None:
        _require_staff(actor)
    app = _load_app(app)
    if app.status != Application.Status.IN_REVIEW:
        raise WorkflowError(_("Offers go out only for applications in review."))
    seats = assignment.seats_required(app)
    if seats == 0:
        raise WorkflowError(_("Tier %(t)d applications have no third-party audit.") % {"t": app.tier or 1})
    candidate = _eligibility(app, acc)
    if candidate is None:
        raise WorkflowError(_("%(who)s is not an active accredited auditor.") % {"who": acc.user.display_name},
                            field="accreditation")
    if not candidate.eligible:
        raise WorkflowError(_("%(who)s cannot get this offer: %(why)s")
                            % {"who": acc.user.display_name, "why": " ".join(candidate.reasons)},
                            field="accreditation")
    if check_seats and Engagement.objects.current().filter(application=app).count() >= seats:
        raise WorkflowError(_("Every audit seat of this application is filled."))
    days = cert.deadline_days(app.framework_version.rules, OFFER_KIND, OFFER_DAYS)
    now = timezone.now()
    try:
        with transaction.atomic():
            offer = Offer.objects.create(application=app, accreditation=acc, sent_by=actor, sent_at=now,
                                         expires_at=now + timedelta(days=days))
            deadlines.open_deadline(offer, OFFER_KIND, offer.expires_at)
            audit.log("auditors.offer.sent", actor=actor, obj=offer, organization=_org(app), request=request,
                      payload={"application": app.pk, "staff_only": {"auditor": acc.user.pseudonym}})
            notify(acc.user, "offer-sent", {"offer": offer, "application": app, "days": days},
                   url=_offer_url(offer))
    except IntegrityError as exc:
        raise WorkflowError(_("This auditor already has an open offer for this application.")) from exc
    return offer


def send_next_offer(app: Application, actor: User | None = None) -> Offer | None:
    """After a decline, an expiry or a reassignment: offer the best eligible auditor
    the seat, keeping Tier 4 coverage possible; tell staff when none is left."""
    app = _load_app(app)
    if app.status != Application.Status.IN_REVIEW:
        return None
    suggestion = assignment.suggest(app)
    if suggestion.open_seats <= 0:
        return None
    choice = None
    if suggestion.proposal:
        choice = suggestion.proposal[0]
    if choice is None:
        notify(staff_contacts(app), "offer-none-left",
               {"application": app, "problem": suggestion.problem, "open_seats": suggestion.open_seats},
               url=reverse("auditors:staff-application", args=[app.pk]))
        audit.log("auditors.offer.none_left", obj=app, organization=_org(app),
                  payload={"problem": suggestion.problem})
        return None
    acc = Accreditation.objects.select_related("user").get(pk=choice.auditor.accreditation_id)
    return send_offer(app, acc, None)


def send_initial_offers(app: Application, actor: User, request=None) -> list[Offer]:
    """One offer per open seat, to the proposed auditors (DESIGN §5)."""
    _require_staff(actor)
    suggestion = assignment.suggest(_load_app(app))
    if suggestion.open_seats and not suggestion.proposal:
        raise WorkflowError(suggestion.problem or _("No eligible auditor is left."))
    offers = []
    with transaction.atomic():
        for candidate in suggestion.proposal:
            acc = Accreditation.objects.select_related("user").get(pk=candidate.auditor.accreditation_id)
            offers.append(send_offer(app, acc, actor, request=request))
    return offers


def accept_offer(offer: Offer, user: User, *, confidentiality: bool, request=None) -> Engagement:
    """Accept in one locked transaction: the seat is still open, the auditor within
    capacity, Tier 4 coverage still holds. Concurrent accepts queue on the
    application row, so a seat is never filled twice."""
    if not confidentiality:
        raise WorkflowError(_("Accept the confidentiality terms to take the engagement."), field="confidentiality")
    now = timezone.now()
    with transaction.atomic():
        # Lock order: application, then accreditation, then offer (the same everywhere).
        app = Application.objects.select_for_update().get(pk=offer.application_id)
        acc = Accreditation.objects.select_for_update().get(pk=offer.accreditation_id)
        offer = Offer.objects.select_for_update().get(pk=offer.pk)
        if acc.user_id != user.pk:
            raise WorkflowError(_("This offer is not yours."))
        if offer.status != Offer.Status.OPEN:
            raise WorkflowError(_("This offer is %(status)s; it can no longer be accepted.")
                                % {"status": offer.get_status_display().lower()})
        if offer.expires_at <= now:
            raise WorkflowError(_("This offer expired on %(at)s.") % {"at": offer.expires_at.strftime("%Y-%m-%d %H:%M")})
        if not acc.is_active(now):
            raise WorkflowError(_("Your accreditation is not active."))
        if app.status != Application.Status.IN_REVIEW:
            raise WorkflowError(_("The application is no longer in review."))
        app = _load_app(app)
        seats = assignment.seats_required(app)
        if (app.tier or 0) not in {int(t) for t in acc.tiers}:
            raise WorkflowError(_("You are not accredited for Tier %(t)d.") % {"t": app.tier})
        holders = list(Engagement.objects.current().filter(application=app).select_related("accreditation"))
        if len(holders) >= seats:
            raise WorkflowError(_("Every audit seat of this application is already filled."))
        if Engagement.objects.active().filter(accreditation=acc).count() >= acc.capacity:
            raise WorkflowError(_("You are at capacity (%(c)d active engagements).") % {"c": acc.capacity})
        flagged = assignment.flagged_domains(app)
        covered = set().union(*(set(h.accreditation.domains or []) for h in holders)) | set(acc.domains or [])
        if flagged and len(holders) + 1 == seats and not flagged <= covered:
            missing = ", ".join(sorted(flagged - covered))
            raise WorkflowError(_("The auditors of this application must together be accredited in every flagged "
                                  "domain; with you, %(d)s would stay uncovered.") % {"d": missing})
        blocking = [c for c in conflicts_for(app, acc) if c.blocking]
        if blocking:
            raise WorkflowError(_("A conflict of interest prevents this engagement: %(why)s")
                                % {"why": " ".join(c.reason for c in blocking)})
        taken = {h.seat for h in holders}
        seat = next(n for n in range(1, seats + 1) if n not in taken)
        days = cert.deadline_days(app.framework_version.rules, REPORT_KIND, REPORT_DAYS.get(app.tier or 3, 30),
                                  app.tier)
        engagement = Engagement.objects.create(application=app, accreditation=acc, offer=offer, seat=seat,
                                               accepted_at=now, report_due_at=now + timedelta(days=days))
        AuditReport.objects.create(engagement=engagement)
        Offer.objects.filter(pk=offer.pk).update(status=Offer.Status.ACCEPTED, responded_at=now,
                                                 confidentiality_accepted_at=now)
        offer.status, offer.responded_at, offer.confidentiality_accepted_at = Offer.Status.ACCEPTED, now, now
        deadlines.close_deadlines(offer, OFFER_KIND)
        deadlines.open_deadline(engagement, REPORT_KIND, engagement.report_due_at)
        audit.log("auditors.offer.accepted", actor=user, obj=offer, organization=_org(app), request=request,
                  payload={"application": app.pk, "seat": seat, "confidentiality_accepted_at": now.isoformat(),
                           "report_due_at": engagement.report_due_at.isoformat()})
        notify(staff_contacts(app), "offer-accepted", {"application": app, "engagement": engagement,
                                                       "auditor": acc.user},
               url=reverse("auditors:staff-application", args=[app.pk]))
        if len(holders) + 1 >= seats:
            for other in Offer.objects.open().filter(application=app).select_related("accreditation__user"):
                _withdraw_offer(other, None, _("Every seat of this audit is now filled."))
    return engagement


def _decline(offer: Offer, reason: str, note: str, status: str = Offer.Status.DECLINED) -> None:
    updated = Offer.objects.filter(pk=offer.pk, status=Offer.Status.OPEN).update(
        status=status, responded_at=timezone.now(), decline_reason=reason, decline_note=note)
    if not updated:
        raise WorkflowError(_("This offer is no longer open."))
    offer.status, offer.decline_reason, offer.decline_note = status, reason, note
    deadlines.close_deadlines(offer, OFFER_KIND)


def decline_offer(offer: Offer, user: User, reason: str, note: str = "", request=None) -> Offer:
    if offer.accreditation.user_id != user.pk:
        raise WorkflowError(_("This offer is not yours."))
    if reason not in Offer.DeclineReason.values:
        raise WorkflowError(_("Choose a reason."), field="reason")
    if reason == Offer.DeclineReason.OTHER and not note.strip():
        raise WorkflowError(_("Say why you decline."), field="note")
    app = offer.application
    with transaction.atomic():
        _decline(offer, reason, note.strip())
        if reason == Offer.DeclineReason.CONFLICT:
            ConflictRecord.objects.create(application=app, accreditation=offer.accreditation,
                                          kind=ConflictRecord.Kind.DECLARED,
                                          reason=note.strip() or _("Declared when declining the offer."),
                                          recorded_by=user)
        audit.log("auditors.offer.declined", actor=user, obj=offer, organization=_org(app), request=request,
                  payload={"reason": reason, "staff_only": {"note": note.strip()}})
        notify(staff_contacts(app), "offer-declined", {"offer": offer, "application": app,
                                                       "reason": offer.get_decline_reason_display()},
               url=reverse("auditors:staff-application", args=[app.pk]))
        send_next_offer(app)
    return offer


def expire_offer(offer: Offer) -> bool:
    """The acceptance deadline passed (sweep): the offer expires and is passed on."""
    with transaction.atomic():
        updated = Offer.objects.filter(pk=offer.pk, status=Offer.Status.OPEN).update(
            status=Offer.Status.EXPIRED, responded_at=timezone.now())
        if not updated:
            return False
        offer.status = Offer.Status.EXPIRED
        app = offer.application
        audit.log("auditors.offer.expired", obj=offer, organization=_org(app), payload={"application": app.pk})
        notify(offer.accreditation.user, "offer-expired", {"offer": offer, "application": app},
               url=_offer_url(offer))
        send_next_offer(app)
    return True


def _withdraw_offer(offer: Offer, actor: User | None, why: str) -> None:
    updated = Offer.objects.filter(pk=offer.pk, status=Offer.Status.OPEN).update(
        status=Offer.Status.WITHDRAWN, responded_at=timezone.now())
    if not updated:
        return
    offer.status = Offer.Status.WITHDRAWN
    deadlines.close_deadlines(offer, OFFER_KIND, state="cancelled")
    audit.log("auditors.offer.withdrawn", actor=actor, obj=offer, organization=_org(offer.application),
              payload={"why": why})
    notify(offer.accreditation.user, "offer-withdrawn", {"offer": offer, "why": why}, url=_offer_url(offer))


def withdraw_offer(offer: Offer, actor: User, request=None) -> Offer:
    _require_staff(actor)
    if offer.status != Offer.Status.OPEN:
        raise WorkflowError(_("This offer is no longer open."))
    with transaction.atomic():
        _withdraw_offer(offer, actor, _("Withdrawn by Alliance staff."))
    return offer


def offer_reminder(offer: Offer, offset: timedelta) -> None:
    if offer.status == Offer.Status.OPEN:
        notify(offer.accreditation.user, "offer-reminder",
               {"offer": offer, "application": offer.application, "days_left": offset.days}, url=_offer_url(offer))


# --- engagements ---------------------------------------------------------------------------------


def reassign(engagement: Engagement, actor: User, reason: str, request=None, offer_next: bool = True) -> Engagement:
    """Staff end an engagement; the auditor's access ends with their next request."""
    _require_staff(actor)
    if not (reason or "").strip():
        raise WorkflowError(_("Give the reason for the reassignment."), field="reason")
    with transaction.atomic():
        updated = Engagement.objects.filter(pk=engagement.pk, status=Engagement.Status.ACTIVE).update(
            status=Engagement.Status.ENDED, ended_at=timezone.now(), ended_reason=reason.strip())
        if not updated:
            raise WorkflowError(_("Only an active engagement (report not filed) can be reassigned."))
        engagement.status = Engagement.Status.ENDED
        deadlines.close_deadlines(engagement, REPORT_KIND, state="cancelled")
        app = engagement.application
        audit.log("auditors.engagement.reassigned", actor=actor, obj=engagement, organization=_org(app),
                  request=request, payload={"application": app.pk,
                                            "staff_only": {"auditor": engagement.accreditation.user.pseudonym,
                                                           "reason": reason.strip()}})
        notify(engagement.accreditation.user, "engagement-ended", {"engagement": engagement, "application": app},
               url=reverse("auditors:my-network"))
        if offer_next:
            send_next_offer(app, actor)
    return engagement


def report_reminder(engagement: Engagement, offset: timedelta) -> None:
    if engagement.status == Engagement.Status.ACTIVE:
        notify(engagement.accreditation.user, "report-reminder",
               {"engagement": engagement, "application": engagement.application, "days_left": offset.days,
                "due_at": engagement.report_due_at}, url=_engagement_url(engagement))


def report_overdue(engagement: Engagement, number: int) -> None:
    """Overdue notice ``number`` (1 at the due time, then one every 3 days)."""
    if engagement.status != Engagement.Status.ACTIVE:
        return
    app = _load_app(engagement.application_id)
    recipients = [engagement.accreditation.user, *staff_contacts(app)]
    notify(recipients, "report-overdue", {"engagement": engagement, "application": app, "number": number,
                                          "due_at": engagement.report_due_at}, url=_engagement_url(engagement))
    audit.log("auditors.report.overdue_notice", obj=engagement, organization=_org(app), payload={"number": number})


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


def save_report_draft(engagement: Engagement, user: User, data: dict, conditions: list[str] | None = None,
                      request=None) -> AuditReport:
    with transaction.atomic():
        report = _editable_report(engagement, user)
        _apply_report_data(report, data)
        if conditions is not None:
            _replace_conditions(report, conditions)
        report.updated_at = timezone.now()
        report.save()
        audit.log("auditors.report.draft_saved", actor=user, obj=engagement,
                  organization=_org(engagement.application), request=request)
    return report


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
    stored = None
    if signed_file is not None:
        try:
            stored = store_private_file(signed_file, "reports", families=("pdf",))
        except evidence_files.EvidenceError as exc:
            raise WorkflowError(str(exc), field="signed_file") from exc
    try:
        with transaction.atomic():
            report = _editable_report(engagement, user)
            _apply_report_data(report, data or {})
            if conditions is not None:
                _replace_conditions(report, conditions)
            if stored:
                report.signed_file_name = stored["display_name"]
                report.signed_file_stored = stored["stored_name"]
                report.signed_file_sha256 = stored["sha256"]
                report.signed_file_size = stored["size"]
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
            if errors:
                raise WorkflowError(_("The report cannot be filed yet."), errors=errors)
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
            app = _load_app(engagement.application_id)
            audit.log("auditors.report.filed", actor=user, obj=engagement, organization=_org(app), request=request,
                      payload={"sha256": report.sha256, "recommendation": report.recommendation,
                               "conditions": n_conditions})
            notify([*cert.org_admins(_org(app)), *staff_contacts(app)], "report-filed",
                   {"application": app, "report": report, "conditions": n_conditions}, url=_app_url(app))
            cert.advance_if_ready(app, user)
    except BaseException:
        if stored:
            private_path("reports", stored["stored_name"]).unlink(missing_ok=True)
        raise
    return report


# --- conditions ------------------------------------------------------------------------------------


def resolve_condition(condition: ReportCondition, user: User, resolution: str, request=None) -> ReportCondition:
    app = _load_app(condition.report.engagement.application_id)
    if not Membership.objects.filter(user=user, organization=_org(app)).exists():
        raise WorkflowError(_("Only members of the organization can resolve a condition."))
    if not (resolution or "").strip():
        raise WorkflowError(_("Describe how the condition was met."), field="resolution")
    with transaction.atomic():
        updated = ReportCondition.objects.filter(pk=condition.pk, accepted_at__isnull=True).update(
            resolved_at=timezone.now(), resolved_by=user, resolution=resolution.strip())
        if not updated:
            raise WorkflowError(_("The auditor has already accepted this condition."))
        condition.refresh_from_db()
        audit.log("auditors.condition.resolved", actor=user, obj=condition.report.engagement, organization=_org(app),
                  request=request, payload={"condition": condition.number})
        notify(condition.report.engagement.accreditation.user, "report-condition-resolved",
               {"condition": condition, "application": app}, url=_engagement_url(condition.report.engagement))
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
        app = _load_app(engagement.application_id)
        audit.log("auditors.condition.accepted", actor=user, obj=engagement, organization=_org(app), request=request,
                  payload={"condition": condition.number})
        notify(cert.org_admins(_org(app)), "report-condition-accepted", {"condition": condition, "application": app},
               url=_app_url(app))
        cert.advance_if_ready(app, user)
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
        app = _load_app(engagement.application_id)
        audit.log("auditors.condition.returned", actor=user, obj=engagement, organization=_org(app), request=request,
                  payload={"condition": condition.number})
        notify(cert.org_admins(_org(app)), "report-condition-returned", {"condition": condition, "application": app},
               url=_app_url(app))
    return condition


# --- gates and hooks -------------------------------------------------------------------------------


def audit_gates(app: Application) -> list[str]:
    """Open audit gates: every required report filed, every condition resolved and accepted."""
    seats = assignment.seats_required(app)
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
    if assignment.seats_required(app) == 0:
        return
    notify(staff_contacts(app), "engagement-assignment-needed",
           {"application": app, "seats": assignment.seats_required(app)},
           url=reverse("auditors:staff-application", args=[app.pk]))


def next_condition_number(report: AuditReport) -> int:
    return (report.conditions.aggregate(n=Max("number"))["n"] or 0) + 1


def audit_summary(app) -> list[dict]:
    """What the signed attestation and the certificate page say of the audits (DESIGN §7):
    per filed report, the firm, recommendation, filing time, report hash, issues by
    severity and conditions. Auditors are named by firm, not as people."""
    from .models import AuditReport

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
