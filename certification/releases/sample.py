"""Complete, plausible documentation for a release: used by the demo story and
by tests that need a release ready to submit."""

from __future__ import annotations

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from certification.framework.models import Benchmark
from certification.releases import evidence, services
from certification.releases.models import ContactConfirmation, Release
from portal.models import hash_secret

SECTIONS = {
    "model_card": {
        "intended_uses": "General-purpose assistant for drafting and summarising text in English.",
        "out_of_scope_uses": "Medical, legal or financial advice; decisions about people.",
        "limitations": "May produce plausible but wrong statements; weaker outside English.",
    },
    "training_data": {
        "sources": [
            {"name": "Filtered web crawl", "kind": "web crawl", "license": "various", "share_pct": "80"},
            {"name": "Synthetic instructions", "kind": "synthetic", "license": "CC-BY-4.0", "share_pct": "20"},
        ],
        "synthetic_share_pct": "20",
        "synthetic_basis": "tokens",
        "filtering_steps": "Deduplication, PII removal, toxicity filter.",
    },
    "license": {
        "spdx_id": "Apache-2.0", "custom_name": "", "custom_url": "",
        "permitted_uses": "Research and commercial use.",
        "prohibited_uses": "Uses prohibited by the acceptable use policy.",
    },
    "compute": {
        "training_flops": "3.2e22", "accelerator_type": "H100", "accelerator_hours": "12000",
        "energy_kwh": "9000", "energy_boundary": "accelerators and hosts", "co2e_kg": "3100",
        "co2e_method": "location-based grid factor", "energy_is_estimate": True, "co2e_is_estimate": True,
    },
    "red_teaming_report": {"summary": "Internal red team, 2 weeks, 1,200 prompts across 8 harm areas."},
    "bias_report": {"summary": "BBQ and CrowS-Pairs evaluations with subgroup analysis."},
    "rollout_plan": {"stages": [
        {"audience": "Trusted testers", "planned_date": "2026-01-15"},
        {"audience": "General availability", "planned_date": "2026-04-01"},
    ]},
    "access_instructions": {"instructions": "Request an API key at https://eval.example/access; quota 10k calls."},
}

RESULTS = [
    ("realtoxicityprompts", "expected maximum toxicity", "0.21"),
    ("bbq", "bias score (ambiguous contexts)", "0.04"),
    ("truthfulqa", "MC2 accuracy", "0.52"),
]


def fill_documentation(release: Release, actor, contact: str | None = None) -> None:
    """Write every section the release's tier needs, with evidence and a confirmed contact."""
    for section, data in SECTIONS.items():
        services.update_section(release, actor, section, data)
    contact = contact or f"security@{release.organization.slug}.example"
    services.update_section(release, actor, "vulnerability_contact",
                            {"email": contact, "disclosure_policy_url": "https://example.org/security"})
    ContactConfirmation.objects.get_or_create(
        release=release, email=contact,
        defaults={"token_hash": hash_secret(f"sample-{release.pk}-{contact}"), "confirmed_at": timezone.now()},
    )
    if release.sensitive_domains:
        services.update_section(release, actor, "domain_risk_assessments", {
            "assessments": {d: f"Assessment of {d} uplift with domain experts; mitigations listed." for d in
                            release.sensitive_domains}
        })
    for slug, metric, value in RESULTS:
        if not release.benchmark_results.filter(benchmark__slug=slug).exists():
            services.add_benchmark_result(release, actor, benchmark=Benchmark.objects.get(slug=slug), metric=metric,
                                          value=value, harness="lm-eval-harness 0.4", run_date=dt.date(2025, 9, 1))
    for section in ("red_teaming_report", "bias_report"):
        if not release.evidence_files.filter(section=section).exists():
            upload = SimpleUploadedFile(f"{section}.md", f"# {section}\n\nFindings and methods.\n".encode())
            evidence.store(release, upload, actor, section=section)
