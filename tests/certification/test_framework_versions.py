"""Framework version pages: public list and detail, staff drafting, editing and
publishing (DESIGN §2): the version in force switches at the effective date."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json

import pytest
import rfc8785
import time_machine
from django.urls import reverse

from certification.framework import texts
from certification.framework.models import Benchmark, FrameworkVersion
from certification.framework.seed import seed_framework
from certification.framework.services import version_in_force
from portal.models import AuditEntry

UTC = dt.timezone.utc


@pytest.fixture
def framework(db) -> FrameworkVersion:
    seed_framework(FrameworkVersion, Benchmark)
    return FrameworkVersion.objects.get(version="2025.1")


@pytest.fixture
def draft(framework) -> FrameworkVersion:
    rules = copy.deepcopy(framework.rules)
    rules["version"] = "2026.1"
    return FrameworkVersion.objects.create(version="2026.1", rules=rules)


def list_url():
    return reverse("certification:framework-list")


def detail_url(v):
    return reverse("certification:framework-detail", args=[v])


def edit_url(v):
    return reverse("certification:framework-edit", args=[v])


def publish_url(v):
    return reverse("certification:framework-publish", args=[v])


# --- public pages ---------------------------------------------------------------------------------


def test_public_list_shows_published_versions_with_date_and_digest(client, framework, draft):
    response = client.get(list_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert "2025.1" in html and framework.digest in html
    assert framework.effective_from.isoformat().replace("+00:00", "") in html  # the <time datetime>
    assert "In force" in html
    assert "2026.1" not in html  # drafts are staff-only
    assert [v.version for v in response.context["versions"]] == ["2025.1"]


def test_staff_list_includes_drafts(client_for, staff, framework, draft):
    response = client_for(staff).get(list_url())
    assert [v.version for v in response.context["versions"]] == ["2026.1", "2025.1"]
    assert reverse("certification:framework-create") in response.content.decode()


def test_list_is_public_even_for_non_staff_members(client_for, org_member, framework, draft):
    response = client_for(org_member).get(list_url())
    assert [v.version for v in response.context["versions"]] == ["2025.1"]
    assert reverse("certification:framework-create") not in response.content.decode()


def test_public_version_page_renders_the_rules_readably(client, framework):
    response = client.get(detail_url("2025.1"))
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        # tier rules, expanded per value, and the lists
        "params_gt_70b",
        "capability:code_generation",
        "sensitive_domain:cybersecurity",
        "The model has between 1 billion and 70 billion parameters.",
        "Advanced reasoning",
        "Biology",
        # requirements per tier (§2.2), including process rows
        "Staged rollout plan",
        "Sensitive-domain risk assessments",
        "2 auditors; together accredited in every flagged domain.",
        "2 distinct staff",
        # attestation statements, benchmark catalogue, deadlines, validity
        "The organization will publicly respond to every accepted community finding.",
        "TruthfulQA",
        "closer to 50",
        "Audit report",
        "30 days (Tier 3); 45 days (Tier 4)",
        "the auditor at T-2d; the auditor at T-1d",
        "2 years",
        "Certificates are valid for 365 days from issue.",
        f"sha256:{framework.digest}",
    ):
        assert text in html, text


def test_requirement_table_matches_the_tiers(client, framework):
    rows = {r["title"]: r["cells"] for r in client.get(detail_url("2025.1")).context["requirement_rows"]}
    assert rows["Model card"] == ["yes", "yes", "yes", "yes"]
    assert rows["Red-teaming report"] == ["", "yes", "yes", "yes"]
    assert rows["Sensitive-domain risk assessments"] == ["", "", "", "yes"]
    assert rows["Third-party audit"] == ["", "", "1 auditor.", "2 auditors; together accredited in every flagged domain."]
    assert rows["Community review window"] == ["", "", "30 days.", "90 days."]
    assert rows["Approvals needed to certify"] == ["1 staff", "1 staff", "2 distinct staff", "2 distinct staff"]
    assert rows["Certificate validity"] == ["365 days"] * 4


def test_draft_page_is_404_for_the_public_and_members(client, client_for, org_member, draft):
    assert client.get(detail_url("2026.1")).status_code == 404
    assert client_for(org_member).get(detail_url("2026.1")).status_code == 404


def test_draft_page_is_shown_to_staff_with_edit_and_publish(client_for, staff, draft):
    response = client_for(staff).get(detail_url("2026.1"))
    assert response.status_code == 200
    html = response.content.decode()
    assert edit_url("2026.1") in html and publish_url("2026.1") in html


def test_unknown_version_is_404(client, framework):
    assert client.get(detail_url("1999.9")).status_code == 404


def test_a_broken_draft_still_renders_for_staff(client_for, staff, framework):
    FrameworkVersion.objects.create(version="broken", rules={"version": "broken", "requirements": "oops"})
    response = client_for(staff).get(detail_url("broken"))
    assert response.status_code == 200
    assert response.context["rules_unreadable"]


# --- staff only --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_staff_pages_refuse_others(client, client_for, org_member, auditor, draft, method):
    urls = [reverse("certification:framework-create"), edit_url("2026.1"), publish_url("2026.1")]
    for url in urls:
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    for user in (org_member, auditor):
        signed_in = client_for(user)
        for url in urls:
            assert getattr(signed_in, method)(url, {"version": "x", "rules": "{}", "effective_date": "2030-01-01"}).status_code in (
                403,
                404,
            )
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.rules["version"] == "2026.1"
    assert not FrameworkVersion.objects.filter(version="x").exists()


def test_staff_draft_copies_the_latest_published_rules(client_for, staff, framework):
    client = client_for(staff)
    assert client.get(reverse("certification:framework-create")).status_code == 200
    response = client.post(reverse("certification:framework-create"), {"version": "2026.1"})
    assert response.status_code == 302
    assert response["Location"] == edit_url("2026.1")
    new = FrameworkVersion.objects.get(version="2026.1")
    assert new.status == "draft" and new.effective_from is None and new.digest == ""
    # The draft also carries 2025.1's texts in the other languages, from the catalogue (issue 17).
    carried = new.rules.pop("translations", {})
    assert new.rules == {**framework.rules, "version": "2026.1"}
    assert carried == texts.carried_translations(framework.rules)
    assert AuditEntry.objects.filter(action="certification.framework.drafted", actor=staff).exists()


@pytest.mark.parametrize(("version", "message"), [("2025.1", "already exists"), ("bad id!", "Use letters"), ("", "required")])
def test_draft_version_id_errors_are_field_errors(client_for, staff, framework, version, message):
    response = client_for(staff).post(reverse("certification:framework-create"), {"version": version})
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["version"])
    assert FrameworkVersion.objects.count() == 1


def test_edit_form_shows_the_rules_as_json(client_for, staff, draft):
    response = client_for(staff).get(edit_url("2026.1"))
    assert response.status_code == 200
    assert json.loads(response.context["form"].initial["rules"]) == draft.rules


def test_edit_saves_valid_rules(client_for, staff, draft):
    rules = copy.deepcopy(draft.rules)
    rules["classification"]["capabilities"].append({"id": "autonomy", "label": "Autonomous action"})
    response = client_for(staff).post(edit_url("2026.1"), {"rules": json.dumps(rules)})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.rules == rules
    assert AuditEntry.objects.filter(action="certification.framework.edited").exists()


def _broken(rules, how):
    rules = copy.deepcopy(rules)
    if how == "no_tiers":
        del rules["tiers"]
    elif how == "rule_kind":
        rules["classification"]["rules"][0]["kind"] = "astrology"
    elif how == "version":
        rules["version"] = "2027.1"
    elif how == "gap":
        # No rule for small models: classification of 1 parameter fires nothing.
        rules["classification"]["rules"] = [r for r in rules["classification"]["rules"] if r["id"] != "params_lt_1b"]
    elif how == "huge_int":
        rules["extra"] = 2**60
    return json.dumps(rules)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "one JSON object"),
        ("", "required"),
        ("no_tiers", "not valid"),
        ("rule_kind", "not valid"),
        ("gap", "not valid"),
        ("version", "must name version 2026.1"),
        ("huge_int", "canonical JSON"),
    ],
)
def test_invalid_rules_are_field_errors_and_nothing_is_saved(client_for, staff, draft, text, message):
    before = copy.deepcopy(draft.rules)
    if text in ("no_tiers", "rule_kind", "version", "gap", "huge_int"):
        text = _broken(before, text)
    response = client_for(staff).post(edit_url("2026.1"), {"rules": text})
    assert response.status_code == 200
    errors = response.context["form"].errors["rules"]
    assert any(message in e for e in errors), errors
    assert "There is a problem" in response.content.decode()
    draft.refresh_from_db()
    assert draft.rules == before


def test_published_version_cannot_be_edited(client_for, staff, framework):
    client = client_for(staff)
    response = client.get(edit_url("2025.1"))
    assert response.status_code == 302 and response["Location"] == detail_url("2025.1")
    rules = {**framework.rules, "tiers": []}
    response = client.post(edit_url("2025.1"), {"rules": json.dumps(rules)})
    assert response.status_code == 302
    framework.refresh_from_db()
    assert framework.rules["tiers"]
    assert "cannot change" in [str(m) for m in response.wsgi_request._messages][0]


# --- publishing ------------------------------------------------------------------------------------------


def test_publish_sets_status_date_and_digest(client_for, staff, draft):
    with time_machine.travel(dt.datetime(2026, 1, 10, 12, tzinfo=UTC), tick=False):
        client = client_for(staff)
        page = client.get(publish_url("2026.1"))
        expected = hashlib.sha256(rfc8785.dumps(draft.rules)).hexdigest()
        assert expected in page.content.decode()  # shown before confirming
        response = client.post(publish_url("2026.1"), {"effective_date": "2026-03-01"})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == "published"
    assert draft.effective_from == dt.datetime(2026, 3, 1, tzinfo=UTC)
    assert draft.digest == expected
    assert draft.published_by == staff
    entry = AuditEntry.objects.get(action="certification.framework.published")
    assert entry.payload["digest"] == expected


def test_publish_refuses_a_past_date(client_for, staff, draft):
    with time_machine.travel(dt.datetime(2026, 1, 10, 12, tzinfo=UTC), tick=False):
        response = client_for(staff).post(publish_url("2026.1"), {"effective_date": "2026-01-09"})
    assert response.status_code == 200
    assert response.context["form"].errors["effective_date"]
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_publish_needs_a_date(client_for, staff, draft):
    response = client_for(staff).post(publish_url("2026.1"), {"effective_date": "next spring"})
    assert response.status_code == 200 and response.context["form"].errors["effective_date"]
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_publishing_twice_is_refused(client_for, staff, framework):
    response = client_for(staff).post(publish_url("2025.1"), {"effective_date": "2099-01-01"})
    assert response.status_code == 302
    framework.refresh_from_db()
    assert framework.effective_from == dt.datetime(2025, 7, 1, tzinfo=UTC)


def test_version_in_force_switches_at_the_effective_date(client, client_for, staff, draft):
    with time_machine.travel(dt.datetime(2026, 1, 10, 12, tzinfo=UTC), tick=False):
        client_for(staff).post(publish_url("2026.1"), {"effective_date": "2026-03-01"})
        assert version_in_force().version == "2025.1"
        client.logout()
        html = client.get(list_url()).content.decode()
        assert "Scheduled" in html  # published, listed, not yet in force
    with time_machine.travel(dt.datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC), tick=False):
        assert version_in_force().version == "2025.1"
        assert client.get(reverse("certification:tier-check")).context["version"].version == "2025.1"
    with time_machine.travel(dt.datetime(2026, 3, 1, 0, 0, tzinfo=UTC), tick=False):
        assert version_in_force().version == "2026.1"
        assert client.get(reverse("certification:tier-check")).context["version"].version == "2026.1"
        assert client.get(list_url()).context["in_force"].version == "2026.1"
        assert "Published, superseded" in client.get(detail_url("2025.1")).content.decode()


def test_a_published_version_becomes_public(client, client_for, staff, draft):
    assert client.get(detail_url("2026.1")).status_code == 404
    client_for(staff).post(publish_url("2026.1"), {"effective_date": "2099-01-01"})
    client.logout()
    assert client.get(detail_url("2026.1")).status_code == 200


def test_new_drafts_copy_the_latest_published_version(client_for, staff, framework):
    """After 2026.1 is published, a 2027.1 draft starts from 2026.1, not 2025.1."""
    rules = copy.deepcopy(framework.rules)
    rules["version"] = "2026.1"
    rules["tiers"][0]["certificate_validity_days"] = 180
    FrameworkVersion.objects.create(
        version="2026.1", status="published", effective_from=dt.datetime(2026, 3, 1, tzinfo=UTC), rules=rules
    )
    client_for(staff).post(reverse("certification:framework-create"), {"version": "2027.1"})
    assert FrameworkVersion.objects.get(version="2027.1").rules["tiers"][0]["certificate_validity_days"] == 180

