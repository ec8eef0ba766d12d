"""No internal codes and no raw timestamps on screen (issue 12 §3, STYLE "Summary list").

The demo is loaded once; each persona walks every page it can reach by following links from the
home page and its dashboard (plus the pages of the permission walk that need no object). The visible
text of each page, outside ``<code>``, ``<pre>``, ``<data>`` and ``<time>`` (where machine values
belong), must not contain a snake_case token such as ``bias_report`` or an ISO 8601 timestamp such
as ``2027-12-03T14:59:31Z``: people read labels and "2 January 2027, 15:04 UTC".
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

import pytest
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client
from django.urls import Resolver404, get_resolver, resolve
from django.utils import timezone

from portal import labels
from portal.models import User
from tests.portal.test_permissions import walk

# A file name the user uploaded (``bias_report.md``) is theirs, shown as they named it: not a code.
SNAKE = re.compile(r"\b[a-z]+_[a-z0-9_]+\b(?!\.[A-Za-z0-9]{1,5}\b)")
ISO_TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")

PERSONAS = {
    "visitor": None,
    "org_admin": "admin@acme.example",
    "staff": "staff@demo.example",
    "auditor": "auditor@audits.example",
    "evaluator": "evaluator@research.example",
}
# Machine values people may copy belong in these elements; a textarea holds what the user typed;
# script and style are not text at all.
EXEMPT = {"code", "pre", "data", "time", "script", "style", "textarea"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# Not pages for people: the API (JSON), files, the Django admin, signing out, language switch.
SKIP_PREFIXES = ("/api/", "/static/", "/media/", "/admin/", "/accounts/logout/", "/i18n/", "/healthz")
MAX_PAGES = 400
MAX_PER_VIEW = 6  # a registry of many certificates renders the same template each time


class VisibleText(HTMLParser):
    """Collect the text a reader sees, and the links to follow."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.exempt = 0
        self.chunks: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag in EXEMPT:
            self.exempt += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag not in self.stack:
            return
        while self.stack:
            top = self.stack.pop()
            if top in EXEMPT:
                self.exempt -= 1
            if top == tag:
                break

    def handle_data(self, data):
        if not self.exempt and data.strip():
            self.chunks.append(data)


def offending(html: str) -> tuple[list[str], list[str]]:
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    text = " ".join(parser.chunks)
    bad = sorted(set(SNAKE.findall(text)) | set(ISO_TIMESTAMP.findall(text)))
    return bad, parser.links


def test_the_checker_sees_codes_outside_exempt_elements_only():
    bad, links = offending(
        '<p>Section bias_report due 2027-12-03T14:59:31Z <a href="/x/">x</a></p>'
        "<pre>model_card</pre><code>spdx_id</code><time datetime='2027-01-02'>2027-01-02T10:00</time>"
        "<data value='1'>co2e_kg</data><script>var a_b = 1;</script><p>snake-case and Title Case</p>"
        "<p>Download red_teaming_report.md; share_pct.</p>"
    )
    assert bad == ["2027-12-03T14:59", "bias_report", "share_pct"]
    assert links == ["/x/"]


def _start_urls() -> list[str]:
    """The home page, the dashboard and every page of the URL walk that takes no argument."""
    urls = ["/", "/dashboard/"]
    for route in walk(get_resolver()):
        if "<" not in route and "(" not in route and "^" not in route and "$" not in route:
            urls.append("/" + route)
    return urls


def _view_name(path: str) -> str | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.view_name


@pytest.fixture
def demo(db, settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    settings.DEMO_MODE = True
    call_command("load_demo", "--quiet")


def walk_as(client: Client, start: list[str]) -> tuple[set[str], list[str]]:
    """Follow every link from ``start``; the pages seen and the offending tokens of each."""
    queue = list(start)
    seen: set[str] = set()
    per_view: Counter[str] = Counter()
    failures: list[str] = []
    while queue and len(seen) < MAX_PAGES:
        url = queue.pop(0)
        path = urlsplit(url).path
        if url in seen or path.startswith(SKIP_PREFIXES):
            continue
        seen.add(url)
        view = _view_name(path)
        if view is None:
            continue
        per_view[view] += 1
        if per_view[view] > MAX_PER_VIEW:
            continue
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response.headers.get("Content-Type", ""):
            continue
        bad, links = offending(response.content.decode())
        if bad:
            failures.append(f"  {url}: {', '.join(bad)}")
        for href in links:
            href = urldefrag(href).url
            parts = urlsplit(href)
            if not parts.scheme and not parts.netloc and href.startswith("/") and href not in seen:
                queue.append(href)
    return seen, failures


@pytest.mark.slow
def test_no_internal_codes_or_iso_timestamps_on_any_demo_page(demo):
    """One demo load, every persona in turn (loading the demo is most of the cost)."""
    from certification.certificates.models import Certificate

    certificate = Certificate.objects.order_by("pk").values_list("number", flat=True).first()
    # The verify page answers a query: give it one, so its result is read too.
    start = [*_start_urls(), f"/verify/?q={certificate}"]
    report = []
    for persona, email in PERSONAS.items():
        client = Client()
        if email:
            client.force_login(User.objects.get(email=email))
        seen, failures = walk_as(client, start)
        assert len(seen) > 20, f"{persona}: the walk reached only {sorted(seen)}"
        if failures:
            report.append(f"{persona} sees internal codes or raw timestamps on:\n" + "\n".join(failures))
    assert not report, "\n".join(report)

    # The verify page once printed 2027-12-03T14:59:31.026092Z: its expiry is now a <time>.
    html = Client().get("/verify/", {"q": certificate}).content.decode()
    assert re.search(r'expires <time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">\d{1,2} [A-Z][a-z]+ \d{4}, ', html)


# --- the filters and the registry ------------------------------------------------------------


def render(source: str, **context) -> str:
    return Template("{% load i18n portal_tags %}" + source).render(Context(context))


MOMENT = dt.datetime(2027, 1, 2, 15, 4, 31, 26092, tzinfo=dt.UTC)


def test_when_is_one_format_inside_time_in_the_readers_zone():
    assert render("{{ v|when }}", v=MOMENT) == (
        '<time datetime="2027-01-02T15:04:31Z">2 January 2027, 15:04 UTC</time>'
    )
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        assert render("{{ v|when }}", v=MOMENT) == (
            '<time datetime="2027-01-02T15:04:31Z">2 January 2027, 16:04 CET</time>'
        )


def test_day_is_the_local_date_of_a_moment():
    late = dt.datetime(2027, 1, 1, 23, 30, tzinfo=dt.UTC)
    assert render("{{ v|day }}", v=late) == '<time datetime="2027-01-01">1 January 2027</time>'
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        assert render("{{ v|day }}", v=late) == '<time datetime="2027-01-02">2 January 2027</time>'
    assert render("{{ v|day }}", v=dt.date(2027, 1, 2)) == '<time datetime="2027-01-02">2 January 2027</time>'


def test_when_reads_iso_text_and_renders_nothing_for_none():
    """Serialized records (the verify page's) carry ISO text; empty values fall through to |default."""
    assert render("{{ v|when }}", v="2027-12-03T14:59:31.026092Z") == (
        '<time datetime="2027-12-03T14:59:31Z">3 December 2027, 14:59 UTC</time>'
    )
    assert render('{{ v|when|default:"—" }}|{{ v|day|default:"?" }}', v=None) == "—|?"
    assert render('{{ v|when|default:"—" }}', v="not a date") == "—"


def test_when_works_inside_blocktranslate():
    out = render("{% blocktranslate with d=v|when %}Due by {{ d }}.{% endblocktranslate %}", v=MOMENT)
    assert out == 'Due by <time datetime="2027-01-02T15:04:31Z">2 January 2027, 15:04 UTC</time>.'


def test_labels_come_from_the_framework_and_the_apps(framework):
    assert render('{{ c|label:"deadline_kind" }}', c="staff_decision") == "Staff decision (all gates met)"
    assert render('{{ c|label:"section" }}', c="bias_report") == "Bias evaluation report"
    assert render('{{ c|label:"benchmark" }}', c="crows_pairs") == "CrowS-Pairs"
    assert render('{{ c|label:"capability" }}', c="advanced_reasoning") == "Advanced reasoning"
    assert render('{{ c|label:"application_status" }}', c="decision_pending") == "Decision pending"
    assert render('{{ c|label:"better_when" }}', c="closer_to") == "closer to the target is better"
    assert render('{{ c|label:"conflict" }}', c="recent_affiliation") == "recent affiliation with the applicant"
    assert render('{{ c|label:"certificate_status" }}', c="not_found") == "Not found"


def test_a_section_of_a_later_version_gets_that_versions_title(framework, monkeypatch):
    from certification.framework import labels as framework_labels
    from certification.framework.models import FrameworkVersion

    rules = dict(framework.rules)
    rules["requirements"] = [*rules["requirements"], {"id": "energy_audit", "kind": "documentation",
                                                      "title": "Energy audit", "tiers": [4]}]
    FrameworkVersion.objects.create(version="2099.1", rules=rules)
    monkeypatch.setitem(framework_labels._cache, "at", 0.0)  # as after the minute's refresh
    assert labels.label("section", "energy_audit") == "Energy audit"


def test_an_unregistered_code_is_still_words():
    assert labels.label("nobody_registered_this", "bias_report") == "Bias report"
    assert render('{{ c|label:"section" }}', c=None) == ""
