"""The transparency report in a real browser: staff refresh the figures, preview last
year's draft and publish it; a visitor finds it from the home page, reads the charts
and their tables, and prints it. axe runs on every page."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from certification.framework.models import Benchmark, FrameworkVersion
from certification.framework.seed import seed_framework
from certification.transparency.models import ReportSnapshot
from tests import factories as f
from tests.browser.conftest import check_a11y, submit, submit_button, visit
from tests.certification.test_report_figures import make_cert

pytestmark = pytest.mark.browser


def follow(page, link) -> None:
    """Click a link, wait for the new page and check it with axe."""
    with page.expect_navigation():
        link.click()
    check_a11y(page)


def fresh_totp(secret: str) -> str:
    """A code with at least two seconds left in its 30 s window (allauth allows no drift)."""
    if time.time() % 30 > 28:
        time.sleep(30 - time.time() % 30 + 0.1)
    return f.totp_code(secret)


@pytest.fixture
def framework(transactional_db):
    # Live-server tests flush tables: the data migration's version is gone.
    seed_framework(FrameworkVersion, Benchmark)
    return FrameworkVersion.objects.get(version="2025.1")


def test_staff_publish_last_years_report_and_a_visitor_reads_it(page, live_server, framework):
    year = timezone.now().year - 1
    member = f.OrganizationFactory(name="Member Org", is_alliance_member=True)
    f.OrganizationFactory(name="Other Member", is_alliance_member=True)
    make_cert(member, 2, f"{year}-03-01", f"{year + 1}-03-01")
    staff = f.make_staff()

    # Staff: sign in (with TOTP), refresh, preview, publish.
    visit(page, "/accounts/login/?next=/staff/report/")
    page.locator("input[name=login]").fill(staff.email)
    page.locator("input[name=password]").fill(f.PASSWORD)
    submit(page, submit_button(page, "input[name=password]"))
    page.locator("input[name=code]").fill(fresh_totp(f.STAFF_TOTP_SECRET))
    submit(page, submit_button(page, "input[name=code]"))
    assert page.url.endswith("/staff/report/")
    submit(page, "Refresh the figures now")
    follow(page, page.get_by_role("link", name=f"Draft {year}"))
    assert page.get_by_text("Draft: only staff see this page").is_visible()
    follow(page, page.get_by_role("link", name="Publish this report"))
    submit(page, "Publish")
    assert page.url.endswith(f"/report/{year}/")
    snapshot = ReportSnapshot.objects.get(year=year)
    assert page.get_by_text(snapshot.sha256).is_visible()
    submit(page, page.get_by_role("button", name="Sign out"))

    # A visitor: from the home page to the report.
    visit(page, "/")
    follow(page, page.get_by_role("link", name="Annual transparency report"))
    follow(page, page.get_by_role("link", name=f"Transparency report {year}"))
    chart = page.get_by_role("img", name=f"Adoption among member organizations, {year}")
    assert chart.is_visible()
    assert "All tiers: 50.0% (1/2)" in chart.locator("desc").text_content()
    table = page.locator("#table-adoption")
    assert table.locator("caption").text_content() == "Adoption by tier"
    cells = table.locator("tbody tr").first.locator("th, td")
    assert [c.strip() for c in cells.all_text_contents()] == ["All tiers", "2", "1", "50.0%"]
    download = page.request.get(f"/report/{year}/data/adoption.csv")
    assert download.ok and download.text().splitlines()[1] == "all,2,1,0.5"

    # Printed: charts and tables stay, navigation and download links go.
    page.emulate_media(media="print")
    assert chart.is_visible() and table.is_visible()
    assert not page.locator(".downloads").first.is_visible()
    assert not page.locator(".site-header nav").is_visible()
