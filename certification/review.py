"""Community review (DESIGN §2.1, §2.4, §4, §6): windows, enrolment, findings,
triage, responses, rejoinders, decision gates and the review deadline kinds.

Who may do what is decided here, on each call, from stored times and states:

- a window is open while ``opened_at <= now < closes_at``;
- an evaluator reads the review materials while enrolled (not withdrawn), with
  an active evaluator accreditation, and while the window is open;
- findings are filed by enrolled evaluators while the window is open; a
  submitted finding is final; staff triage it; organization admins respond to
  each accepted one; the author may add a rejoinder.

Every state change is one function: it checks the state, runs in a
transaction, moves the status with a conditional UPDATE, writes the audit entry
and notifies. ``advance_if_ready`` runs after each event a gate waits for.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from auditors import conflicts as conflict_rules
from auditors.models import Accreditation, Affiliation, ConflictRecord
from portal import audit, deadlines
from portal.models import User
from portal.notifications import notify

from . import evidence, services
from .deadline_kinds import offsets
from .models import (
    Application,
    DocumentationRevision,
    Enrolment,
    Finding,
    FindingAttachment,
    FindingResponse,
    Rejoinder,
    ReviewWindow,
)
from .services import WorkflowError

S = Application.Status
F = Finding.Status

# Defaults when a framework version does not say (2025.1 does, DESIGN §2.4).
WINDOW_DAYS = {3: 30, 4: 90}
TRIAGE_DAYS = 7
RESPONSE_DAYS = 14
# A window reopened after a raise to Tier 4 stays open at least this long (DESIGN §2.1).
REOPEN_MIN_DAYS = 14


# --- people and access ---------------------------------------------------------------------------


def evaluator_accreditation(user, at=None) -> Accreditation | None:
    """The user's active evaluator vetting, or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Accreditation.objects.active(at).evaluators().filter(user=user).first()


def is_vetted_evaluator(user, at=None) -> bool:
    return evaluator_accreditation(user, at) is not None


def can_see_windows(user) -> bool:
    """The list of open windows names unreleased models: vetted evaluators and staff only (DESIGN §3)."""
    return bool(getattr(user, "is_authenticated", False)) and (user.is_alliance_staff or is_vetted_evaluator(user))


def current_enrolment(user, window: ReviewWindow) -> Enrolment | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Enrolment.objects.filter(window=window, user=user, withdrawn_at__isnull=True).first()


def has_access(user, window: ReviewWindow, at=None) -> bool:
    """May this evaluator read the review materials now? Decided from stored times on every request."""
    at = at or timezone.now()
    if not window.is_open(at):
        return False
    enrolment = current_enrolment(user, window)
    if enrolment is None:
        return False
    return Accreditation.objects.active(at).filter(pk=enrolment.accreditation_id).exists()


def org_of(window: ReviewWindow):
    return window.application.release.ai_model.organization


def _window_url(window: ReviewWindow) -> str:
    return reverse("certification:review-window", args=[window.pk])


def _finding_url(finding: Finding) -> str:
    return reverse("certification:finding-detail", args=[finding.pk])


def _org_findings_url(app: Application) -> str:
    return reverse("certification:application-findings", args=[app.pk])


def enrolled_users(window: ReviewWindow):
    return User.objects.filter(enrolments__window=window, enrolments__withdrawn_at__isnull=True, is_active=True)


def _owner_and_admins(app: Application) -> list[User]:
    people = list(services.org_admins(app.release.organization))
    if app.owner and app.owner not in people:
        people.append(app.owner)
    return people


# --- windows ---------------------------------------------------------------------------------------


def window_days(app: Application, tier: int) -> int:
    return services.deadline_days(app.framework_version.rules, "review_window", WINDOW_DAYS.get(tier, 30), tier=tier)


def open_window(app: Application, actor: User | None = None) -> ReviewWindow | None:
    """Open the application's window (Tier 3/4), once: a re-acceptance after a
    raise keeps the window that already runs."""
    tier = app.tier or 1
    if tier < 3:
        return None
    existing = ReviewWindow.objects.filter(application=app).first()
    if existing is not None:
        return existing
    now = timezone.now()
    with transaction.atomic():
        window = ReviewWindow.objects.create(
            application=app, tier=tier, first_opened_at=now, opened_at=now,
            closes_at=now + timedelta(days=window_days(app, tier)),
        )
        deadlines.open_deadline(window, "review_window", window.closes_at)
        audit.log("certification.review.window_opened", actor=actor, obj=window,
                  organization=app.release.organization,
                  payload={"application": app.pk, "tier": tier, "closes_at": window.closes_at.isoformat()})
    return window


def on_review_started(app: Application) -> None:
    """REVIEW_STARTED_HOOKS: screening accepted the application into review."""
    open_window(app)


def on_tier_raised(app: Application, actor: User | None, tier: int) -> ReviewWindow | None:
    """RAISE_HOOKS: a raise to Tier 4 extends an open Tier 3 window to 90 days from its
    opening, and reopens a closed one until 90 days from its first opening, at least
    14 more days (DESIGN §2.1)."""
    with transaction.atomic():
        window = ReviewWindow.objects.select_for_update().filter(application=app).first()
        if window is None or tier <= window.tier:
            return window
        now = timezone.now()
        target = window.first_opened_at + timedelta(days=window_days(app, tier))
        was_open = window.is_open(now)
        if was_open:
            window.closes_at = max(target, window.closes_at)
            window.extended_at = now
            fields = ["tier", "closes_at", "extended_at"]
        else:
            window.closes_at = max(target, now + timedelta(days=REOPEN_MIN_DAYS))
            window.opened_at = now
            window.reopened_at = now
            window.closed_at = None
            fields = ["tier", "closes_at", "opened_at", "reopened_at", "closed_at"]
        window.tier = tier
        window.save(update_fields=fields)
        # A fresh deadline row: the reminders of the new closing time go out again.
        deadlines.close_deadlines(window, "review_window", state="cancelled")
        deadlines.open_deadline(window, "review_window", window.closes_at)
        for finding in window.findings.unanswered():
            _schedule_response(finding, window)
        audit.log("certification.review.window_extended" if was_open else "certification.review.window_reopened",
                  actor=actor, obj=window, organization=app.release.organization,
                  payload={"tier": tier, "closes_at": window.closes_at.isoformat()})
        recipients = {u.pk: u for u in [*enrolled_users(window), *services.org_admins(app.release.organization)]}
        notify(list(recipients.values()), "window-extended",
               {"window": window, "application": app, "reopened": not was_open}, url=_window_url(window))
    return window


def close_window(window: ReviewWindow) -> bool:
    """The window's deadline passed: record the close, notify the organization and the
    owner, and let the application move on if every gate holds. Idempotent."""
    now = timezone.now()
    if window.is_open(now):
        return False  # extended since the deadline was planned
    with transaction.atomic():
        if not ReviewWindow.objects.filter(pk=window.pk, closed_at__isnull=True).update(closed_at=now):
            return False
        window.closed_at = now
        app = window.application
        counts = {
            "findings": window.findings.submitted().count(),
            "awaiting_triage": window.findings.awaiting_triage().count(),
        }
        audit.log("certification.review.window_closed", obj=window, organization=app.release.organization,
                  payload=counts)
        notify(_owner_and_admins(app), "window-closed", {"window": window, "application": app, **counts},
               url=_org_findings_url(app))
        advance(app)
    return True


def advance(app: Application) -> bool:
    """Run the core's ``advance_if_ready`` on a fresh copy of the application."""
    fresh = Application.objects.select_related("framework_version", "release__ai_model__organization").get(pk=app.pk)
    if fresh.status != S.IN_REVIEW:
        return False
    try:
        return services.advance_if_ready(fresh)
    except WorkflowError:
        return False  # moved on concurrently


# --- conflicts (adapter over auditors.conflicts) ---------------------------------------------------


def _evaluator_facts(acc: Accreditation) -> conflict_rules.AuditorFacts:
    affiliations = tuple(
        conflict_rules.AffiliationFacts(a.organization_id, a.organization_name, a.relation, a.started_on, a.ended_on)
        for a in Affiliation.objects.filter(accreditation=acc)
    )
    return conflict_rules.AuditorFacts(
        accreditation_id=acc.pk, user_id=acc.user_id, name=acc.user.display_name, firm=acc.firm,
        firm_organization_id=acc.firm_organization_id,
        email_domains=frozenset([*(acc.email_domains or []), conflict_rules.normalize_domain(acc.user.email)]),
        affiliations=affiliations,
    )


def conflicts_for(window: ReviewWindow, acc: Accreditation) -> list[conflict_rules.Conflict]:
    """The conflicts of this evaluator with the window's application, as for auditors (DESIGN §5, §6).

    The application's facts come from the auditor network's loader; the evaluator's own
    facts are built here, since the loader reads auditors only."""
    from auditors import assignment

    app = Application.objects.select_related("release__ai_model__organization", "framework_version").get(
        pk=window.application_id)
    app_facts = assignment.load([app]).apps[app.pk]
    return conflict_rules.check(_evaluator_facts(acc), app_facts, timezone.localdate())


def override_conflict(window: ReviewWindow, acc: Accreditation, actor: User, code: str, reason: str,
                      request=None) -> ConflictRecord:
    """Staff lift an evaluator's potential conflict with a recorded reason; hard ones never."""
    services._require_staff(actor)
    if not (reason or "").strip():
        raise WorkflowError(_("Give the reason for the override."), field="reason")
    if code in conflict_rules.HARD_CODES:
        raise WorkflowError(_("A hard conflict of interest cannot be overridden."), field="code")
    found = {c.code: c for c in conflicts_for(window, acc)}
    if code not in found:
        raise WorkflowError(_("This evaluator has no such potential conflict with this application."), field="code")
    app = window.application
    with transaction.atomic():
        record = ConflictRecord.objects.create(application=app, accreditation=acc, kind=ConflictRecord.Kind.OVERRIDE,
                                               code=code, reason=reason.strip(), recorded_by=actor)
        audit.log("certification.review.conflict_overridden", actor=actor, obj=window,
                  organization=app.release.organization, request=request,
                  payload={"code": code, "staff_only": {"evaluator": acc.user.pseudonym,
                                                        "conflict": found[code].reason, "reason": reason.strip()}})
    return record


# --- enrolment -------------------------------------------------------------------------------------


def enrol(window: ReviewWindow, user: User, *, confidentiality: bool = True, request=None) -> Enrolment:
    """Enrol a vetted evaluator in an open window, refused on a blocking conflict (with the reason)."""
    acc = evaluator_accreditation(user)
    if acc is None:
        raise WorkflowError(_("Only vetted evaluators with an active accreditation can enrol."))
    if not window.is_open():
        raise WorkflowError(_("This review window is closed: no new enrolments."))
    if not confidentiality:
        raise WorkflowError(_("Accept the confidentiality terms to enrol."), field="confidentiality")
    blocking = conflict_rules.blocking(conflicts_for(window, acc))
    if blocking:
        hard = [c for c in blocking if c.hard]
        lead = (_("You cannot enrol: a conflict of interest that cannot be overridden.") if hard else
                _("You cannot enrol yet: a potential conflict of interest; Alliance staff may override it "
                  "with a recorded reason."))
        raise WorkflowError(lead, errors={"non_field_errors": [lead, *[c.reason for c in blocking]],
                                          "conflicts": [c.code for c in blocking]})
    app = window.application
    now = timezone.now()
    with transaction.atomic():
        enrolment, created = Enrolment.objects.select_for_update().get_or_create(
            window=window, user=user,
            defaults={"accreditation": acc, "enrolled_at": now, "confidentiality_accepted_at": now},
        )
        if not created:
            if enrolment.withdrawn_at is None:
                raise WorkflowError(_("You are already enrolled in this window."))
            enrolment.withdrawn_at = None
            enrolment.accreditation = acc
            enrolment.enrolled_at = now
            enrolment.confidentiality_accepted_at = now
            enrolment.save(update_fields=["withdrawn_at", "accreditation", "enrolled_at",
                                          "confidentiality_accepted_at"])
        audit.log("certification.review.enrolled", actor=user, obj=window, organization=app.release.organization,
                  request=request, payload={"staff_only": {"evaluator": user.pseudonym}, "reenrolled": not created})
    return enrolment


def withdraw_enrolment(window: ReviewWindow, user: User, request=None) -> Enrolment:
    """The evaluator leaves the window: access ends now; submitted findings stay."""
    with transaction.atomic():
        enrolment = current_enrolment(user, window)
        if enrolment is None or not Enrolment.objects.filter(pk=enrolment.pk, withdrawn_at__isnull=True).update(
                withdrawn_at=timezone.now()):
            raise WorkflowError(_("You are not enrolled in this window."))
        enrolment.refresh_from_db()
        audit.log("certification.review.withdrawn", actor=user, obj=window,
                  organization=window.application.release.organization, request=request,
                  payload={"staff_only": {"evaluator": user.pseudonym}})
    return enrolment


# --- review materials ------------------------------------------------------------------------------


@dataclass
class Materials:
    revision: DocumentationRevision | None
    access_instructions: str
    sections: dict
    benchmark_results: list
    evidence: list


def materials(window: ReviewWindow) -> Materials:
    """The frozen submission under review: the latest revision of the application."""
    revision = DocumentationRevision.objects.filter(application_id=window.application_id).order_by("-number").first()
    content = revision.content if revision else {}
    sections = dict(content.get("sections") or {})
    instructions = (sections.get("access_instructions") or {}).get("instructions", "")
    return Materials(revision, instructions, sections, list(content.get("benchmark_results") or []),
                     list(content.get("evidence") or []))


def enrolled_evaluator_may_read_evidence(user, ev) -> bool:
    """EVIDENCE_ACCESS_CHECKS: an evaluator with access to an open window of the release."""
    windows = ReviewWindow.objects.open_at().select_related("application").filter(
        application__release_id=ev.release_id, enrolments__user=user, enrolments__withdrawn_at__isnull=True)
    return any(has_access(user, w) for w in windows)


# --- findings --------------------------------------------------------------------------------------

FINDING_FIELDS = ("title", "category", "severity", "prevalence", "affected_capability", "reproduction_steps",
                  "expected_behaviour", "observed_behaviour", "infohazard", "atlas_techniques")
# Required to submit (a draft may be incomplete).
REQUIRED_TO_SUBMIT = ("title", "category", "severity", "reproduction_steps", "expected_behaviour",
                      "observed_behaviour")


def _require_access(user, window: ReviewWindow) -> None:
    if not window.is_open():
        raise WorkflowError(_("The review window is closed: findings can no longer be filed or changed."))
    if not has_access(user, window):
        raise WorkflowError(_("Only evaluators enrolled in this window, with an active accreditation, can do this."))


def clean_atlas(values) -> list[str]:
    import re

    if isinstance(values, str):
        values = [v for v in re.split(r"[\s,]+", values) if v]
    cleaned = []
    for value in values or []:
        value = str(value).strip().upper()
        if not re.fullmatch(r"AML\.T\d{4}(\.\d{3})?", value):
            raise WorkflowError(
                _("%(v)s is not a MITRE ATLAS technique id (like AML.T0051 or AML.T0051.000).") % {"v": value[:40]},
                field="atlas_techniques")
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


def _apply(finding: Finding, data: dict) -> list[str]:
    changed = []
    for key in FINDING_FIELDS:
        if key not in data:
            continue
        value = data[key]
        if key == "atlas_techniques":
            value = clean_atlas(value)
        elif isinstance(value, str):
            value = value.strip()
        setattr(finding, key, value)
        changed.append(key)
    return changed


def _validate(finding: Finding) -> None:
    try:
        finding.full_clean(exclude=["window", "author", "duplicate_of", "triaged_by"], validate_unique=False,
                           validate_constraints=False)
    except ValidationError as exc:
        raise WorkflowError(_("Check the finding."), errors=exc.message_dict) from exc


def create_finding(window: ReviewWindow, user: User, data: dict, request=None) -> Finding:
    _require_access(user, window)
    if not (data.get("title") or "").strip():
        raise WorkflowError(_("Give the finding a title."), field="title")
    with transaction.atomic():
        finding = Finding(window=window, author=user)
        _apply(finding, data)
        _validate(finding)
        finding.save()
        audit.log("certification.review.finding_drafted", actor=user, obj=finding,
                  organization=window.application.release.organization, request=request)
    return finding


def update_draft(finding: Finding, user: User, data: dict, request=None) -> Finding:
    if finding.author_id != user.pk:
        raise WorkflowError(_("Only the author can change a draft finding."))
    if not finding.is_draft:
        raise WorkflowError(_("A submitted finding is final."))
    _require_access(user, finding.window)
    with transaction.atomic():
        locked = Finding.objects.select_for_update().get(pk=finding.pk)
        if locked.status != F.DRAFT:
            raise WorkflowError(_("A submitted finding is final."))
        changed = _apply(finding, data)
        finding.updated_at = timezone.now()
        _validate(finding)
        finding.save(update_fields=[*changed, "updated_at"])
        audit.log("certification.review.finding_edited", actor=user, obj=finding,
                  organization=finding.window.application.release.organization, request=request,
                  payload={"fields": changed})
    return finding


def submit_finding(finding: Finding, user: User, request=None) -> Finding:
    """Submit a draft: final from now on; staff triage it within 7 days."""
    if finding.author_id != user.pk:
        raise WorkflowError(_("Only the author can submit a finding."))
    _require_access(user, finding.window)
    missing = {k: [_("This field is required to submit.")] for k in REQUIRED_TO_SUBMIT
               if not str(getattr(finding, k) or "").strip()}
    if missing:
        raise WorkflowError(_("Complete the finding before submitting it."), errors=missing)
    window = finding.window
    app = window.application
    now = timezone.now()
    with transaction.atomic():
        if not Finding.objects.filter(pk=finding.pk, status=F.DRAFT).update(
                status=F.SUBMITTED, submitted_at=now, submitted_severity=finding.severity, updated_at=now):
            raise WorkflowError(_("This finding is already submitted."))
        finding.status, finding.submitted_at, finding.submitted_severity = F.SUBMITTED, now, finding.severity
        days = services.deadline_days(app.framework_version.rules, "finding_triage", TRIAGE_DAYS)
        deadlines.open_deadline(finding, "finding_triage", now + timedelta(days=days))
        audit.log("certification.review.finding_submitted", actor=user, obj=finding,
                  organization=app.release.organization, request=request,
                  payload={"severity": finding.severity, "category": finding.category})
        if app.owner:
            notify(app.owner, "finding-submitted", {"finding": finding, "application": app, "days": days},
                   url=_finding_url(finding))
    return finding


def add_attachment(finding: Finding, user: User, uploaded, request=None) -> FindingAttachment:
    """Attach a file to a draft, under the evidence rules (family by content, size limit, sha256)."""
    if finding.author_id != user.pk:
        raise WorkflowError(_("Only the author can attach files."))
    if not finding.is_draft:
        raise WorkflowError(_("A submitted finding is final."))
    _require_access(user, finding.window)
    try:
        display_name, family = evidence.check_name(uploaded.name or "")
    except evidence.EvidenceError as exc:
        raise WorkflowError(str(exc), field="file") from exc
    stored_name = uuid.uuid4().hex
    target = attachment_dir() / stored_name
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with open(target, "xb") as out:
            for chunk in uploaded.chunks(evidence.CHUNK):
                size += len(chunk)
                if size > evidence.max_size():
                    raise evidence.EvidenceError(
                        _("The file is larger than the limit of %(size)s.") % {"size": filesizeformat(evidence.max_size())})
                if len(head) < 8:
                    head += chunk[: 8 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise evidence.EvidenceError(_("The file is empty."))
        evidence.check_content(target, family, head)
        with transaction.atomic():
            attachment = FindingAttachment.objects.create(
                finding=finding, display_name=display_name, stored_name=stored_name, family=family, size=size,
                sha256=digest.hexdigest())
            audit.log("certification.review.attachment_added", actor=user, obj=finding,
                      organization=finding.window.application.release.organization, request=request,
                      payload={"sha256": attachment.sha256, "size": size})
    except evidence.EvidenceError as exc:
        target.unlink(missing_ok=True)
        raise WorkflowError(str(exc), field="file") from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return attachment


def attachment_dir() -> Path:
    directory = Path(settings.PRIVATE_STORAGE_ROOT) / "findings"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def delete_draft(finding: Finding, user: User, request=None) -> None:
    if finding.author_id != user.pk or not finding.is_draft:
        raise WorkflowError(_("Only the author can delete a draft finding."))
    with transaction.atomic():
        paths = [attachment_dir() / a.stored_name for a in finding.attachments.all()]
        audit.log("certification.review.finding_deleted", actor=user, obj=finding,
                  organization=finding.window.application.release.organization, request=request)
        if not Finding.objects.filter(pk=finding.pk, status=F.DRAFT).delete()[0]:
            raise WorkflowError(_("A submitted finding is final."))
        transaction.on_commit(lambda: [p.unlink(missing_ok=True) for p in paths])


# --- triage ----------------------------------------------------------------------------------------


def _response_due(finding: Finding, window: ReviewWindow) -> datetime:
    days = services.deadline_days(window.application.framework_version.rules, "finding_response", RESPONSE_DAYS)
    return max(finding.triaged_at or timezone.now(), window.closes_at) + timedelta(days=days)


def _schedule_response(finding: Finding, window: ReviewWindow) -> None:
    """14 days after triage or after the window closes, whichever is later (DESIGN §2.4)."""
    deadlines.open_deadline(finding, "finding_response", _response_due(finding, window))


def triage(finding: Finding, actor: User, outcome: str, note: str = "", *, severity: str | None = None,
           severity_reason: str = "", duplicate_of: Finding | None = None, request=None) -> Finding:
    """Staff triage: accepted, duplicate of another, out of scope or invalid, with a note;
    the severity may change with a reason."""
    services._require_staff(actor)
    note = (note or "").strip()
    severity_reason = (severity_reason or "").strip()
    errors: dict[str, list[str]] = {}
    if outcome not in F.values or outcome not in Finding.TRIAGE_OUTCOMES:
        errors["outcome"] = [_("Choose accepted, duplicate, out of scope or invalid.")]
    if outcome != F.ACCEPTED and not note:
        errors["note"] = [_("Explain the outcome in a note.")]
    if outcome == F.DUPLICATE:
        if duplicate_of is None:
            errors["duplicate_of"] = [_("Name the finding this one duplicates.")]
        elif duplicate_of.pk == finding.pk or duplicate_of.window_id != finding.window_id or duplicate_of.is_draft:
            errors["duplicate_of"] = [_("Choose another submitted finding of the same window.")]
    elif duplicate_of is not None:
        errors["duplicate_of"] = [_("Only a duplicate names another finding.")]
    if severity and severity not in Finding.Severity.values:
        errors["severity"] = [_("Unknown severity.")]
    changes_severity = bool(severity) and severity != finding.severity
    if changes_severity and not severity_reason:
        errors["severity_reason"] = [_("Give the reason for the change of severity.")]
    if errors:
        raise WorkflowError(_("The triage could not be recorded."), errors=errors)
    window = finding.window
    app = window.application
    now = timezone.now()
    with transaction.atomic():
        update = {"status": outcome, "triaged_at": now, "triaged_by": actor, "triage_note": note,
                  "duplicate_of": duplicate_of, "updated_at": now}
        if changes_severity:
            update.update(severity=severity, severity_reason=severity_reason)
        if not Finding.objects.filter(pk=finding.pk, status=F.SUBMITTED).update(**update):
            raise WorkflowError(_("Only a finding awaiting triage can be triaged."))
        old_severity = finding.severity
        for key, value in update.items():
            setattr(finding, key, value)
        deadlines.close_deadlines(finding, "finding_triage")
        if outcome == F.ACCEPTED:
            _schedule_response(finding, window)
        audit.log("certification.review.finding_triaged", actor=actor, obj=finding,
                  organization=app.release.organization, request=request,
                  payload={"outcome": outcome, "severity": finding.severity,
                           "severity_from": old_severity if changes_severity else None,
                           "duplicate_of": duplicate_of.pk if duplicate_of else None})
        notify(finding.author, "finding-triaged", {"finding": finding, "application": app},
               url=_finding_url(finding))
        if outcome == F.ACCEPTED:
            notify(services.org_admins(app.release.organization), "finding-accepted",
                   {"finding": finding, "application": app, "due_at": _response_due(finding, window)},
                   url=_finding_url(finding))
        advance(app)
    return finding


# --- responses and rejoinders ----------------------------------------------------------------------


def respond(finding: Finding, actor: User, kind: str, details: str, fixed_in: str = "", request=None) -> FindingResponse:
    """The organization's public response to an accepted finding (organization admins)."""
    app = finding.window.application
    org = app.release.organization
    if not services.is_org_admin(actor, org):
        raise WorkflowError(_("Only an admin of %(org)s can respond to findings.") % {"org": org.name})
    details = (details or "").strip()
    fixed_in = (fixed_in or "").strip()
    errors: dict[str, list[str]] = {}
    if kind not in FindingResponse.Kind.values:
        errors["kind"] = [_("Choose mitigated, accepted risk or disputed.")]
    elif not details:
        errors["details"] = [{
            FindingResponse.Kind.MITIGATED: _("Say what changed."),
            FindingResponse.Kind.ACCEPTED_RISK: _("Give the rationale for accepting the risk."),
            FindingResponse.Kind.DISPUTED: _("Give the reason you dispute the finding."),
        }[kind]]
    if kind == FindingResponse.Kind.MITIGATED and not fixed_in:
        errors["fixed_in"] = [_("Name the release in which it changed.")]
    if kind != FindingResponse.Kind.MITIGATED and fixed_in:
        fixed_in = ""
    if errors:
        raise WorkflowError(_("The response could not be recorded."), errors=errors)
    with transaction.atomic():
        locked = Finding.objects.select_for_update().get(pk=finding.pk)
        if locked.status != F.ACCEPTED:
            raise WorkflowError(_("Only accepted findings get a response."))
        if FindingResponse.objects.filter(finding=finding).exists():
            raise WorkflowError(_("This finding already has a response."))
        response = FindingResponse.objects.create(finding=finding, kind=kind, details=details, fixed_in=fixed_in,
                                                  responded_by=actor)
        deadlines.close_deadlines(finding, "finding_response")
        audit.log("certification.review.response_filed", actor=actor, obj=finding, organization=org,
                  request=request, payload={"kind": kind, "fixed_in": fixed_in})
        notify(finding.author, "response-filed", {"finding": finding, "response": response, "application": app},
               url=_finding_url(finding))
        advance(app)
    return response


def add_rejoinder(finding: Finding, user: User, text: str, request=None) -> Rejoinder:
    """The author answers the organization's response, once."""
    if finding.author_id != user.pk:
        raise WorkflowError(_("Only the author of the finding can add a rejoinder."))
    text = (text or "").strip()
    if not text:
        raise WorkflowError(_("Write the rejoinder."), field="text")
    if not FindingResponse.objects.filter(finding=finding).exists():
        raise WorkflowError(_("A rejoinder answers the organization's response, which is not there yet."))
    app = finding.window.application
    with transaction.atomic():
        Finding.objects.select_for_update().get(pk=finding.pk)
        if Rejoinder.objects.filter(finding=finding).exists():
            raise WorkflowError(_("You have already added a rejoinder."))
        rejoinder = Rejoinder.objects.create(finding=finding, text=text, author=user)
        audit.log("certification.review.rejoinder_added", actor=user, obj=finding,
                  organization=app.release.organization, request=request)
        notify(_owner_and_admins(app), "finding-rejoinder", {"finding": finding, "rejoinder": rejoinder,
                                                             "application": app}, url=_finding_url(finding))
    return rejoinder


# --- visibility ------------------------------------------------------------------------------------


def findings_visible_to(user):
    """Findings a user may open: own ones; staff every submitted one; organization
    members the submitted findings of their applications. Public findings of certified
    releases are read through ``public_findings`` instead."""
    if not getattr(user, "is_authenticated", False):
        return Finding.objects.none()
    own = Q(author=user)
    if user.is_alliance_staff:
        return Finding.objects.filter(own | ~Q(status=F.DRAFT))
    org_rows = Q(window__application__release__ai_model__organization__memberships__user=user) & ~Q(status=F.DRAFT)
    return Finding.objects.filter(own | org_rows).distinct()


def can_see_attachment(user, attachment: FindingAttachment) -> bool:
    return findings_visible_to(user).filter(pk=attachment.finding_id).exists()


def with_details(qs):
    """Everything a findings list shows, in a fixed number of queries."""
    return qs.select_related("author", "triaged_by", "duplicate_of", "response", "response__responded_by",
                             "rejoinder").prefetch_related("attachments")


def certified_application(release) -> Application | None:
    return release.applications.filter(status=S.CERTIFIED).order_by("-decided_at", "-pk").first()


def public_findings(app: Application | None) -> list[dict]:
    """Accepted findings of a certified application with their responses and rejoinders,
    infohazard findings redacted to title, category, severity and response (DESIGN §6)."""
    if app is None or app.status != S.CERTIFIED:
        return []
    rows = (Finding.objects.filter(window__application=app, status=F.ACCEPTED)
            .select_related("response", "rejoinder").order_by("submitted_at", "pk"))
    return [public_view(f) for f in rows]


def public_view(finding: Finding) -> dict:
    response = getattr(finding, "response", None)
    data = {
        "id": finding.pk,
        "title": finding.title,
        "category": finding.category,
        "category_label": finding.get_category_display(),
        "severity": finding.severity,
        "severity_label": finding.get_severity_display(),
        "infohazard": finding.infohazard,
        "redacted": finding.infohazard,
        "response": {
            "kind": response.kind, "kind_label": response.get_kind_display(), "details": response.details,
            "fixed_in": response.fixed_in, "responded_at": response.responded_at,
        } if response else None,
    }
    if not finding.infohazard:
        rejoinder = getattr(finding, "rejoinder", None)
        data.update({
            "prevalence": finding.prevalence,
            "affected_capability": finding.affected_capability,
            "reproduction_steps": finding.reproduction_steps,
            "expected_behaviour": finding.expected_behaviour,
            "observed_behaviour": finding.observed_behaviour,
            "atlas_techniques": list(finding.atlas_techniques or []),
            "submitted_at": finding.submitted_at,
            "rejoinder": {"text": rejoinder.text, "created_at": rejoinder.created_at} if rejoinder else None,
        })
    return data


# --- gates -----------------------------------------------------------------------------------------


def review_gates(app: Application) -> list[str]:
    """GATE_PROVIDERS: the window closed, no finding awaiting triage, every accepted finding answered."""
    if (app.tier or 1) < 3:
        return []
    window = ReviewWindow.objects.filter(application=app).first()
    if window is None:
        return [_("The community review window has not opened.")]
    window.application = app  # already loaded: no query to read its status
    reasons = []
    if window.is_open():
        reasons.append(_("The community review window is open until %(at)s.")
                       % {"at": timezone.localtime(window.closes_at).strftime("%Y-%m-%d %H:%M %Z")})
    awaiting = window.findings.awaiting_triage().count()
    if awaiting:
        reasons.append(ngettext("%(n)d community finding awaits triage by staff.",
                                "%(n)d community findings await triage by staff.", awaiting) % {"n": awaiting})
    unanswered = window.findings.unanswered().count()
    if unanswered:
        reasons.append(ngettext("%(n)d accepted finding has no response from the organization yet.",
                                "%(n)d accepted findings have no response from the organization yet.",
                                unanswered) % {"n": unanswered})
    return reasons


# --- deadline kinds (DESIGN §2.4) ------------------------------------------------------------------


def _window_reminder(deadline, window: ReviewWindow, offset: timedelta) -> None:
    if not window.is_open():
        return
    notify(enrolled_users(window), "window-closing-reminder",
           {"window": window, "application": window.application, "closes_at": window.closes_at,
            "days_left": offset.days}, url=_window_url(window))


def _window_due(deadline, window: ReviewWindow) -> None:
    close_window(window)


def _triage_reminder(deadline, finding: Finding, offset: timedelta) -> None:
    app = finding.window.application
    if finding.status == F.SUBMITTED and app.owner:
        notify(app.owner, "finding-triage-reminder", {"finding": finding, "application": app,
                                                      "due_at": deadline.due_at, "days_left": offset.days},
               url=_finding_url(finding))


def _triage_due(deadline, finding: Finding) -> None:
    if finding.status == F.SUBMITTED:
        notify(services.staff_users(), "finding-triage-overdue",
               {"finding": finding, "application": finding.window.application, "due_at": deadline.due_at},
               url=_finding_url(finding))


def _response_reminder(deadline, finding: Finding, offset: timedelta) -> None:
    app = finding.window.application
    if finding.status == F.ACCEPTED and not FindingResponse.objects.filter(finding=finding).exists():
        notify(services.org_admins(app.release.organization), "response-reminder",
               {"finding": finding, "application": app, "due_at": deadline.due_at, "days_left": offset.days},
               url=_finding_url(finding))


def _response_due_handler(deadline, finding: Finding) -> None:
    app = finding.window.application
    if finding.status == F.ACCEPTED and not FindingResponse.objects.filter(finding=finding).exists() and app.owner:
        notify(app.owner, "response-overdue", {"finding": finding, "application": app, "due_at": deadline.due_at},
               url=_finding_url(finding))


deadlines.register(deadlines.DeadlineKind(
    "review_window", offsets("review_window"), _window_reminder, _window_due,
    description="Community review window: enrolled evaluators reminded; at the close the organization and owner "
                "are notified.",
))
deadlines.register(deadlines.DeadlineKind(
    "finding_triage", offsets("finding_triage"), _triage_reminder, _triage_due,
    description="Triage of a submitted finding: the owner is reminded, then every staff member is told.",
))
deadlines.register(deadlines.DeadlineKind(
    "finding_response", offsets("finding_response"), _response_reminder, _response_due_handler,
    description="The organization's response to an accepted finding; overdue: the owner is told, the decision "
                "stays blocked.",
))


def review_summary(app: Application) -> list[dict]:
    """What the signed attestation says of the community review (DESIGN §7): the
    window's times and the count of findings by outcome and by response."""
    window = ReviewWindow.objects.filter(application=app).first()
    if window is None:
        return []
    findings = Finding.objects.filter(window=window).submitted().select_related("response")
    outcomes: dict[str, int] = {}
    responses: dict[str, int] = {}
    for finding in findings:
        outcomes[finding.status] = outcomes.get(finding.status, 0) + 1
        response = getattr(finding, "response", None)
        if response is not None:
            responses[response.kind] = responses.get(response.kind, 0) + 1
    return [{
        "window_opened_at": window.first_opened_at.isoformat(),
        "window_closes_at": window.closes_at.isoformat(),
        "findings": dict(sorted(outcomes.items())),
        "responses": dict(sorted(responses.items())),
    }]


def register_hooks() -> None:
    """Plug into the certification core (idempotent): review start, tier raise, gates, evidence access."""
    from . import certificates, views

    for hooks, fn in [
        (certificates.REVIEW_SUMMARY_PROVIDERS, review_summary),
        (services.REVIEW_STARTED_HOOKS, on_review_started),
        (getattr(services, "RAISE_HOOKS", []), on_tier_raised),
        (services.GATE_PROVIDERS, review_gates),
        (views.EVIDENCE_ACCESS_CHECKS, enrolled_evaluator_may_read_evidence),
    ]:
        if fn not in hooks:
            hooks.append(fn)


register_hooks()
