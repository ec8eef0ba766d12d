"""The Tier 1 certification flow in a real browser: an organization admin registers a
model and a release, documents it, uploads evidence and files the attestation; staff
request changes; the organization resubmits; staff certify it. axe runs on every page."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager

import pytest

from certification.certificates.models import Certificate
from certification.framework.models import Benchmark, FrameworkVersion
from certification.framework.seed import seed_framework
from certification.releases import sample, services
from certification.releases.models import Application, Release
from tests import factories as f
from tests.browser.conftest import TIMEOUT_MS, A11yTracker, check_a11y, submit, submit_button, visit

pytestmark = pytest.mark.browser


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


def fresh_totp(secret: str) -> str:
    """A code with at least two seconds left in its 30 s window (allauth allows no drift)."""
    if time.time() % 30 > 28:
        time.sleep(30 - time.time() % 30 + 0.1)
    return f.totp_code(secret)


def sign_in(page, email: str, next_url: str) -> None:
    visit(page, f"/accounts/login/?next={next_url}")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(f.PASSWORD)
    submit(page, submit_button(page, "input[name=password]"))


@contextmanager
def second_page(browser, axe, live_server):
    """Another signed-in person at the same time: a context of its own, axe-tracked like ``page``."""
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    other = context.new_page()
    other._a11y = A11yTracker(axe)
    other.on("framenavigated", other._a11y.on_navigated)
    try:
        yield other
        assert not other._a11y.unchecked(), f"pages visited without an axe check: {other._a11y.unchecked()}"
    finally:
        context.close()


@pytest.fixture
def framework(transactional_db):
    # Live-server tests flush tables: the data migration's version is gone.
    seed_framework(FrameworkVersion, Benchmark)
    return FrameworkVersion.objects.get(version="2025.1")


def test_tier1_release_goes_from_registration_to_certified(page, browser, axe, live_server, settings, tmp_path,
                                                           framework):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    org = f.OrganizationFactory(name="Acme AI", slug="acme")
    admin = f.MembershipFactory(organization=org, role="admin", user=f.UserFactory(
        email="ada@acme.example", name="Ada Admin")).user
    f.make_staff(email="sam@alliance.example", name="Sam Staff")

    # --- the organization admin registers a model and a Tier 1 release -----------------------
    sign_in(page, "ada@acme.example", "/models/")
    assert page.url.endswith("/models/")
    page.get_by_role("link", name="Register a model").click()
    page.wait_for_url("**/models/new/")
    check_a11y(page)
    page.get_by_label("Name", exact=True).fill("Acme Chat")
    page.get_by_label("Short name").fill("acme-chat")
    submit(page, "Register model")
    assert re.search(r"/models/\d+/releases/new/$", page.url)
    page.get_by_label("Release version").fill("1.0")
    page.get_by_label("Parameter count").fill("700000000")
    submit(page, "Save release")
    release = Release.objects.get(ai_model__slug="acme-chat", version="1.0")
    assert page.url.endswith(f"/releases/{release.pk}/")
    assert page.get_by_role("heading", name="Tier 1").is_visible()

    # --- documentation: most sections prefilled, the model card through its form -------------
    sample.fill_documentation(release, admin)
    services.update_section(release, admin, "model_card", {})
    visit(page, f"/releases/{release.pk}/")
    page.get_by_role("link", name="Model card", exact=True).click()
    page.wait_for_url(f"**/releases/{release.pk}/sections/model_card/")
    check_a11y(page)
    page.get_by_label("Intended uses").fill("Drafting and summarising English text.")
    page.get_by_label("Out-of-scope uses").fill("Medical or legal advice.")
    page.get_by_label("Known limitations").fill("May state wrong facts with confidence.")
    submit(page, "Save and return to the checklist")
    assert page.url.endswith(f"/releases/{release.pk}/")
    assert page.get_by_text("Every requirement is met").is_visible()

    # --- evidence through the upload form (posted by the progress script) ---------------------
    page.locator("input[type=file][name=file]").set_input_files(
        files=[{"name": "eval-summary.md", "mimeType": "text/markdown", "buffer": b"# Evaluation summary\n"}])
    submit(page, "Upload")
    assert page.get_by_text("eval-summary.md uploaded").is_visible()
    assert release.evidence_files.filter(display_name="eval-summary.md").exists()

    # --- start the application and file the attestation (re-authenticating first) ------------
    submit(page, "Start the application")
    assert "/accounts/reauthenticate/" in page.url
    page.locator("input[name=password]").fill(f.PASSWORD)
    submit(page, submit_button(page, "input[name=password]"))
    app = Application.objects.get(release=release)
    assert page.url.endswith(f"/applications/{app.pk}/attest/")

    def attest(title: str) -> None:
        page.get_by_label("Your title or role").fill(title)
        for box in page.locator("input[type=checkbox][name^=statement_]").all():
            box.check()
        submit(page, "File the attestation and submit")
        assert page.get_by_role("heading", name=re.compile("submitted", re.I)).first.is_visible()

    attest("Chief Technology Officer")
    app.refresh_from_db()
    assert app.status == Application.Status.SUBMITTED
    assert app.attestations.get().signer_name == "Ada Admin"

    with second_page(browser, axe, live_server) as staff_page:
        # --- staff sign in with TOTP, screen and request changes -----------------------------
        sign_in(staff_page, "sam@alliance.example", f"/applications/{app.pk}/")
        assert "/accounts/2fa/authenticate/" in staff_page.url
        staff_page.locator("input[name=code]").fill(fresh_totp(f.STAFF_TOTP_SECRET))
        submit(staff_page, submit_button(staff_page, "input[name=code]"))
        assert staff_page.url.endswith(f"/applications/{app.pk}/")
        submit(staff_page, "Start screening (you become the owner)")
        staff_page.get_by_role("link", name="Request changes").click()
        staff_page.wait_for_url(f"**/applications/{app.pk}/request-changes/")
        check_a11y(staff_page)
        staff_page.locator("textarea[name=model_card]").fill("Name the languages the model is weak in.")
        submit(staff_page, "Request changes")
        app.refresh_from_db()
        assert app.status == Application.Status.CHANGES_REQUESTED

        # --- the organization changes the model card and resubmits ---------------------------
        visit(page, f"/applications/{app.pk}/")
        assert page.get_by_text("Name the languages the model is weak in.").is_visible()
        page.get_by_role("link", name="Change", exact=True).click()
        page.wait_for_url(f"**/releases/{release.pk}/sections/model_card/")
        check_a11y(page)
        page.get_by_label("Known limitations").fill("Weaker in languages other than English and French.")
        submit(page, "Save and return to the checklist")
        visit(page, f"/applications/{app.pk}/")
        page.get_by_role("link", name="Resubmit: check your answers").click()
        page.wait_for_url(f"**/applications/{app.pk}/attest/")
        check_a11y(page)
        attest("CTO")
        app.refresh_from_db()
        assert app.status == Application.Status.SUBMITTED and app.revisions.count() == 2

        # --- staff accept, complete the review and approve ------------------------------------
        visit(staff_page, f"/applications/{app.pk}/")
        submit(staff_page, "Start screening (you become the owner)")
        submit(staff_page, "Accept into review")
        submit(staff_page, "Mark the review complete")
        approve_through_confirmation(staff_page, "Approve and issue the certificate")
        app.refresh_from_db()
        assert app.status == Application.Status.CERTIFIED
        certificate = Certificate.objects.get(application=app)
        assert staff_page.get_by_text(certificate.number).first.is_visible()

    visit(page, "/models/")
    assert page.get_by_role("cell", name=certificate.number).is_visible()
    assert page.get_by_role("link", name="Certified").is_visible()
