"""Community review (DESIGN §2.1, §4, §6): windows, enrolment, access to the review materials,
the response deadlines, the review gates and the review summary that goes into attestations.

Who may do what is decided here, on each call, from stored times and states:

- a window is open while ``opened_at <= now < closes_at``;
- an evaluator reads the review materials while enrolled (not withdrawn), with an active
  evaluator accreditation, and while the window is open.

Every state change is one function: it checks the state, runs in a transaction, moves the
status with a conditional UPDATE, writes the audit entry and notifies. ``advance_if_ready``
runs after each event a gate waits for. Lengths come from the application's framework version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from auditors import conflicts as conflict_rules
from auditors.models import Accreditation, Affiliation, ConflictRecord
from certification.framework import rules
from certification.framework import services as framework_services
from certification.framework.services import WorkflowError
from certification.releases import access, applications
from certification.releases.models import Application, DocumentationRevision
from certification.review.models import Enrolment, Finding, ReviewWindow
from portal import audit, deadlines, labels, organizations
from portal.models import User
from portal.notifications import notify

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


def window_url(window: ReviewWindow) -> str:
    return reverse("certification:review-window", args=[window.pk])


def finding_url(finding: Finding) -> str:
    return reverse("certification:finding-detail", args=[finding.pk])


def _org_findings_url(app: Application) -> str:
    return reverse("certification:application-findings", args=[app.pk])


def enrolled_users(window: ReviewWindow):
    return User.objects.filter(enrolments__window=window, enrolments__withdrawn_at__isnull=True, is_active=True)


def owner_and_admins(app: Application) -> list[User]:
    people = list(organizations.org_admins(app.release.organization))
    if app.owner and app.owner not in people:
        people.append(app.owner)
    return people


# --- windows ---------------------------------------------------------------------------------------


def window_days(app: Application, tier: int) -> int:
    return rules.deadline_days(app.framework_version.rules, "review_window", tier)


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
            reopen_days = rules.setting(app.framework_version.rules, "review", "reopen_min_days")
            window.closes_at = max(target, now + timedelta(days=reopen_days))
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
            schedule_response(finding, window)
        audit.log("certification.review.window_extended" if was_open else "certification.review.window_reopened",
                  actor=actor, obj=window, organization=app.release.organization,
                  payload={"tier": tier, "closes_at": window.closes_at.isoformat()})
        recipients = {u.pk: u for u in [*enrolled_users(window), *organizations.org_admins(app.release.organization)]}
        notify(list(recipients.values()), "window-extended",
               {"window": window, "application": app, "reopened": not was_open}, url=window_url(window))
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
        notify(owner_and_admins(app), "window-closed", {"window": window, "application": app, **counts},
               url=_org_findings_url(app))
        advance(app)
    return True


def advance(app: Application) -> bool:
    """Run the core's ``advance_if_ready`` on a fresh copy of the application."""
    fresh = Application.objects.select_related("framework_version", "release__ai_model__organization").get(pk=app.pk)
    if fresh.status != S.IN_REVIEW:
        return False
    try:
        return applications.advance_if_ready(fresh)
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
    from auditors.assignment import facts

    app = Application.objects.select_related("release__ai_model__organization", "framework_version").get(
        pk=window.application_id)
    app_facts = facts.load([app]).apps[app.pk]
    return conflict_rules.check(_evaluator_facts(acc), app_facts, timezone.localdate())


def override_conflict(window: ReviewWindow, acc: Accreditation, actor: User, code: str, reason: str,
                      request=None) -> ConflictRecord:
    """Staff lift an evaluator's potential conflict with a recorded reason; hard ones never."""
    framework_services.require_staff(actor)
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
                       % {"at": labels.moment(window.closes_at)})
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
    """Plug into the application workflow (idempotent; called by ``CertificationConfig.ready``):
    review start, tier raise, gates, evidence access."""
    for hooks, fn in [
        (applications.REVIEW_STARTED_HOOKS, on_review_started),
        (applications.RAISE_HOOKS, on_tier_raised),
        (applications.GATE_PROVIDERS, review_gates),
        (access.EVIDENCE_ACCESS_CHECKS, enrolled_evaluator_may_read_evidence),
    ]:
        if fn not in hooks:
            hooks.append(fn)



# --- triage ----------------------------------------------------------------------------------------


def response_due(finding: Finding, window: ReviewWindow) -> datetime:
    length = rules.deadline_length(window.application.framework_version.rules, "finding_response")
    return max(finding.triaged_at or timezone.now(), window.closes_at) + length


def schedule_response(finding: Finding, window: ReviewWindow) -> None:
    """14 days after triage or after the window closes, whichever is later (DESIGN §2.4)."""
    deadlines.open_deadline(finding, "finding_response", response_due(finding, window))
