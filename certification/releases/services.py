"""Models, releases and their documentation (DESIGN §2.1, §2.2): registering a model and a
release (its tier computed from its facts), editing them while no application is under review,
the artifact list, documentation sections and benchmark results, custom benchmarks.

Every change is one function here: it checks the state, runs in a transaction, writes the
audit entry. The application workflow is in ``certification.releases.applications``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from certification.framework import tiers
from certification.framework.labels import localized_errors
from certification.framework.services import WorkflowError, require_staff, version_in_force
from certification.releases.models import AIModel, Application, Artifact, BenchmarkResult, Documentation, Release
from portal import audit
from portal.models import Organization, User
from portal.notifications import notify
from portal.organizations import staff_users
from portal.validators import web_url

S = Application.Status


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


def validate_release_facts(data: dict, rules: dict) -> tuple[dict, tiers.Classification]:
    """The facts of ``data`` (``tiers.FIELDS``) checked as ``POST /api/v1/classify/`` checks
    them, values as sent (the API passes them unconverted: "1000" is not a parameter count),
    and cleaned; with their classification. WorkflowError keyed by field otherwise."""
    try:
        cleaned = tiers.validate_inputs({k: data[k] for k in tiers.FIELDS if k in data}, rules)
        return cleaned, tiers.classify(cleaned, rules)
    except tiers.ClassificationError as exc:
        raise WorkflowError(_("Check the release facts."), errors=localized_errors(exc.errors)) from exc


def _check_declared(declared: int | None, computed: int) -> None:
    if declared is not None and declared < computed:
        raise WorkflowError(
            _("The declared tier cannot be below the computed tier (%(t)d).") % {"t": computed}, field="declared_tier"
        )


def create_release(model: AIModel, actor: User, data: dict, artifacts: list[dict] | None = None, request=None) -> Release:
    rules = version_in_force().rules
    cleaned, classification = validate_release_facts(data, rules)
    data = {**data, **cleaned}
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
    cleaned, classification = validate_release_facts(merged, rules)
    data = {k: cleaned.get(k, v) for k, v in data.items()}
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


# --- documentation ---------------------------------------------------------------------------------


def check_section_links(data: dict) -> None:
    """A section's links (its keys ending in ``_url``) are http or https: pages show them as links."""
    errors = {}
    for key, value in data.items():
        if not key.endswith("_url") or value in (None, ""):
            continue
        try:
            if not isinstance(value, str):
                raise ValidationError(_("Enter a web address starting with http:// or https://."))
            web_url(value)
        except ValidationError as exc:
            errors[key] = exc.messages
    if errors:
        raise WorkflowError(_("Check the links."), errors=errors)


def update_section(release: Release, actor: User, section_id: str, data: dict, request=None) -> Documentation:
    if section_id not in tiers.section_ids(rules_for_release(release)):
        raise WorkflowError(_("Unknown section."), field="section")
    check_section_links(data)
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

    from certification.framework.models import Benchmark

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
    require_staff(actor)
    from certification.framework.models import Benchmark

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
