"""One human rendering of a submission (certification/releases/presentation.py): the presenter's
labels, units, omissions, tables and field-by-field differences, and every page that shows a
submission (staff revision page, auditor's submission, evaluator's materials, check your answers,
certificate) with human labels rather than JSON keys; the JSON download and who may have it."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from certification.framework.data import FRAMEWORK_2025_1
from certification.releases import presentation
from certification.releases.models import DocumentationRevision
from certification.review import services as review_services
from tests import factories as f
from tests.auditors.helpers import engage, in_review_application, make_accredited_auditor
from tests.certification.certificate_helpers import certify
from tests.certification.factories import make_release, submitted_application
from tests.certification.review_helpers import TIER4, enrolled, in_review

RULES = FRAMEWORK_2025_1
# JSON keys of the sample documentation that must never be read on a page.
KEYS = ("synthetic_share_pct", "training_flops", "energy_kwh", "co2e_kg", "intended_uses", "spdx_id",
        "filtering_steps", "share_pct", "planned_date", "model_card", "training_data")


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


class _Text(HTMLParser):
    """The text a reader sees: outside script, style, and the machine-readable code, pre, data, time."""

    HIDDEN = {"script", "style", "code", "pre", "data", "time", "textarea"}

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def visible_text(response) -> str:
    parser = _Text()
    parser.feed(response.content.decode())
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def assert_human(response, *labels: str) -> str:
    """The page shows the labels and none of the JSON keys, nor a JSON dump."""
    assert response.status_code == 200
    text = visible_text(response)
    for label in labels:
        assert label in text, label
    for key in KEYS:
        assert key not in text, key
    assert '{"' not in text and '{&quot;' not in response.content.decode()
    return text


def content(**sections) -> dict:
    """A frozen revision's content with the sample documentation (and overrides)."""
    from certification.releases.sample import SECTIONS

    data = copy.deepcopy(SECTIONS)
    data.update(sections)
    return {
        "framework_version": "2025.1", "tier": 3, "organization": "acme",
        "model": {"name": "Acme 7B", "slug": "acme-7b", "hub_repo_id": "acme/acme-7b"},
        "release": {"version": "1.0", "parameter_count": 80_000_000_000, "capabilities": ["code_generation"],
                    "sensitive_domains": [], "emergent_capabilities": False, "emergent_description": "",
                    "declared_tier": None, "raised_tier": None},
        "artifacts": [{"path": "model.safetensors", "size": 4_000_000_001, "sha256": "a" * 64}],
        "sections": data,
        "benchmark_results": [
            {"benchmark": "bbq", "category": "bias", "established": True, "metric": "bias score", "value": "0.04",
             "harness": "lm-eval-harness 0.4", "settings": "", "run_date": "2025-09-01", "run_by": "self",
             "evidence_sha256": None},
        ],
        "evidence": [
            {"id": 7, "section": "bias_report", "name": "bias.md", "family": "markdown", "size": 2048,
             "sha256": "b" * 64},
            {"id": 8, "section": "", "name": "extra.csv", "family": "csv", "size": 10, "sha256": "c" * 64},
        ],
    }


def by_id(sections) -> dict:
    return {s.id: s for s in sections}


def rows(section) -> dict:
    return {r.label: r for r in section.rows}


# --- the presenter -------------------------------------------------------------------------------------


def test_sections_follow_the_framework_order_with_their_titles():
    sections = presentation.present(content(), RULES)
    ids = [s.id for s in sections]
    assert ids[0] == "release" and ids[-1] == "artifacts"
    documentation = [r["id"] for r in RULES["requirements"] if r.get("kind") != "process" and 3 in r["tiers"]]
    assert [i for i in ids if i in documentation] == documentation
    assert by_id(sections)["bias_report"].title == "Bias evaluation report"
    # Tier 4's section is not asked of a Tier 3 release.
    assert "domain_risk_assessments" not in ids


def test_fields_have_the_labels_of_their_forms_and_choices_their_names():
    sections = by_id(presentation.present(content(), RULES))
    training = rows(sections["training_data"])
    assert "Synthetic data share" in training and "Filtering steps applied" in training
    assert training["Basis of the synthetic share"].display == "Tokens"
    release = rows(sections["release"])
    assert release["Capabilities"].display == "Code generation"
    assert release["Parameter count"].display == "80,000,000,000" and release["Parameter count"].kind == "number"
    assert all("_" not in r.label for s in sections.values() for r in s.rows)


def test_units_and_scientific_notation_keep_the_raw_value():
    compute = rows(by_id(presentation.present(content(), RULES))["compute"])
    flops = compute["Training compute"]
    assert (flops.display, flops.unit, flops.raw, flops.kind) == ("3.2 × 10²²", "FLOPs", "3.2e22", "number")
    energy = compute["Energy"]
    assert (energy.display, energy.unit, energy.note) == ("9,000", "kWh", "estimate")
    assert compute["Emissions"].unit == "kg CO2e" and compute["Emissions"].display == "3,100"
    share = rows(by_id(presentation.present(content(), RULES))["training_data"])["Synthetic data share"]
    assert share.unit_suffix == "%" and share.display == "20"
    # The estimate flags are folded into their figures, not rows of their own.
    assert "The energy figure is an estimate" not in compute


@pytest.mark.parametrize("value, text", [
    ("4.1e22", "4.1 × 10²²"), ("41000000000000000000000", "4.1 × 10²²"), ("9.999e22", "1 × 10²³"),
    ("1.25e-3", "1.25 × 10⁻³"),
])
def test_scientific_notation(value, text):
    from decimal import Decimal

    assert presentation.scientific(Decimal(value)) == text


def test_empty_optional_fields_are_omitted_not_blank():
    sections = by_id(presentation.present(content(), RULES))
    license_rows = rows(sections["license"])
    assert "SPDX license id" in license_rows
    assert "Or custom license name" not in license_rows and "Custom license link" not in license_rows
    assert all(r.display.strip() for s in sections.values() for r in s.rows)
    assert not rows(sections["release"]).get("The model shows emergent capabilities")


def test_tables_for_sources_stages_benchmarks_evidence_and_artifacts():
    sections = by_id(presentation.present(content(), RULES, evidence_url=lambda e: f"/evidence/{e['id']}/"))
    sources = sections["training_data"].tables[0]
    assert sources.headers == ["Source name", "Kind", "License", "Share (%)"]
    assert [c.display for c in sources.rows[0]] == ["Filtered web crawl", "web crawl", "various", "80%"]
    stages = sections["rollout_plan"].tables[0]
    assert [c.display for c in stages.rows[0]] == ["Trusted testers", "15 January 2026"]
    assert stages.rows[0][1].raw == "2026-01-15" and stages.rows[0][1].kind == "date"
    bench = sections["safety_benchmarks"].tables[0]
    assert bench.headers[:5] == ["Benchmark", "Category", "Metric", "Harness", "Value"]
    assert [c.display for c in bench.rows[0]][:5] == ["BBQ", "Bias", "bias score", "lm-eval-harness 0.4", "0.04"]
    evidence = sections["bias_report"].tables[0]
    assert evidence.headers == ["File", "Type", "Size", "sha256"]
    assert [c.display for c in evidence.rows[0]] == ["bias.md", "Markdown", "2.0\xa0KB", "b" * 64]
    assert evidence.rows[0][0].url == "/evidence/7/"
    assert [c.display for c in sections["evidence"].tables[0].rows[0]][:2] == ["extra.csv", "CSV"]
    artifacts = sections["artifacts"].tables[0]
    assert artifacts.rows[0][0].display == "model.safetensors" and artifacts.rows[0][2].display == "a" * 64


def test_hidden_sections_and_change_links():
    sections = by_id(presentation.present(content(), RULES, hide_sections={"access_instructions"},
                                          change_url=lambda sid: f"/change/{sid}/"))
    assert "access_instructions" not in sections
    assert sections["compute"].change_url == "/change/compute/"


def test_diff_names_section_field_before_and_after():
    old = content()
    new = content(compute={**old["sections"]["compute"], "energy_kwh": "9500"},
                  model_card={**old["sections"]["model_card"], "limitations": ""})
    new["benchmark_results"][0]["value"] = "0.05"
    changes = {(d.section, d.label): (d.before, d.after) for d in presentation.diff(old, new, RULES)}
    assert changes[("Compute", "Energy")] == ("9,000\xa0kWh (estimate)", "9,500\xa0kWh (estimate)")
    assert changes[("Model card", "Known limitations")][1] == ""
    assert changes[("Safety benchmarks", "Benchmark results: BBQ, Value")] == ("0.04", "0.05")
    assert len(changes) == 3
    assert presentation.diff(old, copy.deepcopy(old), RULES) == []


# --- the pages -----------------------------------------------------------------------------------------


def test_staff_revision_page_reads_as_summary_lists(client, framework, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    client.force_login(staff)
    response = client.get(reverse("certification:revision-detail", args=[app.pk, 1]))
    text = assert_human(response, "Synthetic data share", "Training compute", "Known limitations", "Data sources",
                        "Benchmark results", "RealToxicityPrompts", "Download as JSON")
    page = response.content.decode()
    assert '<dl class="summary-list">' in page
    assert '<data value="3.2e22">3.2 × 10²²</data>' in page
    assert '<data value="9000">9,000</data>\xa0kWh <span class="hint">(estimate)</span>' in page
    assert "Filtered web crawl" in text
    assert reverse("certification:revision-json", args=[app.pk, 1]) in page


def test_revision_json_download_matches_the_recorded_sha256(client, framework, org, org_admin, org_member, staff,
                                                            other_member, auditor):
    app = submitted_application(org, org_admin)
    revision = DocumentationRevision.objects.get(application=app, number=1)
    url = reverse("certification:revision-json", args=[app.pk, 1])
    for user in (org_member, staff):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "application/json"
        assert "attachment" in response["Content-Disposition"]
        assert hashlib.sha256(response.content).hexdigest() == revision.sha256
        assert json.loads(response.content) == revision.content
    for user in (other_member, auditor):
        client.force_login(user)
        assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302
    client.force_login(org_member)
    assert client.get(reverse("certification:revision-json", args=[app.pk, 9])).status_code == 404


def test_comparing_revisions_shows_a_field_diff_not_json(client, framework, org, org_admin, staff):
    from certification.releases import applications, services
    from certification.releases.models import Documentation

    app = submitted_application(org, org_admin)
    applications.start_screening(app, staff)
    applications.request_changes(app, staff, {"compute": "Give the energy figure."})
    compute = dict(Documentation.objects.get(release=app.release).section("compute"), energy_kwh="9500")
    services.update_section(app.release, org_admin, "compute", compute)
    applications.submit_application(app, org_admin, signer_name="Ada Admin", signer_title="CTO",
                                    affirmed=[1, 2, 3, 6])
    client.force_login(staff)
    response = client.get(reverse("certification:revision-detail", args=[app.pk, 2]), {"compare": "1"})
    text = assert_human(response, "Changes from revision 1 to 2", "Compute", "Energy")
    assert "9,000 kWh (estimate)" in text.replace("\xa0", " ") and "9,500 kWh (estimate)" in text.replace("\xa0", " ")
    assert "@@" not in text and '"energy_kwh"' not in response.content.decode()


def test_auditor_submission_page_and_its_json(client, framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff)
    acc = make_accredited_auditor(mfa=True)
    engagement = engage(app, acc, staff)
    client.force_login(acc.user)
    response = client.get(reverse("auditors:engagement-submission", args=[engagement.pk]))
    assert_human(response, "Model-access instructions", "Synthetic data share", "Staged rollout plan",
                 "Rollout stages", "Download as JSON")
    url = reverse("auditors:engagement-submission-json", args=[engagement.pk])
    assert url in response.content.decode()
    download = client.get(url)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == app.revisions.get(number=1).sha256
    # The applicant reads its own revision on its own pages, not the auditor's copy.
    client.force_login(org_admin)
    assert client.get(url).status_code == 404
    client.force_login(make_accredited_auditor(mfa=True).user)
    assert client.get(url).status_code == 404


def test_evaluator_materials_are_labelled(client, framework, org, org_admin, staff):
    app = in_review(org, org_admin, staff, facts=TIER4)
    window = app.review_window
    user = enrolled(window)
    assert review_services.has_access(user, window)
    client.force_login(user)
    response = client.get(reverse("certification:review-window", args=[window.pk]))
    text = assert_human(response, "Review materials", "Synthetic data share", "Risk assessment: Biology",
                        "Benchmark results")
    # The access instructions appear once, in their own panel.
    assert text.count("Request an API key") == 1


def test_check_your_answers_shows_each_answer_with_a_change_link(client, framework, org, org_admin):
    from certification.releases import applications

    release = make_release(org, org_admin)
    app = applications.start_application(release, org_admin)
    client.force_login(org_admin)
    f.mark_reauthenticated(client, org_admin)
    response = client.get(reverse("certification:application-attest", args=[app.pk]))
    assert_human(response, "Check your answers", "Known limitations", "Synthetic data share", "Training compute")
    page = response.content.decode()
    assert "Completed" not in visible_text(response)
    for section in ("model_card", "training_data", "compute", "license"):
        assert f'href="{reverse("certification:section-edit", args=[release.pk, section])}"' in page
    assert reverse("certification:release-artifacts", args=[release.pk]) in page
    assert page.count(">Change<") >= 6


def test_check_your_answers_names_what_is_missing(client, framework, org, org_admin):
    from certification.releases import applications

    release = make_release(org, org_admin, fill=False)
    app = applications.start_application(release, org_admin)
    client.force_login(org_admin)
    f.mark_reauthenticated(client, org_admin)
    text = visible_text(client.get(reverse("certification:application-attest", args=[app.pk])))
    assert "Missing" in text and "Intended uses is missing." in text


def test_certificate_model_card_is_labelled_and_keeps_private_sections_private(client, framework, org, org_admin,
                                                                              staff):
    cert = certify(org, org_admin, staff)
    response = client.get(reverse("certification:certificate-detail", args=[cert.number]))
    text = assert_human(response, "Public model card", "Intended uses", "Synthetic data share", "Training compute",
                        "RealToxicityPrompts", "Bias")
    assert "eval.example/access" not in response.content.decode()
    assert "How auditors and evaluators access the model" not in text
