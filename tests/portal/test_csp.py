"""The Content-Security-Policy (portal/settings.py, CSP block) is on every response, and no page
needs more than it allows: no inline script, no on*= handler, no style attribute or element.

Two walks: every URL pattern for every persona of the permission walk (its table and world),
and the demo followed link by link as a visitor, an organization admin and staff. The browser
tests (tests/browser/conftest.py) fail on any violation Chromium reports.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client
from django.urls import Resolver404, get_resolver, resolve

from portal.models import User
from tests.portal import test_permissions
from tests.portal.test_permissions import PERSONAS, default_kwargs, fill, row_for, walk

world = test_permissions.world  # the permission walk's objects, one per row (a fixture)

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
# The one page with more (portal/urls.py, REDOC_STYLE_SRC): styles with the request's nonce, and
# the hashes of the style element Redoc's bundle inserts while it loads.
REDOC_STYLE_SRC = re.compile(
    r"'self' 'nonce-[A-Za-z0-9+/=]{20,}' 'sha256-47DEQpj8HBSa\+/TImW\+5JCeuQeRkm5NMpJWZG3hSuFU=' "
    r"'sha256-QMIg\+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='$"
)
DEMO_PERSONAS = {"visitor": None, "org_admin": "admin@acme.example", "staff": "staff@demo.example"}
SKIP_PREFIXES = ("/static/", "/accounts/logout/")
MAX_PAGES = 400
MAX_PER_VIEW = 4


def policy_of(response) -> dict[str, str]:
    """The header as {directive: sources}; django-csp writes the directives in no fixed order."""
    header = response.headers.get("Content-Security-Policy")
    assert header is not None, "no Content-Security-Policy header"
    directives = [part.strip() for part in header.split(";") if part.strip()]
    parsed = dict(d.split(" ", 1) if " " in d else (d, "") for d in directives)
    assert len(parsed) == len(directives), f"a directive twice: {header}"
    return parsed


def policy_problem(url: str, response) -> str | None:
    try:
        policy = policy_of(response)
    except AssertionError as exc:
        return f"{url}: {exc}"
    if policy != POLICY:
        return f"{url}: {response.headers['Content-Security-Policy']}"
    return None


class InlineCode(HTMLParser):
    """What the policy refuses in markup: inline <script>, <style>, on*= and style= attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])
        # A JSON data block is not run; a script with src is a file from 'self'.
        if tag == "script" and "src" not in values and values.get("type") != "application/json":
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "action", "src") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")


def inline_code(html: str) -> tuple[list[str], list[str]]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found, parser.links


def is_html(response) -> bool:
    return "text/html" in response.headers.get("Content-Type", "")


def test_the_checks_see_inline_code_and_a_wrong_header(client, db):
    found, _ = inline_code(
        '<p style="color:red" onclick="x()">a</p><script>alert(1)</script><style>p{}</style>'
        '<a href="javascript:x()">b</a><script src="/static/js/print.js" defer></script>'
        '<script type="application/json">{}</script>'
    )
    assert found == [
        "<p style='color:red'>",
        "<p onclick='x()'>",
        "<script> without src",
        "<style>",
        "<a href='javascript:x()'>",
    ]
    response = client.get("/")
    assert policy_problem("/", response) is None
    response.headers["Content-Security-Policy"] += "; script-src 'unsafe-inline'"
    assert policy_problem("/", response)


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


# The header comes from one middleware for every response: three personas reach every kind of answer
# (pages, redirects, 403, 404, 405, JSON, files); the permission walk covers the other four's statuses.
CSP_WALK_PERSONAS = ("anonymous", "org_admin", "staff")
assert set(CSP_WALK_PERSONAS) <= set(PERSONAS)


@pytest.mark.parametrize("persona", CSP_WALK_PERSONAS)
def test_every_url_pattern_answers_with_the_policy(persona, world):
    """Each pattern of the permission walk, whatever its status (pages, redirects, 403, 404,
    405, JSON, files): the exact policy; HTML without inline code."""
    client = Client()
    if persona != "anonymous":
        client.force_login(world.users[persona])
    failures = []
    checked: set[str] = set()
    for route in walk(get_resolver()):
        found = row_for(route)
        if found is None or route == "api/redoc/":  # no row: test_permissions fails; Redoc: below
            continue
        key, entry = found
        if entry.path is not None:
            if key in checked:
                continue
            url = entry.path
        else:
            url = fill(route, {**default_kwargs(world), **(entry.kwargs(world) if entry.kwargs else {})})
        checked.add(key)
        response = client.get(url)
        problem = policy_problem(url, response)
        if problem:
            failures.append(f"  {problem}")
        if is_html(response):
            inline, _ = inline_code(response.content.decode())
            if inline:
                failures.append(f"  {url}: {', '.join(inline)}")
    assert len(checked) > 100
    assert not failures, f"{persona}:\n" + "\n".join(failures)


@pytest.fixture
def demo(db, settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    settings.DEMO_MODE = True
    call_command("load_demo", "--quiet")


def _view_name(path: str) -> str | None:
    try:
        return resolve(path).view_name
    except Resolver404:
        return None


def crawl_demo(persona: str) -> list[str]:
    """The demo followed link by link from the home page, the dashboard and every pattern
    without arguments, as the persona sees it: the problems found."""
    client = Client()
    if DEMO_PERSONAS[persona]:
        client.force_login(User.objects.get(email=DEMO_PERSONAS[persona]))
    queue = ["/", "/dashboard/"] + ["/" + r for r in walk(get_resolver()) if not re.search(r"[<(^$]", r)]
    seen: set[str] = set()
    per_view: dict[str, int] = {}
    failures: list[str] = []
    pages = 0
    while queue and len(seen) < MAX_PAGES:
        url = queue.pop(0)
        path = urlsplit(url).path
        if url in seen or path.startswith(SKIP_PREFIXES) or path == "/api/redoc/":
            continue
        seen.add(url)
        view = _view_name(path)
        if view is None:
            continue
        per_view[view] = per_view.get(view, 0) + 1
        if per_view[view] > MAX_PER_VIEW:
            continue
        response = client.get(url)
        problem = policy_problem(url, response)
        if problem:
            failures.append(f"  {problem}")
        if not is_html(response):
            continue
        pages += 1
        inline, links = inline_code(response.content.decode())
        if inline:
            failures.append(f"  {url}: {', '.join(inline)}")
        for href in links:
            href = urldefrag(href).url
            parts = urlsplit(href)
            if not parts.scheme and not parts.netloc and href.startswith("/") and href not in seen:
                queue.append(href)
    assert pages > 20, f"{persona}: the walk reached only {sorted(seen)}"
    return [f"{persona}:{failure}" for failure in failures]


@pytest.mark.slow
def test_every_demo_page_answers_with_the_policy(demo):
    """Every persona on one demo (loading it is the slow part)."""
    failures = [failure for persona in DEMO_PERSONAS for failure in crawl_demo(persona)]
    assert not failures, "\n".join(failures)


def test_api_docs_load_their_initializer_from_a_static_file(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert policy_of(response) == POLICY
    html = response.content.decode()
    assert inline_code(html)[0] == []
    assert '<html lang="en">' in html
    assert '<script src="/static/js/swagger-init.js">' in html
    assert 'data-schema-url="/api/schema/"' in html


def test_redoc_alone_accepts_its_nonced_and_hashed_styles(client, db):
    response = client.get("/api/redoc/")
    assert response.status_code == 200
    policy = policy_of(response)
    assert REDOC_STYLE_SRC.match(policy.pop("style-src"))
    assert policy == {k: v for k, v in POLICY.items() if k != "style-src"}
    html = response.content.decode()
    assert inline_code(html)[0] == []
    assert '<html lang="en">' in html
    # The nonce Redoc is given is the one of the header.
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert f'data-nonce="{nonce}"' in html
    assert "fonts.googleapis.com" not in html


def test_print_page_prints_from_a_static_script(client, org, org_admin, staff):
    from tests.certification.certificate_helpers import certify

    cert = certify(org, org_admin, staff)
    response = client.get(f"/registry/{cert.number}/print/")
    assert response.status_code == 200
    assert policy_of(response) == POLICY
    html = response.content.decode()
    assert inline_code(html)[0] == []
    assert '<script src="/static/js/print.js" defer></script>' in html
    assert "data-print hidden" in html


TEMPLATE_INLINE = re.compile(
    r"""\son[a-z]+\s*=|\sstyle\s*=|<style[\s>]|<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>|javascript:""",
    re.IGNORECASE,
)
TEMPLATE_COMMENT = re.compile(r"{% comment %}.*?{% endcomment %}|{#.*?#}", re.DOTALL)


def test_no_template_has_inline_script_or_style():
    """Also the templates no walk reaches (emails are exempt: no policy applies to a mail)."""
    root = Path(django_settings.BASE_DIR) / "templates"
    found = []
    for path in sorted(root.rglob("*.html")):
        if "emails" in path.relative_to(root).parts:
            continue
        # Comments may talk about <style>; they keep their line breaks so the numbers stay right.
        text = TEMPLATE_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), path.read_text())
        for number, line in enumerate(text.splitlines(), 1):
            if TEMPLATE_INLINE.search(line):
                found.append(f"  {path.relative_to(root)}:{number}: {line.strip()[:120]}")
    assert not found, "inline script or style in templates:\n" + "\n".join(found)


def test_email_page_with_a_pending_change_has_no_inline_style(client, org_admin):
    """allauth's page hides the pending address's form with style=; ours uses ``hidden``."""
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=org_admin, email="new-address@example.org", verified=False, primary=False)
    client.force_login(org_admin)
    response = client.get("/accounts/email/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="pending-email"' in html
    assert inline_code(html)[0] == []
