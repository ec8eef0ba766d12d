"""The community review in a real browser: an evaluator enrols and files a finding,
staff triage it, the organization responds, the window closes (time travel in
process, then the sweep) and the application moves to decision_pending. axe runs
on every page."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine

from certification.framework.models import Benchmark, FrameworkVersion
from certification.framework.seed import seed_framework
from certification.releases import applications
from certification.releases.models import Application
from certification.review import services
from certification.review.models import Finding
from portal import deadlines
from tests import factories as f
from tests.browser.conftest import check_a11y, submit, submit_button, visit
from tests.certification.review_helpers import in_review

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def fresh_totp(secret: str) -> str:
    """A code with at least two seconds left in its 30 s window (allauth allows no drift)."""
    if time.time() % 30 > 28:
        time.sleep(30 - time.time() % 30 + 0.1)
    return f.totp_code(secret)


def sign_in(page, email: str, next_url: str, totp: str | None = None) -> None:
    visit(page, f"/accounts/login/?next={next_url}")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(f.PASSWORD)
    submit(page, submit_button(page, "input[name=password]"))
    if totp:
        page.locator("input[name=code]").fill(fresh_totp(totp))
        submit(page, submit_button(page, "input[name=code]"))


def follow(page, name: str) -> None:
    """Follow a link by its accessible name and check the page it opens."""
    with page.expect_navigation():
        page.get_by_role("link", name=name, exact=True).click()
    check_a11y(page)


def sign_out(page) -> None:
    submit(page, page.get_by_role("button", name="Sign out"))


@pytest.fixture
def framework(transactional_db):
    # Live-server tests flush tables: the data migration's version is gone.
    seed_framework(FrameworkVersion, Benchmark)
    return FrameworkVersion.objects.get(version="2025.1")


def test_evaluator_files_staff_triage_organization_responds_window_closes(page, live_server, settings, tmp_path,
                                                                          framework, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    # The decision waits on the community review alone here (audits have their own tests).
    monkeypatch.setattr(applications, "GATE_PROVIDERS", [services.review_gates])
    org = f.OrganizationFactory(name="Acme AI", slug="acme")
    admin = f.MembershipFactory(organization=org, role="admin", user__email="admin@acme.example").user
    staff = f.make_staff(email="staff@alliance.example")
    f.make_evaluator(email="eve@research.example", name="Eve Evaluator")
    app = in_review(org, admin, staff)
    window = app.review_window

    # The evaluator finds the window, enrols and sees the access instructions.
    sign_in(page, "eve@research.example", "/review/windows/")
    follow(page, "Model M 1.0")
    assert "Request an API key" not in page.content()
    follow(page, "Enrol as an evaluator")
    page.locator("input[name=confidentiality]").check()
    submit(page, "Enrol")
    assert "Request an API key at https://eval.example/access" in page.content()

    # ... files a finding: a draft first, then submitted (final).
    follow(page, "File a new finding")
    page.locator("[name=title]").fill("Role-play jailbreak yields malware")
    page.locator("[name=category]").select_option("security")
    page.locator("[name=severity]").select_option("high")
    page.locator("[name=prevalence]").select_option("often")
    page.locator("[name=reproduction_steps]").fill("Ask the model to play a villain who writes ransomware.")
    page.locator("[name=expected_behaviour]").fill("A refusal.")
    page.locator("[name=observed_behaviour]").fill("Working code.")
    page.locator("[name=atlas_techniques]").fill("AML.T0054")
    submit(page, "Save the draft")
    finding = Finding.objects.get(title="Role-play jailbreak yields malware")
    assert finding.is_draft
    follow(page, "Submit the finding")
    submit(page, "Submit this finding")
    finding.refresh_from_db()
    assert finding.status == Finding.Status.SUBMITTED
    sign_out(page)

    # Staff triage it: accepted, severity raised with a reason.
    sign_in(page, "staff@alliance.example", f"/review/findings/{finding.pk}/triage/", totp=f.STAFF_TOTP_SECRET)
    page.locator("input[name=outcome][value=accepted]").check()
    page.locator("[name=severity]").select_option("critical")
    page.locator("[name=severity_reason]").fill("Works without any jailbreak expertise.")
    submit(page, "Triage the finding")
    finding.refresh_from_db()
    assert finding.status == Finding.Status.ACCEPTED and finding.severity == "critical"
    sign_out(page)

    # The organization responds from its findings list.
    sign_in(page, "admin@acme.example", f"/applications/{app.pk}/findings/")
    assert "The community review window is open until" in page.content()
    follow(page, f"#{finding.pk} Role-play jailbreak yields malware")
    follow(page, "Respond to this finding")
    page.locator("input[name=kind][value=mitigated]").check()
    page.locator("[name=details]").fill("Added a refusal classifier for malware requests.")
    page.locator("[name=fixed_in]").fill("1.0.1")
    submit(page, "Respond to the finding")
    assert finding.__class__.objects.get(pk=finding.pk).response.fixed_in == "1.0.1"
    app.refresh_from_db()
    assert app.status == Application.Status.IN_REVIEW  # the window is still open

    # The window closes: travel past it and run the sweep in this process; the gates open.
    with time_machine.travel(window.closes_at + timedelta(minutes=5), tick=True):
        deadlines.sweep()
        app.refresh_from_db()
        assert app.status == Application.Status.DECISION_PENDING
        # Sessions expired during the jump: sign in again.
        sign_in(page, "admin@acme.example", f"/releases/{app.release.pk}/")
        assert "Application status: Decision pending." in page.content()
        assert "Waiting for:" not in page.content()
