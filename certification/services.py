"""Application workflow and release services (DESIGN §2.1, §4).

Every transition is one function here: it checks the current state, runs in a
transaction, moves the status with a conditional UPDATE (so two concurrent
requests give one transition), writes the audit entry and notifies.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import audit, deadlines
from portal.canonical import canonical_sha256
from portal.models import STAFF_GROUP, Membership, Organization, User
from portal.notifications import notify

from . import checklist, tiers
from .models import (
    AIModel,
    Application,
    ApplicationTransition,
    Artifact,
    Attestation,
    BenchmarkResult,
    Certificate,
    ChangeRequest,
    Decision,
    Documentation,
    DocumentationRevision,
    EvidenceFile,
    FrameworkVersion,
    Release,
)

S = Application.Status


class WorkflowError(Exception):
    """A refused transition; the message is for the user. ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None, errors: dict | None = None):
        super().__init__(message)
        self.field = field
        self.errors = errors or ({field: [message]} if field else {"non_field_errors": [message]})


# --- people ---------------------------------------------------------------------------------


def org_admins(org: Organization):
    return User.objects.filter(memberships__organization=org, memberships__role=Membership.Role.ADMIN, is_active=True)


def staff_users():
    return User.objects.filter(groups__name=STAFF_GROUP, is_active=True)


def is_org_admin(user: User, org: Organization) -> bool:
    return Membership.objects.filter(user=user, organization=org, role=Membership.Role.ADMIN).exists()


def is_org_member(user: User, org: Organization) -> bool:
    return Membership.objects.filter(user=user, organization=org).exists()


# --- framework versions ------------------------------------------------------------------------


def version_in_force(at=None) -> FrameworkVersion:
    version = FrameworkVersion.objects.in_force(at)
    if version is None:
        raise WorkflowError(_("No framework version is in force. Alliance staff must publish one."))
    return version


def draft_framework_version(actor: User, version: str, request=None) -> FrameworkVersion:
    """A new draft copied from the latest published version."""
    base = FrameworkVersion.objects.published().order_by("-effective_from").first()
    if FrameworkVersion.objects.filter(version=version).exists():
        raise WorkflowError(_("Version %(v)s already exists.") % {"v": version}, field="version")
    rules = dict(base.rules) if base else {}
    rules["version"] = version
    with transaction.atomic():
        fv = FrameworkVersion.objects.create(version=version, rules=rules)
        audit.log("certification.framework.drafted", actor=actor, obj=fv, request=request,
                  payload={"copied_from": base.version if base else None})
    return fv


def update_framework_rules(fv: FrameworkVersion, actor: User, rules: dict, request=None) -> FrameworkVersion:
    if fv.is_published:
        raise WorkflowError(_("A published version cannot change. Draft a new version."))
    if rules.get("version") != fv.version:
        raise WorkflowError(_("The rules must name version %(v)s.") % {"v": fv.version}, field="rules")
    validate_rules(rules)
    with transaction.atomic():
        fv.rules = rules
        fv.save(update_fields=["rules"])
        audit.log("certification.framework.edited", actor=actor, obj=fv, request=request)
    return fv


def publish_framework_version(fv: FrameworkVersion, actor: User, effective_from, request=None) -> FrameworkVersion:
    validate_rules(fv.rules)
    with transaction.atomic():
        updated = FrameworkVersion.objects.filter(pk=fv.pk, status=FrameworkVersion.Status.DRAFT).update(
            status=FrameworkVersion.Status.PUBLISHED,
            effective_from=effective_from,
            digest=canonical_sha256(fv.rules),
            published_at=timezone.now(),
            published_by=actor,
        )
        if not updated:
            raise WorkflowError(_("This version is already published."))
        fv.refresh_from_db()
        audit.log("certification.framework.published", actor=actor, obj=fv, request=request,
                  payload={"digest": fv.digest, "effective_from": effective_from.isoformat()})
    return fv


# --- models and releases ------------------------------------------------------------------------


def register_model(org: Organization, actor: User, request=None, **fields) -> AIModel:
    if AIModel.objects.filter(organization=org, slug=fields["slug"]).exists():
        raise WorkflowError(_("You already have a model with this short name."), field="slug")
    with transaction.atomic():
        model = AIModel.objects.create(organization=org, created_by=actor, **fields)
        audit.log("certification.model.registered", actor=actor, obj=model, organization=org, request=request)
    return model


def classify_release(release: Release, rules: dict) -> tiers.Classification:
    return tiers.classify(release.classification_inputs(), rules)


def effective_tier(release: Release, rules: dict) -> int:
    """Computed tier, or the higher tier declared by the organization or raised by staff."""
    computed = classify_release(release, rules).tier
    return max(computed, release.declared_tier or 0, release.raised_tier or 0)


def validate_release_facts(data: dict, rules: dict) -> tiers.Classification:
    try:
        return tiers.classify(
            {k: data.get(k) for k in ("parameter_count", "capabilities", "sensitive_domains",
                                      "emergent_capabilities", "emergent_description")},
            rules,
        )
    except tiers.ClassificationError as exc:
        raise WorkflowError(_("Check the release facts."), errors=exc.errors) from exc


def _check_declared(declared: int | None, computed: int) -> None:
    if declared is not None and declared < computed:
        raise WorkflowError(
            _("The declared tier cannot be below the computed tier (%(t)d).") % {"t": computed}, field="declared_tier"
        )


def create_release(model: AIModel, actor: User, data: dict, artifacts: list[dict] | None = None, request=None) -> Release:
    rules = version_in_force().rules
    classification = validate_release_facts(data, rules)
    _check_declared(data.get("declared_tier"), classification.tier)
    if Release.objects.filter(ai_model=model, version=data["version"]).exists():
        raise WorkflowError(_("This model already has a release with this version."), field="version")
    with transaction.atomic():
        release = Release.objects.create(ai_model=model, created_by=actor, **data)
        Documentation.objects.create(release=release, updated_by=actor)
        if artifacts:
            replace_artifacts(release, actor, artifacts, request=request, log=False)
        audit.log("certification.release.created", actor=actor, obj=release, organization=model.organization,
                  request=request, payload={"computed_tier": classification.tier})
    return release


def editable_application(release: Release) -> Application | None:
    return release.applications.exclude(status__in=Application.CLOSED_STATES).first()


def rules_for_release(release: Release) -> dict:
    """The rules of the release's open application, or of the version in force."""
    app = editable_application(release)
    return (app.framework_version if app else version_in_force()).rules


def ensure_release_editable(release: Release) -> None:
    app = editable_application(release)
    if app is not None and not app.is_editable:
        raise WorkflowError(
            _("The release is under review (%(status)s): it cannot change now.") % {"status": app.get_status_display()}
        )
    if release.certificates.exists() and app is None:
        raise WorkflowError(_("A certified release cannot change. Register a new release instead."))


def update_release(release: Release, actor: User, data: dict, request=None) -> Release:
    ensure_release_editable(release)
    rules = version_in_force().rules
    merged = {**release.classification_inputs(), **data}
    classification = validate_release_facts(merged, rules)
    _check_declared(data.get("declared_tier", release.declared_tier), max(classification.tier, release.raised_tier or 0))
    with transaction.atomic():
        for key, value in data.items():
            setattr(release, key, value)
        release.save(update_fields=list(data))
        audit.log("certification.release.updated", actor=actor, obj=release, organization=release.organization,
                  request=request, payload={"fields": sorted(data), "computed_tier": classification.tier})
    return release


def replace_artifacts(release: Release, actor: User, artifacts: list[dict], request=None, log: bool = True) -> None:
    with transaction.atomic():
        release.artifacts.all().delete()
        Artifact.objects.bulk_create(
            [Artifact(release=release, path=a["path"], size=a["size"], sha256=a["sha256"].lower()) for a in artifacts]
        )
        if log:
            audit.log("certification.release.artifacts_replaced", actor=actor, obj=release,
                      organization=release.organization, request=request, payload={"count": len(artifacts)})


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


# --- documentation ---------------------------------------------------------------------------------


def update_section(release: Release, actor: User, section_id: str, data: dict, request=None) -> Documentation:
    if section_id not in checklist.SECTION_IDS:
        raise WorkflowError(_("Unknown section."), field="section")
    ensure_release_editable(release)
    with transaction.atomic():
        doc, _created = Documentation.objects.select_for_update().get_or_create(release=release)
        sections = dict(doc.sections or {})
        sections[section_id] = data
        doc.sections = sections
        doc.updated_at = timezone.now()
        doc.updated_by = actor
        doc.save(update_fields=["sections", "updated_at", "updated_by"])
        audit.log("certification.documentation.section_saved", actor=actor, obj=release,
                  organization=release.organization, request=request, payload={"section": section_id})
    return doc


def add_benchmark_result(release: Release, actor: User, request=None, **fields) -> BenchmarkResult:
    ensure_release_editable(release)
    with transaction.atomic():
        result = BenchmarkResult.objects.create(release=release, **fields)
        audit.log("certification.documentation.benchmark_added", actor=actor, obj=release,
                  organization=release.organization, request=request,
                  payload={"benchmark": result.benchmark.slug, "value": result.value})
    return result


def propose_benchmark(org: Organization, actor: User, request=None, **fields):
    """A custom benchmark: usable at once, counted toward the minimum once staff mark it established."""
    from django.utils.text import slugify

    from .models import Benchmark

    base = f"custom-{org.slug}-{slugify(fields['name'])}"[:55]
    slug, n = base, 1
    while Benchmark.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    with transaction.atomic():
        benchmark = Benchmark.objects.create(slug=slug, proposed_by=org, established=False, **fields)
        audit.log("certification.benchmark.proposed", actor=actor, obj=benchmark, organization=org, request=request)
        notify(staff_users(), "benchmark-proposed", {"benchmark": benchmark, "organization": org},
               url=reverse("certification:benchmark-list"))
    return benchmark


def establish_benchmark(benchmark, actor: User, request=None):
    _require_staff(actor)
    from .models import Benchmark

    with transaction.atomic():
        if not Benchmark.objects.filter(pk=benchmark.pk, established=False).update(established=True):
            raise WorkflowError(_("This benchmark is already established."))
        audit.log("certification.benchmark.established", actor=actor, obj=benchmark,
                  organization=benchmark.proposed_by, request=request)
    return benchmark


def delete_benchmark_result(result: BenchmarkResult, actor: User, request=None) -> None:
    ensure_release_editable(result.release)
    with transaction.atomic():
        audit.log("certification.documentation.benchmark_removed", actor=actor, obj=result.release,
                  organization=result.release.organization, request=request,
                  payload={"benchmark": result.benchmark.slug})
        result.delete()


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


def _move(app: Application, to: str, actor: User | None, from_statuses, **extra) -> None:
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
    items = checklist.build(release, tier, rules, Documentation.objects.filter(release=release).first())
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
        _move(app, S.SUBMITTED, actor, [S.DRAFT, S.CHANGES_REQUESTED], submitted_at=now, tier=tier,
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


def _require_staff(actor: User) -> None:
    if not actor.is_alliance_staff:
        raise WorkflowError(_("Only Alliance staff can do this."))


def start_screening(app: Application, actor: User, request=None) -> Application:
    """The screener becomes the owner."""
    _require_staff(actor)
    with transaction.atomic():
        _move(app, S.SCREENING, actor, [S.SUBMITTED], owner=actor)
        audit.log("certification.application.screening_started", actor=actor, obj=app,
                  organization=app.release.organization, request=request)
    return app


def hand_over(app: Application, actor: User, new_owner: User, request=None) -> Application:
    _require_staff(actor)
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


CHANGES_REQUESTED_DAYS = 60


def deadline_days(rules: dict, kind: str, default: int, tier: int | None = None) -> int:
    """A deadline's length from the framework version (DESIGN §2.4)."""
    for entry in rules.get("deadlines", []):
        if entry.get("kind") != kind:
            continue
        if tier is not None:
            for per_tier in entry.get("length_days_by_tier", []):
                if per_tier["tier"] == tier:
                    return per_tier["days"]
        return entry.get("length_days", default)
    return default


def validate_rules(rules: dict) -> None:
    """A version's rules must at least classify and list requirements for every tier."""
    try:
        for tier in (1, 2, 3, 4):
            tiers.requirements_for_tier(rules, tier)
            tiers.attestation_statements_for_tier(rules, tier)
        tiers.classify({"parameter_count": 1, "capabilities": [], "sensitive_domains": [],
                        "emergent_capabilities": False, "emergent_description": ""}, rules)
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkflowError(_("The rules are not valid: %(error)s") % {"error": exc}, field="rules") from exc


def _request_changes(app: Application, actor: User, comments: dict, request=None, from_statuses=None) -> None:
    revision = app.revisions.order_by("-number").first()
    _move(app, S.CHANGES_REQUESTED, actor, from_statuses or [S.SCREENING])
    ChangeRequest.objects.create(application=app, revision=revision, requested_by=actor, comments=comments)
    days = deadline_days(app.framework_version.rules, "changes_requested", CHANGES_REQUESTED_DAYS)
    deadlines.open_deadline(app, "changes_requested", timezone.now() + timedelta(days=days))
    audit.log("certification.application.changes_requested", actor=actor, obj=app,
              organization=app.release.organization, request=request, payload={"sections": sorted(comments)})
    notify(org_admins(app.release.organization), "changes-requested",
           {"application": app, "comments": comments, "days": days},
           url=reverse("certification:application-detail", args=[app.pk]))


def request_changes(app: Application, actor: User, comments: dict[str, str], request=None) -> Application:
    _require_staff(actor)
    comments = {k: v.strip() for k, v in comments.items() if v and v.strip()}
    if not comments:
        raise WorkflowError(_("Write a comment for at least one section."), field="comments")
    with transaction.atomic():
        _request_changes(app, actor, comments, request=request)
    return app


def accept_into_review(app: Application, actor: User, request=None) -> Application:
    _require_staff(actor)
    with transaction.atomic():
        _move(app, S.IN_REVIEW, actor, [S.SCREENING])
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


STAFF_DECISION_DAYS = 10


def advance_if_ready(app: Application, actor: User | None = None) -> bool:
    """Move to decision_pending by itself once every gate holds."""
    if app.status != S.IN_REVIEW or open_gates(app):
        return False
    _move(app, S.DECISION_PENDING, actor, [S.IN_REVIEW])
    days = deadline_days(app.framework_version.rules, "staff_decision", STAFF_DECISION_DAYS)
    deadlines.open_deadline(app, "staff_decision", timezone.now() + timedelta(days=days))
    audit.log("certification.application.decision_pending", actor=actor, obj=app,
              organization=app.release.organization)
    return True


def complete_review(app: Application, actor: User, request=None) -> Application:
    """Tier 1/2 staff review, ended by the reviewer marking it complete."""
    _require_staff(actor)
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


def _certificate_number(now) -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return f"RRC-{now.year}-" + "".join(secrets.choice(alphabet) for _ in range(8))


def approve(app: Application, actor: User, request=None) -> Application:
    """Approve; certify once the tier's number of distinct staff approvals is reached."""
    _require_staff(actor)
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
    _move(app, S.CERTIFIED, actor, [S.DECISION_PENDING], decided_at=now)
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
    _require_staff(actor)
    if not reasons.strip():
        raise WorkflowError(_("Give the reasons for the rejection."), field="reasons")
    with transaction.atomic():
        _move(app, S.REJECTED, actor, [S.DECISION_PENDING], decided_at=timezone.now())
        Decision.objects.create(application=app, outcome=Decision.Outcome.REJECT, decided_by=actor, reasons=reasons)
        deadlines.close_deadlines(app, "staff_decision")
        audit.log("certification.application.rejected", actor=actor, obj=app,
                  organization=app.release.organization, request=request)
        notify(org_admins(app.release.organization), "rejected", {"application": app, "reasons": reasons},
               url=reverse("certification:application-detail", args=[app.pk]))
    return app


def withdraw(app: Application, actor: User, request=None) -> Application:
    if not is_org_admin(actor, app.release.organization):
        raise WorkflowError(_("Only an organization admin can withdraw an application."))
    with transaction.atomic():
        _move(app, S.WITHDRAWN, actor,
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
    _move(app, S.LAPSED, None, [S.CHANGES_REQUESTED])
    audit.log("certification.application.lapsed", obj=app, organization=app.release.organization)
    notify(org_admins(app.release.organization), "application-lapsed", {"application": app},
           url=reverse("certification:application-detail", args=[app.pk]))


def staff_group() -> Group:
    return Group.objects.get_or_create(name=STAFF_GROUP)[0]


__all__ = ["WorkflowError", "EvidenceFile"]
