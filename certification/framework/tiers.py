"""Tier classification as a pure function (DESIGN §2.1, §7.1).

Everything here reads a framework version's rules dict (``FRAMEWORK_2025_1``
or what a ``FrameworkVersion`` row stores) and touches neither the database nor
Django settings, so the API, the forms, the staff console and offline scripts
all classify the same way.

Error messages are ``Message`` strings: plain English here, and each carries its
template and parameters, so the Django callers that show them to people translate
them (``certification.framework.labels.localized``) while this module stays free of
Django. ``gettext_noop`` marks the templates for ``makemessages``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FIELDS = (
    "parameter_count",
    "capabilities",
    "sensitive_domains",
    "emergent_capabilities",
    "emergent_description",
)


def gettext_noop(message: str) -> str:
    """Marks a message template for the catalogue (``makemessages`` finds it by this name)."""
    return message


class Message(str):
    """An error message in English, with the ``template`` and ``params`` it was made from."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Message:
        message = super().__new__(cls, template.format(**params))
        message.template, message.params = template, params
        return message


NAME_MESSAGES = {
    "capabilities": {
        "not_list": gettext_noop("capabilities must be a list of capability names; allowed values: {allowed}."),
        "not_str": gettext_noop("capabilities must contain only capability names (strings), got {item!r}; "
                                "allowed values: {allowed}."),
        "unknown": gettext_noop("Unknown capability {item!r} in capabilities; allowed values: {allowed}."),
        "twice": gettext_noop("Capability {item!r} is listed more than once in capabilities."),
    },
    "sensitive_domains": {
        "not_list": gettext_noop("sensitive_domains must be a list of sensitive domain names; "
                                 "allowed values: {allowed}."),
        "not_str": gettext_noop("sensitive_domains must contain only sensitive domain names (strings), "
                                "got {item!r}; allowed values: {allowed}."),
        "unknown": gettext_noop("Unknown sensitive domain {item!r} in sensitive_domains; allowed values: {allowed}."),
        "twice": gettext_noop("Sensitive domain {item!r} is listed more than once in sensitive_domains."),
    },
}


class ClassificationError(ValueError):
    """Bad classification input; ``errors`` maps each bad field to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(
            "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())
        )


@dataclass(frozen=True)
class FiredRule:
    id: str
    tier: int
    text: str

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "tier": self.tier, "text": self.text}


@dataclass(frozen=True)
class Classification:
    tier: int
    rules: list[FiredRule]
    framework_version: str
    requirements: list[dict[str, Any]]
    auditors_required: int
    community_review_days: int | None
    # The flagged sensitive domains, in the version's order: Tier 4 auditor
    # coverage and the per-domain risk assessments follow from them.
    sensitive_domains: list[str] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        """The ``POST /api/v1/classify/`` response body (§7.1), exactly."""
        return {
            "tier": self.tier,
            "rules": [rule.to_api() for rule in self.rules],
            "framework_version": self.framework_version,
            "requirements": [dict(r) for r in self.requirements],
            "auditors_required": self.auditors_required,
            "community_review_days": self.community_review_days,
        }


def _is_int(value: Any) -> bool:
    # bool is a subclass of int, but True is not a parameter count.
    return isinstance(value, int) and not isinstance(value, bool)


def _allowed(ids: list[str]) -> str:
    return ", ".join(ids)


def _validate_names(name: str, value: Any, allowed: list[str], errors: dict[str, list[str]]) -> list[str]:
    """Check a list of names against the version's list; return them in the version's order."""
    templates = NAME_MESSAGES[name]
    if not isinstance(value, (list, tuple)):
        errors.setdefault(name, []).append(Message(templates["not_list"], allowed=_allowed(allowed)))
        return []
    messages: list[str] = []
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            messages.append(Message(templates["not_str"], item=item, allowed=_allowed(allowed)))
        elif item not in allowed:
            messages.append(Message(templates["unknown"], item=item, allowed=_allowed(allowed)))
        elif item in seen:
            messages.append(Message(templates["twice"], item=item))
        else:
            seen.add(item)
    if messages:
        errors.setdefault(name, []).extend(messages)
    return [item for item in allowed if item in seen]


def validate_inputs(inputs: Mapping[str, Any], rules: Mapping[str, Any]) -> dict[str, Any]:
    """Check the inputs against the version (§2.1) and return them cleaned.

    Lists come back in the version's order. Absent ``capabilities`` and
    ``sensitive_domains`` mean none and absent ``emergent_capabilities`` means
    false; an absent ``parameter_count`` is an error. Every bad field is
    reported at once by raising ClassificationError.
    """
    spec = rules["classification"]
    errors: dict[str, list[str]] = {}

    low, high = spec["parameter_count"]["min"], spec["parameter_count"]["max"]
    count = inputs.get("parameter_count")
    if "parameter_count" not in inputs or count is None:
        errors["parameter_count"] = [Message(
            gettext_noop("parameter_count is required: an integer from {low} to {high}."), low=low, high=high)]
    elif not _is_int(count):
        errors["parameter_count"] = [Message(
            gettext_noop("parameter_count must be an integer from {low} to {high}, not {type} {value!r}."),
            low=low, high=high, type=type(count).__name__, value=count)]
    elif not low <= count <= high:
        errors["parameter_count"] = [Message(
            gettext_noop("parameter_count must be from {low} to {high}; got {value}."), low=low, high=high,
            value=count)]

    capability_ids = [c["id"] for c in spec["capabilities"]]
    domain_ids = [d["id"] for d in spec["sensitive_domains"]]
    capabilities = _validate_names("capabilities", inputs.get("capabilities", []), capability_ids, errors)
    domains = _validate_names("sensitive_domains", inputs.get("sensitive_domains", []), domain_ids, errors)

    emergent = inputs.get("emergent_capabilities", False)
    if not isinstance(emergent, bool):
        errors["emergent_capabilities"] = [Message(
            gettext_noop("emergent_capabilities must be true or false, not {value!r}."), value=emergent)]
        emergent = False

    description = inputs.get("emergent_description")
    if description is None:
        description = ""
    if not isinstance(description, str):
        errors["emergent_description"] = [Message(
            gettext_noop("emergent_description must be text, not {type}."), type=type(description).__name__)]
        description = ""
    elif emergent and spec.get("emergent_description_required", True) and not description.strip():
        errors["emergent_description"] = [Message(gettext_noop(
            "emergent_description is required when emergent_capabilities is true: "
            "describe the emergent capabilities observed."))]

    if errors:
        raise ClassificationError(errors)
    return {
        "parameter_count": count,
        "capabilities": capabilities,
        "sensitive_domains": domains,
        "emergent_capabilities": emergent,
        "emergent_description": description.strip(),
    }


def _count_matches(count: int, bounds: Mapping[str, int]) -> bool:
    checks = {
        "gt": lambda v: count > v,
        "gte": lambda v: count >= v,
        "lt": lambda v: count < v,
        "lte": lambda v: count <= v,
    }
    return all(checks[op](value) for op, value in bounds.items())


def _fire(rule: Mapping[str, Any], cleaned: Mapping[str, Any], spec: Mapping[str, Any]):
    """Yield the FiredRules one table row produces for the cleaned inputs."""
    kind = rule["kind"]
    if kind == "emergent_capabilities":
        if cleaned["emergent_capabilities"]:
            yield FiredRule(rule["id"], rule["tier"], rule["text"])
    elif kind in ("capability", "sensitive_domain"):
        chosen, options = (
            (cleaned["capabilities"], spec["capabilities"])
            if kind == "capability"
            else (cleaned["sensitive_domains"], spec["sensitive_domains"])
        )
        for option in options:
            if option["id"] in chosen:
                yield FiredRule(
                    f"{rule['id']}:{option['id']}",
                    rule["tier"],
                    rule["text"].format(label=option["label"], id=option["id"]),
                )
    elif kind == "parameter_count":
        if _count_matches(cleaned["parameter_count"], rule["parameter_count"]):
            yield FiredRule(rule["id"], rule["tier"], rule["text"])
    else:
        # A version with a rule kind this code does not know must fail loudly,
        # not classify lower than it should.
        raise ValueError(f"unknown rule kind {kind!r} in framework rules")


def tier_settings(rules: Mapping[str, Any], tier: int) -> dict[str, Any]:
    """The per-tier numbers of §2.2 (auditors, review days, approvals, validity)."""
    for entry in rules["tiers"]:
        if entry["tier"] == tier:
            return dict(entry)
    raise ValueError(f"tier {tier!r} is not defined in framework {rules['version']}")


# The kinds of documentation requirement the portal knows how to check, edit and show. A
# requirement names its kind in ``check``, with the kind's parameters beside it
# (``min_benchmarks``, ``required_categories``, ``min_stages``, ``fields`` ...), so a new
# framework version can add a requirement of a known kind without code. Version 2025.1 predates
# ``check``: each of its requirements is checked by the kind named like its id, and its two
# reports share the ``report`` kind.
DOCUMENTATION_KINDS = (
    "model_card", "training_data", "safety_benchmarks", "license", "vulnerability_contact", "compute",
    "report", "rollout_plan", "access_instructions", "domain_risk_assessments",
    "fields",  # a section of text fields: ``fields`` = [{"id", "label"}], every one required
)
_KIND_OF_2025_1_ID = {"red_teaming_report": "report", "bias_report": "report"}


def check_kind(requirement: Mapping[str, Any]) -> str:
    """How a requirement is met: ``process`` (by the review process) or a documentation kind."""
    if requirement.get("kind") == "process":
        return "process"
    return requirement.get("check") or _KIND_OF_2025_1_ID.get(requirement["id"], requirement["id"])


def documentation_requirements(rules: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every requirement of the version met by documentation (a section of its own), any tier."""
    return [dict(r) for r in rules["requirements"] if r.get("kind") != "process"]


def section_ids(rules: Mapping[str, Any]) -> list[str]:
    return [r["id"] for r in documentation_requirements(rules)]


def validate_requirements(rules: Mapping[str, Any]) -> None:
    """Raise ValueError for a requirement of a kind the portal cannot check."""
    seen = set()
    for requirement in rules["requirements"]:
        rid = requirement["id"]
        if rid in seen:
            raise ValueError(f"the requirement id {rid!r} appears twice")
        seen.add(rid)
        kind = check_kind(requirement)
        if kind != "process" and kind not in DOCUMENTATION_KINDS:
            raise ValueError(f"requirement {rid!r}: unknown kind {kind!r}; one of {', '.join(DOCUMENTATION_KINDS)}")
        if kind == "fields":
            fields = requirement.get("fields")
            if not fields or not all(isinstance(f, Mapping) and f.get("id") and f.get("label") for f in fields):
                raise ValueError(f"requirement {rid!r}: a fields requirement lists its fields, each with id and label")


def requirements_for_tier(rules: Mapping[str, Any], tier: int) -> list[dict[str, Any]]:
    """The §2.2 requirements that apply to ``tier``, in table order.

    Each entry is ``{"id", "kind", "title", "description", "detail"}`` where
    ``detail`` is the tier-specific text (e.g. "2 auditors; ...") or None; the
    full entry (``rules["requirements"]``) has the parameters and ``check_kind``.
    """
    tier_settings(rules, tier)  # rejects an unknown tier
    result = []
    for requirement in rules["requirements"]:
        if tier not in requirement["tiers"]:
            continue
        detail = next(
            (d["text"] for d in requirement.get("tier_details", []) if d["tier"] == tier),
            None,
        )
        result.append(
            {
                "id": requirement["id"],
                "kind": requirement["kind"],
                "title": requirement["title"],
                "description": requirement["description"],
                "detail": detail,
            }
        )
    return result


def attestation_statements_for_tier(rules: Mapping[str, Any], tier: int) -> list[dict[str, Any]]:
    """The numbered statements the filer affirms for ``tier``: ``{"number", "text"}``."""
    tier_settings(rules, tier)
    return [
        {"number": s["number"], "text": s["text"]}
        for s in sorted(rules["attestation_statements"], key=lambda s: s["number"])
        if tier in s["tiers"]
    ]


def classify(inputs: Mapping[str, Any], rules: Mapping[str, Any]) -> Classification:
    """Classify a release under a framework version (§2.1).

    1. Validate the inputs (all field errors at once, ClassificationError).
    2. Evaluate every row of the version's rule table; per-value rows fire
       once per chosen capability or domain.
    3. Order the fired rules highest tier first, then table order (stable).
    4. The tier is the highest fired; attach that tier's requirements and
       numbers.
    """
    cleaned = validate_inputs(inputs, rules)
    spec = rules["classification"]
    fired: list[FiredRule] = []
    for rule in spec["rules"]:
        fired.extend(_fire(rule, cleaned, spec))
    if not fired:
        # The parameter rules cover the whole valid range, so a version whose
        # table leaves a gap is broken; never fall back to Tier 1 silently.
        raise ValueError(f"no rule fired in framework {rules['version']}")
    fired.sort(key=lambda r: -r.tier)  # sort is stable: table order within a tier
    tier = fired[0].tier
    settings = tier_settings(rules, tier)
    return Classification(
        tier=tier,
        rules=fired,
        framework_version=rules["version"],
        requirements=requirements_for_tier(rules, tier),
        auditors_required=settings["auditors_required"],
        community_review_days=settings["community_review_days"],
        sensitive_domains=list(cleaned["sensitive_domains"]),
    )
