"""The application workflow up to the decision (DESIGN §4): start, submit with the
attestation (freezing a revision), screening, hand-over, changes requested, acceptance into
review, the tier raise, the gates and the automatic move to ``decision_pending``, the Tier 1/2
staff review, withdrawal and lapse. The decision itself is ``certification.certificates``'.

Every transition is one function here: it checks the current state, runs in a transaction,
moves the status with a conditional UPDATE (so two concurrent requests give one transition),
writes the audit entry and notifies. Higher layers plug in through the hook lists below
(``REVIEW_STARTED_HOOKS``, ``GATE_PROVIDERS``, ``RAISE_HOOKS``), filled in their
``AppConfig.ready()``.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from certification.framework import rules, texts, tiers
from certification.framework.models import FrameworkVersion
from certification.framework.services import WorkflowError, require_staff, version_in_force
from certification.releases import checklist
from certification.releases.models import (
    Application,
    ApplicationTransition,
    Attestation,
    ChangeRequest,
    Documentation,
    DocumentationRevision,
    Release,
)
from certification.releases.services import editable_application, effective_tier
from portal import audit, deadlines
from portal.canonical import canonical_sha256
from portal.models import User
from portal.notifications import notify
from portal.organizations import is_org_admin, org_admins, staff_users

S = Application.Status

# --- revisions --------------------------------------------------------------------------------------


def revision_content(release: Release, tier: int, fv: FrameworkVersion) -> dict:
    """Everything that is frozen at submission, as canonical-JSON-ready data."""
    doc = Documentation.objects.filter(release=release).first()
    return {
        "framework_version": fv.version,
        "framework_digest": fv.digest,
        "tier": tier,
        "organization": release.organization.slug,
        "model": {"name": release.ai_model.name, "slug": release.ai_model.slug,
                  "hub_repo_id": release.ai_model.hub_repo_id},
        "release": {
            "version": release.version,
            **release.classification_inputs(),
            "declared_tier": release.declared_tier,
            "raised_tier": release.raised_tier,
        },
        "artifacts": [{"path": a.path, "size": a.size, "sha256": a.sha256} for a in release.artifacts.order_by("path")],
        "sections": (doc.sections if doc else {}) or {},
        "benchmark_results": [
            {
                "benchmark": r.benchmark.slug,
                "category": r.benchmark.category,
                "established": r.benchmark.established,
                "metric": r.metric,
                "value": r.value,
                "harness": r.harness,
                "settings": r.settings_text,
                "run_date": r.run_date.isoformat(),
                "run_by": r.run_by,
                "evidence_sha256": r.evidence.sha256 if r.evidence else None,
            }
            for r in release.benchmark_results.select_related("benchmark", "evidence").order_by("benchmark__slug", "pk")
        ],
        "evidence": [
            {"id": e.pk, "section": e.section, "name": e.display_name, "family": e.family, "size": e.size,
             "sha256": e.sha256}
            for e in release.evidence_files.order_by("pk")
        ],
    }


# --- applications -----------------------------------------------------------------------------------


def move_application(app: Application, to: str, actor: User | None, from_statuses, **extra) -> None:
    """Conditional UPDATE: the transition happens once even under concurrent requests."""
    now = timezone.now()
    updated = Application.objects.filter(pk=app.pk, status__in=list(from_statuses)).update(
        status=to, updated_at=now, **extra
    )
    if not updated:
        current = Application.objects.filter(pk=app.pk).values_list("status", flat=True).first()
        raise WorkflowError(
            _("This application is %(status)s now; the action no longer applies.")
            % {"status": dict(S.choices).get(current, current)}
        )
    ApplicationTransition.objects.create(application=app, from_status=app.status, to_status=to, at=now, actor=actor)
    app.status = to
    for key, value in extra.items():
        setattr(app, key, value)
    app.updated_at = now


def start_application(release: Release, actor: User, request=None) -> Application:
    existing = editable_application(release)
    if existing is not None:
        return existing
    fv = version_in_force()
    tier = effective_tier(release, fv.rules)
    try:
        with transaction.atomic():
            app = Application.objects.create(release=release, framework_version=fv, tier=tier, created_by=actor)
            audit.log("certification.application.created", actor=actor, obj=app, organization=release.organization,
                      request=request, payload={"framework_version": fv.version, "tier": tier})
    except IntegrityError:
        return editable_application(release)
    return app


def application_checklist(app: Application) -> list[checklist.ChecklistItem]:
    tier = effective_tier(app.release, app.framework_version.rules)
    return checklist.build(app.release, tier, app.framework_version.rules,
                           Documentation.objects.filter(release=app.release).first())


def submit_application(
    app: Application, actor: User, *, signer_name: str, signer_title: str, affirmed: list[int], request=None
) -> Application:
    """An organization admin files the attestation; the documentation is frozen."""
    release = app.release
    org = release.organization
    if not is_org_admin(actor, org):
        raise WorkflowError(_("Only an admin of %(org)s can file the attestation.") % {"org": org.name})
    if not app.is_editable:
        raise WorkflowError(_("This application has already been submitted."))
    rules = app.framework_version.rules
    tier = effective_tier(release, rules)
    errors: dict[str, list[str]] = {}
    if not signer_name.strip():
        errors["signer_name"] = [_("Enter your full name as the signer.")]
    if not signer_title.strip():
        errors["signer_title"] = [_("Enter your title or role.")]
    statements = tiers.attestation_statements_for_tier(rules, tier)
    missing = [s["number"] for s in statements if s["number"] not in set(affirmed)]
    if missing:
        errors["affirmed"] = [
            _("Affirm every statement; not yet affirmed: %(n)s.") % {"n": ", ".join(str(n) for n in missing)}
        ]
    # Only for the error messages: the reader's language.
    items = checklist.build(release, tier, texts.in_language(rules),
                            Documentation.objects.filter(release=release).first())
    incomplete = checklist.missing(items)
    if incomplete:
        errors["documentation"] = [f"{item.title}: {' '.join(item.problems)}" for item in incomplete]
    if errors:
        raise WorkflowError(_("The application cannot be submitted yet."), errors=errors)
    with transaction.atomic():
        # Lock the row: two concurrent submits give one revision and one transition.
        locked = Application.objects.select_for_update().get(pk=app.pk)
        if not locked.is_editable:
            raise WorkflowError(_("This application has already been submitted."))
        app.status = locked.status
        now = timezone.now()
        content = revision_content(release, tier, app.framework_version)
        number = (app.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
        revision = DocumentationRevision.objects.create(
            application=app, number=number, tier=tier, content=content, sha256=canonical_sha256(content),
            created_by=actor,
        )
        Attestation.objects.create(
            application=app, revision=revision, signer=actor, signer_name=signer_name.strip(),
            signer_title=signer_title.strip(),
            statements=[{"number": s["number"], "text": s["text"], "affirmed": True} for s in statements],
            revision_sha256=revision.sha256, signed_at=now,
        )
        was = app.status
        move_application(app, S.SUBMITTED, actor, [S.DRAFT, S.CHANGES_REQUESTED], submitted_at=now, tier=tier,
              first_submitted_at=app.first_submitted_at or now)
        if was == S.CHANGES_REQUESTED:
            ChangeRequest.objects.filter(application=app, resolved_at__isnull=True).update(resolved_at=now)
            deadlines.close_deadlines(app, "changes_requested")
        audit.log("certification.application.submitted", actor=actor, obj=app, organization=org, request=request,
                  payload={"revision": number, "sha256": revision.sha256, "tier": tier,
                           "resubmission": was == S.CHANGES_REQUESTED})
        notify(staff_users(), "application-submitted", {"application": app, "release": release},
               url=reverse("certification:application-detail", args=[app.pk]))
    return app


def start_screening(app: Application, actor: User, request=None) -> Application:
    """The screener becomes the owner."""
    require_staff(actor)
    with transaction.atomic():
        move_application(app, S.SCREENING, actor, [S.SUBMITTED], owner=actor)
        audit.log("certification.application.screening_started", actor=actor, obj=app,
                  organization=app.release.organization, request=request)
    return app


def hand_over(app: Application, actor: User, new_owner: User, request=None) -> Application:
    require_staff(actor)
    if not new_owner.is_alliance_staff:
        raise WorkflowError(_("The new owner must be Alliance staff."), field="owner")
    with transaction.atomic():
        Application.objects.filter(pk=app.pk).update(owner=new_owner, updated_at=timezone.now())
        audit.log("certification.application.handed_over", actor=actor, obj=app,
                  organization=app.release.organization, request=request,
                  payload={"from": app.owner.pseudonym if app.owner else None, "to": new_owner.pseudonym})
        app.owner = new_owner
        notify(new_owner, "application-handed-over", {"application": app},
               url=reverse("certification:application-detail", args=[app.pk]))
    return app




def _request_changes(app: Application, actor: User, comments: dict, request=None, from_statuses=None) -> None:
    revision = app.revisions.order_by("-number").first()
    move_application(app, S.CHANGES_REQUESTED, actor, from_statuses or [S.SCREENING])
    ChangeRequest.objects.create(application=app, revision=revision, requested_by=actor, comments=comments)
    length = rules.deadline_length(app.framework_version.rules, "changes_requested")
    deadlines.open_deadline(app, "changes_requested", timezone.now() + length)
    audit.log("certification.application.changes_requested", actor=actor, obj=app,
              organization=app.release.organization, request=request, payload={"sections": sorted(comments)})
    notify(org_admins(app.release.organization), "changes-requested",
           {"application": app, "comments": comments, "days": length.days},
           url=reverse("certification:application-detail", args=[app.pk]))


def request_changes(app: Application, actor: User, comments: dict[str, str], request=None) -> Application:
    require_staff(actor)
    comments = {k: v.strip() for k, v in comments.items() if v and v.strip()}
    if not comments:
        raise WorkflowError(_("Write a comment for at least one section."), field="comments")
    with transaction.atomic():
        _request_changes(app, actor, comments, request=request)
    return app


def accept_into_review(app: Application, actor: User, request=None) -> Application:
    require_staff(actor)
    with transaction.atomic():
        move_application(app, S.IN_REVIEW, actor, [S.SCREENING])
        audit.log("certification.application.accepted_into_review", actor=actor, obj=app,
                  organization=app.release.organization, request=request)
        for hook in REVIEW_STARTED_HOOKS:
            hook(app)
    return app


# Later work items (audits, community review) start their parts of the review here.
REVIEW_STARTED_HOOKS: list = []


# And add their gates: functions returning a list of open-gate explanations.
GATE_PROVIDERS: list = []


def open_gates(app: Application) -> list[str]:
    """Why the application cannot go to a decision yet (empty when every gate holds)."""
    reasons = []
    tier = app.tier or 1
    if tier <= 2 and app.review_completed_at is None:
        reasons.append(_("The staff review is not marked complete."))
    for provider in GATE_PROVIDERS:
        reasons.extend(provider(app))
    return reasons




def advance_if_ready(app: Application, actor: User | None = None) -> bool:
    """Move to decision_pending by itself once every gate holds."""
    if app.status != S.IN_REVIEW or open_gates(app):
        return False
    move_application(app, S.DECISION_PENDING, actor, [S.IN_REVIEW])
    length = rules.deadline_length(app.framework_version.rules, "staff_decision")
    deadlines.open_deadline(app, "staff_decision", timezone.now() + length)
    audit.log("certification.application.decision_pending", actor=actor, obj=app,
              organization=app.release.organization)
    return True


def complete_review(app: Application, actor: User, request=None) -> Application:
    """Tier 1/2 staff review, ended by the reviewer marking it complete."""
    require_staff(actor)
    if (app.tier or 1) > 2:
        raise WorkflowError(_("Tier 3 and 4 applications are reviewed by auditors and the community."))
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=app.pk)
        if locked.status != S.IN_REVIEW or locked.review_completed_at:
            raise WorkflowError(_("The review is not open."))
        now = timezone.now()
        Application.objects.filter(pk=app.pk).update(review_completed_at=now, review_completed_by=actor)
        app.review_completed_at, app.review_completed_by = now, actor
        audit.log("certification.application.review_completed", actor=actor, obj=app,
                  organization=app.release.organization, request=request)
        advance_if_ready(app, actor)
    return app


def withdraw(app: Application, actor: User, request=None) -> Application:
    if not is_org_admin(actor, app.release.organization):
        raise WorkflowError(_("Only an organization admin can withdraw an application."))
    with transaction.atomic():
        move_application(app, S.WITHDRAWN, actor,
              [S.DRAFT, S.SUBMITTED, S.SCREENING, S.CHANGES_REQUESTED, S.IN_REVIEW, S.DECISION_PENDING])
        deadlines.close_deadlines(app, state="cancelled")
        audit.log("certification.application.withdrawn", actor=actor, obj=app,
                  organization=app.release.organization, request=request)
        if app.owner:
            notify(app.owner, "application-withdrawn", {"application": app},
                   url=reverse("certification:application-detail", args=[app.pk]))
    return app


def lapse(app: Application) -> None:
    """Changes were not made within the deadline."""
    move_application(app, S.LAPSED, None, [S.CHANGES_REQUESTED])
    audit.log("certification.application.lapsed", obj=app, organization=app.release.organization)
    notify(org_admins(app.release.organization), "application-lapsed", {"application": app},
           url=reverse("certification:application-detail", args=[app.pk]))


def raise_tier(release: Release, actor: User, tier: int, reason: str, request=None) -> Release:
    """Staff raise a tier with a reason (DESIGN §2.1). Never below the computed tier.

    After submission the application returns to changes_requested for the
    sections the new tier adds."""
    if not reason.strip():
        raise WorkflowError(_("Give the reason for the raise."), field="reason")
    app = editable_application(release)
    rules = (app.framework_version if app else version_in_force()).rules
    current = effective_tier(release, rules)
    if tier <= current:
        raise WorkflowError(_("The new tier must be above the current tier (%(t)d).") % {"t": current}, field="tier")
    if tier > 4:
        raise WorkflowError(_("Tiers go from 1 to 4."), field="tier")
    with transaction.atomic():
        old_required = {r["id"] for r in tiers.requirements_for_tier(rules, current)}
        release.raised_tier = tier
        release.raise_reason = reason
        release.save(update_fields=["raised_tier", "raise_reason"])
        audit.log("certification.release.tier_raised", actor=actor, obj=release, organization=release.organization,
                  request=request, payload={"from": current, "to": tier, "reason": reason})
        if app is not None and app.status not in (S.DRAFT, S.CHANGES_REQUESTED):
            added = [r for r in tiers.requirements_for_tier(rules, tier) if r["id"] not in old_required]
            comments = {r["id"]: _("Required since the tier was raised to %(t)d: %(reason)s") % {"t": tier, "reason": reason}
                        for r in added if r.get("kind") != "process"}
            Application.objects.filter(pk=app.pk).update(tier=tier)
            app.tier = tier
            _request_changes(app, actor, comments, request=request, from_statuses=[app.status])
        if app is not None:
            for hook in RAISE_HOOKS:  # e.g. the community review window grows with the tier
                hook(app, actor, tier)
    return release


# Later work items react to a raise here: hook(application, actor, new_tier).
RAISE_HOOKS: list = []
