"""The live compliance checklist per tier (DESIGN §2.2): what each tier needs, the
">= 3 distinct established benchmarks covering toxicity, bias and factual accuracy"
rule, and the vulnerability contact confirmed by a link."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from certification.framework import services as framework_services
from certification.framework.models import Benchmark
from certification.releases import applications, checklist, evidence, sample
from certification.releases import services as release_services
from certification.releases.models import ContactConfirmation, Documentation, Release
from portal.models import OutboxEmail
from tests.certification.factories import make_release

TIER1_IDS = ["model_card", "training_data", "safety_benchmarks", "license", "vulnerability_contact", "compute"]
TIER2_IDS = TIER1_IDS + ["red_teaming_report", "bias_report"]
TIER3_IDS = TIER2_IDS + ["rollout_plan", "access_instructions", "third_party_audit", "community_review"]


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def items_of(release: Release) -> dict[str, checklist.ChecklistItem]:
    rules = release_services.rules_for_release(release)
    tier = release_services.effective_tier(release, rules)
    doc = Documentation.objects.get(release=release)
    return {item.id: item for item in checklist.build(release, tier, rules, doc)}


def unmet(release: Release) -> set[str]:
    return {rid for rid, item in items_of(release).items() if not item.met}


def fill_base(release: Release, user, *, skip: tuple[str, ...] = ()) -> None:
    """The Tier 1 documentation (sections, confirmed contact, three benchmarks), minus ``skip``."""
    for section in ("model_card", "training_data", "license", "compute"):
        if section not in skip:
            release_services.update_section(release, user, section, sample.SECTIONS[section])
    if "vulnerability_contact" not in skip:
        release_services.update_section(release, user, "vulnerability_contact",
                                {"email": "security@acme.example", "disclosure_policy_url": "https://acme.example/sec"})
        ContactConfirmation.objects.create(release=release, email="security@acme.example", token_hash="x" * 64,
                                           confirmed_at=dt.datetime(2025, 9, 1, tzinfo=dt.UTC))
    if "safety_benchmarks" not in skip:
        for slug in ("realtoxicityprompts", "bbq", "truthfulqa"):
            add_result(release, user, slug)


def add_result(release, user, slug: str, value: str = "0.1"):
    return release_services.add_benchmark_result(release, user, benchmark=Benchmark.objects.get(slug=slug),
                                         metric="headline", value=value, run_date=dt.date(2025, 9, 1))


def upload(release, user, section: str):
    return evidence.store(release, ContentFile(b"# Report\n", name=f"{section or 'general'}.md"), user, section=section)


# --- per tier ------------------------------------------------------------------------------------


def test_tier1_needs_no_red_teaming_and_can_be_submitted(framework, org, org_admin):
    release = make_release(org, org_admin, fill=False)
    fill_base(release, org_admin)
    items = items_of(release)
    assert list(items) == TIER1_IDS
    assert all(item.met for item in items.values()), {k: i.problems for k, i in items.items()}
    app = applications.start_application(release, org_admin)
    applications.submit_application(app, org_admin, signer_name="Ada", signer_title="CTO", affirmed=[1, 2, 3, 6])
    assert app.status == "submitted"


@pytest.mark.parametrize("section", TIER1_IDS)
def test_tier1_each_section_is_required(framework, org, org_admin, section):
    release = make_release(org, org_admin, fill=False)
    fill_base(release, org_admin, skip=(section,))
    assert unmet(release) == {section}
    app = applications.start_application(release, org_admin)
    with pytest.raises(framework_services.WorkflowError) as err:
        applications.submit_application(app, org_admin, signer_name="Ada", signer_title="CTO", affirmed=[1, 2, 3, 6])
    assert "documentation" in err.value.errors


def test_tier2_needs_red_teaming_and_bias_reports_with_evidence(framework, org, org_admin):
    release = make_release(org, org_admin, parameter_count=5_000_000_000, fill=False)
    fill_base(release, org_admin)
    assert list(items_of(release)) == TIER2_IDS
    assert unmet(release) == {"red_teaming_report", "bias_report"}

    release_services.update_section(release, org_admin, "red_teaming_report", {"summary": "Two weeks, 8 harm areas."})
    release_services.update_section(release, org_admin, "bias_report", {"summary": "BBQ subgroup analysis."})
    items = items_of(release)
    assert items["red_teaming_report"].problems == ["Upload the report as an evidence file."]
    assert items["red_teaming_report"].status == checklist.IN_PROGRESS

    # Evidence filed under another section (or none) does not count for the report.
    upload(release, org_admin, "compute")
    upload(release, org_admin, "")
    assert unmet(release) == {"red_teaming_report", "bias_report"}

    upload(release, org_admin, "red_teaming_report")
    assert unmet(release) == {"bias_report"}
    upload(release, org_admin, "bias_report")
    assert unmet(release) == set()


def test_tier2_report_needs_a_summary_even_with_evidence(framework, org, org_admin):
    release = make_release(org, org_admin, parameter_count=5_000_000_000, fill=False)
    fill_base(release, org_admin)
    for section in ("red_teaming_report", "bias_report"):
        upload(release, org_admin, section)
    release_services.update_section(release, org_admin, "bias_report", {"summary": "BBQ subgroup analysis."})
    release_services.update_section(release, org_admin, "red_teaming_report", {"summary": "   "})
    assert unmet(release) == {"red_teaming_report"}


def fill_tier2(release, user):
    fill_base(release, user)
    for section in ("red_teaming_report", "bias_report"):
        release_services.update_section(release, user, section, sample.SECTIONS[section])
        upload(release, user, section)


def test_tier3_needs_two_complete_rollout_stages_and_access_instructions(framework, org, org_admin):
    release = make_release(org, org_admin, capabilities=["code_generation"], fill=False)
    fill_tier2(release, org_admin)
    items = items_of(release)
    assert list(items) == TIER3_IDS
    # The review process provides these, not the documentation.
    assert items["third_party_audit"].status == items["community_review"].status == checklist.PROCESS
    assert unmet(release) == {"rollout_plan", "access_instructions"}

    release_services.update_section(release, org_admin, "rollout_plan", {"stages": [
        {"audience": "Trusted testers", "planned_date": "2026-01-15"},
        {"audience": "Everyone", "planned_date": ""},
    ]})
    assert "rollout_plan" in unmet(release)
    release_services.update_section(release, org_admin, "rollout_plan", {"stages": [
        {"audience": "Trusted testers", "planned_date": "2026-01-15"},
        {"audience": "Everyone", "planned_date": "2026-04-01"},
    ]})
    assert unmet(release) == {"access_instructions"}

    release_services.update_section(release, org_admin, "access_instructions", {"instructions": ""})
    assert unmet(release) == {"access_instructions"}
    release_services.update_section(release, org_admin, "access_instructions", sample.SECTIONS["access_instructions"])
    assert unmet(release) == set()


def test_tier3_cannot_be_submitted_without_a_rollout_plan(framework, org, org_admin):
    release = make_release(org, org_admin, parameter_count=80_000_000_000, fill=False)
    fill_tier2(release, org_admin)
    release_services.update_section(release, org_admin, "access_instructions", sample.SECTIONS["access_instructions"])
    app = applications.start_application(release, org_admin)
    with pytest.raises(framework_services.WorkflowError) as err:
        applications.submit_application(app, org_admin, signer_name="Ada", signer_title="CTO",
                                    affirmed=[1, 2, 3, 4, 5, 6])
    assert len(err.value.errors["documentation"]) == 1
    assert "rollout" in err.value.errors["documentation"][0].lower()


def test_tier4_needs_one_risk_assessment_per_flagged_domain(framework, org, org_admin):
    release = make_release(org, org_admin, sensitive_domains=["biology", "cybersecurity"], fill=False)
    fill_tier2(release, org_admin)
    for section in ("rollout_plan", "access_instructions"):
        release_services.update_section(release, org_admin, section, sample.SECTIONS[section])
    assert "domain_risk_assessments" in items_of(release)
    assert unmet(release) == {"domain_risk_assessments"}

    release_services.update_section(release, org_admin, "domain_risk_assessments",
                            {"assessments": {"biology": "Uplift study with domain experts."}})
    item = items_of(release)["domain_risk_assessments"]
    assert not item.met
    assert item.problems == ["The risk assessment for cybersecurity is missing."]

    release_services.update_section(release, org_admin, "domain_risk_assessments", {"assessments": {
        "biology": "Uplift study with domain experts.", "cybersecurity": "Exploit-writing evaluation."}})
    assert unmet(release) == set()


def test_tier4_by_emergent_capabilities_needs_no_domain_assessment(framework, org, org_admin):
    release = make_release(org, org_admin, emergent_capabilities=True, emergent_description="Tool use", fill=False)
    fill_tier2(release, org_admin)
    for section in ("rollout_plan", "access_instructions"):
        release_services.update_section(release, org_admin, section, sample.SECTIONS[section])
    assert release_services.effective_tier(release, release_services.rules_for_release(release)) == 4
    assert items_of(release)["domain_risk_assessments"].met


# --- benchmarks -------------------------------------------------------------------------------------


@pytest.fixture
def bench_release(framework, org, org_admin):
    release = make_release(org, org_admin, fill=False)
    fill_base(release, org_admin, skip=("safety_benchmarks",))
    return release


def benchmark_problems(release) -> list[str]:
    return items_of(release)["safety_benchmarks"].problems


def test_three_established_benchmarks_covering_the_categories_pass(bench_release, org_admin):
    for slug in ("toxigen", "crows_pairs", "truthfulqa"):
        add_result(bench_release, org_admin, slug)
    assert benchmark_problems(bench_release) == []


def test_two_results_of_the_same_benchmark_count_once(bench_release, org_admin):
    add_result(bench_release, org_admin, "realtoxicityprompts", "0.2")
    add_result(bench_release, org_admin, "realtoxicityprompts", "0.3")
    add_result(bench_release, org_admin, "bbq")
    problems = benchmark_problems(bench_release)
    assert any("(2 so far)" in p for p in problems), problems
    add_result(bench_release, org_admin, "truthfulqa")
    assert benchmark_problems(bench_release) == []


def test_custom_benchmark_counts_only_once_established(bench_release, org, org_admin):
    custom = Benchmark.objects.create(slug="acme-facts", name="Acme facts", category="factual_accuracy",
                                      headline_metric="accuracy", better_when="higher", proposed_by=org)
    add_result(bench_release, org_admin, "realtoxicityprompts")
    add_result(bench_release, org_admin, "bbq")
    add_result(bench_release, org_admin, "acme-facts")
    problems = benchmark_problems(bench_release)
    assert any("(2 so far)" in p for p in problems) and any("Factual accuracy" in p for p in problems), problems
    custom.established = True
    custom.save(update_fields=["established"])
    assert benchmark_problems(bench_release) == []


def test_three_benchmarks_without_factual_accuracy_fail(bench_release, org_admin):
    for slug in ("realtoxicityprompts", "toxigen", "bbq"):
        add_result(bench_release, org_admin, slug)
    assert benchmark_problems(bench_release) == ["No established benchmark covers Factual accuracy."]


def test_other_categories_do_not_replace_the_required_ones(bench_release, org_admin):
    for slug in ("harmbench", "xstest", "ailuminate", "truthfulqa"):
        add_result(bench_release, org_admin, slug)
    problems = benchmark_problems(bench_release)
    assert problems == ["No established benchmark covers Toxicity.", "No established benchmark covers Bias."]


def test_release_page_links_each_missing_requirement_to_its_section(client, bench_release, org_admin):
    client.force_login(org_admin)
    page = client.get(reverse("certification:release-detail", args=[bench_release.pk])).content.decode()
    assert reverse("certification:section-edit", args=[bench_release.pk, "safety_benchmarks"]) in page


# --- vulnerability contact ------------------------------------------------------------------------


def confirmation_link(email: str) -> str:
    body = OutboxEmail.objects.filter(to=email).latest("pk").body_text
    return re.search(r"https?://\S+?(/contact/confirm/[^/\s]+/)", body).group(1)


def save_contact(client, release, email):
    return client.post(reverse("certification:section-edit", args=[release.pk, "vulnerability_contact"]),
                       {"s-email": email, "s-disclosure_policy_url": "https://acme.example/security"})


def test_contact_email_is_confirmed_by_the_link(client, framework, org, org_admin):
    release = make_release(org, org_admin, fill=False)
    client.force_login(org_admin)
    assert save_contact(client, release, "Security@Acme.example").status_code == 302
    item = items_of(release)["vulnerability_contact"]
    assert not item.met and "not confirmed" in item.problems[0]

    assert ContactConfirmation.objects.get(release=release).email == "security@acme.example"
    path = confirmation_link("security@acme.example")
    client.logout()  # the link works without an account
    shown = client.get(path)
    assert shown.status_code == 200 and b"Confirm this address" in shown.content
    assert not items_of(release)["vulnerability_contact"].met  # GET only shows

    done = client.post(path)
    assert done.status_code == 200 and b"is confirmed" in done.content
    assert items_of(release)["vulnerability_contact"].met


def test_changing_the_contact_needs_a_new_confirmation(client, framework, org, org_admin):
    release = make_release(org, org_admin, fill=False)
    client.force_login(org_admin)
    save_contact(client, release, "a@acme.example")
    client.post(confirmation_link("a@acme.example"))
    assert items_of(release)["vulnerability_contact"].met
    save_contact(client, release, "b@acme.example")
    assert not items_of(release)["vulnerability_contact"].met
    # The old address's link does not confirm the new one.
    client.post(confirmation_link("a@acme.example"))
    assert not items_of(release)["vulnerability_contact"].met
    client.post(confirmation_link("b@acme.example"))
    assert items_of(release)["vulnerability_contact"].met


@pytest.mark.parametrize("method", ["get", "post"])
def test_bad_confirmation_token_is_404(client, framework, org, org_admin, method):
    release = make_release(org, org_admin, fill=False)
    client.force_login(org_admin)
    save_contact(client, release, "a@acme.example")
    response = getattr(client, method)(reverse("certification:contact-confirm", args=["not-a-real-token"]))
    assert response.status_code == 404
    assert not ContactConfirmation.objects.filter(confirmed_at__isnull=False).exists()
