"""The API docs and the printable certificate under the Content-Security-Policy, in a real
browser: they render with zero violations (the ``page`` fixture fails on any), and the
fixture does see a violation when one happens."""

from __future__ import annotations

import pytest

from certification.framework.models import Benchmark, FrameworkVersion
from certification.framework.seed import seed_framework
from tests.browser.conftest import CspTracker, check_a11y, visit

pytestmark = pytest.mark.browser
# Swagger UI and Redoc build the page from the schema after "load": a 1 MB bundle on a busy machine.
RENDER_TIMEOUT_MS = 30_000
# Redoc's side menu shows Redocly's logo from their CDN (hard-coded in the bundle). The policy
# refuses it, as it should (no third-party requests); Redoc then leaves the logo out.
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture
def framework(transactional_db):
    # Live-server tests flush tables: the data migration's version is gone.
    seed_framework(FrameworkVersion, Benchmark)


def test_swagger_ui_renders_the_operations_without_inline_script(page, live_server):
    response = page.goto("/api/docs/", timeout=RENDER_TIMEOUT_MS)
    assert response is not None and response.status == 200
    page.locator(".opblock").first.wait_for(timeout=RENDER_TIMEOUT_MS)
    # Swagger UI renders only the operations near the viewport: scroll down and collect them.
    paths: set[str] = set()
    for _ in range(40):
        paths.update(page.locator(".opblock-summary-path").all_inner_texts())
        page.mouse.wheel(0, 2000)
        page.wait_for_timeout(100)
    assert len(paths) > 40 and "/api/v1/verify/" in paths
    assert page.locator("html").get_attribute("lang") == "en"
    # Swagger UI's colours and deep links are adjusted (static/css/api-docs.css, SWAGGER_UI_SETTINGS).
    check_a11y(page)


def wait_for_violation(page, text: str) -> list[str]:
    """The violations mentioning ``text``, once the console has reported one (console
    messages reach the test asynchronously)."""
    for _ in range(50):
        found = [v for v in page._csp.violations if text in v]
        if found:
            return found
        page.wait_for_timeout(100)
    return []


def test_redoc_renders_the_operations_with_its_styles(page, live_server):
    page._csp.expect(REDOC_CDN_LOGO)
    response = page.goto("/api/redoc/", timeout=RENDER_TIMEOUT_MS)
    assert response is not None and response.status == 200
    operations = page.locator("[data-section-id^='operation/']")
    operations.first.wait_for(timeout=RENDER_TIMEOUT_MS)
    assert operations.count() > 20
    check_a11y(page)  # on the rendered operations
    # The styles Redoc makes at run time applied (its side menu is laid out), none was refused.
    assert page.locator(".menu-content").first.evaluate("e => getComputedStyle(e).display") == "flex"
    assert wait_for_violation(page, REDOC_CDN_LOGO), "the CDN logo was not refused"


def test_print_button_comes_from_a_static_script(
    page, live_server, settings, tmp_path, framework, org, org_admin, staff
):
    from tests.certification.certificate_helpers import certify

    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    cert = certify(org, org_admin, staff)
    visit(page, f"/registry/{cert.number}/print/")
    button = page.get_by_role("button", name="Print", exact=True)
    assert button.is_visible()
    page.evaluate("window.print = () => { document.body.dataset.printed = 'yes'; }")
    button.click()
    assert page.locator("body").get_attribute("data-printed") == "yes"


def test_the_page_fixture_sees_a_violation(page, live_server):
    visit(page, "/")
    # An inline style attribute set by a script: refused by style-src 'self', reported on the console.
    page._csp.expect("style-src")  # provoked on purpose: it must not fail this test at teardown
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    assert wait_for_violation(page, "style-src"), page._csp.violations
    assert page._csp.unexpected() == []
    # Not announced with expect(), the same violation fails the test at teardown.
    unannounced = CspTracker()
    unannounced.violations = list(page._csp.violations)
    assert unannounced.unexpected()
