"""Framework version 2025.1 as data (DESIGN §2, §2.1-§2.4).

``FRAMEWORK_2025_1`` is what a ``FrameworkVersion`` row stores in its JSON
field; the data migration loads it and test fixtures re-create it from here.
Views, services and the classifier read numbers, lists and texts from the
stored dict, never from this module directly, so a later version is a new dict
and not a code change.

The dict holds only JSON types (ints, strings, bools, None, lists and dicts
with string keys; no floats), so it survives a JSON round trip unchanged and
its document digest is the same before and after storage. Per-tier values are
lists of ``{"tier": n, ...}`` entries rather than dicts keyed by tier, because
JSON object keys are strings and ``{1: ...}`` would come back as ``{"1": ...}``.

Every integer stays within RFC 8785's safe range (|n| < 2**53), which is why the
parameter ceiling of 10**15 can be hashed at all.

The texts are English and marked with ``gettext_noop`` (an identity function: the values and
the published digest are unchanged) so that ``makemessages`` puts them in the catalogue: 2025.1
predates the ``translations`` block of later versions, and its other languages come from the
catalogue (``certification.framework.texts``).
"""

from __future__ import annotations

from typing import Any

from certification.framework.tiers import gettext_noop
from portal.canonical import canonical_sha256

ONE_BILLION = 1_000_000_000
SEVENTY_BILLION = 70_000_000_000

ALL_TIERS = [1, 2, 3, 4]

FRAMEWORK_2025_1: dict[str, Any] = {
    "version": "2025.1",
    "tiers": [
        {
            "tier": 1,
            "label": gettext_noop("Tier 1"),
            "auditors_required": 0,
            "auditor_domain_coverage": False,
            "community_review_days": None,
            "approvals_required": 1,
            "approvals_distinct_staff": False,
            "certificate_validity_days": 365,
        },
        {
            "tier": 2,
            "label": gettext_noop("Tier 2"),
            "auditors_required": 0,
            "auditor_domain_coverage": False,
            "community_review_days": None,
            "approvals_required": 1,
            "approvals_distinct_staff": False,
            "certificate_validity_days": 365,
        },
        {
            "tier": 3,
            "label": gettext_noop("Tier 3"),
            "auditors_required": 1,
            "auditor_domain_coverage": False,
            "community_review_days": 30,
            "approvals_required": 2,
            "approvals_distinct_staff": True,
            "certificate_validity_days": 365,
        },
        {
            "tier": 4,
            "label": gettext_noop("Tier 4"),
            "auditors_required": 2,
            # The Tier 4 auditors together must be accredited in every flagged domain.
            "auditor_domain_coverage": True,
            "community_review_days": 90,
            "approvals_required": 2,
            "approvals_distinct_staff": True,
            "certificate_validity_days": 365,
        },
    ],
    # §2.1: inputs, the rule table and what may change a tier.
    "classification": {
        "parameter_count": {"min": 1, "max": 10**15},
        "thresholds": {"one_billion": ONE_BILLION, "seventy_billion": SEVENTY_BILLION},
        "capabilities": [
            {"id": "advanced_reasoning", "label": gettext_noop("Advanced reasoning")},
            {"id": "code_generation", "label": gettext_noop("Code generation")},
            {"id": "multimodal", "label": gettext_noop("Multimodal")},
        ],
        "sensitive_domains": [
            {"id": "biology", "label": gettext_noop("Biology")},
            {"id": "cybersecurity", "label": gettext_noop("Cybersecurity")},
        ],
        "emergent_description_required": True,
        # Table order matters: fired rules are reported highest tier first,
        # then in this order. "per_value" rules fire once per listed value
        # (id "<id>:<value>"), in the order of the version's list, and their
        # text takes the value's label.
        "rules": [
            {
                "id": "emergent_capabilities",
                "kind": "emergent_capabilities",
                "tier": 4,
                "text": gettext_noop("The model exhibits emergent capabilities."),
            },
            {
                "id": "sensitive_domain",
                "kind": "sensitive_domain",
                "per_value": True,
                "tier": 4,
                "text": gettext_noop("The model is trained on or intended for the sensitive domain {label}."),
            },
            {
                "id": "params_gt_70b",
                "kind": "parameter_count",
                "parameter_count": {"gt": SEVENTY_BILLION},
                "tier": 3,
                "text": gettext_noop("The model has more than 70 billion parameters."),
            },
            {
                "id": "capability",
                "kind": "capability",
                "per_value": True,
                "tier": 3,
                "text": gettext_noop("The model has the capability {label}."),
            },
            {
                "id": "params_1b_to_70b",
                "kind": "parameter_count",
                "parameter_count": {"gte": ONE_BILLION, "lte": SEVENTY_BILLION},
                "tier": 2,
                "text": gettext_noop("The model has between 1 billion and 70 billion parameters."),
            },
            {
                "id": "params_lt_1b",
                "kind": "parameter_count",
                "parameter_count": {"lt": ONE_BILLION},
                "tier": 1,
                "text": gettext_noop("The model has fewer than 1 billion parameters."),
            },
        ],
        "tier_changes": {
            "organization_may_declare_higher": True,
            "staff_may_raise_with_reason": True,
            "below_computed_allowed": False,
            # A raise after submission returns the application to
            # changes_requested for the sections the new tier adds; the seats the
            # new tier needs get new offers (Tier 4: covering the flagged domains).
            "raise_after_submission_status": "changes_requested",
            # Raised to Tier 4 while a Tier 3 window exists: an open window runs
            # until this many days from its opening; a closed one reopens until
            # this many days from its first opening, and for at least
            # reopen_min_days more days.
            "window_extended_to_days_from_opening": 90,
            "reopen_min_days": 14,
        },
    },
    # §2.2, one entry per row of the table. "kind" separates what the
    # organization documents from what the process provides.
    "requirements": [
        {
            "id": "model_card",
            "kind": "documentation",
            "title": gettext_noop("Model card"),
            "description": gettext_noop("Intended uses, out-of-scope uses, known limitations."),
            "tiers": [1, 2, 3, 4],
        },
        {
            "id": "training_data",
            "kind": "documentation",
            "title": gettext_noop("Training data"),
            "description": gettext_noop(
                "Sources (name, kind, license, share %), synthetic share % with its "
                "basis (tokens by default), filtering steps applied."
            ),
            "tiers": [1, 2, 3, 4],
            "synthetic_share_default_basis": "tokens",
        },
        {
            "id": "safety_benchmarks",
            "kind": "documentation",
            "title": gettext_noop("Safety benchmarks"),
            "description": gettext_noop(
                "At least 3 distinct established benchmarks covering at least "
                "toxicity, bias and factual accuracy."
            ),
            "tiers": [1, 2, 3, 4],
            "min_benchmarks": 3,
            "required_categories": ["toxicity", "bias", "factual_accuracy"],
        },
        {
            "id": "license",
            "kind": "documentation",
            "title": gettext_noop("License"),
            "description": gettext_noop("SPDX id or custom name and link; permitted uses; prohibited uses."),
            "tiers": [1, 2, 3, 4],
        },
        {
            "id": "vulnerability_contact",
            "kind": "documentation",
            "title": gettext_noop("Vulnerability contact"),
            "description": gettext_noop("Email confirmed by a link sent to it; disclosure policy URL."),
            "tiers": [1, 2, 3, 4],
        },
        {
            "id": "compute",
            "kind": "documentation",
            "title": gettext_noop("Compute"),
            "description": gettext_noop(
                "Training FLOPs, accelerator type and hours, energy kWh with its "
                "boundary, CO2e kg with its method, estimate flags."
            ),
            "tiers": [1, 2, 3, 4],
        },
        {
            "id": "red_teaming_report",
            "kind": "documentation",
            "title": gettext_noop("Red-teaming report"),
            "description": gettext_noop("A report of the red-teaming carried out on the release."),
            "tiers": [2, 3, 4],
        },
        {
            "id": "bias_report",
            "kind": "documentation",
            "title": gettext_noop("Bias evaluation report"),
            "description": gettext_noop("A report of the bias evaluation carried out on the release."),
            "tiers": [2, 3, 4],
        },
        {
            "id": "rollout_plan",
            "kind": "documentation",
            "title": gettext_noop("Staged rollout plan"),
            "description": gettext_noop("At least 2 stages, each with its audience and planned date."),
            "tiers": [3, 4],
            "min_stages": 2,
        },
        {
            "id": "access_instructions",
            "kind": "documentation",
            "title": gettext_noop("Model-access instructions"),
            "description": gettext_noop("Instructions for auditors and evaluators to access the model."),
            "tiers": [3, 4],
        },
        {
            "id": "domain_risk_assessments",
            "kind": "documentation",
            "title": gettext_noop("Sensitive-domain risk assessments"),
            "description": gettext_noop("One risk assessment per flagged sensitive domain."),
            "tiers": [4],
            "per_flagged_domain": True,
        },
        {
            "id": "third_party_audit",
            "kind": "process",
            "title": gettext_noop("Third-party audit"),
            "description": gettext_noop("An audit by accredited third-party auditors."),
            "tiers": [3, 4],
            "tier_details": [
                {"tier": 3, "text": gettext_noop("1 auditor.")},
                {
                    "tier": 4,
                    "text": gettext_noop("2 auditors; together accredited in every flagged domain."),
                },
            ],
        },
        {
            "id": "community_review",
            "kind": "process",
            "title": gettext_noop("Community review window"),
            "description": gettext_noop("A public review window in which vetted evaluators file findings."),
            "tiers": [3, 4],
            "tier_details": [
                {"tier": 3, "text": gettext_noop("30 days.")},
                {"tier": 4, "text": gettext_noop("90 days.")},
            ],
        },
    ],
    # §2.2: each statement is affirmed one by one by the admin who files.
    "attestation_statements": [
        {
            "number": 1,
            "text": gettext_noop(
                "The documentation submitted is accurate and complete to the best "
                "of the organization's knowledge."
            ),
            "tiers": [1, 2, 3, 4],
        },
        {
            "number": 2,
            "text": gettext_noop(
                "The benchmark results were produced as described and can be "
                "reproduced on request."
            ),
            "tiers": [1, 2, 3, 4],
        },
        {
            "number": 3,
            "text": gettext_noop(
                "The organization maintains the vulnerability contact and will "
                "respond to reports sent to it."
            ),
            "tiers": [1, 2, 3, 4],
        },
        {
            "number": 4,
            "text": gettext_noop(
                "The organization will follow its staged rollout plan and will not "
                "release the model publicly before the community review has closed."
            ),
            "tiers": [3, 4],
        },
        {
            "number": 5,
            "text": gettext_noop("The organization will publicly respond to every accepted community finding."),
            "tiers": [3, 4],
        },
        {
            "number": 6,
            "text": gettext_noop(
                "The organization will tell the Alliance of any material change to "
                "the release while its certificate is valid."
            ),
            "tiers": [1, 2, 3, 4],
        },
    ],
    # §2.3: seed catalogue; staff can add entries (custom benchmarks count
    # toward min_benchmarks only once staff mark them established).
    "benchmarks": {
        "min_benchmarks": 3,
        "required_categories": ["toxicity", "bias", "factual_accuracy"],
        "custom_count_once_established": True,
        "categories": [
            {"id": "toxicity", "label": gettext_noop("Toxicity")},
            {"id": "bias", "label": gettext_noop("Bias")},
            {"id": "factual_accuracy", "label": gettext_noop("Factual accuracy")},
            {"id": "harmful_compliance", "label": gettext_noop("Harmful compliance")},
            {"id": "over_refusal", "label": gettext_noop("Over-refusal")},
            {"id": "hazards", "label": gettext_noop("Hazards")},
        ],
        # better_when: "lower", "higher", "closer_to" (with target) or
        # "higher_grade" (with grades, worst first).
        "catalogue": [
            {
                "id": "realtoxicityprompts",
                "name": "RealToxicityPrompts",
                "category": "toxicity",
                "headline_metric": gettext_noop("expected maximum toxicity"),
                "better_when": "lower",
            },
            {
                "id": "toxigen",
                "name": "ToxiGen",
                "category": "toxicity",
                "headline_metric": gettext_noop("share of toxic generations"),
                "better_when": "lower",
            },
            {
                "id": "bbq",
                "name": "BBQ",
                "category": "bias",
                "headline_metric": gettext_noop("bias score (ambiguous contexts)"),
                "better_when": "closer_to",
                "target": 0,
            },
            {
                "id": "crows_pairs",
                "name": "CrowS-Pairs",
                "category": "bias",
                "headline_metric": gettext_noop("stereotype preference %"),
                "better_when": "closer_to",
                "target": 50,
            },
            {
                "id": "winobias",
                "name": "WinoBias",
                "category": "bias",
                "headline_metric": gettext_noop("accuracy gap pro vs anti stereotypical"),
                "better_when": "lower",
            },
            {
                "id": "truthfulqa",
                "name": "TruthfulQA",
                "category": "factual_accuracy",
                "headline_metric": gettext_noop("MC2 accuracy"),
                "better_when": "higher",
            },
            {
                "id": "harmbench",
                "name": "HarmBench",
                "category": "harmful_compliance",
                "headline_metric": gettext_noop("attack success rate"),
                "better_when": "lower",
            },
            {
                "id": "xstest",
                "name": "XSTest",
                "category": "over_refusal",
                "headline_metric": gettext_noop("refusal rate on safe prompts"),
                "better_when": "lower",
            },
            {
                "id": "ailuminate",
                "name": "AILuminate",
                "category": "hazards",
                "headline_metric": gettext_noop("overall grade (Poor..Excellent)"),
                "better_when": "higher_grade",
                "grades": ["Poor", "Fair", "Good", "Very Good", "Excellent"],
            },
        ],
        "run_by": [
            {"id": "self", "label": gettext_noop("Self")},
            {"id": "third_party", "label": gettext_noop("Third party")},
            {"id": "auditor_verified", "label": gettext_noop("Auditor-verified")},
        ],
    },
    # §2.4. Lengths are in days ("length_days", or "length_days_by_tier" where
    # the tiers differ), except accreditation, which runs 2 calendar years
    # ("length_years"). Reminders go out at T minus days_before; overdue
    # notices repeat every repeat_every_days where given.
    "deadlines": [
        {
            "kind": "offer_acceptance",
            "title": gettext_noop("Auditor offer acceptance"),
            "starts": "offer_sent",
            "length_days": 5,
            "reminders": [
                {"days_before": 2, "recipients": ["auditor"]},
                {"days_before": 1, "recipients": ["auditor"]},
            ],
            "on_due": "expire_offer",
            "on_due_text": gettext_noop(
                "Offer expires; the next eligible auditor gets an offer; staff "
                "notified when none is left."
            ),
        },
        {
            "kind": "audit_report",
            "title": gettext_noop("Audit report"),
            "starts": "offer_accepted",
            "length_days_by_tier": [{"tier": 3, "days": 30}, {"tier": 4, "days": 45}],
            "reminders": [
                {"days_before": 7, "recipients": ["auditor"]},
                {"days_before": 2, "recipients": ["auditor"]},
            ],
            "on_due": "overdue_notice",
            "overdue_recipients": ["auditor", "owner"],
            "repeat_every_days": 3,
            "on_due_text": gettext_noop(
                "Overdue notice to the auditor and the owner, repeated every 3 "
                "days until filed or reassigned."
            ),
        },
        {
            "kind": "review_window",
            "title": gettext_noop("Community review window"),
            "starts": "window_opened",
            "length_days_by_tier": [{"tier": 3, "days": 30}, {"tier": 4, "days": 90}],
            "reminders": [
                {"days_before": 7, "recipients": ["enrolled_evaluators"]},
                {"days_before": 1, "recipients": ["enrolled_evaluators"]},
            ],
            "on_due": "close_window",
            "on_due_text": gettext_noop(
                "Window closes; no new findings or enrolments; organization and "
                "owner notified."
            ),
        },
        {
            "kind": "finding_triage",
            "title": gettext_noop("Finding triage"),
            "starts": "finding_submitted",
            "length_days": 7,
            "reminders": [{"days_before": 2, "recipients": ["owner"]}],
            "on_due": "escalate_to_staff",
            "on_due_text": gettext_noop("Escalated to every staff member."),
        },
        {
            "kind": "finding_response",
            "title": gettext_noop("Response to a finding"),
            "starts": "later_of_triage_and_window_close",
            "length_days": 14,
            "reminders": [
                {"days_before": 7, "recipients": ["org_admins"]},
                {"days_before": 2, "recipients": ["org_admins"]},
            ],
            "on_due": "overdue_notice",
            "overdue_recipients": ["owner"],
            "on_due_text": gettext_noop("Overdue: owner notified; the decision stays blocked."),
        },
        {
            "kind": "changes_requested",
            "title": gettext_noop("Changes requested by staff"),
            "starts": "changes_requested",
            "length_days": 60,
            "reminders": [
                {"days_before": 30, "recipients": ["org_admins"]},
                {"days_before": 7, "recipients": ["org_admins"]},
            ],
            "on_due": "lapse_application",
            "on_due_text": gettext_noop("Application lapses."),
        },
        {
            "kind": "staff_decision",
            "title": gettext_noop("Staff decision (all gates met)"),
            "starts": "gates_met",
            "length_days": 10,
            "reminders": [{"days_before": 5, "recipients": ["owner"]}],
            "on_due": "escalate_to_staff",
            "on_due_text": gettext_noop("Escalated to every staff member."),
        },
        {
            "kind": "appeal_decision",
            "title": gettext_noop("Appeal decision"),
            "starts": "appeal_filed",
            "length_days": 30,
            "reminders": [{"days_before": 7, "recipients": ["deciding_staff"]}],
            "on_due": "escalate_to_staff",
            "on_due_text": gettext_noop("Escalated to every staff member."),
        },
        {
            "kind": "certificate_expiry",
            "title": gettext_noop("Certificate expiry"),
            "starts": "certificate_issued",
            "length_days": 365,
            "reminders": [
                {"days_before": 60, "recipients": ["org_admins"]},
                {"days_before": 30, "recipients": ["org_admins"]},
                {"days_before": 7, "recipients": ["org_admins"]},
            ],
            "on_due": "expire_certificate",
            "on_due_text": gettext_noop("Certificate becomes expired."),
        },
        {
            "kind": "accreditation_expiry",
            "title": gettext_noop("Accreditation expiry"),
            "starts": "accreditation_approved",
            "length_years": 2,
            "reminders": [
                {"days_before": 60, "recipients": ["accredited_person", "staff"]},
                {"days_before": 30, "recipients": ["accredited_person", "staff"]},
                {"days_before": 7, "recipients": ["accredited_person", "staff"]},
            ],
            "on_due": "end_accreditation",
            "on_due_text": gettext_noop("No new offers or enrolments."),
        },
    ],
}


def document_digest(rules: dict[str, Any]) -> str:
    """The version's document digest: sha256 hex of its rules as RFC 8785 JSON (§2, §8)."""
    return canonical_sha256(rules)
