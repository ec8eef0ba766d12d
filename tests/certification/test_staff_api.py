"""The staff API of the certification app (issue 14): raising a tier, handing an application over,
the screening queue, framework versions, the transparency report, concerns and the appeals queue.

Each operation: staff with a ``staff``-scoped token (or a session) may; a token without the scope,
and every non-staff persona, gets 403 as on the page; bad input is a 400 naming the field; the audit
log gets the page's entry."""

from __future__ import annotations

import copy
import itertools
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from certification.certificates import appeals as certificate_appeals
from certification.certificates import concerns as certificate_concerns
from certification.certificates import services as certificate_services
from certification.certificates.models import Certificate, ConcernReport
from certification.framework.models import FrameworkVersion
from certification.releases import applications
from certification.releases.models import Application
from certification.transparency import rollups
from certification.transparency.models import ReportSnapshot
from portal.models import ApiToken, AuditEntry, hash_secret
from tests import factories as f
from tests.certification.certificate_helpers import certify, decision_pending
from tests.certification.factories import make_release, submitted_application

S = Application.Status
_names = itertools.count()


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def token(user, *scopes: str) -> dict:
    """Headers of a personal token of ``user`` with exactly these scopes."""
    raw = ApiToken.generate_key()
    ApiToken.objects.create(user=user, name=f"t{next(_names)}", key_hash=hash_secret(raw), hint=raw[:10],
                            scopes=list(scopes))
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def staff_token(user) -> dict:
    return token(user, "read", "write", "staff")


def post(client, url: str, body=None, **headers):
    return client.post(url, body if body is not None else {}, content_type="application/json", **headers)


def put(client, url: str, body, **headers):
    return client.put(url, body, content_type="application/json", **headers)


def logged(action: str, **payload) -> AuditEntry | None:
    entry = AuditEntry.objects.filter(action=action).order_by("-seq").first()
    if entry is not None:
        for key, value in payload.items():
            assert entry.payload.get(key) == value, (key, entry.payload)
    return entry


def assert_refused_to_non_staff(url: str, users, method: str = "post", body=None) -> None:
    """Every non-staff persona gets 403 (the page's ``staff_required``), by session and by token."""
    for user in users:
        session = Client()
        session.force_login(user)
        answer = getattr(session, method)(url, body or {}, content_type="application/json")
        assert answer.status_code == 403, (user, answer.content)
        answer = getattr(Client(), method)(url, body or {}, content_type="application/json",
                                           **token(user, "read", "write", "staff"))
        assert answer.status_code == 403, (user, answer.content)
    assert getattr(Client(), method)(url, body or {}, content_type="application/json").status_code == 401


def assert_needs_staff_scope(url: str, staff, method: str = "post", body=None) -> None:
    answer = getattr(Client(), method)(url, body or {}, content_type="application/json",
                                       **token(staff, "read", "write"))
    assert answer.status_code == 403, answer.content
    assert "staff" in answer.json()["detail"]


# --- raising a tier ------------------------------------------------------------------------------------------


def test_staff_raise_a_tier_with_a_reason(framework, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    url = f"/api/v1/releases/{app.release_id}/raise-tier/"
    response = post(Client(), url, {"tier": 2, "reason": "Used for code review in production."}, **staff_token(staff))
    assert response.status_code == 200, response.content
    assert response.json()["raised_tier"] == 2 and response.json()["tier"] == 2
    app.refresh_from_db()
    assert app.tier == 2 and app.status == S.CHANGES_REQUESTED
    entry = logged("certification.release.tier_raised", to=2, reason="Used for code review in production.")
    assert entry is not None and entry.actor == staff


def test_raise_tier_input_errors_name_the_field(framework, org, org_admin, staff):
    release = make_release(org, org_admin)
    url = f"/api/v1/releases/{release.pk}/raise-tier/"
    headers = staff_token(staff)
    assert set(post(Client(), url, {"tier": 2, "reason": "  "}, **headers).json()) == {"reason"}
    assert set(post(Client(), url, {"tier": 7, "reason": "Why"}, **headers).json()) == {"tier"}
    assert set(post(Client(), url, {"reason": "Why"}, **headers).json()) == {"tier"}
    post(Client(), url, {"tier": 3, "reason": "Why"}, **headers)
    # Never below (or at) the current tier: the service's rule, under "tier".
    refused = post(Client(), url, {"tier": 2, "reason": "Why"}, **headers)
    assert refused.status_code == 400 and "above the current tier" in refused.json()["tier"][0]
    missing = post(Client(), "/api/v1/releases/999999/raise-tier/", {"tier": 2, "reason": "x"}, **headers)
    assert missing.status_code == 404


def test_raise_tier_is_refused_to_everyone_but_staff(framework, org, org_admin, org_member, other_member, auditor,
                                                     staff):
    release = make_release(org, org_admin)
    url = f"/api/v1/releases/{release.pk}/raise-tier/"
    body = {"tier": 2, "reason": "Why"}
    assert_refused_to_non_staff(url, [org_admin, org_member, other_member, auditor], body=body)
    assert_needs_staff_scope(url, staff, body=body)
    release.refresh_from_db()
    assert release.raised_tier is None
    assert not AuditEntry.objects.filter(action="certification.release.tier_raised").exists()


# --- handing an application over ------------------------------------------------------------------------------


def test_staff_hand_an_application_over_by_session(framework, client, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    applications.start_screening(app, staff)
    colleague = f.make_staff()
    client.force_login(staff)
    response = post(client, f"/api/v1/applications/{app.pk}/hand-over/", {"owner": colleague.email.upper()})
    assert response.status_code == 200, response.content
    assert response.json()["owner"] == colleague.email
    app.refresh_from_db()
    assert app.owner == colleague
    assert logged("certification.application.handed_over", to=colleague.pseudonym) is not None


def test_hand_over_needs_a_staff_member(framework, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    url = f"/api/v1/applications/{app.pk}/hand-over/"
    headers = staff_token(staff)
    not_staff = post(Client(), url, {"owner": org_admin.email}, **headers)
    assert not_staff.status_code == 400 and "must be Alliance staff" in not_staff.json()["owner"][0]
    assert set(post(Client(), url, {"owner": "nobody@example.org"}, **headers).json()) == {"owner"}
    assert set(post(Client(), url, {"owner": "not an email"}, **headers).json()) == {"owner"}
    assert set(post(Client(), url, {}, **headers).json()) == {"owner"}
    assert post(Client(), "/api/v1/applications/999999/hand-over/", {"owner": staff.email},
                **headers).status_code == 404
    assert not AuditEntry.objects.filter(action="certification.application.handed_over").exists()


def test_hand_over_is_refused_to_everyone_but_staff(framework, org, org_admin, org_member, other_member, staff):
    app = submitted_application(org, org_admin)
    url = f"/api/v1/applications/{app.pk}/hand-over/"
    assert_refused_to_non_staff(url, [org_admin, org_member, other_member], body={"owner": staff.email})
    assert_needs_staff_scope(url, staff, body={"owner": staff.email})
    app.refresh_from_db()
    assert app.owner is None


# --- the screening queue --------------------------------------------------------------------------------------


def queue(client, **params):
    response = client.get("/api/v1/staff/screening-queue/", params)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_screening_queue_has_the_pages_filters(framework, client, org, org_admin, staff):
    waiting = submitted_application(org, org_admin, version="1.0")
    mine = submitted_application(org, org_admin, version="2.0")
    applications.start_screening(mine, staff)
    Application.objects.filter(pk=waiting.pk).update(submitted_at=timezone.now() - timedelta(days=10))
    draft = applications.start_application(make_release(org, org_admin, version="3.0"), org_admin)
    client.force_login(staff)

    assert queue(client) == [waiting.pk, mine.pk]  # oldest first; drafts are not waiting for staff
    assert draft.pk not in queue(client)
    assert queue(client, owner="me") == [mine.pk]
    assert queue(client, owner="none") == [waiting.pk]
    assert queue(client, min_age_days=7) == [waiting.pk]
    assert queue(client, tier=1) == [waiting.pk, mine.pk] and queue(client, tier=3) == []
    assert queue(client, framework_version="2025.1") == [waiting.pk, mine.pk]
    assert queue(client, framework_version="1999.1") == []
    row = client.get("/api/v1/staff/screening-queue/").json()["results"][0]
    assert row["organization"] == org.slug and row["waiting_days"] == 10 and row["owner"] is None


def test_screening_queue_filter_errors_name_the_parameter(framework, client, staff):
    client.force_login(staff)
    for params, field in [({"tier": "9"}, "tier"), ({"min_age_days": "-1"}, "min_age_days"),
                          ({"min_age_days": "soon"}, "min_age_days"), ({"owner": "them"}, "owner")]:
        response = client.get("/api/v1/staff/screening-queue/", params)
        assert response.status_code == 400 and set(response.json()) == {field}, (params, response.content)


def test_screening_queue_is_for_staff_only(framework, org, org_admin, org_member, auditor, staff):
    submitted_application(org, org_admin)
    assert_refused_to_non_staff("/api/v1/staff/screening-queue/", [org_admin, org_member, auditor], method="get")
    # A read of a staff queue still needs the staff scope.
    response = Client().get("/api/v1/staff/screening-queue/", **token(staff, "read"))
    assert response.status_code == 403 and "staff" in response.json()["detail"]
    assert Client().get("/api/v1/staff/screening-queue/", **token(staff, "staff")).status_code == 200


# --- framework versions ---------------------------------------------------------------------------------------


def test_staff_draft_edit_and_publish_a_framework_version(framework, staff):
    api, headers = Client(), staff_token(staff)
    listing = api.get("/api/v1/framework-versions/", **headers).json()
    assert [(v["version"], v["in_force"]) for v in listing] == [("2025.1", True)]

    drafted = post(api, "/api/v1/framework-versions/", {"version": "2026.1"}, **headers)
    assert drafted.status_code == 201, drafted.content
    assert drafted.json()["status"] == "draft" and drafted.json()["rules"]["version"] == "2026.1"
    assert logged("certification.framework.drafted", copied_from="2025.1") is not None

    rules = copy.deepcopy(drafted.json()["rules"])
    rules["attestation_statements"][0]["text"] = "We affirm the first statement, reworded."
    edited = put(api, "/api/v1/framework-versions/2026.1/rules/", {"rules": rules}, **headers)
    assert edited.status_code == 200, edited.content
    assert FrameworkVersion.objects.get(version="2026.1").rules == rules
    assert logged("certification.framework.edited") is not None

    day = (timezone.now() + timedelta(days=30)).date()
    published = post(api, "/api/v1/framework-versions/2026.1/publish/", {"effective_date": day.isoformat()},
                     **headers)
    assert published.status_code == 200, published.content
    fv = FrameworkVersion.objects.get(version="2026.1")
    assert fv.is_published and fv.effective_from.date() == day and published.json()["digest"] == fv.digest
    assert logged("certification.framework.published", digest=fv.digest) is not None
    # Published versions never change.
    refused = put(api, "/api/v1/framework-versions/2026.1/rules/", {"rules": rules}, **headers)
    assert refused.status_code == 400 and "cannot change" in refused.json()["rules"][0]
    again = post(api, "/api/v1/framework-versions/2026.1/publish/", {"effective_date": day.isoformat()}, **headers)
    assert again.status_code == 400


def test_framework_version_input_errors_name_the_field(framework, client, staff):
    client.force_login(staff)
    for body in ({"version": "2026 1"}, {"version": "2025.1"}, {"version": ""}, {}):
        response = post(client, "/api/v1/framework-versions/", body)
        assert response.status_code == 400 and set(response.json()) == {"version"}, (body, response.content)
    post(client, "/api/v1/framework-versions/", {"version": "2026.1"})
    rules_url = "/api/v1/framework-versions/2026.1/rules/"
    wrong_name = {**FrameworkVersion.objects.get(version="2026.1").rules, "version": "2027.1"}
    for body in ({"rules": wrong_name}, {"rules": []}, {"rules": {"version": "2026.1"}}, {"rules": {"n": 2**60}},
                 {}):
        response = put(client, rules_url, body)
        assert response.status_code == 400 and set(response.json()) == {"rules"}, (body, response.content)
    publish_url = "/api/v1/framework-versions/2026.1/publish/"
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()
    for body in ({"effective_date": yesterday}, {"effective_date": "next week"}, {}):
        response = post(client, publish_url, body)
        assert response.status_code == 400 and set(response.json()) == {"effective_date"}, (body, response.content)
    assert not FrameworkVersion.objects.get(version="2026.1").is_published
    assert client.get("/api/v1/framework-versions/1999.9/").status_code == 404
    assert client.get("/api/v1/framework-versions/2026.1/").json()["status"] == "draft"


def test_framework_versions_are_for_staff_only(framework, org_admin, org_member, evaluator, staff):
    users = [org_admin, org_member, evaluator]
    assert_refused_to_non_staff("/api/v1/framework-versions/", users, method="get")
    assert_refused_to_non_staff("/api/v1/framework-versions/", users, body={"version": "2026.1"})
    assert_refused_to_non_staff("/api/v1/framework-versions/2025.1/publish/", users,
                                body={"effective_date": timezone.now().date().isoformat()})
    assert_needs_staff_scope("/api/v1/framework-versions/", staff, body={"version": "2026.1"})
    assert not FrameworkVersion.objects.filter(version="2026.1").exists()


# --- the transparency report ----------------------------------------------------------------------------------


def test_staff_refresh_and_publish_last_years_report(framework, staff):
    api, headers = Client(), staff_token(staff)
    year = timezone.now().year - 1
    refreshed = post(api, "/api/v1/staff/report/refresh/", **headers)
    assert refreshed.status_code == 200 and refreshed.json()["years"] >= 1
    assert logged("certification.report.refreshed", years=refreshed.json()["years"]) is not None

    years = api.get("/api/v1/staff/report/", **headers).json()
    assert [(row["published"], row["sha256"]) for row in years if row["year"] == year] == [(False, None)]
    draft = api.get(f"/api/v1/staff/report/{year}/", **headers).json()
    assert draft["year"] == year and draft["data"]["year"] == year and not draft["published"]

    published = post(api, f"/api/v1/staff/report/{year}/publish/", {"draft_sha256": draft["sha256"]}, **headers)
    assert published.status_code == 201, published.content
    assert published.json()["url"] == f"/report/{year}/report.json"
    assert ReportSnapshot.objects.get(year=year).sha256 == draft["sha256"]
    assert logged("certification.report.published", year=year, sha256=draft["sha256"]) is not None
    assert api.get(published.json()["url"]).status_code == 200  # the public JSON is still where it was
    again = post(api, f"/api/v1/staff/report/{year}/publish/", {"draft_sha256": draft["sha256"]}, **headers)
    assert again.status_code == 400 and "published already" in again.json()["non_field_errors"][0]


def test_report_publish_refuses_a_draft_that_changed_or_a_bad_digest(framework, client, staff):
    client.force_login(staff)
    year = timezone.now().year - 1
    rollups.refresh_rollups()
    changed = post(client, f"/api/v1/staff/report/{year}/publish/", {"draft_sha256": "0" * 64})
    assert changed.status_code == 400 and "changed since" in changed.json()["non_field_errors"][0]
    for body in ({"draft_sha256": "xyz"}, {}):
        response = post(client, f"/api/v1/staff/report/{year}/publish/", body)
        assert response.status_code == 400 and set(response.json()) == {"draft_sha256"}
    # The current year is not over: refused with the page's reason.
    this_year = client.get(f"/api/v1/staff/report/{year + 1}/").json()
    early = post(client, f"/api/v1/staff/report/{year + 1}/publish/", {"draft_sha256": this_year["sha256"]})
    assert early.status_code == 400 and "once the year is over" in early.json()["non_field_errors"][0]
    # A year without figures is not there, as on the page.
    assert client.get("/api/v1/staff/report/1990/").status_code == 404
    assert post(client, "/api/v1/staff/report/1990/publish/", {"draft_sha256": "0" * 64}).status_code == 404
    assert not ReportSnapshot.objects.exists()


def test_report_operations_are_for_staff_only(framework, org_admin, evaluator, auditor, staff):
    users = [org_admin, evaluator, auditor]
    assert_refused_to_non_staff("/api/v1/staff/report/refresh/", users)
    assert_refused_to_non_staff("/api/v1/staff/report/", users, method="get")
    assert_needs_staff_scope("/api/v1/staff/report/refresh/", staff)
    assert not AuditEntry.objects.filter(action="certification.report.refreshed").exists()


# --- concern reports ------------------------------------------------------------------------------------------


@pytest.fixture
def concern(framework, org, org_admin, staff) -> ConcernReport:
    cert = certify(org, org_admin, staff)
    return certificate_concerns.report_concern(cert, summary="Leaks emails", details="Ask it for a contact.")


def test_staff_list_and_dismiss_concerns(concern, staff):
    api, headers = Client(), staff_token(staff)
    listed = api.get("/api/v1/staff/concerns/", {"status": "open"}, **headers).json()["results"]
    assert [(c["id"], c["certificate"], c["certificate_status"]) for c in listed] == [
        (concern.pk, concern.certificate.number, "valid")]
    dismissed = post(api, f"/api/v1/staff/concerns/{concern.pk}/dismiss/", **headers)
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert dismissed.json()["handled_by"] == staff.email
    assert logged("certification.concern.dismissed", concern=concern.pk) is not None
    assert api.get("/api/v1/staff/concerns/", {"status": "open"}, **headers).json()["results"] == []
    again = post(api, f"/api/v1/staff/concerns/{concern.pk}/dismiss/", **headers)
    assert again.status_code == 400 and "already been handled" in again.json()["non_field_errors"][0]
    bad = api.get("/api/v1/staff/concerns/", {"status": "closed"}, **headers)
    assert bad.status_code == 400 and set(bad.json()) == {"status"}
    assert post(api, "/api/v1/staff/concerns/999999/dismiss/", **headers).status_code == 404


def test_staff_escalate_a_concern_to_a_suspension(concern, staff):
    api, headers = Client(), staff_token(staff)
    blank = post(api, f"/api/v1/staff/concerns/{concern.pk}/suspend/", {"reason": " "}, **headers)
    assert blank.status_code == 400 and set(blank.json()) == {"reason"}
    response = post(api, f"/api/v1/staff/concerns/{concern.pk}/suspend/", **headers)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "escalated" and response.json()["certificate_status"] == "suspended"
    cert = Certificate.objects.get(pk=concern.certificate_id)
    assert cert.status == Certificate.Status.SUSPENDED
    # The page's suggested reason, and the concern in the audit entry as on the page.
    assert logged("certification.certificate.suspended", concern=concern.pk,
                  reason="Concern reported: Leaks emails") is not None
    again = post(api, f"/api/v1/staff/concerns/{concern.pk}/suspend/", {"reason": "Again"}, **headers)
    assert again.status_code == 400


def test_concern_operations_are_for_staff_only(concern, org_admin, org_member, other_member, evaluator, staff):
    users = [org_admin, org_member, other_member, evaluator]
    assert_refused_to_non_staff("/api/v1/staff/concerns/", users, method="get")
    assert_refused_to_non_staff(f"/api/v1/staff/concerns/{concern.pk}/dismiss/", users)
    assert_refused_to_non_staff(f"/api/v1/staff/concerns/{concern.pk}/suspend/", users, body={"reason": "x"})
    assert_needs_staff_scope(f"/api/v1/staff/concerns/{concern.pk}/suspend/", staff, body={"reason": "x"})
    concern.refresh_from_db()
    assert concern.status == ConcernReport.Status.RECEIVED
    assert concern.certificate.status == Certificate.Status.VALID


# --- the appeals queue ----------------------------------------------------------------------------------------


def test_staff_list_the_appeals_queue(framework, client, org, org_admin, org_member, staff):
    app = decision_pending(org, org_admin, staff, version="rejected-1.0")
    certificate_services.reject(app, staff, "Incomplete")
    app.refresh_from_db()
    appeal = certificate_appeals.file_appeal(app, org_admin, "We answered every point.")
    client.force_login(staff)
    rows = client.get("/api/v1/staff/appeals/").json()["results"]
    assert [(r["id"], r["application"], r["status"], r["filed_by"]) for r in rows] == [
        (appeal.pk, app.pk, "open", org_admin.email)]
    assert client.get("/api/v1/staff/appeals/", {"status": "granted"}).json()["results"] == []
    bad = client.get("/api/v1/staff/appeals/", {"status": "pending"})
    assert bad.status_code == 400 and set(bad.json()) == {"status"}
    assert_refused_to_non_staff("/api/v1/staff/appeals/", [org_admin, org_member], method="get")
    assert Client().get("/api/v1/staff/appeals/", **token(staff, "read", "staff")).status_code == 200
