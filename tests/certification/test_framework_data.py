"""Framework version 2025.1 as data (DESIGN §2) and its document digest."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from certification.framework.data import FRAMEWORK_2025_1, document_digest
from portal.canonical import canonical_json

RULES = FRAMEWORK_2025_1


def walk(value, path="$"):
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


def by_tier(entries, key):
    return [entry[key] for entry in sorted(entries, key=lambda e: e["tier"])]


def test_only_json_types_and_string_keys_no_floats():
    for path, value in walk(RULES):
        assert isinstance(value, (dict, list, str, int, bool, type(None))), path
        assert not isinstance(value, float), path
        if isinstance(value, dict):
            assert all(isinstance(k, str) for k in value), path


def test_survives_a_json_round_trip_with_the_same_digest():
    restored = json.loads(json.dumps(RULES))
    assert restored == RULES
    assert document_digest(restored) == document_digest(RULES)


def test_digest_is_sha256_hex_of_canonical_json_and_stable():
    digest = document_digest(RULES)
    assert len(digest) == 64 and int(digest, 16) >= 0
    # Key order must not matter: canonical JSON sorts keys.
    reordered = json.loads(json.dumps(RULES, sort_keys=True))
    reordered = dict(reversed(list(reordered.items())))
    assert document_digest(reordered) == digest
    assert digest == hashlib.sha256(canonical_json(RULES)).hexdigest()


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r["classification"]["rules"][2]["parameter_count"].update(
            gt=70_000_000_001
        ),
        lambda r: r["attestation_statements"][0].update(text="Changed."),
        lambda r: r["tiers"][3].update(community_review_days=60),
        lambda r: r["classification"]["sensitive_domains"].append(
            {"id": "chemistry", "label": "Chemistry"}
        ),
    ],
)
def test_digest_changes_when_a_rule_changes(change):
    changed = copy.deepcopy(RULES)
    change(changed)
    assert document_digest(changed) != document_digest(RULES)


def test_version_and_tier_numbers():
    assert RULES["version"] == "2025.1"
    tiers = RULES["tiers"]
    assert by_tier(tiers, "tier") == [1, 2, 3, 4]
    assert by_tier(tiers, "auditors_required") == [0, 0, 1, 2]
    assert by_tier(tiers, "community_review_days") == [None, None, 30, 90]
    assert by_tier(tiers, "approvals_required") == [1, 1, 2, 2]
    assert by_tier(tiers, "certificate_validity_days") == [365] * 4


def test_classification_inputs_and_rule_table():
    spec = RULES["classification"]
    assert spec["parameter_count"] == {"min": 1, "max": 10**15}
    assert spec["thresholds"] == {
        "one_billion": 1_000_000_000,
        "seventy_billion": 70_000_000_000,
    }
    assert [c["id"] for c in spec["capabilities"]] == [
        "advanced_reasoning",
        "code_generation",
        "multimodal",
    ]
    assert [d["id"] for d in spec["sensitive_domains"]] == ["biology", "cybersecurity"]
    assert [(r["id"], r["tier"]) for r in spec["rules"]] == [
        ("emergent_capabilities", 4),
        ("sensitive_domain", 4),
        ("params_gt_70b", 3),
        ("capability", 3),
        ("params_1b_to_70b", 2),
        ("params_lt_1b", 1),
    ]
    assert all(r["text"] for r in spec["rules"])


def test_requirement_ids_are_unique_and_cover_the_table():
    ids = [r["id"] for r in RULES["requirements"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {
        "model_card", "training_data", "safety_benchmarks", "license",
        "vulnerability_contact", "compute", "red_teaming_report", "bias_report",
        "rollout_plan", "access_instructions", "domain_risk_assessments",
        "third_party_audit", "community_review",
    }
    for requirement in RULES["requirements"]:
        assert requirement["title"] and requirement["description"]
        assert set(requirement["tiers"]) <= {1, 2, 3, 4}


def test_benchmark_minimums_and_catalogue():
    bench = RULES["benchmarks"]
    assert bench["min_benchmarks"] == 3
    assert bench["required_categories"] == ["toxicity", "bias", "factual_accuracy"]
    category_ids = {c["id"] for c in bench["categories"]}
    catalogue = {b["id"]: b for b in bench["catalogue"]}
    assert list(catalogue) == [
        "realtoxicityprompts", "toxigen", "bbq", "crows_pairs", "winobias",
        "truthfulqa", "harmbench", "xstest", "ailuminate",
    ]
    assert all(b["category"] in category_ids for b in catalogue.values())
    assert set(bench["required_categories"]) <= category_ids
    assert (catalogue["crows_pairs"]["better_when"], catalogue["crows_pairs"]["target"]) == (
        "closer_to",
        50,
    )
    assert catalogue["truthfulqa"]["headline_metric"] == "MC2 accuracy"
    # The requirement row repeats the same numbers; they must not drift apart.
    safety = {r["id"]: r for r in RULES["requirements"]}["safety_benchmarks"]
    assert safety["min_benchmarks"] == bench["min_benchmarks"]
    assert safety["required_categories"] == bench["required_categories"]


def test_attestation_statements_numbered_1_to_6_with_exact_texts():
    statements = RULES["attestation_statements"]
    assert [s["number"] for s in statements] == [1, 2, 3, 4, 5, 6]
    assert statements[3]["text"] == (
        "The organization will follow its staged rollout plan and will not release "
        "the model publicly before the community review has closed."
    )
    assert [s["tiers"] for s in statements if s["number"] in (4, 5)] == [[3, 4], [3, 4]]


def test_deadline_table():
    deadlines = {d["kind"]: d for d in RULES["deadlines"]}
    assert list(deadlines) == [
        "offer_acceptance", "audit_report", "review_window", "finding_triage",
        "finding_response", "changes_requested", "staff_decision", "appeal_decision",
        "certificate_expiry", "accreditation_expiry",
    ]

    def offsets(kind):
        return [r["days_before"] for r in deadlines[kind]["reminders"]]

    assert deadlines["offer_acceptance"]["length_days"] == 5
    assert offsets("offer_acceptance") == [2, 1]
    assert deadlines["audit_report"]["length_days_by_tier"] == [
        {"tier": 3, "days": 30},
        {"tier": 4, "days": 45},
    ]
    assert deadlines["audit_report"]["repeat_every_days"] == 3
    assert deadlines["review_window"]["length_days_by_tier"] == [
        {"tier": 3, "days": 30},
        {"tier": 4, "days": 90},
    ]
    assert deadlines["changes_requested"]["length_days"] == 60
    assert offsets("changes_requested") == [30, 7]
    assert deadlines["certificate_expiry"]["length_days"] == 365
    assert offsets("certificate_expiry") == [60, 30, 7]
    assert deadlines["accreditation_expiry"]["length_years"] == 2
    for deadline in deadlines.values():
        # Exactly one way of stating the length, and reminders before the due time.
        assert (
            sum(k in deadline for k in ("length_days", "length_days_by_tier", "length_years"))
            == 1
        ), deadline["kind"]
        assert offsets(deadline["kind"]) == sorted(offsets(deadline["kind"]), reverse=True)
        assert deadline["on_due"] and deadline["on_due_text"]


def test_review_window_lengths_match_tier_numbers():
    window = {d["kind"]: d for d in RULES["deadlines"]}["review_window"]
    tiers = {t["tier"]: t for t in RULES["tiers"]}
    for entry in window["length_days_by_tier"]:
        assert tiers[entry["tier"]]["community_review_days"] == entry["days"]
