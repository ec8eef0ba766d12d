"""The transparency report's charts and the stacked tables, measured in a real browser at a desktop
width and a phone's: no chart text is clipped by its SVG's viewport, none is rendered under 11 px,
and a table that stacks its cells on a phone keeps each cell's column label. axe runs on every page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from tests.browser.conftest import submit, submit_button, visit

pytestmark = pytest.mark.browser

WIDTHS = (1280, 390)
MIN_FONT_PX = 11
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

# Every <text> of every chart: its box against its svg's box, and its rendered font size (the CSS
# font size times the svg's scale, since the drawing is scaled to the width of its column).
MEASURE = """() => [...document.querySelectorAll('svg.chart')].flatMap(svg => {
  const box = svg.getBoundingClientRect();
  const scale = box.width / svg.viewBox.baseVal.width;
  return [...svg.querySelectorAll('text')].map(t => {
    const r = t.getBoundingClientRect();
    return {chart: svg.id, text: t.textContent,
            font: parseFloat(getComputedStyle(t).fontSize) * scale,
            inside: r.left >= box.left - 0.5 && r.right <= box.right + 0.5
                    && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5};
  });
})"""


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    settings.DEMO_MODE = True
    # Live-server tests flush tables: the data migration's framework version is gone.
    from certification.framework.models import Benchmark, FrameworkVersion
    from certification.framework.seed import seed_framework

    seed_framework(FrameworkVersion, Benchmark)
    call_command("load_demo", "--quiet")


def latest_report_year() -> int:
    from certification.transparency.models import ReportSnapshot

    return ReportSnapshot.objects.order_by("-year").values_list("year", flat=True).first()


def check_report_charts(page, year: int, width: int) -> None:
    """No chart text clipped nor under MIN_FONT_PX at ``width``."""
    page.set_viewport_size({"width": width, "height": 900})
    visit(page, f"/report/{year}/")
    texts = page.evaluate(MEASURE)
    assert len(texts) > 20, "the report draws its charts"
    clipped = [(t["chart"], t["text"]) for t in texts if not t["inside"]]
    assert not clipped, f"clipped at {width}px: {clipped}"
    tiny = [(t["chart"], t["text"], round(t["font"], 1)) for t in texts if t["font"] < MIN_FONT_PX]
    assert not tiny, f"text under {MIN_FONT_PX}px at {width}px: {tiny}"
    # The long labels the report had clipped before are drawn whole.
    assert any(t["text"].startswith("100.0% (") and t["text"].endswith(")") for t in texts)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"report-{width}.png"), full_page=True)


def sign_in_staff(page) -> None:
    from tests import factories as f

    visit(page, "/accounts/login/?next=/staff/screening/")
    page.locator("input[name=login]").fill("staff@demo.example")
    page.locator("input[name=password]").fill("demo-pass-2025")
    submit(page, submit_button(page, "input[name=password]"))
    page.locator("input[name=code]").fill(f.totp_code("JBSWY3DPEHPK3PXPSTAFF234"))
    submit(page, submit_button(page, "input[name=code]"))


def test_report_charts_and_stacked_tables_read_well_on_desktop_and_phone(page, live_server, demo):
    """One demo for all the checks: loading it is the slow part."""
    year = latest_report_year()
    assert year, "the demo publishes a report"
    for width in WIDTHS:
        check_report_charts(page, year, width)
    # A table that stacks its cells on a phone keeps each cell's column label.
    page.set_viewport_size({"width": 390, "height": 900})
    sign_in_staff(page)
    assert page.url.endswith("/staff/screening/")
    cell = page.locator("table tbody tr").first.locator("td").nth(3)  # the Tier column
    assert cell.get_attribute("data-label") == "Tier"
    label = cell.evaluate("td => getComputedStyle(td, '::before').content")
    assert label == '"Tier"', label
    # Stacked: the cell spans the row, its label drawn before its value.
    display = cell.evaluate("td => getComputedStyle(td).display")
    assert display == "block", display
