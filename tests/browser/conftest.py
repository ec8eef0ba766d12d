"""Browser fixtures: one headless Debian Chromium per run, a fresh context per test,
and axe-core checks on every page a test visits.

Every main-frame document the page loads is recorded; ``check_a11y`` marks the
current one as checked, and the ``page`` fixture fails the test at teardown if
any document was left unchecked. The helpers ``visit`` and ``submit`` navigate
and check in one step, so tests use them instead of ``page.goto``/``click``.

The ``page`` fixture also fails the test at teardown on any Content-Security-Policy
violation (portal/settings.py, CSP block): Chromium reports each one on the console,
and a ``securitypolicyviolation`` listener logs the directive and the source line.
"""

from __future__ import annotations

import email
import os
from email.message import Message
from pathlib import Path

import pytest

from tests.conftest import require

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# axe impacts that fail a test; "minor" and "moderate" are left to review.
BLOCKING_IMPACTS = {"serious", "critical"}
TIMEOUT_MS = 10_000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_call_failed = report.failed
    return report


@pytest.fixture(scope="session")
def browser():
    require(os.path.exists(CHROMIUM), f"needs Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in the test thread for as
    # long as it lives; Django's ORM (used by the tests themselves, and by any test
    # that runs while this browser is open) would otherwise refuse to run there.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


class A11yTracker:
    """Which main-frame documents were loaded, and which were axe-checked."""

    def __init__(self, axe):
        self.axe = axe
        self.loaded: list[str] = []  # one entry per document, in order
        self.checked: set[int] = set()  # indexes into ``loaded``

    def on_navigated(self, frame) -> None:
        if frame.parent_frame is None:
            url = frame.url.split("#", 1)[0]
            # A fragment-only change keeps the same document.
            if self.loaded and self.loaded[-1] == url and frame.url != url:
                return
            self.loaded.append(url)

    def unchecked(self) -> list[str]:
        return [url for i, url in enumerate(self.loaded) if i not in self.checked]


# Logs every CSP violation of the document with what Chromium's own console message lacks
# (the source file and line); added before any script of the page runs.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`Content Security Policy violation: ${event.effectiveDirective} blocked `
    + `${event.blockedURI || "inline"} at ${event.sourceFile || "?"}:${event.lineNumber}`);
});
"""


class CspTracker:
    """Console messages about the Content-Security-Policy, with the page they came from."""

    def __init__(self):
        self.violations: list[str] = []
        self.expected: list[str] = []

    def expect(self, text: str) -> None:
        """A violation the test provokes or knows about: messages containing ``text`` pass."""
        self.expected.append(text)

    def unexpected(self) -> list[str]:
        return [v for v in self.violations if not any(text in v for text in self.expected)]

    def watch(self, page) -> None:
        page.add_init_script(CSP_LISTENER)

        def on_console(message) -> None:
            if "Content Security Policy" in message.text:
                self.violations.append(f"{page.url}: {message.text}")

        page.on("console", on_console)


def format_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        targets = ", ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} [{targets}] {v['helpUrl']}")
    return "\n".join(lines)


def check_a11y(page) -> None:
    """Run axe-core on the current page; fail on any serious or critical violation."""
    page.wait_for_load_state("load")
    tracker: A11yTracker = page._a11y
    results = tracker.axe.run(page)
    blocking = [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    if tracker.loaded:
        tracker.checked.add(len(tracker.loaded) - 1)
    if blocking:
        report = format_violations(blocking)
        pytest.fail(f"axe: serious/critical violations on {page.url}:\n{report}", pytrace=False)


def visit(page, url: str):
    """Open a URL, check the response is not an error, run axe on the page."""
    response = page.goto(url)
    assert response is not None and response.status < 400, f"{url} answered {response and response.status}"
    check_a11y(page)
    return response


def submit(page, button) -> None:
    """Click a submit button (a locator or its accessible name), wait for the next page, run axe."""
    if isinstance(button, str):
        button = page.get_by_role("button", name=button, exact=True)
    with page.expect_navigation() as navigation:
        button.click()
    response = navigation.value
    assert response is None or response.status < 500, f"{page.url} answered {response.status}"
    check_a11y(page)


def submit_button(page, has: str):
    """The submit button of the form holding ``has`` (a CSS selector), not buttons
    that belong to another form through their ``form`` attribute."""
    return page.locator(f"form:has({has})").locator("[type=submit]:not([form])")


@pytest.fixture
def browser_locale() -> str:
    """The browser's language (``navigator.language`` and its Accept-Language header); a test module
    overrides this fixture to read the portal in another language."""
    return "en-GB"


@pytest.fixture
def page(request, browser, axe, live_server, settings, shared_cache, browser_locale):
    # Links in outbox emails are built from SITE_URL.
    settings.SITE_URL = live_server.url
    context = browser.new_context(base_url=live_server.url, locale=browser_locale)
    context.set_default_timeout(TIMEOUT_MS)
    new_page = context.new_page()
    tracker = A11yTracker(axe)
    new_page._a11y = tracker
    new_page.on("framenavigated", tracker.on_navigated)
    csp = CspTracker()
    csp.watch(new_page)
    new_page._csp = csp
    yield new_page
    context.close()
    # A test that already failed stopped mid-way; what it left behind is noise, but a refused
    # script or style may be why it failed: say so in its captured output.
    if getattr(request.node, "browser_call_failed", False):
        if csp.violations:
            print("Content-Security-Policy violations:\n" + "\n".join(csp.violations))
        return
    if csp.unexpected():
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(csp.unexpected()), pytrace=False)
    missed = tracker.unchecked()
    if missed:
        pytest.fail("pages visited without an axe check: " + ", ".join(missed), pytrace=False)


@pytest.fixture
def mail_folder(settings, tmp_path) -> Path:
    """Emails sent by the live server (same process) land here as files."""
    folder = tmp_path / "mail"
    folder.mkdir()
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(folder)
    return folder


@pytest.fixture
def shared_cache(settings):
    """A per-test in-memory cache, shared by the test thread and the live server
    thread (rate limits, used TOTP codes), never touched by other test runs."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "browser-tests"}
    }
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def read_mails(folder: Path) -> list[Message]:
    """Every message in the mail folder; a file can hold several messages."""
    messages = []
    for path in sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime):
        chunks = path.read_bytes().split(b"\n" + b"-" * 79 + b"\n")
        messages.extend(email.message_from_bytes(chunk.strip(b"\n")) for chunk in chunks if chunk.strip())
    return messages


def text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    return ""
