"""Public findings and responses of certified releases (DESIGN §6): accepted findings
with their responses, infohazard findings redacted to title, category, severity and
response, in HTML and API alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.template.loader import render_to_string
from django.urls import reverse

from certification.certificates import services
from certification.releases.models import Application
from certification.review import findings
from certification.review.models import Finding
from portal import deadlines
from tests import factories as f
from tests.certification.review_helpers import enrolled, filed, in_review, only_review_gates, vetted_evaluator  # noqa: F401 - fixture

S = Application.Status
F = Finding.Status

pytestmark = pytest.mark.usefixtures("only_review_gates")

SECRET_STEPS = "Mix precursor A with B at 40 degrees"


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


@pytest.fixture
def certified(framework, org, org_admin, staff):
    """A certified Tier 3 release with an ordinary finding (answered, with a rejoinder),
    an infohazard finding (answered) and an invalid one."""
    app = in_review(org, org_admin, staff)
    window = app.review_window
    author = enrolled(window)
    plain = filed(window, author, title="Stereotyped job advice", category="bias", severity="medium")
    hazard = filed(window, author, title="Synthesis uplift", category="dangerous_capability", severity="critical",
                   infohazard=True, reproduction_steps=SECRET_STEPS, observed_behaviour="Full protocol given.")
    invalid = filed(window, author, title="Model is slow", category="other", severity="info")
    findings.triage(plain, staff, F.ACCEPTED)
    findings.triage(hazard, staff, F.ACCEPTED)
    findings.triage(invalid, staff, F.OUT_OF_SCOPE, "Latency is not a safety property.")
    findings.respond(Finding.objects.get(pk=plain.pk), org_admin, "mitigated", "Debiased the career prompts.", "1.0.1")
    findings.respond(Finding.objects.get(pk=hazard.pk), org_admin, "mitigated", "Refusal training on synthesis.",
                     "1.0.1")
    findings.add_rejoinder(Finding.objects.get(pk=plain.pk), author, "Partly fixed; nursing prompts still skewed.")
    with time_machine.travel(window.closes_at + timedelta(minutes=1), tick=False):
        deadlines.sweep()
        app.refresh_from_db()
        assert app.status == S.DECISION_PENDING
        services.approve(app, staff)
        services.approve(app, f.make_staff())
    app.refresh_from_db()
    assert app.status == S.CERTIFIED
    return app


def test_public_page_shows_findings_and_responses_with_infohazards_redacted(client, certified):
    page = client.get(reverse("certification:release-findings", args=[certified.release.pk])).content.decode()
    assert "Stereotyped job advice" in page and "Debiased the career prompts." in page
    assert "nursing prompts still skewed" in page
    assert "Synthesis uplift" in page and "Critical" in page and "Refusal training on synthesis." in page
    assert SECRET_STEPS not in page and "Full protocol given." not in page
    assert "Model is slow" not in page


def test_public_api_redacts_infohazards_the_same_way(client, certified):
    data = client.get(reverse("review-api:public-findings", args=[certified.release.pk])).json()
    by_title = {row["title"]: row for row in data["findings"]}
    assert set(by_title) == {"Stereotyped job advice", "Synthesis uplift"}
    hazard = by_title["Synthesis uplift"]
    assert set(hazard) == {"id", "title", "category", "severity", "infohazard", "redacted", "response"}
    assert hazard["category"] == "dangerous_capability" and hazard["severity"] == "critical"
    assert hazard["response"]["kind"] == "mitigated" and hazard["response"]["fixed_in"] == "1.0.1"
    plain = by_title["Stereotyped job advice"]
    assert plain["redacted"] is False and plain["rejoinder"]["text"].startswith("Partly fixed")
    assert SECRET_STEPS not in str(data)


def test_include_for_the_certificate_page_takes_findings(certified):
    html = render_to_string("certification/review/public_findings.html",
                            {"findings": findings.public_findings(certified)})
    assert "Synthesis uplift" in html and SECRET_STEPS not in html


def test_other_evaluators_read_findings_only_through_the_public_view_after_certification(client, certified):
    reader = vetted_evaluator()
    client.force_login(reader)
    hazard = Finding.objects.get(title="Synthesis uplift")
    assert client.get(reverse("certification:finding-detail", args=[hazard.pk])).status_code == 404
    page = client.get(reverse("certification:release-findings", args=[certified.release.pk])).content.decode()
    assert "Synthesis uplift" in page and SECRET_STEPS not in page
