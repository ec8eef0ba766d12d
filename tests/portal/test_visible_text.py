"""What people read: no internal codes and no raw timestamps on screen (issue 12 §3, STYLE
"Summary list"), and in French no English left, on the pages and in every kind of email (issue 17).

The demo is loaded once for the module; each persona walks every page it can reach by following
links from the home page and its dashboard (plus the pages of the permission walk that need no
object). The visible text of each page, outside ``<code>``, ``<pre>``, ``<data>`` and ``<time>``
(where machine values belong), must not contain a snake_case token such as ``bias_report`` or an ISO
8601 timestamp such as ``2027-12-03T14:59:31Z``: people read labels and "2 January 2027, 15:04 UTC".

The same walk with ``Accept-Language: fr`` must find no English sentence and no message of the
catalogue left untranslated (``tests/portal/english_left.py``), but in what people wrote: the
demo's data is English. Each kind of email, written for a French reader from the demo's objects,
is held to the same rule, and written for an English reader, has no French.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import Counter
from html.parser import HTMLParser
from types import SimpleNamespace
from urllib.parse import urldefrag, urlsplit

import pytest
from django.core.management import call_command
from django.db import transaction
from django.http import HttpResponse
from django.template import Context, Template
from django.test import Client, override_settings
from django.urls import Resolver404, get_resolver, resolve
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from portal import digests, labels
from portal.models import OutboxEmail, User
from portal.notifications import notify
from tests.conftest import wide_scope_environment
from tests.portal.english_left import (UntranslatedMessages, UserData, english, english_left, french, parse,
                                       text_chunks, visible_chunks)
from tests.portal.test_catalogue import PO, parse_po
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


def offending(html: str | HttpResponse) -> tuple[list[str], list[str]]:
    if isinstance(html, HttpResponse):
        html = html.content.decode()
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


@pytest.mark.parametrize("text", [
    "Your certificate is valid until the end of the year.",
    "No incident has been reported about this release.",
    "Sign in to your account",
    "Incidents reported after certification, once resolved or 90 days after the organization acknowledged them",
    "The model has the capability Code generation.",
])
def test_english_sentences_read_as_english(text):
    assert english(text) and not french(text)


@pytest.mark.parametrize("text", [
    "Votre certificat est valide jusqu'à la fin de l'année.",
    "Aucun incident n'a été signalé pour cette publication.",
    "On a un an pour répondre, ou plus.",  # "on", "an" and "or" are French words too
    "Le modèle a la capacité Code generation.",  # one English label in a French sentence
    "Acme AI · Responsible Release Certification Portal",  # proper nouns
    "Fichier model_card.md, signature in-toto, version 2025.1",  # codes
])
def test_french_sentences_do_not_read_as_english(text):
    assert not english(text)


def test_the_heuristic_tells_the_catalogues_two_languages_apart():
    """Tuned on the catalogue: no French translation reads as English, no English message as
    French, and most English sentences (six words or more) read as English; shorter labels are
    caught when they are a message of the catalogue left untranslated."""
    entries = parse_po(PO)
    translations = [text for e in entries if all(e["msgstr"]) and "fuzzy" not in e["flags"] for text in e["msgstr"]]
    assert [t for t in translations if english(t)] == []
    assert [e["msgid"] for e in entries if french(e["msgid"])] == []
    sentences = [e["msgid"] for e in entries if len(e["msgid"].split()) >= 6]
    assert sum(map(english, sentences)) >= 0.8 * len(sentences)
    untranslated = UntranslatedMessages(PO)
    assert untranslated.contains("Sign out") and untranslated.contains("Status:")
    assert not untranslated.contains("Déconnexion") and not untranslated.contains("Description")


def test_visible_chunks_leave_out_code_english_and_what_is_not_to_translate():
    html = (
        '<html lang="fr"><head><title>Accueil</title><style>p {}</style></head><body>'
        '<p>Le <a href="/c/">certificat</a> est <strong>valide</strong>.</p><p>Run <code>make messages</code></p>'
        '<pre>the and of</pre><kbd>to be</kbd><samp>it is</samp><script>var the = 1;</script>'
        '<button lang="en">English</button><span translate="no">Acme is the best</span>'
        '<textarea>What the user typed</textarea><input type="submit" value="Enregistrer">'
        '<input type="text" value="typed by the user"><img alt="Logo de la page" src="x.png">'
        '<a title="Ouvrir" aria-label="Ouvrir la page" href="/p/">Page</a><svg><title>the icon</title></svg>'
        '</body></html>'
    )
    page = parse(html)
    assert page.chunks == ["Accueil", "Le certificat est valide.", "Run", "Enregistrer", "Logo de la page",
                           "Ouvrir", "Ouvrir la page", "Page"]
    assert page.links == ["/c/", "/p/"]
    assert "English" in visible_chunks(html, skip_lang=None)


def test_user_data_is_taken_out_of_a_chunk_before_the_check():
    data = UserData(["Acme Chat", "[withheld in the demo]", "The model fails on long prompts.\nIt is worse at night."])
    user_data_chunk = "Constat : The model fails on long prompts. It is worse at night."
    assert english(user_data_chunk) and not english(data.strip(user_data_chunk))
    assert data.strip("Observé : [withheld in the demo]").strip() == "Observé :"
    assert english_left(["Le constat « The model fails on long prompts. » a été accepté.",
                         "The finding on Acme Chat was accepted by the organization."], data) == [
        "The finding on Acme Chat was accepted by the organization."]
    assert data.plus(["The finding on"]).strip("The finding on Acme Chat").strip() == ""


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


@pytest.fixture(scope="module")
def demo_world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo, loaded once for the module (most of a walk's cost) and rolled back after it: each
    test's own transaction is a savepoint inside this one."""
    private = tmp_path_factory.mktemp("private")
    with wide_scope_environment(), override_settings(PRIVATE_STORAGE_ROOT=private, DEMO_MODE=True):
        with django_db_blocker.unblock():
            outer = transaction.atomic()
            outer.__enter__()
            try:
                call_command("load_demo", "--quiet")
            except BaseException:
                transaction.set_rollback(True)
                outer.__exit__(None, None, None)
                raise
        yield
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def demo(demo_world, db):
    """The module's demo for one test: what the test changes is rolled back after it."""


def walk_as(client: Client, start: list[str], check=None) -> tuple[set[str], list[str]]:
    """Follow every link from ``start``; the pages seen and the offending tokens of each."""
    check = check or offending
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
        bad, links = check(response)
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


# --- in French (issue 17) ---------------------------------------------------------------------


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def demo_user_data() -> UserData:
    """The English the demo's people wrote, and the texts stored as written (a notification's
    subject): every text of the database but codes (fields with choices) and the framework's own:
    the catalogue's benchmarks, and the texts of its versions that the catalogue translates
    (2025.1's) or the version itself. A text staff added to a draft without its French is theirs."""
    from django.apps import apps
    from django.db import models

    from certification.framework import texts
    from certification.framework.models import Benchmark, FrameworkVersion

    data = UserData()
    catalogue = {e["msgid"] for e in parse_po(PO)}
    for rules in FrameworkVersion.objects.values_list("rules", flat=True):
        own = texts.own_translations(rules, "fr")
        for path, english in texts.text_paths(rules).items():
            if english not in catalogue and not own.get(path):
                data.add(english)
    for model in apps.get_models():
        if model._meta.app_label in ("admin", "auth", "contenttypes", "sessions") or model is FrameworkVersion:
            continue
        fields = [f.attname for f in model._meta.concrete_fields
                  if isinstance(f, models.CharField | models.TextField | models.JSONField) and not f.choices]
        if not fields:
            continue
        rows = model._base_manager.all()
        if model is Benchmark:
            rows = rows.filter(proposed_by__isnull=False)
        for row in rows.values_list(*fields):
            for value in row:
                for text in _strings(value):
                    data.add(text)
    return data


@pytest.fixture(scope="module")
def demo_text(demo_world, django_db_blocker) -> UserData:
    with django_db_blocker.unblock():
        return demo_user_data()


@pytest.fixture(scope="module")
def untranslated() -> UntranslatedMessages:
    return UntranslatedMessages(PO)


class EnglishOnFrenchPages:
    """The walk's check in French: the page is French and no English is left in it."""

    def __init__(self, user_data: UserData, untranslated: UntranslatedMessages):
        self.user_data = user_data
        self.untranslated = untranslated
        self.verdicts: dict[str, bool] = {}
        self.found: dict[str, str] = {}  # English chunk -> the first page it was seen on

    def __call__(self, response) -> tuple[list[str], list[str]]:
        page = parse(response.content.decode())
        url = response.request["PATH_INFO"] + ("?" + response.request["QUERY_STRING"]
                                               if response.request.get("QUERY_STRING") else "")
        if response.get("Content-Language") != "fr":
            return [f"Content-Language {response.get('Content-Language')}"], page.links
        for chunk in page.chunks:
            if chunk not in self.verdicts:
                self.verdicts[chunk] = bool(english_left([chunk], self.user_data, self.untranslated))
            if self.verdicts[chunk]:
                self.found.setdefault(chunk, url)
        return [], page.links


@pytest.mark.slow
def test_no_english_left_on_any_demo_page_in_french(demo, demo_text, untranslated):
    """The same walk with ``Accept-Language: fr``: every page is French but for what people wrote."""
    from certification.certificates.models import Certificate

    certificate = Certificate.objects.order_by("pk").values_list("number", flat=True).first()
    start = [*_start_urls(), f"/verify/?q={certificate}"]
    check = EnglishOnFrenchPages(demo_text, untranslated)
    report = []
    for persona, email in PERSONAS.items():
        client = Client(HTTP_ACCEPT_LANGUAGE="fr")
        if email:
            client.force_login(User.objects.get(email=email))
        seen, failures = walk_as(client, start, check)
        assert len(seen) > 20, f"{persona}: the walk reached only {sorted(seen)}"
        report.extend(f"  {persona}: {failure}" for failure in failures)
    assert not report, "pages not in French:\n" + "\n".join(report)
    english_texts = sorted(check.found.items(), key=lambda item: item[1])
    assert not english_texts, f"{len(english_texts)} English texts on French pages:\n" + "\n".join(
        f"  {url}: {chunk[:150]}" for chunk, url in english_texts)


# --- emails in the recipient's language (issue 17) ------------------------------------------------


def mail_world() -> SimpleNamespace:
    """The demo's objects an email names, as the code that sends it passes them. The demo has no
    appeal and no invitation: those are built, not saved."""
    from auditors.assignment import suggestions
    from auditors.models import Accreditation, AuditReport, Engagement, Offer, ReportCondition
    from certification.certificates import framework_notice
    from certification.certificates.models import Appeal, Certificate, ConcernReport
    from certification.framework.models import Benchmark, FrameworkVersion
    from certification.releases.models import Application
    from certification.review.models import Finding, FindingResponse, Rejoinder
    from portal.models import Invitation, Membership, Notification, Organization

    now = timezone.now()
    w = SimpleNamespace(now=now, staff=User.objects.get(email="staff@demo.example"))
    w.organization = Organization.objects.get(slug="acme-ai")
    w.member = User.objects.get(email="member@acme.example")
    w.application = Application.objects.filter(release__ai_model__organization=w.organization).order_by("pk").first()
    w.release = w.application.release
    w.certificate = Certificate.objects.select_related("release").order_by("pk").first()
    w.upstream = Certificate.objects.exclude(pk=w.certificate.pk).order_by("pk").first()
    w.finding = Finding.objects.select_related("window__application").order_by("pk").first()
    w.window = w.finding.window
    w.response = FindingResponse.objects.order_by("pk").first()
    w.rejoinder = Rejoinder.objects.order_by("pk").first()
    w.offer = Offer.objects.select_related("application").order_by("pk").first()
    w.engagement = Engagement.objects.select_related("application", "accreditation__user").order_by("pk").first()
    w.accreditation = Accreditation.objects.select_related("user").order_by("pk").first()
    w.incident = ConcernReport.objects.select_related("certificate").order_by("pk").first()
    w.condition = ReportCondition.objects.select_related("report").order_by("pk").first()
    w.report = AuditReport.objects.order_by("pk").first()
    w.benchmark = Benchmark.objects.filter(proposed_by__isnull=False).first() or Benchmark.objects.first()
    w.draft = FrameworkVersion.objects.get(version="2027.1")
    w.version = FrameworkVersion.objects.get(version="2025.1")
    w.appeal = Appeal(application=w.application, grounds="The benchmark scores were misread.", filed_by=w.member)
    w.invitation = Invitation(organization=w.organization, email="new@acme.example", role=Membership.Role.MEMBER,
                              expires_at=now + dt.timedelta(days=7))
    w.notifications = list(Notification.objects.filter(user=w.member).order_by("pk")[:3])
    # Texts the sender computes, as it does (lazy: each recipient reads them in their language).
    w.problem = suggestions.find_cover([], 1, frozenset())[1]
    w.decline_reason = dict(Offer.DeclineReason.choices)[Offer.DeclineReason.NO_CAPACITY]
    w.why = gettext_lazy("Withdrawn by Alliance staff.")
    w.impact = framework_notice.impact_of(w.certificate, w.draft)
    return w


# What each kind's sender passes (the call sites of notify() and render_email()), from the demo.
EMAIL_CONTEXTS = {
    "accreditation-approved": lambda w: {"accreditation": w.accreditation},
    "accreditation-expiry-reminder": lambda w: {"accreditation": w.accreditation, "days_left": 30, "due_at": w.now},
    "accreditation-lapsed": lambda w: {"accreditation": w.accreditation},
    "accreditation-received": lambda w: {"accreditation": w.accreditation},
    "accreditation-reinstated": lambda w: {"accreditation": w.accreditation},
    "accreditation-rejected": lambda w: {"accreditation": w.accreditation, "reason": "No audit experience listed."},
    "accreditation-suspended": lambda w: {"accreditation": w.accreditation, "reason": "Undisclosed affiliation."},
    "appeal-decided": lambda w: {"application": w.application, "appeal": w.appeal, "granted": False,
                                 "reasons": "The scores were read correctly."},
    "appeal-filed": lambda w: {"application": w.application, "appeal": w.appeal},
    "appeal-overdue": lambda w: {"appeal": w.appeal, "application": w.application, "due_at": w.now},
    "appeal-reminder": lambda w: {"appeal": w.appeal, "application": w.application, "due_at": w.now, "days_left": 3},
    "application-handed-over": lambda w: {"application": w.application},
    "application-lapsed": lambda w: {"application": w.application},
    "application-submitted": lambda w: {"application": w.application, "release": w.release},
    "application-withdrawn": lambda w: {"application": w.application},
    "benchmark-proposed": lambda w: {"benchmark": w.benchmark, "organization": w.organization},
    "certificate-expired": lambda w: {"certificate": w.certificate},
    "certificate-expiry-reminder": lambda w: {"certificate": w.certificate, "days_left": 30},
    "certificate-reinstated": lambda w: {"certificate": w.certificate, "reason": "The incident is resolved."},
    "certificate-revoked": lambda w: {"certificate": w.certificate, "reason": "Unsafe outputs were confirmed."},
    "certificate-suspended": lambda w: {"certificate": w.certificate, "reason": "An incident is under review."},
    "certified": lambda w: {"application": w.application, "certificate": w.certificate},
    "changes-requested": lambda w: {"application": w.application, "comments": "Add the energy figures.", "days": 30},
    "changes-requested-reminder": lambda w: {"application": w.application, "due_at": w.now, "days_left": 7},
    "concern-contact": lambda w: {"certificate": w.certificate, "concern": w.incident},
    "concern-reported": lambda w: {"certificate": w.certificate, "concern": w.incident},
    "contact-confirmation": lambda w: {"release": w.release, "link": "https://portal.example/confirm/x/",
                                       "email": "security@acme.example"},
    "decision-overdue": lambda w: {"application": w.application, "due_at": w.now},
    "decision-reminder": lambda w: {"application": w.application, "due_at": w.now, "days_left": 2},
    "digest": lambda w: {"notifications": w.notifications, "count": len(w.notifications), "day": w.now},
    "engagement-assignment-needed": lambda w: {"application": w.application, "seats": 2},
    "engagement-conflict-declared": lambda w: {"application": w.application, "auditor": w.accreditation.user,
                                               "engaged": True, "reason": "I advised the applicant last year."},
    "engagement-ended": lambda w: {"engagement": w.engagement, "application": w.engagement.application},
    "finding-accepted": lambda w: {"finding": w.finding, "application": w.window.application, "due_at": w.now},
    "finding-rejoinder": lambda w: {"finding": w.finding, "rejoinder": w.rejoinder,
                                    "application": w.window.application},
    "finding-submitted": lambda w: {"finding": w.finding, "application": w.window.application, "days": 5},
    "finding-triage-overdue": lambda w: {"finding": w.finding, "application": w.window.application, "due_at": w.now},
    "finding-triage-reminder": lambda w: {"finding": w.finding, "application": w.window.application, "due_at": w.now,
                                          "days_left": 2},
    "finding-triaged": lambda w: {"finding": w.finding, "application": w.window.application},
    "framework-review-overdue": lambda w: {"version": w.version, "review_by": w.now},
    "framework-review-reminder": lambda w: {"version": w.version, "review_by": w.now, "days_left": 30},
    "framework-version-effective": lambda w: {"version": w.draft, "organization": w.organization,
                                              "entries": [(w.certificate, w.impact)]},
    "incident-acknowledgement-overdue": lambda w: {"incident": w.incident, "certificate": w.incident.certificate,
                                                   "due_at": w.now},
    "incident-acknowledgement-reminder": lambda w: {"incident": w.incident, "certificate": w.incident.certificate,
                                                    "due_at": w.now, "days_left": 2},
    "incident-received": lambda w: {"certificate": w.incident.certificate, "incident": w.incident, "due_at": w.now},
    "incident-reporter": lambda w: {"incident": w.incident, "certificate": w.incident.certificate, "step": "received"},
    "invitation": lambda w: {"invitation": w.invitation, "link": "https://portal.example/invitations/x/",
                             "organization": w.organization},
    "login-throttled": lambda w: {"minutes": 15},
    "member-joined": lambda w: {"member": w.member, "organization": w.organization},
    "offer-accepted": lambda w: {"application": w.offer.application, "engagement": w.engagement,
                                 "auditor": w.engagement.accreditation.user},
    "offer-declined": lambda w: {"offer": w.offer, "application": w.offer.application, "reason": w.decline_reason},
    "offer-expired": lambda w: {"offer": w.offer, "application": w.offer.application},
    "offer-none-left": lambda w: {"application": w.application, "problem": w.problem, "open_seats": 1},
    "offer-reminder": lambda w: {"offer": w.offer, "application": w.offer.application, "days_left": 1},
    "offer-sent": lambda w: {"offer": w.offer, "application": w.offer.application, "days": 5},
    "offer-withdrawn": lambda w: {"offer": w.offer, "why": w.why},
    "rejected": lambda w: {"application": w.application, "reasons": "The safety benchmarks are missing."},
    "report-condition-accepted": lambda w: {"condition": w.condition, "application": w.application},
    "report-condition-resolved": lambda w: {"condition": w.condition, "application": w.application},
    "report-condition-returned": lambda w: {"condition": w.condition, "application": w.application},
    "report-filed": lambda w: {"application": w.application, "report": w.report, "conditions": 1},
    "report-overdue": lambda w: {"engagement": w.engagement, "application": w.engagement.application, "number": 2,
                                 "due_at": w.now},
    "report-reminder": lambda w: {"engagement": w.engagement, "application": w.engagement.application,
                                  "days_left": 3, "due_at": w.now},
    "response-filed": lambda w: {"finding": w.finding, "response": w.response, "application": w.window.application},
    "response-overdue": lambda w: {"finding": w.finding, "application": w.window.application, "due_at": w.now},
    "response-reminder": lambda w: {"finding": w.finding, "application": w.window.application, "due_at": w.now,
                                    "days_left": 2},
    "revocation-proposed": lambda w: {"certificate": w.certificate, "reason": "Unsafe outputs were confirmed.",
                                      "proposer": w.staff},
    "test": lambda w: {"message": "Hello there."},
    "upstream-certificate-changed": lambda w: {"certificate": w.certificate, "upstream": w.upstream,
                                               "status": "suspended"},
    "window-closed": lambda w: {"window": w.window, "application": w.window.application, "findings": 3,
                                "awaiting_triage": 1},
    "window-closing-reminder": lambda w: {"window": w.window, "application": w.window.application,
                                          "closes_at": w.now, "days_left": 2},
    "window-extended": lambda w: {"window": w.window, "application": w.window.application, "reopened": True},
}


def test_every_kind_of_email_has_a_context_here():
    assert sorted(EMAIL_CONTEXTS) == sorted(digests.email_kinds())


def test_every_kind_a_user_can_choose_has_a_label():
    """The notification settings name each kind in the reader's language (``notification_kind``)."""
    unlabelled = [kind for kind, _label in digests.choosable_kinds() if kind not in labels.known("notification_kind")]
    assert not unlabelled


def email_in(language: str, kind: str, context: dict) -> tuple[str, str, str]:
    """The email of ``kind`` as ``notify()`` writes it for a user who reads ``language``."""
    recipient = User.objects.get(email="admin@acme.example")
    recipient.language = language
    with translation.override("en" if language == "fr" else "fr"):  # the sender's language does not matter
        notify(recipient, kind, context, url="/dashboard/")
    row = OutboxEmail.objects.filter(to=recipient.email).latest("pk")
    return row.subject, row.body_text, row.body_html


def email_chunks(subject: str, text: str, html: str) -> list[str]:
    return [subject, *text_chunks(text), *visible_chunks(html)]


@pytest.mark.parametrize("kind", sorted(EMAIL_CONTEXTS))
def test_emails_are_written_in_the_recipients_language(demo, demo_text, untranslated, kind):
    """Every kind of email, for a French reader: no English left but what people wrote; for an
    English reader: no French."""
    context = EMAIL_CONTEXTS[kind](mail_world())
    # What people wrote: the context's texts and the objects' own (titles, names...).
    user_data = demo_text.plus(text for value in context.values() for text in _strings(value))
    in_french = email_in("fr", kind, context)
    left = english_left(email_chunks(*in_french), user_data, untranslated)
    assert not left, f"{kind}: English in the French email: {left}"
    in_english = email_in("en", kind, context)
    assert in_english != in_french
    assert not [c for c in email_chunks(*in_english) if french(c)], f"{kind}: French in the English email"


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
