"""The yearly framework renewal (issue 16 §3): a version's review-by date with reminders and an
escalation through the deadline engine, the rule diff in words on the publish page and the public
changes page, and the notice on the effective date computed per certificate; in-flight
applications keep their version while renewals bind to the new one."""

from __future__ import annotations

import copy
import datetime as dt
import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from certification.certificates import services as certificate_services
from certification.framework import changes, rules, services
from certification.framework.demo import draft_rules
from certification.framework.models import FrameworkVersion
from certification.releases import applications
from portal import deadlines
from portal.models import Deadline, Notification
from tests import factories as f
from tests.certification.certificate_helpers import backdate, certify
from tests.certification.factories import make_release

UTC = dt.timezone.utc
REVIEW_BY_2025_1 = dt.datetime(2026, 7, 1, tzinfo=UTC)
HUNDRED_MILLION = 100_000_000


def next_rules(fv: FrameworkVersion, version: str = "2027.1") -> dict:
    """The demo's next version (a new requirement for Tiers 2-4, Tier 3 valid 180 days, a new
    capability, a shorter response deadline), with Tier 1 ending at 100 million parameters."""
    new = draft_rules(fv.rules)
    new["version"] = version
    for rule in new["classification"]["rules"]:
        if rule["id"] == "params_lt_1b":
            rule["parameter_count"] = {"lt": HUNDRED_MILLION}
        if rule["id"] == "params_1b_to_70b":
            rule["parameter_count"] = {"gte": HUNDRED_MILLION, "lte": 70_000_000_000}
    return new


def publish(staff, effective_from, version="2027.1") -> FrameworkVersion:
    fv = services.draft_framework_version(staff, version)
    services.update_framework_rules(fv, staff, next_rules(fv, version))
    return services.publish_framework_version(fv, staff, effective_from)


def review_deadline(fv) -> Deadline:
    return Deadline.objects.for_object(fv).get(kind="framework_review")


def text(response) -> str:
    """The visible text of a page, tags removed, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())).replace(" .", ".")


def kinds_of(user) -> list[str]:
    return list(Notification.objects.filter(user=user).order_by("pk").values_list("kind", flat=True))


# --- the review-by date and its deadline ---------------------------------------------------------


def test_the_review_by_date_is_the_effective_date_plus_the_months_of_the_data(framework):
    assert rules.review_by(framework) == REVIEW_BY_2025_1
    shorter = copy.deepcopy(framework.rules)
    shorter["deadlines"].append({"kind": "framework_review", "title": "Review", "length_months": 6, "reminders": []})
    assert rules.review_by(FrameworkVersion(rules=shorter, effective_from=framework.effective_from)) == dt.datetime(
        2026, 1, 1, tzinfo=UTC)
    assert rules.review_by(FrameworkVersion(rules=shorter)) is None  # a draft has none


def test_the_kind_is_registered_with_the_reminders_of_its_row():
    kind = deadlines.registered_kinds()["framework_review"]
    assert sorted(kind.reminders) == [timedelta(days=7), timedelta(days=30), timedelta(days=60)]
    assert kind.on_reminder is not None and kind.on_due is not None


@pytest.mark.django_db
def test_staff_are_reminded_before_the_review_by_date_and_escalated_after_it(framework, staff):
    other_staff = f.make_staff()
    with time_machine.travel(dt.datetime(2026, 4, 1, tzinfo=UTC), tick=False):
        services.ensure_review_deadline()
        services.ensure_review_deadline()  # idempotent
        assert Deadline.objects.filter(kind="framework_review").count() == 1
        assert review_deadline(framework).due_at == REVIEW_BY_2025_1
        deadlines.sweep()
    assert kinds_of(staff) == []
    with time_machine.travel(REVIEW_BY_2025_1 - timedelta(days=59), tick=False):
        deadlines.sweep()
    assert kinds_of(staff) == ["framework-review-reminder"]
    note = Notification.objects.get(user=other_staff)
    assert "2025.1" in note.subject and "in 60 days" in note.subject and "1 Jul 2026" in note.body
    with time_machine.travel(REVIEW_BY_2025_1 + timedelta(hours=1), tick=False):
        deadlines.sweep()
        deadlines.sweep()  # never twice
    assert kinds_of(staff) == ["framework-review-reminder", "framework-review-overdue"]
    assert kinds_of(other_staff)[-1] == "framework-review-overdue"


@pytest.mark.django_db
def test_publishing_a_newer_version_is_the_review(framework, staff):
    with time_machine.travel(dt.datetime(2026, 4, 1, tzinfo=UTC), tick=False):
        services.ensure_review_deadline()
        effective = dt.datetime(2026, 6, 1, tzinfo=UTC)
        new = publish(staff, effective)
    assert review_deadline(framework).state == Deadline.State.DONE
    assert review_deadline(new).due_at == dt.datetime(2027, 6, 1, tzinfo=UTC)
    with time_machine.travel(REVIEW_BY_2025_1 + timedelta(days=1), tick=False):
        deadlines.sweep()
    assert "framework-review-overdue" not in kinds_of(staff)


@pytest.mark.django_db
def test_the_staff_console_shows_the_review_state(framework, staff, client_for):
    client = client_for(staff)
    with time_machine.travel(dt.datetime(2026, 5, 2, tzinfo=UTC), tick=False):
        page = text(client.get("/staff/"))
        assert "2025.1 is due for review by 1 July 2026 (in 60 days)." in page
    with time_machine.travel(dt.datetime(2026, 8, 1, tzinfo=UTC), tick=False):
        page = text(client.get("/staff/"))
        assert "Review overdue: 2025.1 was due for review by 1 July 2026" in page
        publish(staff, dt.datetime(2026, 9, 1, tzinfo=UTC))
        page = text(client.get("/staff/"))
        assert "its review is done: 2027.1 comes into force on 1 September 2026." in page


# --- the rule diff, in words ----------------------------------------------------------------------


def test_the_rule_diff_names_each_change_in_words(framework):
    sections = changes.rule_changes(framework.rules, next_rules(framework))
    by_topic = {s["id"]: s["items"] for s in sections}
    assert by_topic["tiers"] == ["Tier 3: certificate validity (days): 180 (was 365)."]
    assert by_topic["requirements"] == [
        "New requirement \u201cIncident response\u201d for Tiers 2, 3 and 4: How reports about the released model "
        "are received, triaged and fixed, and how fast."]
    assert "New capability: Autonomous agents." in by_topic["classification"]
    assert any("fewer than 1 billion" in item and "bounds" in item for item in by_topic["classification"])
    assert by_topic["deadlines"] == ["Response to a finding: 10 days (was 14 days)."]
    text = " ".join(" ".join(s["items"]) for s in sections)
    assert "{" not in text and not re.search(r"\b[a-z]+_[a-z_]+\b", text), text
    assert changes.rule_changes(framework.rules, framework.rules) == []


def test_the_diff_reads_requirement_tiers_statements_and_other_numbers(framework):
    new = copy.deepcopy(framework.rules)
    new["requirements"] = [r for r in new["requirements"] if r["id"] != "compute"]
    for req in new["requirements"]:
        if req["id"] == "rollout_plan":
            req["tiers"], req["min_stages"] = [2, 3, 4], 3
    new["attestation_statements"][4]["tiers"] = [2, 3, 4]
    new["certificates"] = {"renewal_after_months": 9}
    items = [i for s in changes.rule_changes(framework.rules, new) for i in s["items"]]
    assert items == [
        "\u201cStaged rollout plan\u201d is now required for Tier 2 too.",
        "\u201cStaged rollout plan\u201d, minimum rollout stages: 3 (was 2).",
        "\u201cCompute\u201d is no longer required.",
        "Statement 5 applies to Tiers 2, 3 and 4 (was Tiers 3 and 4).",
        "renewal opens after (months): 9 (was 6).",
    ]


@pytest.mark.django_db
def test_the_publish_page_shows_the_diff_against_the_version_in_force(framework, staff, client_for):
    fv = services.draft_framework_version(staff, "2027.1")
    services.update_framework_rules(fv, staff, next_rules(fv))
    page = client_for(staff).get("/staff/framework/2027.1/publish/").content.decode()
    assert "What 2027.1 changes from 2025.1, the version in force" in page
    assert "Tier 3: certificate validity (days): 180 (was 365)." in page
    assert "New capability: Autonomous agents." in page
    assert "certificate_validity_days" not in page


@pytest.mark.django_db
def test_each_published_version_has_a_public_changes_page(framework, staff, client):
    fv = services.draft_framework_version(staff, "2027.1")
    services.update_framework_rules(fv, staff, next_rules(fv))
    assert client.get("/framework/2027.1/changes/").status_code == 404  # a draft is staff's only
    services.publish_framework_version(fv, staff, timezone.now() + timedelta(days=30))
    page = client.get("/framework/2027.1/changes/").content.decode()
    assert "What changes in 2027.1" in page and "compared with 2025.1" in page
    assert "Response to a finding: 10 days (was 14 days)." in page
    assert "there is no earlier version" in client.get("/framework/2025.1/changes/").content.decode()
    assert 'href="/framework/2027.1/changes/"' in client.get("/framework/").content.decode()
    assert 'href="/framework/2027.1/changes/"' in client.get("/framework/2027.1/").content.decode()
    assert client.get("/framework/nope/changes/").status_code == 404


# --- the effective date ------------------------------------------------------------------------------


@pytest.fixture
def holders(framework, org, org_admin, other_org, other_member, staff, settings, tmp_path):
    """A Tier 1 certificate (500 million parameters) of ``org``, a Tier 2 one (7 billion) of
    ``other_org`` (whose admin is ``other_member``), both under 2025.1, and an expired one of ``org``."""
    settings.PRIVATE_STORAGE_ROOT = tmp_path
    tier1 = certify(org, org_admin, staff)
    tier2 = certify(other_org, other_member, staff, parameter_count=7_000_000_000, version="2.0")
    expired = backdate(certify(org, org_admin, staff, version="0.9", digests=("c" * 64,)), 400)
    return {"tier1": tier1, "tier2": tier2, "expired": expired, "other_admin": other_member}


@pytest.mark.django_db
def test_on_the_effective_date_every_holder_is_told_what_changes_for_each_certificate(holders, org_admin, staff):
    assert (holders["tier1"].tier, holders["tier2"].tier) == (1, 2)
    effective = timezone.now() + timedelta(days=10)
    publish(staff, effective)
    deadlines.sweep()
    assert Notification.objects.filter(kind="framework-version-effective").count() == 0
    with time_machine.travel(effective + timedelta(hours=1), tick=False):
        deadlines.sweep()
        deadlines.sweep()
    mine = Notification.objects.get(user=org_admin, kind="framework-version-effective")
    theirs = Notification.objects.get(user=holders["other_admin"], kind="framework-version-effective")
    # Tier 1 at 500 million parameters becomes Tier 2 under the new thresholds, with its requirements.
    assert holders["tier1"].number in mine.body and holders["tier2"].number not in mine.body
    assert holders["expired"].number not in mine.body
    assert "Tier at renewal: Tier 2 (certified at Tier 1)." in mine.body
    for title in ("Red-teaming report", "Bias evaluation report", "Incident response"):
        assert f"New requirement: {title}." in mine.body
    # Tier 2 stays Tier 2 and gains only the new requirement.
    assert "Tier at renewal: Tier 2, unchanged." in theirs.body
    assert "New requirement: Incident response." in theirs.body and "Red-teaming" not in theirs.body
    assert holders["tier1"].number not in theirs.body
    assert mine.url == theirs.url == "/framework/2027.1/changes/"
    assert "2027.1" in mine.subject


@pytest.mark.django_db
def test_a_version_that_changes_nothing_for_a_certificate_says_so(holders, org_admin, staff):
    fv = services.draft_framework_version(staff, "2026.2")
    services.publish_framework_version(fv, staff, timezone.now())
    deadlines.sweep()
    note = Notification.objects.get(user=org_admin, kind="framework-version-effective")
    assert holders["tier1"].number in note.body and "Nothing changes at renewal." in note.body


@pytest.mark.django_db
def test_in_flight_applications_keep_their_version_and_renewals_bind_to_the_new_one(holders, org, org_admin, staff):
    in_flight = applications.start_application(make_release(org, org_admin, version="3.0"), org_admin)
    effective = timezone.now() + timedelta(days=1)
    publish(staff, effective)
    cert = backdate(holders["tier1"], 200)  # renewal opens six months after issue
    with time_machine.travel(effective + timedelta(hours=1), tick=False):
        renewal = certificate_services.start_renewal(cert, org_admin)
        in_flight.refresh_from_db()
    assert in_flight.framework_version.version == "2025.1"
    assert renewal.framework_version.version == "2027.1"
    assert renewal.tier == 2  # the release's tier under the new rules


@pytest.mark.django_db
def test_the_api_gives_the_review_by_date_and_the_changes(framework, staff, client):
    fv = services.draft_framework_version(staff, "2027.1")
    services.update_framework_rules(fv, staff, next_rules(fv))
    client.force_login(staff)
    body = client.get("/api/v1/framework-versions/2027.1/").json()
    assert body["changes_from"] == "2025.1" and body["review_by"] is None
    assert {"id": "deadlines", "title": "Deadlines and lengths",
            "items": ["Response to a finding: 10 days (was 14 days)."]} in body["changes"]
    first = client.get("/api/v1/framework-versions/2025.1/").json()
    assert (first["changes_from"], first["changes"], first["review_by"]) == (None, [], "2026-07-01T00:00:00Z")
