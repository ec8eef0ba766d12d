"""Hugging Face model card import and export (DESIGN §2.2, §7)."""

from __future__ import annotations

import pytest
import yaml
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from certification.framework import services as framework_services
from certification.releases import modelcard
from certification.releases import services as release_services
from certification.releases.models import BenchmarkResult, Documentation
from portal.models import AuditEntry
from tests.certification.factories import make_release, submitted_application

CARD = """---
license: apache-2.0
language: en
datasets:
- HuggingFaceFW/fineweb
- allenai/c4
tags: [text-generation]
co2_eq_emissions:
  emissions: 149200
  source: CodeCarbon
  training_type: pre-training
  geographical_location: Quebec, Canada
  hardware_used: 64 x H100
model-index:
- name: acme-7b
  results:
  - task: {type: text-generation}
    dataset: {name: TruthfulQA (0-shot), type: truthful_qa}
    metrics:
    - {type: mc2, value: 0.4513, name: MC2 accuracy}
  - task: {type: text-generation}
    dataset: {name: ToxiGen, type: skg/toxigen-data}
    metrics: [{type: toxicity, value: 0.12}]
  - task: {type: text-generation}
    dataset: {name: CrowS-Pairs, type: crows_pairs}
    metrics: [{type: pct_stereotype, value: 61.2, name: stereotype preference %}]
  - task: {type: text-generation}
    dataset: {name: MMLU, type: cais/mmlu}
    metrics: [{type: acc, value: 0.63}]
---

# Acme 7B

## Model Details

A 7B decoder.

## Uses

<!-- Address questions around how the model is intended to be used. -->

### Direct Use

Chat and drafting in English.

### Out-of-Scope Use

Medical advice.

## Bias, Risks, and Limitations

Hallucinates under pressure.

### Recommendations

[More Information Needed]

## Training Details
"""


@pytest.fixture
def release(framework, org, org_member):
    return make_release(org, org_member, fill=False)


@pytest.fixture
def filled_release(framework, org, org_member):
    return make_release(org, org_member, fill=True)


def import_url(release) -> str:
    return reverse("certification:modelcard-import", args=[release.pk])


def export_url(release) -> str:
    return reverse("certification:modelcard-export", args=[release.pk])


def post_card(client, release, text: str | bytes, name: str = "README.md"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(import_url(release), {"card_file": SimpleUploadedFile(name, data, "text/markdown")})


def sections(release) -> dict:
    return Documentation.objects.get(release=release).sections


def results(release) -> set[tuple]:
    return set(BenchmarkResult.objects.filter(release=release).values_list("benchmark__slug", "metric", "value"))


# --- import ------------------------------------------------------------------------------------


def test_import_prefills_a_new_release(client_for, org_member, release):
    response = post_card(client_for(org_member), release, CARD)
    assert response.status_code == 302
    assert response["Location"] == reverse("certification:release-detail", args=[release.pk])
    doc = sections(release)
    assert doc["license"] == {"spdx_id": "apache-2.0"}
    assert doc["training_data"]["sources"] == [
        {"name": "HuggingFaceFW/fineweb", "kind": "", "license": "", "share_pct": None},
        {"name": "allenai/c4", "kind": "", "license": "", "share_pct": None},
    ]
    assert doc["compute"]["co2e_kg"] == "149.2"
    assert doc["compute"]["co2e_method"] == "CodeCarbon; location: Quebec, Canada"
    assert doc["compute"]["accelerator_type"] == "64 x H100"
    assert doc["model_card"] == {
        "intended_uses": "Chat and drafting in English.",
        "out_of_scope_uses": "Medical advice.",
        "limitations": "Hallucinates under pressure.",
    }
    assert results(release) == {
        ("truthfulqa", "MC2 accuracy", "0.4513"),
        ("toxigen", "toxicity", "0.12"),
        ("crows_pairs", "stereotype preference %", "61.2"),
    }
    for result in BenchmarkResult.objects.filter(release=release):
        assert result.run_date == timezone.localdate()
        assert result.run_by == BenchmarkResult.RunBy.SELF
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("3 benchmark results added" in t for t in texts)
    assert any("MMLU" in t for t in texts), "results outside the catalogue are named as skipped"


def test_import_keeps_fields_the_card_does_not_give(client_for, org_member, filled_release):
    before = sections(filled_release)
    post_card(client_for(org_member), filled_release, CARD)
    after = sections(filled_release)
    assert after["license"]["spdx_id"] == "apache-2.0"
    assert after["license"]["permitted_uses"] == before["license"]["permitted_uses"]
    assert after["training_data"]["synthetic_share_pct"] == before["training_data"]["synthetic_share_pct"]
    assert [s["name"] for s in after["training_data"]["sources"]] == [
        "Filtered web crawl", "Synthetic instructions", "HuggingFaceFW/fineweb", "allenai/c4"]
    assert after["training_data"]["sources"][0] == before["training_data"]["sources"][0]
    assert after["compute"]["training_flops"] == before["compute"]["training_flops"]
    # The card's hardware does not replace an accelerator type already given.
    assert after["compute"]["accelerator_type"] == "H100"
    assert after["compute"]["co2e_kg"] == "149.2"
    assert after["vulnerability_contact"] == before["vulnerability_contact"]
    assert after["rollout_plan"] == before["rollout_plan"]


def test_import_writes_the_audit_log_through_the_services(client_for, org_member, release):
    before = AuditEntry.objects.count()
    post_card(client_for(org_member), release, CARD)
    actions = list(AuditEntry.objects.order_by("seq").values_list("action", flat=True)[before:])
    assert actions.count("certification.documentation.section_saved") == 4
    assert actions.count("certification.documentation.benchmark_added") == 3
    assert actions[-1] == "certification.documentation.modelcard_imported"


def test_importing_the_same_card_twice_adds_nothing_new(client_for, org_member, release):
    client = client_for(org_member)
    post_card(client, release, CARD)
    snapshot, count = sections(release), BenchmarkResult.objects.filter(release=release).count()
    response = post_card(client, release, CARD)
    assert sections(release) == snapshot
    assert BenchmarkResult.objects.filter(release=release).count() == count
    assert any("nothing new" in str(m) for m in get_messages(response.wsgi_request))


def test_import_other_license_sets_custom_name_and_link(client_for, org_member, filled_release):
    card = "---\nlicense: other\nlicense_name: acme-model-license\nlicense_link: https://acme.example/license\n---\n"
    post_card(client_for(org_member), filled_release, card)
    licence = sections(filled_release)["license"]
    assert licence["spdx_id"] == ""
    assert licence["custom_name"] == "acme-model-license"
    assert licence["custom_url"] == "https://acme.example/license"
    assert licence["prohibited_uses"]


def test_import_accepts_emissions_as_a_plain_number_of_grams(client_for, org_member, release):
    post_card(client_for(org_member), release, "---\nco2_eq_emissions: 2500\n---\n")
    compute = sections(release)["compute"]
    assert compute["co2e_kg"] == "2.5"
    assert "co2_eq_emissions" in compute["co2e_method"]


def test_pasted_card_with_windows_line_ends_is_imported(client_for, org_member, release):
    text = CARD.replace("\n", "\r\n")
    response = client_for(org_member).post(import_url(release), {"card_text": text})
    assert response.status_code == 302
    assert sections(release)["model_card"]["intended_uses"] == "Chat and drafting in English."


BAD_CARDS = [
    pytest.param(b"---\nlicense: [apache-2.0\n---\n# Body\n", "YAML front matter is not valid", id="malformed-yaml"),
    pytest.param(b"---\nlicense: mit\n  bad: indent\n---\n", "line 3", id="yaml-error-line"),
    pytest.param(b"---\n- license\n- mit\n---\n", "must be a mapping", id="list-front-matter"),
    pytest.param(b"---\njust text\n---\n", "must be a mapping", id="scalar-front-matter"),
    pytest.param(b"---\nlicense: mit\n---\n" + b"x" * (1024 * 1024), "limit is 1 MB", id="over-1-mb"),
    pytest.param(b"---\nlicense: mit\n---\nCaf\xe9\n", "not UTF-8", id="not-utf8"),
    pytest.param(b"---\nco2_eq_emissions: {emissions: lots}\n---\n", "co2_eq_emissions", id="bad-emissions"),
    pytest.param(b"---\ndatasets: {a: 1}\n---\n", "datasets", id="bad-datasets"),
    pytest.param(b"---\nlicense: [mit, apache-2.0]\n---\n", "license must be a single", id="license-list"),
    pytest.param(b"---\nmodel-index:\n- name: m\n  results:\n  - task: {type: t}\n    dataset: {type: bbq}\n---\n",
                 "metrics must be a non-empty list", id="model-index-without-metrics"),
]


@pytest.mark.parametrize(("raw", "expected"), BAD_CARDS)
def test_bad_card_names_the_problem_and_saves_nothing(client_for, org_member, filled_release, raw, expected):
    before_sections, before_results = sections(filled_release), results(filled_release)
    before_audit = AuditEntry.objects.count()
    response = post_card(client_for(org_member), filled_release, raw)
    assert response.status_code == 200
    assert expected in response.content.decode()
    assert 'class="error-summary"' in response.content.decode()
    assert sections(filled_release) == before_sections
    assert results(filled_release) == before_results
    assert AuditEntry.objects.count() == before_audit


def test_a_failure_midway_rolls_back_every_section(monkeypatch, org_member, filled_release):
    """Sections are saved before the benchmark results: a refusal there undoes them too."""
    before_sections, before_audit = sections(filled_release), AuditEntry.objects.count()

    def refuse(*args, **kwargs):
        raise framework_services.WorkflowError("refused")

    monkeypatch.setattr(modelcard.release_services, "add_benchmark_result", refuse)
    with pytest.raises(framework_services.WorkflowError):
        modelcard.import_card(filled_release, org_member, CARD.encode())
    assert sections(filled_release) == before_sections
    assert AuditEntry.objects.count() == before_audit


def test_release_under_review_cannot_import(client_for, framework, org, org_admin):
    app = submitted_application(org, org_admin)
    release = app.release
    before_sections, before_results = sections(release), results(release)
    client = client_for(org_admin)
    page = client.get(import_url(release))
    assert "under review" in page.content.decode()
    assert "<form method=\"post\" enctype" not in page.content.decode()
    response = post_card(client, release, CARD)
    assert response.status_code == 302
    assert any("under review" in str(m) for m in get_messages(response.wsgi_request))
    assert sections(release) == before_sections
    assert results(release) == before_results


def test_import_page_shows_the_form_to_members(client_for, org_member, release):
    response = client_for(org_member).get(import_url(release))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="card_file"' in body and 'name="card_text"' in body
    assert "Import a Hugging Face model card" in body


def test_import_without_a_card_asks_for_one(client_for, org_member, release):
    response = client_for(org_member).post(import_url(release), {"card_text": "  "})
    assert response.status_code == 200
    assert "Choose a README.md file or paste the model card." in response.content.decode()


def test_other_org_gets_404_for_import_and_export(client_for, other_member, release):
    client = client_for(other_member)
    assert client.get(import_url(release)).status_code == 404
    assert post_card(client, release, CARD).status_code == 404
    assert client.get(export_url(release)).status_code == 404
    assert "model_card" not in sections(release)


def test_anonymous_is_sent_to_sign_in(client, release):
    response = client.get(export_url(release))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_staff_may_view_but_not_import(client_for, staff, release):
    client = client_for(staff)
    page = client.get(import_url(release))
    assert page.status_code == 200
    assert 'name="card_file"' not in page.content.decode()
    assert post_card(client, release, CARD).status_code == 403
    assert "model_card" not in sections(release)
    assert client.get(export_url(release)).status_code == 200


# --- export ------------------------------------------------------------------------------------


def test_export_is_a_markdown_attachment_the_hub_parser_accepts(client_for, org_member, filled_release):
    response = client_for(org_member).get(export_url(filled_release))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert response["Content-Disposition"] == 'attachment; filename="README.md"'
    text = response.content.decode()
    card = ModelCard(text)
    assert card.data.license == "apache-2.0"  # the Hub spells SPDX ids in lowercase
    assert card.data.tags and "rai-certification" in card.data.tags
    expected = {(r.benchmark.slug, r.metric, float(r.value))
                for r in BenchmarkResult.objects.filter(release=filled_release).select_related("benchmark")}
    assert len(card.data.eval_results) == len(expected) == 3
    assert {(e.dataset_type, e.metric_name, e.metric_value) for e in card.data.eval_results} == expected
    assert {e.task_type for e in card.data.eval_results} == {"text-generation"}
    assert card.data.model_name == filled_release.ai_model.name
    meta = yaml.safe_load(text.split("---\n")[1])
    name, eval_results = model_index_to_eval_results(meta["model-index"])
    assert name == filled_release.ai_model.name and len(eval_results) == 3
    assert meta["co2_eq_emissions"] == {
        "emissions": 3100000, "source": "location-based grid factor", "training_type": "pre-training",
        "hardware_used": "H100",
    }


def test_export_body_has_every_section_but_the_access_instructions(client_for, org_member, filled_release):
    text = client_for(org_member).get(export_url(filled_release)).content.decode()
    body = ModelCard(text).text
    for heading in ("## Intended uses", "## Out-of-scope use", "## Bias, Risks, and Limitations", "## Training data",
                    "## Evaluation: safety benchmarks", "## License", "## Reporting vulnerabilities",
                    "## Compute and environmental impact", "## Red-teaming report", "## Bias evaluation report",
                    "## Staged rollout plan"):
        assert heading in body
    assert "Filtered web crawl" in body and "security@acme.example" in body and "Trusted testers" in body
    # For engaged auditors and enrolled evaluators only (DESIGN §6).
    assert "eval.example/access" not in text


def test_export_of_a_license_the_hub_does_not_list_uses_other(client_for, org_member, filled_release):
    data = {**sections(filled_release)["license"], "spdx_id": "", "custom_name": "Acme Model License",
            "custom_url": "https://acme.example/license"}
    release_services.update_section(filled_release, org_member, "license", data)
    card = ModelCard(client_for(org_member).get(export_url(filled_release)).content.decode())
    assert (card.data.license, card.data.license_name, card.data.license_link) == (
        "other", "acme-model-license", "https://acme.example/license")


@pytest.mark.parametrize(("spdx", "hub"), [("MIT", "mit"), ("GPL-3.0-only", "gpl-3.0"), ("CC-BY-4.0", "cc-by-4.0"),
                                           ("BlueOak-1.0.0", None)])
def test_hub_license_ids(spdx, hub):
    assert modelcard.hub_license_id(spdx) == hub


def test_export_then_import_round_trips_the_main_fields(client_for, framework, org, org_member, filled_release):
    source = sections(filled_release)
    training = {**source["training_data"],
                "sources": source["training_data"]["sources"] + [{"name": "allenai/c4", "kind": "web", "license": "odc-by",
                                                                  "share_pct": "5"}]}
    release_services.update_section(filled_release, org_member, "training_data", training)
    client = client_for(org_member)
    text = client.get(export_url(filled_release)).content.decode()

    fresh = make_release(org, org_member, version="2.0", fill=False)
    assert post_card(client, fresh, text).status_code == 302
    imported = sections(fresh)
    assert imported["model_card"] == source["model_card"]
    assert imported["license"]["spdx_id"] == source["license"]["spdx_id"].lower()
    assert [s["name"] for s in imported["training_data"]["sources"]] == ["allenai/c4"]
    assert float(imported["compute"]["co2e_kg"]) == float(source["compute"]["co2e_kg"])
    assert imported["compute"]["co2e_method"] == source["compute"]["co2e_method"]
    assert imported["compute"]["accelerator_type"] == source["compute"]["accelerator_type"]
    assert results(fresh) == results(filled_release)


def test_exported_empty_sections_import_as_empty(client_for, framework, org, org_member, release):
    release_services.update_section(release, org_member, "model_card", {"intended_uses": "Drafting.",
                                                                        "out_of_scope_uses": "",
                                                                 "limitations": ""})
    client = client_for(org_member)
    text = client.get(export_url(release)).content.decode()
    assert ModelCard(text).data.eval_results is None
    fresh = make_release(org, org_member, version="2.0", fill=False)
    post_card(client, fresh, text)
    assert sections(fresh)["model_card"] == {"intended_uses": "Drafting."}


def test_body_headings_inside_code_blocks_are_ignored():
    found = modelcard.body_sections("## Intended uses\n\nChat.\n\n```\n## Limitations\nnot a heading\n```\n")
    assert found == {"intended_uses": "Chat.\n\n```\n## Limitations\nnot a heading\n```"}


@pytest.mark.parametrize(("dataset_type", "dataset_name", "slug"), [
    ("truthful_qa", "", "truthfulqa"),
    ("", "TruthfulQA", "truthfulqa"),
    ("crows_pairs", "", "crows_pairs"),
    ("nyu-mll/crows-pairs", "", "crows_pairs"),
    ("heegyu/bbq", "", "bbq"),
    ("cais/mmlu", "MMLU", None),
])
def test_datasets_match_the_catalogue_ignoring_case_and_punctuation(framework, dataset_type, dataset_name, slug):
    from certification.framework.models import Benchmark

    match = modelcard.match_benchmark(dataset_type, dataset_name, list(Benchmark.objects.all()))
    assert (match.slug if match else None) == slug
