"""The audit flow in a real browser: staff send the proposed offer for a Tier 3
application in review; the auditor signs in with TOTP, accepts the offer with
the confidentiality terms, reads the frozen submission and files the report.
axe runs on every page."""

from __future__ import annotations

import time

import pytest

from auditors.models import AuditReport, Engagement, Offer
from certification.framework.models import Benchmark, FrameworkVersion
from certification.framework.seed import seed_framework
from tests import factories as f
from tests.auditors.helpers import in_review_application, make_accredited_auditor
from tests.browser.conftest import check_a11y, submit, submit_button, visit

pytestmark = pytest.mark.browser


def fresh_totp(secret: str) -> str:
    """A code with at least two seconds left in its 30 s window (allauth allows no drift)."""
    if time.time() % 30 > 28:
        time.sleep(30 - time.time() % 30 + 0.1)
    return f.totp_code(secret)


def sign_in_with_totp(page, email: str, secret: str, next_url: str) -> None:
    visit(page, f"/accounts/login/?next={next_url}")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(f.PASSWORD)
    submit(page, submit_button(page, "input[name=password]"))
    assert "/accounts/2fa/authenticate/" in page.url
    page.locator("input[name=code]").fill(fresh_totp(secret))
    submit(page, submit_button(page, "input[name=code]"))


@pytest.fixture
def framework(transactional_db):
    # Live-server tests flush tables: the data migration's version is gone.
    seed_framework(FrameworkVersion, Benchmark)
    return FrameworkVersion.objects.get(version="2025.1")


def test_staff_assign_and_the_auditor_accepts_and_files_the_report(page, live_server, settings, tmp_path, framework):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    staff = f.make_staff(email="root@example.org")
    org = f.OrganizationFactory(name="Acme AI", slug="acme")
    admin = f.MembershipFactory(organization=org, role="admin").user
    app = in_review_application(org, admin, staff)
    auditor = make_accredited_auditor(name="Ada Auditor", email="ada@audits.example", mfa=True)

    # Staff review the suggestions and send the proposed offer.
    sign_in_with_totp(page, "root@example.org", f.STAFF_TOTP_SECRET, f"/staff/assignments/{app.pk}/")
    assert page.url == f"{live_server.url}/staff/assignments/{app.pk}/"
    assert page.get_by_text("Accredited for Tier 3.").first.is_visible()
    submit(page, "Send offers to the proposed auditors")
    assert page.get_by_text("1 offer(s) sent.").is_visible()
    offer = Offer.objects.get(accreditation=auditor)
    submit(page, page.get_by_role("button", name="Sign out"))

    # The auditor signs in with a second factor and finds the offer on the dashboard.
    sign_in_with_totp(page, "ada@audits.example", f.AUDITOR_TOTP_SECRET, "/network/me/")
    assert page.url == f"{live_server.url}/network/me/"
    with page.expect_navigation():
        page.get_by_role("link", name=str(app.release)).first.click()
    check_a11y(page)
    assert page.url == f"{live_server.url}/offers/{offer.pk}/"
    page.get_by_label("I accept the confidentiality terms", exact=False).check()
    submit(page, page.get_by_role("button", name="Accept the engagement"))
    engagement = Engagement.objects.get(offer=offer)
    assert page.url == f"{live_server.url}/engagements/{engagement.pk}/"

    visit(page, f"/engagements/{engagement.pk}/submission/")
    assert page.get_by_text("eval.example/access", exact=False).first.is_visible()

    visit(page, f"/engagements/{engagement.pk}/report/")
    page.get_by_label("Scope").fill("Documentation, benchmarks and the access sandbox.")
    page.get_by_label("Methods").fill("Reproduced TruthfulQA; two days of red-teaming.")
    page.get_by_label("Issues found").fill("low | Verbose refusals | Cosmetic")
    page.get_by_label("Pass", exact=True).check()
    submit(page, page.get_by_role("button", name="Save draft"))
    assert page.get_by_text("Draft saved.").is_visible()
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    page.get_by_label("Signed report (PDF)").set_input_files(str(signed))
    submit(page, page.get_by_role("button", name="Check and file the report"))
    # The confirmation page lists what will be filed, the signed file kept from the form included.
    assert page.get_by_role("heading", name="Check and file the audit report").is_visible()
    assert page.get_by_text("signed.pdf").is_visible()
    submit(page, page.get_by_role("button", name="File the report"))
    assert page.get_by_text("Report filed. It is now locked.").is_visible()
    report = AuditReport.objects.get(engagement=engagement)
    assert report.filed_at is not None and report.recommendation == "pass"
    assert Engagement.objects.get(pk=engagement.pk).status == Engagement.Status.COMPLETED
