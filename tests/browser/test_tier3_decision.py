"""The demo's Tier 3 decision in a real browser (issue 12 §6): Acme Vision 1.0 waits for two staff
approvals with every gate met (no gate is switched off here). staff@ approves, cannot approve a
second time, staff2@ approves, and the certificate is in the registry and verifies. axe runs on
every page."""

from __future__ import annotations

import time

import pytest

from certification.certificates.models import Certificate
from certification.framework.models import Benchmark, FrameworkVersion
from certification.framework.seed import seed_framework
from certification.releases import applications
from certification.releases.models import Application
from portal import demo
from tests import factories as f
from tests.browser.conftest import check_a11y, submit, submit_button, visit

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STAFF = ("staff@demo.example", "JBSWY3DPEHPK3PXPSTAFF234")
STAFF2 = ("staff2@demo.example", "JBSWY3DPEHPK3PXPSTAFF567")


@pytest.fixture
def framework(transactional_db):
    # Live-server tests flush tables: the data migration's version is gone.
    seed_framework(FrameworkVersion, Benchmark)
    return FrameworkVersion.objects.get(version="2025.1")


def fresh_totp(secret: str) -> str:
    """A code with at least two seconds left in its 30 s window."""
    if time.time() % 30 > 28:
        time.sleep(30 - time.time() % 30 + 0.1)
    return f.totp_code(secret)


def second_factor(page, secret: str) -> None:
    page.locator("input[name=code]").fill(fresh_totp(secret))
    submit(page, submit_button(page, "input[name=code]"))


def sign_in(page, who: tuple[str, str], next_url: str) -> None:
    email, secret = who
    visit(page, f"/accounts/login/?next={next_url}")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(demo.DEMO_PASSWORD)
    submit(page, submit_button(page, "input[name=password]"))
    second_factor(page, secret)


def sign_out(page) -> None:
    submit(page, page.get_by_role("button", name="Sign out"))


def open_approval(page, who: tuple[str, str]) -> None:
    """Follow "Approve" from the application page: through re-authentication, if asked, to the
    confirmation page (or, with a one-click button, straight to the result)."""
    link = page.get_by_role("link", name="Approve", exact=True)
    if link.count():
        link.click()
        page.wait_for_load_state("load")
        check_a11y(page)
    else:
        submit(page, "Approve")
    if "/reauthenticate" in page.url:
        if page.locator("input[name=password]").count():
            page.locator("input[name=password]").fill(demo.DEMO_PASSWORD)
            submit(page, submit_button(page, "input[name=password]"))
        else:
            second_factor(page, who[1])


def confirm(page) -> None:
    submit(page, submit_button(page, "input[name=confirmed]"))


def test_staff_and_staff2_approve_the_demo_tier3_application(page, live_server, settings, tmp_path, framework):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    demo.load()
    app = Application.objects.get(release__ai_model__slug="acme-vision", release__version="1.0")
    assert app.tier == 3 and app.status == Application.Status.DECISION_PENDING
    assert applications.open_gates(app) == [] and len(applications.GATE_PROVIDERS) >= 2
    detail = f"/applications/{app.pk}/"

    # staff@ records the first of the two approvals.
    sign_in(page, STAFF, detail)
    assert page.url.endswith(detail)
    open_approval(page, STAFF)
    assert page.get_by_text("What happens when you confirm").is_visible()
    assert page.get_by_text("No certificate is issued yet").is_visible()
    confirm(page)
    assert page.url.endswith(detail)
    assert page.get_by_text("Another staff member must approve").first.is_visible()
    assert not Certificate.objects.filter(application=app).exists()

    # The same person cannot approve twice: the page says so and offers no button.
    open_approval(page, STAFF)
    assert page.get_by_text("You have already approved this application").is_visible()
    assert page.locator("input[name=confirmed]").count() == 0
    app.refresh_from_db()
    assert app.status == Application.Status.DECISION_PENDING and app.decisions.count() == 1
    visit(page, detail)
    sign_out(page)

    # staff2@ approves: the certificate is issued.
    sign_in(page, STAFF2, detail)
    open_approval(page, STAFF2)
    assert page.get_by_text("This is the last of the 2 approvals").is_visible()
    confirm(page)
    cert = Certificate.objects.get(application=app)
    assert cert.tier == 3 and cert.attestation
    assert page.get_by_text("The certificate is issued").first.is_visible()
    sign_out(page)

    # A visitor finds it in the registry and verifies it.
    visit(page, "/registry/?tier=3")
    page.get_by_role("link", name=cert.number).click()
    page.wait_for_url(f"**/registry/{cert.number}/")
    check_a11y(page)
    assert page.locator("#certificate-status").inner_text().endswith("Valid")
    assert page.get_by_text("Acme Vision").first.is_visible()
    visit(page, "/verify/")
    page.get_by_label("Certificate number, file sha256 or hub repository id").fill(cert.number)
    submit(page, "Verify")
    result = page.locator("#verify-result").inner_text()
    assert "Verified: a valid certificate matches" in result and cert.number in result and "Tier 3" in result
