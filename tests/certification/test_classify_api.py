"""POST /api/v1/classify/ (DESIGN §2.1, §7.1): anonymous, throttled, exact shape."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import time_machine
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from certification.framework.models import Benchmark, FrameworkVersion
from certification.framework.seed import seed_framework
from certification.framework.tiers import requirements_for_tier
from tests import factories as f

URL = "/api/v1/classify/"
RESPONSE_KEYS = {"tier", "rules", "framework_version", "requirements", "auditors_required", "community_review_days"}


@pytest.fixture
def framework(db) -> FrameworkVersion:
    # Live-server tests flush tables, so never rely on the data migration alone.
    seed_framework(FrameworkVersion, Benchmark)
    return FrameworkVersion.objects.get(version="2025.1")


@pytest.fixture
def api() -> APIClient:
    # CSRF enforced as a browser would: the endpoint must not need a token.
    return APIClient(enforce_csrf_checks=True)


def body(**overrides):
    data = {
        "parameter_count": 500_000_000,
        "capabilities": [],
        "sensitive_domains": [],
        "emergent_capabilities": False,
        "emergent_description": "",
    }
    data.update(overrides)
    return data


def classify(api, data, expect: int = 200):
    response = api.post(URL, data, format="json")
    assert response.status_code == expect, response.content
    return response.json()


def rule_ids(result) -> list[str]:
    return [r["id"] for r in result["rules"]]


# --- rules and boundaries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "tier", "rule"),
    [
        (1, 1, "params_lt_1b"),
        (999_999_999, 1, "params_lt_1b"),
        (1_000_000_000, 2, "params_1b_to_70b"),
        (70_000_000_000, 2, "params_1b_to_70b"),
        (70_000_000_001, 3, "params_gt_70b"),
        (10**15, 3, "params_gt_70b"),
    ],
)
def test_parameter_count_boundaries(api, framework, count, tier, rule):
    result = classify(api, body(parameter_count=count))
    assert result["tier"] == tier
    assert rule_ids(result) == [rule]


@pytest.mark.parametrize("capability", ["advanced_reasoning", "code_generation", "multimodal"])
def test_each_capability_fires_tier_3(api, framework, capability):
    result = classify(api, body(capabilities=[capability]))
    assert result["tier"] == 3
    assert rule_ids(result) == [f"capability:{capability}", "params_lt_1b"]


@pytest.mark.parametrize(("domain", "label"), [("biology", "Biology"), ("cybersecurity", "Cybersecurity")])
def test_each_sensitive_domain_fires_tier_4(api, framework, domain, label):
    result = classify(api, body(sensitive_domains=[domain]))
    assert result["tier"] == 4
    assert result["rules"][0] == {
        "id": f"sensitive_domain:{domain}",
        "tier": 4,
        "text": f"The model is trained on or intended for the sensitive domain {label}.",
    }


def test_emergent_capabilities_fire_tier_4(api, framework):
    result = classify(api, body(emergent_capabilities=True, emergent_description="Solves unseen puzzles."))
    assert result["tier"] == 4
    assert result["rules"][0] == {
        "id": "emergent_capabilities",
        "tier": 4,
        "text": "The model exhibits emergent capabilities.",
    }


def test_every_fired_rule_is_reported_highest_tier_first(api, framework):
    result = classify(
        api,
        body(
            parameter_count=80_000_000_000,
            capabilities=["multimodal", "advanced_reasoning"],
            sensitive_domains=["cybersecurity", "biology"],
            emergent_capabilities=True,
            emergent_description="Tool use nobody trained for.",
        ),
    )
    assert result["tier"] == 4
    # Table order within a tier, values in the version's order (not the request's).
    assert rule_ids(result) == [
        "emergent_capabilities",
        "sensitive_domain:biology",
        "sensitive_domain:cybersecurity",
        "params_gt_70b",
        "capability:advanced_reasoning",
        "capability:multimodal",
    ]
    assert [r["tier"] for r in result["rules"]] == [4, 4, 4, 3, 3, 3]


def test_capability_on_a_mid_size_model_reports_both_rules(api, framework):
    result = classify(api, body(parameter_count=7_000_000_000, capabilities=["code_generation"]))
    assert result["tier"] == 3
    assert rule_ids(result) == ["capability:code_generation", "params_1b_to_70b"]


def test_absent_optional_fields_mean_none(api, framework):
    result = classify(api, {"parameter_count": 2_000_000_000})
    assert result["tier"] == 2
    assert rule_ids(result) == ["params_1b_to_70b"]


# --- response shape ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "tier", "auditors", "days"),
    [
        (body(parameter_count=5), 1, 0, None),
        (body(parameter_count=5_000_000_000), 2, 0, None),
        (body(capabilities=["multimodal"]), 3, 1, 30),
        (body(sensitive_domains=["biology"]), 4, 2, 90),
    ],
)
def test_response_has_exactly_the_contract_keys(api, framework, data, tier, auditors, days):
    result = classify(api, data)
    assert set(result) == RESPONSE_KEYS
    assert result["tier"] == tier
    assert result["framework_version"] == "2025.1"
    assert result["auditors_required"] == auditors
    assert result["community_review_days"] == days
    assert result["requirements"] == requirements_for_tier(framework.rules, tier)
    for rule in result["rules"]:
        assert set(rule) == {"id", "tier", "text"}


def test_tier_3_requirements_add_rollout_and_audit_but_not_domain_assessment(api, framework):
    ids = [r["id"] for r in classify(api, body(capabilities=["code_generation"]))["requirements"]]
    assert "rollout_plan" in ids and "third_party_audit" in ids
    assert "domain_risk_assessments" not in ids
    ids_t1 = [r["id"] for r in classify(api, body())["requirements"]]
    assert "red_teaming_report" not in ids_t1 and "model_card" in ids_t1


# --- invalid input: 400 naming the field -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"capabilities": []}, "parameter_count"),  # missing
        (body(parameter_count=None), "parameter_count"),
        (body(parameter_count=0), "parameter_count"),
        (body(parameter_count=-5), "parameter_count"),
        (body(parameter_count=10**15 + 1), "parameter_count"),
        (body(parameter_count="1000000000"), "parameter_count"),
        (body(parameter_count=1e9), "parameter_count"),
        (body(parameter_count=True), "parameter_count"),
        (body(capabilities="code_generation"), "capabilities"),
        (body(capabilities=["telepathy"]), "capabilities"),
        (body(capabilities=[1]), "capabilities"),
        (body(capabilities=["multimodal", "multimodal"]), "capabilities"),
        (body(sensitive_domains=["chemistry"]), "sensitive_domains"),
        (body(sensitive_domains={"biology": True}), "sensitive_domains"),
        (body(emergent_capabilities="yes"), "emergent_capabilities"),
        (body(emergent_capabilities=1), "emergent_capabilities"),
        (body(emergent_capabilities=True), "emergent_description"),
        (body(emergent_capabilities=True, emergent_description="   "), "emergent_description"),
        (body(emergent_description=42), "emergent_description"),
        (body(capability=["multimodal"]), "capability"),  # misspelt field: never a silent Tier 1
    ],
)
def test_invalid_input_is_400_naming_the_field(api, framework, data, field):
    errors = classify(api, data, expect=400)
    assert set(errors) == {field}
    assert errors[field] and all(isinstance(m, str) and m for m in errors[field])


def test_unknown_names_list_the_allowed_values(api, framework):
    errors = classify(api, body(capabilities=["telepathy"], sensitive_domains=["chemistry"]), expect=400)
    assert "advanced_reasoning, code_generation, multimodal" in errors["capabilities"][0]
    assert "telepathy" in errors["capabilities"][0]
    assert "biology, cybersecurity" in errors["sensitive_domains"][0]


def test_out_of_range_count_names_the_range(api, framework):
    errors = classify(api, body(parameter_count=0), expect=400)
    assert "1" in errors["parameter_count"][0] and str(10**15) in errors["parameter_count"][0]


def test_every_bad_field_is_reported_at_once(api, framework):
    errors = classify(
        api, body(parameter_count="big", capabilities=["x"], emergent_capabilities=True), expect=400
    )
    assert set(errors) == {"parameter_count", "capabilities", "emergent_description"}


@pytest.mark.parametrize("payload", [[1, 2], "tier please", 7])
def test_a_body_that_is_not_an_object_is_400(api, framework, payload):
    errors = classify(api, payload, expect=400)
    assert list(errors) == ["non_field_errors"]


def test_malformed_json_is_400(api, framework):
    response = api.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400


def test_form_encoded_body_is_refused(api, framework):
    # Form fields are strings: "1000" is not a parameter count, so only JSON is accepted.
    response = api.post(URL, {"parameter_count": "1000"})
    assert response.status_code == 415


# --- access -------------------------------------------------------------------------------------------------


def test_signed_in_browser_session_needs_no_csrf_token(api, framework):
    api.force_login(f.UserFactory())
    assert classify(api, body())["tier"] == 1


def test_only_post_is_allowed(api, framework):
    assert api.get(URL).status_code == 405


def test_no_version_in_force_is_503(api, framework):
    FrameworkVersion.objects.update(status=FrameworkVersion.Status.DRAFT)
    response = api.post(URL, body(), format="json")
    assert response.status_code == 503
    assert "No framework version is in force" in response.json()["detail"]


def test_future_version_is_not_used_before_its_effective_date(api, framework):
    """The response names the version in force, which switches at the effective date."""
    rules = copy.deepcopy(framework.rules)
    rules["version"] = "2026.1"
    rules["classification"]["capabilities"].append({"id": "autonomy", "label": "Autonomous action"})
    starts = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    FrameworkVersion.objects.create(
        version="2026.1", status="published", effective_from=starts, rules=rules, digest="x" * 64
    )
    with time_machine.travel(starts - dt.timedelta(seconds=1), tick=False):
        assert classify(api, body(capabilities=["autonomy"]), expect=400)["capabilities"]
        assert classify(api, body())["framework_version"] == "2025.1"
    with time_machine.travel(starts, tick=False):
        result = classify(api, body(capabilities=["autonomy"]))
        assert result["framework_version"] == "2026.1"
        assert rule_ids(result) == ["capability:autonomy", "params_lt_1b"]


def test_throttled_after_the_rate(api, framework, settings):
    # A private cache: other test runs on the machine share the file cache.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "classify"}}
    settings.REST_FRAMEWORK = {
        **django_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "classify": "3/minute"},
    }
    for _ in range(3):
        assert api.post(URL, body(), format="json").status_code == 200
    response = api.post(URL, body(), format="json")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    # The window slides: a minute later the client may call again.
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=2), tick=False):
        assert api.post(URL, body(), format="json").status_code == 200


def test_default_rate_is_configured():
    assert django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["classify"]


# --- documentation ---------------------------------------------------------------------------------------


def test_openapi_schema_documents_request_and_responses(client, db):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    operation = schema["paths"]["/api/v1/classify/"]["post"]
    assert {"200", "400", "429", "503"} <= set(operation["responses"])
    request_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][request_ref]["properties"]) == {
        "parameter_count", "capabilities", "sensitive_domains", "emergent_capabilities", "emergent_description"
    }
    response_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][response_ref]["properties"]) == RESPONSE_KEYS
