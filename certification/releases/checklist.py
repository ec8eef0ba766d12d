"""The live compliance checklist: each requirement of the release's tier, met or
missing, with why and where to fix it (DESIGN §2.2; GOV.UK task list)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.urls import reverse
from django.utils.translation import gettext as _

from certification.framework import tiers
from certification.framework.models import Benchmark
from certification.releases.models import BenchmarkResult, ContactConfirmation, Documentation, EvidenceFile, Release

NOT_STARTED = "not_started"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
PROCESS = "process"  # met by the review process, not by the organization's documentation


@dataclass
class ChecklistItem:
    id: str
    title: str
    description: str
    status: str
    problems: list[str] = field(default_factory=list)
    url: str = ""
    # Where the review process stands, for a requirement met by the process (e.g. "Report filed: pass").
    note: str = ""

    @property
    def met(self) -> bool:
        return self.status in (COMPLETED, PROCESS)


# Requirements met by the review process (``check == "process"``) tell where they stand through the
# layer that runs them (auditors: the third-party audit; review: the community window), registered in
# their AppConfig.ready(): ``provider(release) -> (COMPLETED or PROCESS, note) or None`` (None: not started).
PROCESS_STATUS_PROVIDERS: dict[str, Callable[[Release], tuple[str, str] | None]] = {}


def _process_item(release: Release, requirement: dict) -> ChecklistItem:
    provider = PROCESS_STATUS_PROVIDERS.get(requirement["id"])
    found = provider(release) if provider is not None and release.pk else None
    status, note = found if found else (PROCESS, "")
    return ChecklistItem(requirement["id"], requirement["title"], requirement["description"], status, note=note)


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _missing(data: dict, fields: dict[str, str]) -> list[str]:
    return [_("%(field)s is missing.") % {"field": label} for key, label in fields.items() if _blank(data.get(key))]


def _model_card(data, **_ctx) -> list[str]:
    return _missing(
        data,
        {
            "intended_uses": _("Intended uses"),
            "out_of_scope_uses": _("Out-of-scope uses"),
            "limitations": _("Known limitations"),
        },
    )


def _training_data(data, **_ctx) -> list[str]:
    problems = _missing(
        data,
        {
            "synthetic_share_pct": _("Synthetic data share"),
            "synthetic_basis": _("Basis of the synthetic share"),
            "filtering_steps": _("Filtering steps"),
        },
    )
    sources = [s for s in data.get("sources") or [] if not _blank(s.get("name"))]
    if not sources:
        problems.append(_("List at least one training data source."))
    for s in sources:
        for key, label in (("kind", _("kind")), ("license", _("license")), ("share_pct", _("share %"))):
            if _blank(s.get(key)):
                problems.append(_("Source %(name)s: %(field)s is missing.") % {"name": s["name"], "field": label})
    return problems


def benchmark_problems(results: list[BenchmarkResult], requirement: dict) -> list[str]:
    established = {r.benchmark_id: r.benchmark for r in results if r.benchmark.established}
    problems = []
    minimum = requirement.get("min_benchmarks", 3)
    if len(established) < minimum:
        problems.append(
            _("Report results of at least %(n)d distinct established benchmarks (%(have)d so far).")
            % {"n": minimum, "have": len(established)}
        )
    covered = {b.category for b in established.values()}
    labels = dict(Benchmark.Category.choices)
    for category in requirement.get("required_categories", []):
        if category not in covered:
            problems.append(
                _("No established benchmark covers %(category)s.") % {"category": labels.get(category, category)}
            )
    return problems


def _safety_benchmarks(data, *, results, requirement, **_ctx) -> list[str]:
    return benchmark_problems(results, requirement)


def _license(data, **_ctx) -> list[str]:
    problems = _missing(data, {"permitted_uses": _("Permitted uses"), "prohibited_uses": _("Prohibited uses")})
    if _blank(data.get("spdx_id")) and (_blank(data.get("custom_name")) or _blank(data.get("custom_url"))):
        problems.insert(0, _("Give an SPDX license id, or a custom license name and link."))
    return problems


def _vulnerability_contact(data, *, confirmed_emails, **_ctx) -> list[str]:
    problems = _missing(data, {"email": _("Contact email"), "disclosure_policy_url": _("Disclosure policy URL")})
    email = (data.get("email") or "").lower()
    if email and email not in confirmed_emails:
        problems.append(_("The contact address %(email)s is not confirmed yet: use the link sent to it.") % {"email": email})
    return problems


def _compute(data, **_ctx) -> list[str]:
    return _missing(
        data,
        {
            "training_flops": _("Training FLOPs"),
            "accelerator_type": _("Accelerator type"),
            "accelerator_hours": _("Accelerator hours"),
            "energy_kwh": _("Energy (kWh)"),
            "energy_boundary": _("Energy boundary"),
            "co2e_kg": _("CO2e (kg)"),
            "co2e_method": _("CO2e method"),
        },
    )


def _report(data, *, requirement, evidence_sections, **_ctx) -> list[str]:
    problems = _missing(data, {"summary": _("Summary")})
    if requirement["id"] not in evidence_sections:
        problems.append(_("Upload the report as an evidence file."))
    return problems


def _fields(data, *, requirement, **_ctx) -> list[str]:
    return _missing(data, {f["id"]: f["label"] for f in requirement["fields"]})


def _rollout_plan(data, *, requirement, **_ctx) -> list[str]:
    stages = [s for s in data.get("stages") or [] if not _blank(s.get("audience")) or not _blank(s.get("planned_date"))]
    problems = []
    minimum = requirement.get("min_stages", 2)
    complete = [s for s in stages if not _blank(s.get("audience")) and not _blank(s.get("planned_date"))]
    if len(complete) < minimum:
        problems.append(
            _("The rollout plan needs at least %(n)d stages, each with an audience and a planned date.") % {"n": minimum}
        )
    return problems


def _access_instructions(data, **_ctx) -> list[str]:
    return _missing(data, {"instructions": _("Access instructions")})


def _domain_risk(data, *, release, **_ctx) -> list[str]:
    assessments = data.get("assessments") or {}
    return [
        _("The risk assessment for %(domain)s is missing.") % {"domain": domain}
        for domain in release.sensitive_domains
        if _blank(assessments.get(domain))
    ]


# One check per kind of documentation requirement (``tiers.DOCUMENTATION_KINDS``); the
# requirement's entry in the framework data carries the check's parameters.
CHECKS = {
    "model_card": _model_card,
    "training_data": _training_data,
    "safety_benchmarks": _safety_benchmarks,
    "license": _license,
    "vulnerability_contact": _vulnerability_contact,
    "compute": _compute,
    "report": _report,
    "rollout_plan": _rollout_plan,
    "access_instructions": _access_instructions,
    "domain_risk_assessments": _domain_risk,
    "fields": _fields,
}
assert set(CHECKS) == set(tiers.DOCUMENTATION_KINDS)


def build(release: Release, tier: int, rules: dict, documentation: Documentation | None = None) -> list[ChecklistItem]:
    """The checklist of a release at a tier. Three queries: results, evidence, confirmations."""
    documentation = documentation or Documentation(release=release)
    results = list(BenchmarkResult.objects.filter(release=release).select_related("benchmark"))
    evidence_sections = set(EvidenceFile.objects.filter(release=release).values_list("section", flat=True))
    confirmed_emails = {
        e.lower()
        for e in ContactConfirmation.objects.filter(release=release, confirmed_at__isnull=False).values_list(
            "email", flat=True
        )
    }
    items = []
    for requirement in tiers.requirements_for_tier(rules, tier):
        rid = requirement["id"]
        # The raw entry carries the numbers (minimum benchmarks, stages...).
        requirement = {**next(r for r in rules["requirements"] if r["id"] == rid), **requirement}
        requirement["check"] = tiers.check_kind(requirement)
        if requirement["check"] == "process":
            items.append(_process_item(release, requirement))
            continue
        data = documentation.section(rid)
        problems = CHECKS[requirement["check"]](
            data,
            release=release,
            requirement=requirement,
            results=results,
            evidence_sections=evidence_sections,
            confirmed_emails=confirmed_emails,
        )
        has_data = bool(data) or (requirement["check"] == "safety_benchmarks" and bool(results))
        status = COMPLETED if not problems else (IN_PROGRESS if has_data else NOT_STARTED)
        url = reverse("certification:section-edit", args=[release.pk, rid]) if release.pk else ""
        items.append(ChecklistItem(rid, requirement["title"], requirement["description"], status, problems, url))
    return items


def missing(items: list[ChecklistItem]) -> list[ChecklistItem]:
    return [item for item in items if not item.met]
