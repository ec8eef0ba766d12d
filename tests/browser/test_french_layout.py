"""The main journeys of every persona read in French without a broken layout (issue 17), at a desktop
width and a phone's: each page says lang="fr", nothing makes the page scroll sideways, no button or
navigation label is clipped out of its box, and axe passes. French words are longer than English ones:
this is where a label that fits in English overflows.

A screenshot of each page at each width is saved for a person to look at: under the test's tmp_path,
or in var/screenshots/fr/ with KEEP_SCREENSHOTS=1. Every problem of every page is reported at once."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from portal.demo import DEMO_PASSWORD
from tests import factories as f
from tests.browser.conftest import submit, submit_button, visit

pytestmark = pytest.mark.browser

WIDTHS = ((1280, 900), (390, 844))
# Controls and labels whose text must stay inside their box: buttons, navigation, tags and statuses.
CONTROLS = ("button, .button, input[type=submit], nav a, .nav .link-button, .subnav a, .tag, .badge, "
            ".task-status, .breadcrumbs a, h1, h2")

# lang of the page; how far it scrolls sideways and the deepest elements past the viewport's right
# edge (outside a scrolling box: a wide table may scroll inside .table-scroll); the controls whose
# text overflows their own box, or is cut by an ancestor that hides its overflow or by the viewport.
MEASURE = """(selector) => {
  const vw = window.innerWidth;
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + [...el.classList].map(c => '.' + c).join('') + ' "' + (el.innerText || el.value || '').trim().slice(0, 50) + '"';
  const shown = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden'
      && !el.closest('.visually-hidden, .skip-link, thead');
  };
  // The box that clips el: null when el sits in a box that scrolls (its overflow can be reached).
  const clipBox = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === 'auto' || o === 'scroll') return null;
      if (o === 'hidden' || o === 'clip') return a.getBoundingClientRect();
    }
    return {left: 0, right: vw};
  };
  const wide = [...document.body.querySelectorAll('*')].filter(el => {
    if (!shown(el) || el.getBoundingClientRect().right <= vw + 1 || clipBox(el) === null) return false;
    return ![...el.children].some(c => shown(c) && c.getBoundingClientRect().right > vw + 1);
  }).map(el => name(el) + ' ends at ' + Math.round(el.getBoundingClientRect().right) + 'px');
  const clipped = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!shown(el)) continue;
    const style = getComputedStyle(el);
    if (style.display !== 'inline' && el.scrollWidth > el.clientWidth + 1) {
      clipped.push(name(el) + ' needs ' + el.scrollWidth + 'px, has ' + el.clientWidth + 'px');
      continue;
    }
    const box = clipBox(el), r = el.getBoundingClientRect();
    if (box && (r.right > box.right + 1 || r.left < box.left - 1)) clipped.push(name(el) + ' is cut at its edge');
  }
  // On a wide screen the language switch shares a line with the navigation, never one of its own.
  const nav = document.querySelector('.header-inner nav'), lang = document.querySelector('.language-switch');
  const switchAlone = vw >= 640 && !!nav && !!lang
    && lang.getBoundingClientRect().top >= nav.getBoundingClientRect().bottom - 1;
  return {lang: document.documentElement.lang, overflow: document.documentElement.scrollWidth - vw,
          wide: wide.slice(0, 8), clipped, switchAlone};
}"""


@pytest.fixture
def browser_locale() -> str:
    return "fr-FR"


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    settings.DEMO_MODE = True
    settings.LANGUAGES = settings.ALL_LANGUAGES
    # Live-server tests flush tables: the data migration's framework version is gone.
    from certification.framework.models import Benchmark, FrameworkVersion
    from certification.framework.seed import seed_framework

    seed_framework(FrameworkVersion, Benchmark)
    call_command("load_demo", "--quiet")


@pytest.fixture
def shots(tmp_path) -> Path:
    if os.environ.get("KEEP_SCREENSHOTS"):
        folder = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "fr"
    else:
        folder = tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


class Walk:
    """Visits pages, measures and shoots each at both widths, collects every problem."""

    def __init__(self, page, folder: Path):
        self.page, self.folder, self.problems, self.count = page, folder, [], 0

    def check(self, persona: str, url: str, name: str = "") -> None:
        """Open ``url`` (axe runs on it once: resizing keeps the document), then measure it."""
        self.page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[0])))
        try:
            visit(self.page, url)
        except pytest.fail.Exception as failure:  # axe, or an error status: report it with the rest
            self.problems.append(f"{persona} {url}: {failure}")
        if urlsplit(self.page.url).path != urlsplit(url).path:
            self.problems.append(f"{persona} {url}: redirected to {self.page.url}")
        self.measure(persona, url, name)

    def measure(self, persona: str, url: str, name: str = "") -> None:
        """The page as it is, at each width; its screenshots are named after ``name`` or the URL."""
        page = self.page
        slug = re.sub(r"[^a-z0-9]+", "-", f"{persona}-{name or url}".lower()).strip("-")
        for width, height in WIDTHS:
            page.set_viewport_size({"width": width, "height": height})
            found = page.evaluate(MEASURE, CONTROLS)
            where = f"{persona} {url} at {width}px"
            if found["lang"] != "fr":
                self.problems.append(f"{where}: <html lang=\"{found['lang']}\">")
            if found["overflow"] > 1:
                self.problems.append(f"{where}: scrolls sideways by {found['overflow']}px: {found['wide']}")
            if found["clipped"]:
                self.problems.append(f"{where}: text out of its box: {found['clipped']}")
            if found["switchAlone"]:
                self.problems.append(f"{where}: the language switch sits on a line of its own")
            page.screenshot(path=str(self.folder / f"{slug}-{width}.png"), full_page=True)
            self.count += 1
        page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[0])))


def fresh_totp(secret: str) -> str:
    """A code with at least two seconds left in its 30 s window (allauth allows no drift)."""
    if time.time() % 30 > 28:
        time.sleep(30 - time.time() % 30 + 0.1)
    return f.totp_code(secret)


def sign_in_as(page, email: str, totp_secret: str | None = None) -> None:
    """Sign out whoever was signed in (new cookies), then sign in; the browser stays French."""
    page.context.clear_cookies()
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[0])))
    visit(page, "/accounts/login/")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    submit(page, submit_button(page, "input[name=password]"))
    if totp_secret:
        page.locator("input[name=code]").fill(fresh_totp(totp_secret))
        submit(page, submit_button(page, "input[name=code]"))
    assert "/accounts/" not in page.url, f"{email} is not signed in: {page.url}"


def test_every_persona_reads_its_main_pages_in_french_at_desktop_and_phone_widths(page, demo, shots):
    """One demo and one browser page for all the personas: loading the demo is the slow part."""
    from auditors.models import Engagement, Offer
    from certification.certificates.models import Certificate, ConcernReport
    from certification.framework.models import FrameworkVersion
    from certification.releases.models import Application
    from certification.review.models import Finding, ReviewWindow
    from certification.transparency.models import ReportSnapshot

    def application(model: str, version: str) -> Application:
        return Application.objects.filter(release__ai_model__name=model, release__version=version).latest("pk")

    certified = Certificate.objects.filter(release__ai_model__name="Acme Coder", release__version="2.0").first()
    incident = ConcernReport.objects.filter(status="resolved").first()  # in its certificate's public history
    year = ReportSnapshot.objects.order_by("-year").values_list("year", flat=True).first()
    draft = application("Acme Mid", "2.1")  # the organization's application in progress
    submitted = application("Acme Mid", "2.2-rc")  # waits for screening
    pending = application("Acme Vision", "1.0")  # the four-eyes decision
    window = ReviewWindow.objects.get(application=application("Acme Large", "1.0"))
    offer = Offer.objects.filter(accreditation__user__email="auditor@audits.example", status="open").first()
    engagement = Engagement.objects.get(application=window.application,
                                        accreditation__user__email="auditor@audits.example")
    draft_finding = Finding.objects.get(window=window, author__email="evaluator@research.example", status="draft")
    framework = FrameworkVersion.objects.filter(status="draft").first()  # only a draft's texts can change
    assert all((certified, incident, year, offer, framework)), "the demo holds every object the journeys need"

    walk = Walk(page, shots)
    for name, url in [("home", "/"), ("registry", "/registry/"), ("certificate", f"/registry/{certified.number}/"),
                      ("certificate-incidents", f"/registry/{incident.certificate.number}/"),
                      ("concern-form", f"/registry/{incident.certificate.number}/concern/"),
                      ("verify", f"/verify/?q={certified.number}"), ("tier", "/tier/"), ("report", f"/report/{year}/")]:
        walk.check("visitor", url, name)

    sign_in_as(page, "admin@acme.example")
    for name, url in [("dashboard", "/dashboard/"), ("release", f"/releases/{draft.release_id}/")]:
        walk.check("org-admin", url, name)
    section = page.locator(f"a[href^='/releases/{draft.release_id}/sections/']").first.get_attribute("href")
    walk.check("org-admin", section, "release-section")
    # Filing the attestation asks for the password again (allauth's reauthentication): both pages count.
    attest = f"/applications/{draft.pk}/attest/"
    visit(page, attest)
    if "/reauthenticate/" in page.url:
        walk.measure("org-admin", "/accounts/reauthenticate/", "reauthenticate")
        page.locator("input[name=password]").fill(DEMO_PASSWORD)
        submit(page, submit_button(page, "input[name=password]"))
    assert urlsplit(page.url).path == attest, page.url
    walk.measure("org-admin", attest, "attestation")
    for name, url in [("incidents", "/incidents/"), ("incident", f"/incidents/{incident.pk}/")]:
        walk.check("org-admin", url, name)

    sign_in_as(page, "auditor@audits.example", "JBSWY3DPEHPK3PXPAUDIT234")
    for name, url in [("dashboard", "/dashboard/"), ("network", "/network/me/"), ("offer", f"/offers/{offer.pk}/"),
                      ("report-form", f"/engagements/{engagement.pk}/report/")]:
        walk.check("auditor", url, name)

    sign_in_as(page, "evaluator@research.example")
    for name, url in [("windows", "/review/windows/"), ("window", f"/review/windows/{window.pk}/"),
                      ("finding-new", f"/review/windows/{window.pk}/findings/new/"),
                      ("finding-edit", f"/review/findings/{draft_finding.pk}/edit/")]:
        walk.check("evaluator", url, name)

    sign_in_as(page, "staff@demo.example", "JBSWY3DPEHPK3PXPSTAFF234")
    for name, url in [("console", "/staff/"), ("screening", "/staff/screening/"),
                      ("application-submitted", f"/applications/{submitted.pk}/"),
                      ("application-decision", f"/applications/{pending.pk}/"),
                      ("framework-texts", f"/staff/framework/{framework.version}/texts/")]:
        walk.check("staff", url, name)

    print(f"{walk.count} screenshots in {shots}")
    assert not walk.problems, "French layout problems:\n" + "\n".join(walk.problems)
