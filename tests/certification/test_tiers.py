"""Tier classification (DESIGN §2.1) and the classify response shape (§7.1)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certification.framework.data import FRAMEWORK_2025_1
from certification.framework.tiers import (
    Classification,
    ClassificationError,
    FiredRule,
    attestation_statements_for_tier,
    classify,
    requirements_for_tier,
)

RULES = FRAMEWORK_2025_1
CAPABILITIES = ["advanced_reasoning", "code_generation", "multimodal"]
DOMAINS = ["biology", "cybersecurity"]
PARAMETER_RULES = {"params_lt_1b", "params_1b_to_70b", "params_gt_70b"}


def inputs(**overrides):
    base = {
        "parameter_count": 500_000_000,
        "capabilities": [],
        "sensitive_domains": [],
        "emergent_capabilities": False,
        "emergent_description": "",
    }
    base.update(overrides)
    return base


def rule_ids(result: Classification) -> list[str]:
    return [r.id for r in result.rules]


def errors_for(**overrides) -> dict[str, list[str]]:
    with pytest.raises(ClassificationError) as info:
        classify(inputs(**overrides), RULES)
    return info.value.errors


# --- parameter-count rules and their boundaries ------------------------------------


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
def test_parameter_count_alone_picks_exactly_one_parameter_rule(count, tier, rule):
    result = classify(inputs(parameter_count=count), RULES)
    assert result.tier == tier
    assert rule_ids(result) == [rule]


@pytest.mark.parametrize("count", [0, -1, 10**15 + 1])
def test_parameter_count_out_of_range_is_an_error_naming_the_range(count):
    errors = errors_for(parameter_count=count)
    assert list(errors) == ["parameter_count"]
    assert "1 to 1000000000000000" in errors["parameter_count"][0]


def test_missing_parameter_count_is_an_error_not_tier_1():
    data = inputs()
    del data["parameter_count"]
    with pytest.raises(ClassificationError) as info:
        classify(data, RULES)
    assert "parameter_count is required" in info.value.errors["parameter_count"][0]


def test_null_parameter_count_is_an_error():
    assert "parameter_count" in errors_for(parameter_count=None)


@pytest.mark.parametrize("count", [True, False, 5e9, 1.0, "5000000000", [5]])
def test_parameter_count_of_wrong_type_is_an_error(count):
    errors = errors_for(parameter_count=count)
    assert "must be an integer from 1 to 1000000000000000" in errors["parameter_count"][0]


# --- capability, domain and emergent rules -----------------------------------------


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_each_capability_raises_a_small_model_to_tier_3(capability):
    result = classify(inputs(capabilities=[capability]), RULES)
    assert result.tier == 3
    assert rule_ids(result) == [f"capability:{capability}", "params_lt_1b"]


@pytest.mark.parametrize("domain", DOMAINS)
def test_each_sensitive_domain_raises_to_tier_4(domain):
    result = classify(inputs(sensitive_domains=[domain]), RULES)
    assert result.tier == 4
    assert rule_ids(result) == [f"sensitive_domain:{domain}", "params_lt_1b"]
    assert result.sensitive_domains == [domain]


def test_emergent_capabilities_with_description_is_tier_4():
    result = classify(
        inputs(emergent_capabilities=True, emergent_description="Plans multi-step attacks."),
        RULES,
    )
    assert result.tier == 4
    assert rule_ids(result) == ["emergent_capabilities", "params_lt_1b"]


def test_fired_rules_carry_tier_and_text_from_the_version():
    result = classify(
        inputs(parameter_count=2_000_000_000, capabilities=["code_generation"]), RULES
    )
    assert result.rules == [
        FiredRule("capability:code_generation", 3, "The model has the capability Code generation."),
        FiredRule(
            "params_1b_to_70b", 2, "The model has between 1 billion and 70 billion parameters."
        ),
    ]


def test_every_fired_rule_is_reported_highest_tier_first_then_table_order():
    result = classify(
        {
            "parameter_count": 80_000_000_000,
            # Given out of the version's order on purpose: output follows the version.
            "capabilities": ["multimodal", "advanced_reasoning", "code_generation"],
            "sensitive_domains": ["cybersecurity", "biology"],
            "emergent_capabilities": True,
            "emergent_description": "Self-replication attempts in sandbox.",
        },
        RULES,
    )
    assert result.tier == 4
    assert rule_ids(result) == [
        "emergent_capabilities",
        "sensitive_domain:biology",
        "sensitive_domain:cybersecurity",
        "params_gt_70b",
        "capability:advanced_reasoning",
        "capability:code_generation",
        "capability:multimodal",
    ]
    assert result.sensitive_domains == ["biology", "cybersecurity"]


def test_rules_are_ordered_by_tier_even_when_the_table_is_not():
    shuffled = copy.deepcopy(RULES)
    shuffled["classification"]["rules"].reverse()
    result = classify(
        inputs(parameter_count=2_000_000_000, capabilities=["multimodal"],
               sensitive_domains=["biology"]),
        shuffled,
    )
    assert rule_ids(result) == ["sensitive_domain:biology", "capability:multimodal",
                                "params_1b_to_70b"]


def test_capability_on_a_large_model_keeps_tier_3_and_reports_both():
    result = classify(
        inputs(parameter_count=70_000_000_001, capabilities=["multimodal"]), RULES
    )
    assert result.tier == 3
    assert rule_ids(result) == ["params_gt_70b", "capability:multimodal"]


def test_absent_optional_fields_mean_none_declared():
    result = classify({"parameter_count": 3_000_000_000}, RULES)
    assert result.tier == 2
    assert rule_ids(result) == ["params_1b_to_70b"]


# --- invalid input -----------------------------------------------------------------


def test_unknown_capability_names_the_field_and_allowed_values():
    errors = errors_for(capabilities=["telepathy"])
    (message,) = errors["capabilities"]
    assert "'telepathy'" in message and "capabilities" in message
    assert "advanced_reasoning, code_generation, multimodal" in message


def test_unknown_domain_names_the_field_and_allowed_values():
    errors = errors_for(sensitive_domains=["chemistry"])
    (message,) = errors["sensitive_domains"]
    assert "'chemistry'" in message and "sensitive_domains" in message
    assert "biology, cybersecurity" in message


def test_duplicate_capability_is_an_error():
    errors = errors_for(capabilities=["multimodal", "multimodal"])
    assert "more than once" in errors["capabilities"][0]


def test_duplicate_domain_is_an_error():
    errors = errors_for(sensitive_domains=["biology", "biology"])
    assert "more than once" in errors["sensitive_domains"][0]


@pytest.mark.parametrize("value", ["multimodal", None, {"multimodal": True}, 3])
def test_capabilities_not_a_list_is_an_error(value):
    errors = errors_for(capabilities=value)
    assert "must be a list" in errors["capabilities"][0]
    assert "advanced_reasoning, code_generation, multimodal" in errors["capabilities"][0]


@pytest.mark.parametrize("value", ["biology", None, 1])
def test_sensitive_domains_not_a_list_is_an_error(value):
    errors = errors_for(sensitive_domains=value)
    assert "must be a list" in errors["sensitive_domains"][0]


def test_non_string_list_items_are_errors():
    errors = errors_for(capabilities=[1], sensitive_domains=[None])
    assert "strings" in errors["capabilities"][0]
    assert "strings" in errors["sensitive_domains"][0]


@pytest.mark.parametrize("description", ["", "   ", None])
def test_emergent_without_description_is_an_error(description):
    errors = errors_for(emergent_capabilities=True, emergent_description=description)
    assert list(errors) == ["emergent_description"]
    assert "required when emergent_capabilities is true" in errors["emergent_description"][0]


@pytest.mark.parametrize("value", ["true", 1, None])
def test_emergent_flag_must_be_a_bool(value):
    errors = errors_for(emergent_capabilities=value)
    assert "true or false" in errors["emergent_capabilities"][0]


def test_description_of_wrong_type_is_an_error():
    errors = errors_for(emergent_capabilities=True, emergent_description=["x"])
    assert "must be text" in errors["emergent_description"][0]


def test_all_field_errors_are_reported_at_once():
    with pytest.raises(ClassificationError) as info:
        classify(
            {
                "parameter_count": True,
                "capabilities": ["telepathy"],
                "sensitive_domains": ["chemistry"],
                "emergent_capabilities": True,
                "emergent_description": "",
            },
            RULES,
        )
    assert set(info.value.errors) == {
        "parameter_count",
        "capabilities",
        "sensitive_domains",
        "emergent_description",
    }
    assert "telepathy" in str(info.value)


def test_unknown_rule_kind_in_a_version_fails_loudly():
    broken = copy.deepcopy(RULES)
    broken["classification"]["rules"].append(
        {"id": "x", "kind": "mystery", "tier": 4, "text": "?"}
    )
    with pytest.raises(ValueError, match="unknown rule kind"):
        classify(inputs(), broken)


def test_classification_follows_the_rules_it_is_given():
    """Thresholds come from the version, not the code."""
    lowered = copy.deepcopy(RULES)
    for rule in lowered["classification"]["rules"]:
        if rule["id"] == "params_lt_1b":
            rule["parameter_count"] = {"lt": 100}
        if rule["id"] == "params_1b_to_70b":
            rule["parameter_count"] = {"gte": 100, "lte": 70_000_000_000}
    lowered["version"] = "test"
    result = classify(inputs(parameter_count=500), lowered)
    assert (result.tier, rule_ids(result), result.framework_version) == (
        2,
        ["params_1b_to_70b"],
        "test",
    )


# --- response shape ----------------------------------------------------------------


@pytest.mark.parametrize("count", [5, 5_000_000_000])
def test_to_api_for_tiers_1_and_2_has_no_auditors_and_null_review_days(count):
    body = classify(inputs(parameter_count=count), RULES).to_api()
    assert list(body) == [
        "tier",
        "rules",
        "framework_version",
        "requirements",
        "auditors_required",
        "community_review_days",
    ]
    assert body["auditors_required"] == 0
    assert body["community_review_days"] is None
    assert body["framework_version"] == "2025.1"


def test_to_api_tier_3_and_4_numbers():
    tier3 = classify(inputs(capabilities=["multimodal"]), RULES).to_api()
    tier4 = classify(inputs(sensitive_domains=["biology"]), RULES).to_api()
    assert (tier3["tier"], tier3["auditors_required"], tier3["community_review_days"]) == (3, 1, 30)
    assert (tier4["tier"], tier4["auditors_required"], tier4["community_review_days"]) == (4, 2, 90)


def test_to_api_rules_and_requirements_are_plain_json():
    body = classify(inputs(parameter_count=80_000_000_000), RULES).to_api()
    assert body["rules"] == [
        {
            "id": "params_gt_70b",
            "tier": 3,
            "text": "The model has more than 70 billion parameters.",
        }
    ]
    assert body["requirements"] == requirements_for_tier(RULES, 3)
    assert {"id", "kind", "title", "description", "detail"} == set(body["requirements"][0])


def test_classification_is_frozen():
    result = classify(inputs(), RULES)
    with pytest.raises(AttributeError):
        result.tier = 4


# --- requirements and attestation statements by tier -------------------------------


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        (1, ["model_card", "training_data", "safety_benchmarks", "license",
             "vulnerability_contact", "compute"]),
        (2, ["model_card", "training_data", "safety_benchmarks", "license",
             "vulnerability_contact", "compute", "red_teaming_report", "bias_report"]),
        (3, ["model_card", "training_data", "safety_benchmarks", "license",
             "vulnerability_contact", "compute", "red_teaming_report", "bias_report",
             "rollout_plan", "access_instructions", "third_party_audit",
             "community_review"]),
        (4, ["model_card", "training_data", "safety_benchmarks", "license",
             "vulnerability_contact", "compute", "red_teaming_report", "bias_report",
             "rollout_plan", "access_instructions", "domain_risk_assessments",
             "third_party_audit", "community_review"]),
    ],
)
def test_requirements_for_each_tier(tier, expected):
    assert [r["id"] for r in requirements_for_tier(RULES, tier)] == expected


def test_requirement_detail_is_the_tier_specific_text():
    audit3 = {r["id"]: r for r in requirements_for_tier(RULES, 3)}["third_party_audit"]
    audit4 = {r["id"]: r for r in requirements_for_tier(RULES, 4)}["third_party_audit"]
    assert audit3["detail"] == "1 auditor."
    assert audit4["detail"] == "2 auditors; together accredited in every flagged domain."
    assert {r["id"]: r for r in requirements_for_tier(RULES, 1)}["model_card"]["detail"] is None


@pytest.mark.parametrize(("tier", "numbers"), [(1, [1, 2, 3, 6]), (2, [1, 2, 3, 6]),
                                               (3, [1, 2, 3, 4, 5, 6]), (4, [1, 2, 3, 4, 5, 6])])
def test_attestation_statements_4_and_5_only_for_tiers_3_and_4(tier, numbers):
    statements = attestation_statements_for_tier(RULES, tier)
    assert [s["number"] for s in statements] == numbers
    assert statements[0]["text"].startswith("The documentation submitted is accurate")


@pytest.mark.parametrize("tier", [0, 5, "3"])
def test_unknown_tier_is_rejected(tier):
    with pytest.raises(ValueError):
        requirements_for_tier(RULES, tier)
    with pytest.raises(ValueError):
        attestation_statements_for_tier(RULES, tier)


# --- purity ------------------------------------------------------------------------


def test_classify_runs_no_queries(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        classify(
            inputs(
                parameter_count=80_000_000_000,
                sensitive_domains=["biology"],
                emergent_capabilities=True,
                emergent_description="x",
            ),
            RULES,
        )
        with pytest.raises(ClassificationError):
            classify(inputs(parameter_count=0), RULES)


def test_classify_needs_no_django_settings():
    """Importing and running the classifier works with Django unconfigured."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    script = (
        "import django.conf\n"
        "from certification.framework.data import FRAMEWORK_2025_1, document_digest\n"
        "from certification.framework.tiers import classify\n"
        "r = classify({'parameter_count': 5, 'capabilities': ['multimodal']}, FRAMEWORK_2025_1)\n"
        "document_digest(FRAMEWORK_2025_1)\n"
        "assert not django.conf.settings.configured\n"
        "print(r.tier)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"


# --- properties --------------------------------------------------------------------


valid_inputs = st.fixed_dictionaries(
    {
        "parameter_count": st.one_of(
            st.integers(min_value=1, max_value=10**15),
            st.sampled_from(
                [1, 999_999_999, 1_000_000_000, 70_000_000_000, 70_000_000_001, 10**15]
            ),
        ),
        "capabilities": st.lists(st.sampled_from(CAPABILITIES), unique=True),
        "sensitive_domains": st.lists(st.sampled_from(DOMAINS), unique=True),
        "emergent_capabilities": st.booleans(),
        "emergent_description": st.text(min_size=1).filter(str.strip),
    }
)


@given(valid_inputs)
def test_tier_is_the_highest_fired_rule_and_parameter_rules_exclude_each_other(data):
    result = classify(data, RULES)
    tiers = [r.tier for r in result.rules]
    assert result.tier == max(tiers)
    assert tiers == sorted(tiers, reverse=True)
    assert len([r for r in result.rules if r.id in PARAMETER_RULES]) == 1
    assert len({r.id for r in result.rules}) == len(result.rules)
    expected_others = (
        len(data["capabilities"]) + len(data["sensitive_domains"])
        + int(data["emergent_capabilities"])
    )
    assert len(result.rules) == 1 + expected_others
    assert result.requirements == requirements_for_tier(RULES, result.tier)
