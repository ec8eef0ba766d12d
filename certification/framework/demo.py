"""The framework's part of the demo story (issue 16 §3): the yearly review of the version in force
is tracked, and staff have a draft of the next version whose changes the publish page lists."""

from __future__ import annotations

import copy

from certification.framework import services
from certification.framework.models import FrameworkVersion

DEMO_DRAFT = "2027.1"


def draft_rules(rules: dict) -> dict:
    """The demo's next version: a new requirement, a shorter Tier 3 validity, a new capability and
    a shorter response deadline."""
    rules = copy.deepcopy(rules)
    rules["version"] = DEMO_DRAFT
    rules["requirements"].insert(6, {
        "id": "incident_response",
        "kind": "documentation",
        "check": "fields",
        "title": "Incident response",
        "description": "How reports about the released model are received, triaged and fixed, and how fast.",
        "tiers": [2, 3, 4],
        "fields": [{"id": "process", "label": "Incident response process"},
                   {"id": "response_time", "label": "Committed time to acknowledge a report"}],
    })
    for tier in rules["tiers"]:
        if tier["tier"] == 3:
            tier["certificate_validity_days"] = 180
    rules["classification"]["capabilities"].append({"id": "autonomous_agents", "label": "Autonomous agents"})
    for deadline in rules["deadlines"]:
        if deadline["kind"] == "finding_response":
            deadline["length_days"] = 10
    return rules


def step(story) -> None:
    services.ensure_review_deadline()
    if FrameworkVersion.objects.filter(version=DEMO_DRAFT).exists():
        return
    fv = services.draft_framework_version(story.staff, DEMO_DRAFT)
    services.update_framework_rules(fv, story.staff, draft_rules(fv.rules))
