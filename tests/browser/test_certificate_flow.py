"""Four-eyes certification of a Tier 3 release in a real browser, then a visitor
verifies the certificate on the verify page. axe runs on every page."""

from __future__ import annotations

import time

import pytest

from certification.certificates.models import Certificate
from certification.framework.models import Benchmark, FrameworkVersion
from certification.framework.seed import seed_framework
from certification.releases import applications
from certification.releases.models import Application
from tests import factories as f
from tests.browser.conftest import submit, submit_button, visit
from tests.certification.certificate_helpers import TIER3_FACTS, decision_pending

pytestmark = pytest.mark.browser


def fresh_totp(secret: str) -> str:
    """A code with at least two seconds left in its 30 s window (allauth allows no drift)."""
    if time.time() % 30 > 28:
        time.sleep(30 - time.time() % 30 + 0.1)
    return f.totp_code(secret)


def approve_through_confirmation(page, button: str) -> str:
    """Follow "Approve" to its confirmation page (re-authenticating if asked), read it, confirm."""
    with page.expect_navigation():
        page.get_by_role("link", name="Approve", exact=True).click()
    from tests.browser.conftest import check_a11y

    check_a11y(page)
    if "/reauthenticate/" in page.url:
        page.locator("input[name=password]").fill(f.PASSWORD)
        submit(page, submit_button(page, "input[name=password]"))
    assert page.get_by_role("heading", name="Approve the application").is_visible()
    text = page.locator("main").inner_text() if page.locator("main").count() else page.content()
    if button:
        submit(page, button)
    return text


def sign_in_with_totp(page, email: str, next_url: str) -> None:
    visit(page, f"/accounts/login/?next={next_url}")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(f.PASSWORD)
    submit(page, submit_button(page, "input[name=password]"))
    page.locator("input[name=code]").fill(fresh_totp(f.STAFF_TOTP_SECRET))
    submit(page, submit_button(page, "input[name=code]"))


def sign_out(page) -> None:
    submit(page, page.get_by_role("button", name="Sign out"))


@pytest.fixture
def framework(transactional_db):
    # Live-server tests flush tables: the data migration's version is gone.
    seed_framework(FrameworkVersion, Benchmark)
    return FrameworkVersion.objects.get(version="2025.1")


def test_two_staff_certify_a_tier3_release_and_a_visitor_verifies_it(page, live_server, settings, tmp_path,
                                                                     framework, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    # The audit and community-review gates belong to other work items; this test is about the decision.
    monkeypatch.setattr(applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(applications, "REVIEW_STARTED_HOOKS", [])
    org = f.OrganizationFactory(name="Acme AI", slug="acme")
    admin = f.MembershipFactory(organization=org, role="admin").user
    first = f.make_staff(email="first@alliance.example", name="First Staff")
    second = f.make_staff(email="second@alliance.example", name="Second Staff")
    app = decision_pending(org, admin, first, **TIER3_FACTS)
    assert app.tier == 3
    detail = f"/applications/{app.pk}/"

    sign_in_with_totp(page, first.email, detail)
    assert page.url.endswith(detail)
    text = approve_through_confirmation(page, "Record my approval")
    assert "No certificate is issued yet" in text
    assert page.get_by_text("Approval recorded.").is_visible()
    assert not Certificate.objects.filter(application=app).exists()
    # The same person cannot approve twice: the confirmation page says so and has no button.
    approve_through_confirmation(page, "")
    assert page.get_by_text("another staff member must approve it").is_visible()
    assert page.get_by_role("button", name="Record my approval").count() == 0
    app.refresh_from_db()
    assert app.status == Application.Status.DECISION_PENDING
    sign_out(page)

    sign_in_with_totp(page, second.email, detail)
    assert "A public certificate is issued at once" in approve_through_confirmation(
        page, "Approve and issue the certificate")
    cert = Certificate.objects.get(application=app)
    assert cert.tier == 3 and cert.attestation
    page.get_by_role("link", name="Public certificate page").click()
    page.wait_for_url(f"**/registry/{cert.number}/")
    from tests.browser.conftest import check_a11y

    check_a11y(page)
    assert page.get_by_text("Staff actions").is_visible()
    sign_out(page)

    # A visitor, not signed in, checks the number on the verify page.
    visit(page, "/")
    page.get_by_role("link", name="Verify", exact=True).click()
    page.wait_for_url("**/verify/")
    check_a11y(page)
    page.get_by_label("Certificate number, file sha256 or hub repository id").fill(cert.number)
    submit(page, "Verify")
    result = page.locator("#verify-result")
    assert "Verified: a valid certificate matches" in result.inner_text()
    assert cert.number in result.inner_text() and "Tier 3" in result.inner_text()

    # The registry lists it; its public page and printable certificate are accessible.
    visit(page, "/registry/?tier=3")
    assert page.get_by_role("link", name=cert.number).is_visible()
    visit(page, f"/registry/{cert.number}/")
    assert page.locator("#certificate-status").inner_text().endswith("Valid")
    visit(page, f"/registry/{cert.number}/print/")
