"""Shared set-up of the community review tests: a Tier 3/4 application in review,
vetted evaluators without conflicts, enrolments and findings."""

from __future__ import annotations

import itertools

import pytest

from certification.releases import applications
from certification.releases.models import Application
from certification.review import findings as review_findings
from certification.review import services
from certification.review.models import Finding
from tests import factories as f
from tests.certification.factories import submitted_application

TIER3 = {"parameter_count": 80_000_000_000}
TIER4 = {"parameter_count": 13_000_000_000, "sensitive_domains": ["biology"]}
ALL_STATEMENTS = [1, 2, 3, 4, 5, 6]

_n = itertools.count(1)


def in_review(org, admin, staff, *, facts=None, version="1.0") -> Application:
    """A Tier 3 (or Tier 4 with ``facts=TIER4``) application accepted into review."""
    app = submitted_application(org, admin, version=version, **(facts or TIER3))
    applications.start_screening(app, staff)
    applications.accept_into_review(app, staff)
    app.refresh_from_db()
    return app


def vetted_evaluator(**kwargs):
    """An evaluator whose email domain is not the organization's (no potential conflict)."""
    n = next(_n)
    kwargs.setdefault("email", f"eve{n}@lab{n}.example")
    return f.make_evaluator(**kwargs)


def enrolled(window, user=None):
    user = user or vetted_evaluator()
    services.enrol(window, user)
    return user


FINDING = {
    "title": "Jailbreak via role play",
    "category": Finding.Category.SECURITY,
    "severity": Finding.Severity.HIGH,
    "prevalence": Finding.Prevalence.OFTEN,
    "affected_capability": "code generation",
    "reproduction_steps": "Ask the model to play a character who writes malware.",
    "expected_behaviour": "A refusal.",
    "observed_behaviour": "Working ransomware.",
    "infohazard": False,
    "atlas_techniques": ["AML.T0054"],
}


def draft(window, user, **overrides) -> Finding:
    return review_findings.create_finding(window, user, {**FINDING, **overrides})


def filed(window, user, **overrides) -> Finding:
    finding = draft(window, user, **overrides)
    return review_findings.submit_finding(finding, user)


@pytest.fixture
def only_review_gates(monkeypatch):
    """The decision waits on the community review gates alone (the audit gates are
    tested with the auditor network)."""
    monkeypatch.setattr(applications, "GATE_PROVIDERS", [services.review_gates])
