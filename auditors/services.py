"""Accreditation of auditors and vetting of evaluators (DESIGN §5): applications to join,
affiliations, the public listing, staff decisions (approve, reject, suspend, reinstate) and
lapse; the private supporting files; and helpers the offer and report modules share.

Every function checks the current state, runs in one transaction, moves the state with a
conditional UPDATE or under a row lock, writes the audit entry and notifies. HTML views, API
views and deadline handlers all call these.
"""

from __future__ import annotations

from pathlib import Path

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from auditors import conflicts
from auditors.models import (
    Accreditation,
    Affiliation,
    Engagement,
    Offer,
    SupportingFile,
)
from certification.framework import rules
from certification.framework.models import FrameworkVersion
from certification.framework.services import WorkflowError, require_staff
from certification.releases import evidence
from certification.releases.models import Application
from portal import audit, deadlines, organizations
from portal import storage as private_files
from portal.models import Organization, User
from portal.notifications import notify

A = Accreditation.Status
OFFER_KIND = "offer_acceptance"
REPORT_KIND = "audit_report"
EXPIRY_KIND = "accreditation_expiry"


# --- helpers ---------------------------------------------------------------------------------


def staff_contacts(app: Application):
    """The application's owner, or every staff member while it has none."""
    return [app.owner] if app.owner_id and app.owner.is_active else list(organizations.staff_users())


def organization_of(app: Application) -> Organization:
    return app.release.ai_model.organization


def application_url(app: Application) -> str:
    return reverse("auditors:application-audit", args=[app.pk])


def offer_url(offer: Offer) -> str:
    return reverse("auditors:offer-detail", args=[offer.pk])


def engagement_url(engagement: Engagement) -> str:
    return reverse("auditors:engagement-detail", args=[engagement.pk])


def _rules() -> dict:
    fv = FrameworkVersion.objects.in_force()
    return fv.rules if fv else {}


def load_application(app_or_pk) -> Application:
    pk = app_or_pk.pk if isinstance(app_or_pk, Application) else app_or_pk
    return Application.objects.select_related("release__ai_model__organization", "framework_version", "owner").get(
        pk=pk)


# --- private files (supporting files, signed reports) ------------------------------------------


def store_private_file(uploaded, folder: str, families: tuple[str, ...] | None = None) -> dict:
    """Check and store an upload the way evidence files are (DESIGN §3): family by
    content agreeing with the extension, size limit while streaming, a server-side
    name, sha256 recorded, in the private storage (no public URL)."""
    _display_name, family = evidence.check_name(uploaded.name or "")
    if families and family not in families:
        raise WorkflowError(_("Upload a PDF file."), field="signed_file")
    stored = evidence.save_upload(uploaded, folder)
    return {"display_name": stored.display_name, "stored_name": stored.stored_name, "family": stored.family,
            "size": stored.size, "sha256": stored.sha256}


def private_path(folder: str, stored_name: str) -> Path:
    """Where the local private folder keeps the file (STORAGE_URL unset)."""
    return Path(settings.PRIVATE_STORAGE_ROOT) / folder / stored_name


def delete_private_file(folder: str, stored_name: str) -> None:
    if stored_name:
        private_files.delete(evidence.storage_name(folder, stored_name))


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
    except evidence.EvidenceError as exc:
        for s in stored:
            delete_private_file("accreditation", s["stored_name"])
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
        notify(organizations.staff_users(), "accreditation-received", {"accreditation": acc},
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
    return now + relativedelta(years=rules.deadline_years(_rules(), EXPIRY_KIND))


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
    require_staff(actor)
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
    require_staff(actor)
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
    # Offers build on accreditations, so their module imports this one, not the reverse.
    from auditors.assignment.offers import send_next_offer, withdraw_open_offer

    require_staff(actor)
    if not (reason or "").strip():
        raise WorkflowError(_("Give the reason for the suspension."), field="reason")
    with transaction.atomic():
        _move_accreditation(acc, A.SUSPENDED, [A.APPROVED], decision_reason=reason.strip(), decided_by=actor,
                            decided_at=timezone.now())
        audit.log("auditors.accreditation.suspended", actor=actor, obj=acc, request=request,
                  payload={"reason": reason.strip()})
        for offer in list(acc.offers.open().select_related("application")):
            withdraw_open_offer(offer, actor, gettext_lazy("The auditor's accreditation was suspended."))
            send_next_offer(offer.application, actor)
        notify(acc.user, "accreditation-suspended", {"accreditation": acc, "reason": reason.strip()},
               url=reverse("auditors:my-network"))
    return acc


def reinstate_accreditation(acc: Accreditation, actor: User, request=None) -> Accreditation:
    require_staff(actor)
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
        notify([acc.user, *organizations.staff_users()], "accreditation-lapsed", {"accreditation": acc},
               url=reverse("auditors:my-network"))
    return True
