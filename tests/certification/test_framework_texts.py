"""The framework's own texts in several languages (issue 17): every text of a version has a path;
a text is looked up in the version's translations block, then the catalogue, then English; the
digest covers all languages (2025.1's published digest unchanged); pages show the reader's language
while the signed attestation and the filed attestation record stay language-neutral; staff fill a
draft's texts next to the English, on the page and in the API."""

from __future__ import annotations

import ast
import copy
import re
import datetime as dt
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from certification.certificates import attestations, signing
from certification.framework import data, services, texts
from certification.framework.data import FRAMEWORK_2025_1, document_digest
from certification.framework.models import FrameworkVersion
from certification.releases import applications
from certification.releases.models import Attestation
from portal import deadlines, labels
from portal.canonical import canonical_sha256
from portal.models import AuditEntry
from tests.certification.certificate_helpers import certify
from tests.certification.test_staff_api import staff_token

# The document digest of 2025.1 as published (its certificates' predicates name it): the texts'
# other languages must never change it.
DIGEST_2025_1 = "2a3e5136b2f505325237ba42c6dac07e47f3f2ffda30d733d1bc7c146cc5e230"
TEXT_FIELDS = {"label", "title", "description", "hint", "help", "text", "headline_metric", "on_due_text"}

FRENCH = {
    "classification.rules.params_lt_1b.text": "Le modèle compte moins d'un milliard de paramètres (2026).",
    "classification.rules.capability.text": "Le modèle possède la capacité {label} (2026).",
    "classification.capabilities.multimodal.label": "Multimodalité (2026)",
    "requirements.model_card.title": "Fiche du modèle (2026)",
    "requirements.model_card.description": "Usages prévus, usages exclus, limites connues (2026).",
    "attestation_statements.1.text": "La documentation est exacte et complète (2026).",
    "deadlines.audit_report.title": "Rapport d'audit (2026)",
}


@pytest.fixture(autouse=True)
def _fresh_memory():
    texts.forget()
    yield
    texts.forget()


@pytest.fixture(autouse=True)
def _no_later_gates(monkeypatch):
    # Tier 3/4 gates of other work items are not under test here.
    monkeypatch.setattr(applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(applications, "REVIEW_STARTED_HOOKS", [])


def rules_2026(**french) -> dict:
    rules = copy.deepcopy(FRAMEWORK_2025_1)
    rules["version"] = "2026.1"
    rules["translations"] = {"fr": {**FRENCH, **french}}
    return rules


@pytest.fixture
def in_force_2026(framework) -> FrameworkVersion:
    """2026.1, published and in force, carrying its French in its data."""
    rules = rules_2026()
    return FrameworkVersion.objects.create(
        version="2026.1", status="published", effective_from=timezone.now() - dt.timedelta(days=1), rules=rules,
        digest=canonical_sha256(rules), published_at=timezone.now())


@pytest.fixture
def draft(framework, staff) -> FrameworkVersion:
    return services.draft_framework_version(staff, "2026.1")


def leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, path)
    else:
        yield path, value


# --- paths ------------------------------------------------------------------------------------------


def test_the_paths_cover_every_text_of_2025_1_and_name_them_by_the_data():
    paths = texts.text_paths(FRAMEWORK_2025_1)
    shown = [value for path, value in leaves(FRAMEWORK_2025_1) if path[-1] in TEXT_FIELDS and isinstance(value, str)]
    assert sorted(paths.values()) == sorted(shown) and len(paths) == len(shown) == 89
    assert paths["tiers.3.label"] == "Tier 3"
    assert paths["requirements.model_card.title"] == "Model card"
    assert paths["requirements.third_party_audit.tier_details.4.text"].startswith("2 auditors")
    assert paths["attestation_statements.5.text"].startswith("The organization will publicly respond")
    assert paths["deadlines.audit_report.title"] == "Audit report"
    assert paths["classification.rules.sensitive_domain.text"].endswith("{label}.")
    with translation.override("fr"):
        where = [t.where() for t in texts.texts_of(FRAMEWORK_2025_1)]
    assert all(where) and not any("model_card" in w or "requirements." in w for w in where)


def test_every_english_text_of_2025_1_is_marked_for_the_catalogue_in_data_py():
    tree = ast.parse(Path(data.__file__).read_text("utf-8"))
    marked = {node.args[0].value for node in ast.walk(tree)
              if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "gettext_noop"}
    assert marked == set(texts.text_paths(FRAMEWORK_2025_1).values())


def test_a_later_version_texts_are_found_too():
    rules = rules_2026()
    rules["tiers"][2]["description"] = "Large or capable models."
    rules["requirements"].append({"id": "eval_notes", "kind": "documentation", "check": "fields", "tiers": [4],
                                  "title": "Evaluation notes", "description": "Notes.",
                                  "fields": [{"id": "notes", "label": "Notes", "help": "Free text."}]})
    paths = texts.text_paths(rules)
    assert paths["tiers.3.description"] == "Large or capable models."
    assert paths["requirements.eval_notes.fields.notes.label"] == "Notes"
    assert paths["requirements.eval_notes.fields.notes.help"] == "Free text."
    assert "translations" not in {p.split(".")[0] for p in paths}


# --- lookup -----------------------------------------------------------------------------------------


def test_the_version_block_then_the_catalogue_then_english():
    rules = rules_2026()
    rules["requirements"][0]["description"] = "A text no catalogue knows."
    rules["translations"]["fr"].pop("requirements.model_card.description")
    rules["translations"]["fr"]["benchmarks.categories.bias.label"] = "Biais (2026)"
    catalogue = texts.catalogue_text("Toxicity", "fr")
    if catalogue is None or texts.catalogue_text("Bias", "fr") is None:
        pytest.skip("the French catalogue does not translate the benchmark categories yet")
    # 1. the version's own block, even where the catalogue has a translation
    assert texts.localized(rules, "benchmarks.categories.bias.label", "fr") == "Biais (2026)"
    assert texts.localized(rules, "requirements.model_card.title", "fr") == "Fiche du modèle (2026)"
    # 2. the catalogue's translation of the English text
    assert texts.localized(rules, "benchmarks.categories.toxicity.label", "fr") == catalogue != "Toxicity"
    # 3. English
    assert texts.localized(rules, "requirements.model_card.description", "fr") == "A text no catalogue knows."
    # English readers read the English, whatever the block says; the active language is the default.
    assert texts.localized(rules, "requirements.model_card.title", "en") == "Model card"
    with translation.override("fr"):
        assert texts.localized(rules, "requirements.model_card.title") == "Fiche du modèle (2026)"
    with pytest.raises(KeyError):
        texts.localized(rules, "requirements.nope.title", "fr")


def test_in_language_localizes_a_copy_and_keeps_the_rules_working():
    rules = rules_2026()
    before = canonical_sha256(rules)
    french = texts.in_language(rules, "fr")
    assert canonical_sha256(rules) == before  # the stored rules are never touched
    assert texts.in_language(rules, "en") is rules
    assert french["requirements"][0]["title"] == "Fiche du modèle (2026)"
    from certification.framework import tiers

    result = tiers.classify({"parameter_count": 5, "capabilities": ["multimodal"]}, french)
    assert [r.text for r in result.rules] == ["Le modèle possède la capacité Multimodalité (2026) (2026).",
                                              "Le modèle compte moins d'un milliard de paramètres (2026)."]
    assert result.tier == tiers.classify({"parameter_count": 5, "capabilities": ["multimodal"]}, rules).tier


# --- digest -----------------------------------------------------------------------------------------


def test_the_published_digest_of_2025_1_is_unchanged(framework):
    assert document_digest(FRAMEWORK_2025_1) == DIGEST_2025_1 == framework.digest
    assert "translations" not in framework.rules
    texts.in_language(framework.rules, "fr")
    assert canonical_sha256(framework.rules) == DIGEST_2025_1


def test_a_drafted_version_digest_covers_its_french(draft, staff):
    assert draft.rules.get("translations", {}) == texts.carried_translations(FRAMEWORK_2025_1)
    services.update_framework_translations(draft, staff, {"fr": {"requirements.model_card.title": "Fiche"}})
    first = canonical_sha256(draft.rules)
    services.update_framework_translations(draft, staff, {"fr": {"requirements.model_card.title": "Fiche modèle"}})
    second = canonical_sha256(draft.rules)
    assert first != second
    published = services.publish_framework_version(draft, staff, timezone.now() + dt.timedelta(days=30))
    assert published.digest == second and published.rules["translations"]["fr"] == {
        "requirements.model_card.title": "Fiche modèle"}


@pytest.mark.parametrize(("block", "message"), [
    ({"de": {"requirements.model_card.title": "Modellkarte"}}, "unknown language"),
    ({"fr": {"requirements.nope.title": "Non"}}, "names no text"),
    ({"fr": {"classification.rules.capability.text": "Le modèle a une capacité."}}, "placeholders"),
    ({"fr": {"classification.rules.capability.text": "Le modèle a {label} et {id}."}}, "placeholders"),
    ({"fr": ["not", "an", "object"]}, "must be an object"),
])
def test_translations_a_page_could_not_use_are_refused(draft, staff, block, message):
    with pytest.raises(services.WorkflowError, match=message):
        services.update_framework_translations(draft, staff, block)
    rules = {**draft.rules, "translations": block}
    with pytest.raises(services.WorkflowError, match=message):
        services.update_framework_rules(draft, staff, rules)


# --- pages in the reader's language -------------------------------------------------------------------


def test_a_french_reader_sees_the_version_texts_on_the_tier_page(client, in_force_2026):
    url = reverse("certification:tier-check") + "?parameter_count=5&capabilities=multimodal&emergent_capabilities=no"
    french = client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Le modèle possède la capacité Multimodalité (2026) (2026)." in french
    assert "Fiche du modèle (2026)" in french
    assert "The model has the capability" not in french and "Model card" not in french
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "The model has the capability Multimodal." in english and "Fiche du modèle" not in english
    page = client.get(reverse("certification:framework-detail", args=["2026.1"]), HTTP_ACCEPT_LANGUAGE="fr")
    assert "Rapport d&#x27;audit (2026)" in page.content.decode()


def test_the_certificate_page_shows_the_neutral_attestation_in_the_reader_language(
        client, in_force_2026, org, org_admin, staff):
    with translation.override("fr"):  # filed and signed by a French-speaking admin and staff
        cert = certify(org, org_admin, staff)
    assert cert.framework_version == in_force_2026
    url = reverse("certification:certificate-detail", args=[cert.number])
    french = client.get(url, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Le modèle compte moins d&#x27;un milliard de paramètres (2026)." in french
    assert "Fiche du modèle (2026)" in french
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "The model has fewer than 1 billion parameters." in english
    printed = client.get(reverse("certification:certificate-print", args=[cert.number]), HTTP_ACCEPT_LANGUAGE="fr")
    assert "Le modèle compte moins d&#x27;un milliard" in printed.content.decode()

    # The signed attestation: ids, numbers and the version's own (English) texts, nothing translated.
    signed = bytes(cert.attestation)
    assert "Le modèle".encode() not in signed and "Fiche".encode() not in signed
    rule = signing.build_predicate(cert)[0]["rules"][0]
    assert rule == {"id": "params_lt_1b", "tier": 1, "text": "The model has fewer than 1 billion parameters."}
    # The filed attestation record too: each statement's number and the version's text.
    statement = Attestation.objects.get(application=cert.application).statements[0]
    assert statement == {"number": 1, "text": FRAMEWORK_2025_1["attestation_statements"][0]["text"], "affirmed": True}


def test_the_attestation_bytes_do_not_depend_on_the_reader_language(in_force_2026, org, org_admin, staff):
    cert = certify(org, org_admin, staff)
    payloads = {}
    for language in ("en", "fr"):
        with translation.override(language):
            predicate, subjects = signing.build_predicate(cert)
            payloads[language] = attestations.build_statement([(s["path"], s["sha256"]) for s in subjects], predicate)
    assert payloads["en"] == payloads["fr"]
    # Signed again by a French-speaking session: the same bytes (Ed25519 signatures are deterministic).
    issued = bytes(cert.attestation)
    with translation.override("fr"):
        assert signing.sign_certificate(cert, force=True)
    cert.refresh_from_db()
    assert bytes(cert.attestation) == issued


def test_labels_and_deadline_titles_read_the_published_versions_translations(in_force_2026):
    with translation.override("fr"):
        assert labels.label("section", "model_card") == "Fiche du modèle (2026)"
        assert deadlines.kind_title("audit_report") == "Rapport d'audit (2026)"
    with translation.override("en"):
        assert labels.label("section", "model_card") == "Model card"
        assert deadlines.kind_title("audit_report") == "Audit report"


def test_a_draft_translations_stay_off_the_portal_labels(draft, staff):
    services.update_framework_translations(draft, staff, {"fr": {"requirements.model_card.title": "Brouillon"}})
    with translation.override("fr"):
        assert labels.label("section", "model_card") != "Brouillon"


# --- staff editing ----------------------------------------------------------------------------------


def test_staff_fill_the_french_next_to_the_english_and_publishing_lists_what_is_missing(client_for, staff, draft):
    client = client_for(staff)
    url = reverse("certification:framework-texts", args=["2026.1"])
    services.update_framework_translations(draft, staff, {"fr": {}})  # start from nothing carried
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="fr:requirements.model_card.title"' in html and 'lang="fr"' in html
    visible = re.sub(r"<[^>]+>", " ", html)
    assert "Model card" in visible and "requirements." not in visible  # paths name fields, never shown
    response = client.post(url, {"fr:requirements.model_card.title": " Fiche du modèle ",
                                 "fr:attestation_statements.1.text": "La documentation est exacte.",
                                 "fr:deadlines.audit_report.title": ""})
    assert response.status_code == 302 and response["Location"] == url
    draft.refresh_from_db()
    assert draft.rules["translations"] == {"fr": {"requirements.model_card.title": "Fiche du modèle",
                                                  "attestation_statements.1.text": "La documentation est exacte."}}
    assert AuditEntry.objects.filter(action="certification.framework.translated", actor=staff).exists()
    again = client.get(url).content.decode()
    assert 'value="Fiche du modèle"' in again and "La documentation est exacte." in again

    publish = client.get(reverse("certification:framework-publish", args=["2026.1"])).content.decode()
    assert "Texts not translated yet" in publish
    assert "Audit report" in publish.split("Texts not translated yet", 1)[1]
    assert "Fiche du modèle" not in publish

    broken = client.post(url, {"fr:classification.rules.capability.text": "Sans marque."})
    assert broken.status_code == 200 and "placeholders" in broken.content.decode()


def test_a_published_version_texts_cannot_change(client_for, staff, framework):
    response = client_for(staff).get(reverse("certification:framework-texts", args=["2025.1"]))
    assert response.status_code == 302 and response["Location"] == "/framework/2025.1/"
    with pytest.raises(services.WorkflowError):
        services.update_framework_translations(framework, staff, {"fr": {"tiers.1.label": "Niveau 1"}})


def test_the_api_sets_a_draft_translations_and_lists_the_missing_ones(staff, draft):
    client, headers = Client(), staff_token(staff)
    url = "/api/v1/framework-versions/2026.1/translations/"
    body = {"translations": {"fr": {"requirements.model_card.title": "Fiche du modèle"}}}
    response = client.put(url, body, content_type="application/json", **headers)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["rules"]["translations"] == {"fr": {"requirements.model_card.title": "Fiche du modèle"}}
    assert "requirements.model_card.title" not in answer["missing_translations"]["fr"]
    assert "deadlines.audit_report.title" in answer["missing_translations"]["fr"]
    refused = client.put(url, {"translations": {"fr": {"nope": "Non"}}}, content_type="application/json", **headers)
    assert refused.status_code == 400 and "names no text" in str(refused.json())
    published = client.put("/api/v1/framework-versions/2025.1/translations/", body, content_type="application/json",
                           **headers)
    assert published.status_code == 400
