"""Report pages: publication freezes a snapshot that later data never changes,
downloads carry no private data, staff preview / refresh / publish, analytics."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from certification.framework.services import WorkflowError
from certification.transparency import rollups as transparency_rollups
from certification.transparency import services as transparency_services
from certification.transparency.models import ReportSnapshot, ReportTierRollup
from certification.transparency.tasks import refresh_report_rollups
from portal.canonical import canonical_json, canonical_sha256
from portal.models import AuditEntry, Deadline
from tests import factories as f
from tests.certification.test_report_figures import AS_OF, make_cert, world  # noqa: F401  (fixture)

YEAR = 2025


@pytest.fixture
def published(world):
    transparency_rollups.refresh_rollups(as_of=AS_OF)
    draft = transparency_services.build_draft(YEAR)
    return transparency_services.publish(YEAR, world["staff"], transparency_services.draft_digest(draft))


def test_published_snapshot_does_not_change_when_the_data_does(published, world, client):
    page_before = client.get(f"/report/{YEAR}/").content.decode()
    json_before = client.get(f"/report/{YEAR}/report.json").content
    # New data for that year, and a fresh refresh of the rollups.
    a, b, c, _d = world["orgs"]
    make_cert(c, 3, "2025-08-01", "2026-08-01")
    transparency_rollups.refresh_rollups(as_of=AS_OF)
    assert {r["tier"]: r for r in transparency_services.build_draft(YEAR)["tables"]["adoption"]["rows"]}["all"][
        "organizations_certified"] == 3

    snapshot = ReportSnapshot.objects.get(year=YEAR)
    assert snapshot.data == published.data and snapshot.sha256 == published.sha256
    assert {r["tier"]: r for r in snapshot.data["tables"]["adoption"]["rows"]}["all"]["organizations_certified"] == 2
    assert client.get(f"/report/{YEAR}/report.json").content == json_before
    assert client.get(f"/report/{YEAR}/").content.decode() == page_before
    with pytest.raises(ValueError):
        snapshot.save()
    with pytest.raises(ValueError):
        snapshot.delete()


def test_snapshot_hash_is_over_the_canonical_json_served(published, client):
    response = client.get(f"/report/{YEAR}/report.json")
    assert response.status_code == 200 and response["ETag"] == f'"{published.sha256}"'
    assert hashlib.sha256(response.content).hexdigest() == published.sha256
    assert canonical_sha256(json.loads(response.content)) == published.sha256
    stored = ReportSnapshot.objects.get(year=YEAR)
    assert canonical_json(stored.data) == response.content
    page = client.get(f"/report/{YEAR}/").content.decode()
    assert published.sha256 in page


def test_public_page_states_every_definition_and_has_accessible_charts(published, client):
    page = client.get(f"/report/{YEAR}/").content.decode()
    for phrase in ["held at least one valid certificate at any time in the year", "changes requested",
                   "median", "90th percentile", "filed by the due time", "mitigated, accepted as a risk",
                   "on-time rate", "Framework versions in force", "median days from the report to the acknowledgement",
                   "median days from the report to the resolution"]:
        assert phrase.lower() in page.lower(), phrase
    assert page.count('role="img"') == 12
    assert page.count("<title id=") == 12 and page.count("<desc id=") == 12
    assert "66.7%" in page  # adoption, all tiers
    assert "2025.1" in page
    for name in transparency_services.TABLE_NAMES:
        assert f'id="table-{name}"' in page
        assert f"/report/{YEAR}/data/{name}.csv" in page


def test_unpublished_years_are_not_public(world, client):
    transparency_rollups.refresh_rollups(as_of=AS_OF)
    assert client.get(f"/report/{YEAR}/").status_code == 404
    assert client.get(f"/report/{YEAR}/data/adoption.csv").status_code == 404
    assert client.get(f"/report/{YEAR}/report.json").status_code == 404
    assert "No report has been published yet" in client.get("/report/").content.decode()


PRIVATE = ["Alpha Secret Org", "alpha-secret", "Beta Secret Org", "Gamma Secret Org", "Delta Outsider",
           "Secret model", "Secret finding title", "Secret response details", "RRC-TEST", "@example.org"]


def test_public_downloads_hold_no_private_data(published, client):
    bodies = [client.get(f"/report/{YEAR}/report.json").content.decode()]
    for name in transparency_services.TABLE_NAMES:
        for fmt in ("csv", "json"):
            response = client.get(f"/report/{YEAR}/data/{name}.{fmt}")
            assert response.status_code == 200, (name, fmt)
            bodies.append(response.content.decode())
    bodies.append(client.get(f"/report/{YEAR}/").content.decode())
    for body in bodies:
        for secret in PRIVATE:
            assert secret not in body, secret
    # Only aggregate columns: no identifiers of organizations, releases, people or findings.
    columns = {c for table in published.data["tables"].values() for c in table["columns"]}
    assert not columns & {"organization", "organization_id", "release", "model", "user", "email", "title", "number"}


def test_csv_and_json_downloads_hold_the_table(published, client):
    response = client.get(f"/report/{YEAR}/data/adoption.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="transparency-report-2025-adoption.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0] == {"tier": "all", "member_organizations": "3", "organizations_certified": "2", "share": "0.6667"}
    assert rows[3]["share"] == "0.0"
    data = client.get(f"/report/{YEAR}/data/time_to_decision.json").json()
    assert data["table"] == "time_to_decision" and data["year"] == YEAR
    assert data["rows"][1]["median_days"] == 20.0
    empty = client.get(f"/report/{YEAR}/data/audits.csv").content.decode()
    assert "1,0,0,\r\n" in empty  # no audit in tier 1: the share is left empty
    assert client.get(f"/report/{YEAR}/data/nope.csv").status_code == 404


def test_staff_preview_refresh_and_publish(world, client):
    staff = world["staff"]
    client.force_login(staff)
    assert client.post("/staff/report/refresh/").status_code == 302
    assert AuditEntry.objects.filter(action="certification.report.refreshed").count() == 1
    year = timezone.now().year - 1
    page = client.get(f"/staff/report/{year}/")
    assert page.status_code == 200 and "Draft: only staff see this page" in page.content.decode()
    assert client.get(f"/staff/report/{year}/data/adoption.csv").status_code == 200
    digest = page.context["digest"]
    # A stale preview is refused.
    response = client.post(f"/staff/report/{year}/publish/", {"draft_sha256": "0" * 64}, follow=True)
    assert "changed since you previewed" in response.content.decode()
    assert not ReportSnapshot.objects.exists()
    assert client.get(f"/staff/report/{year}/publish/").status_code == 200
    response = client.post(f"/staff/report/{year}/publish/", {"draft_sha256": digest})
    assert response.status_code == 302 and response["Location"] == f"/report/{year}/"
    snapshot = ReportSnapshot.objects.get(year=year)
    assert snapshot.sha256 == digest and snapshot.published_by == staff
    assert AuditEntry.objects.filter(action="certification.report.published", payload__sha256=digest).exists()
    # Once published, never again.
    response = client.post(f"/staff/report/{year}/publish/", {"draft_sha256": digest}, follow=True)
    assert "published already" in response.content.decode()
    assert client.get("/report/").status_code == 200


def test_the_current_year_cannot_be_published(world):
    transparency_rollups.refresh_rollups(as_of=AS_OF)
    draft = transparency_services.build_draft(2026)
    with pytest.raises(WorkflowError, match="once the year is over"):
        transparency_services.publish(2026, world["staff"], transparency_services.draft_digest(draft), now=AS_OF)


def test_figures_computed_before_the_year_ended_cannot_be_published(world):
    from tests.certification.test_report_figures import at

    transparency_rollups.refresh_rollups(as_of=at("2025-12-15"))
    draft = transparency_services.build_draft(YEAR)
    with pytest.raises(WorkflowError, match="before the end of the year"):
        transparency_services.publish(YEAR, world["staff"], transparency_services.draft_digest(draft))


def test_only_staff_publish(world):
    transparency_rollups.refresh_rollups(as_of=AS_OF)
    draft = transparency_services.build_draft(YEAR)
    with pytest.raises(WorkflowError):
        transparency_services.publish(YEAR, f.UserFactory(), transparency_services.draft_digest(draft))


def test_staff_pages_refuse_others(world, client, org_admin):
    transparency_rollups.refresh_rollups(as_of=AS_OF)
    client.force_login(org_admin)
    for url in ["/staff/report/", f"/staff/report/{YEAR}/", "/staff/analytics/",
                f"/staff/report/{YEAR}/data/adoption.csv"]:
        assert client.get(url).status_code == 403, url
    assert client.post("/staff/report/refresh/").status_code == 403
    assert client.post(f"/staff/report/{YEAR}/publish/", {"draft_sha256": "x"}).status_code == 403


def test_daily_task_refreshes_the_rollups(world, settings):
    assert "certification.transparency.tasks.refresh_report_rollups" in {
        e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert refresh_report_rollups.run() >= 1
    assert ReportTierRollup.objects.filter(year=timezone.now().year, tier=0).exists()


def test_staff_analytics_counts(world, client, django_assert_max_num_queries):
    staff = world["staff"]
    now = timezone.now()
    Deadline.objects.create(content_type_id=1, object_id=1, kind="audit_report", due_at=now - timedelta(days=1))
    Deadline.objects.create(content_type_id=1, object_id=2, kind="audit_report", due_at=now + timedelta(days=1))
    Deadline.objects.create(content_type_id=1, object_id=3, kind="finding_response", due_at=now - timedelta(days=9),
                            state=Deadline.State.PASSED)
    client.force_login(staff)
    # session, user, MFA check, 4 figures queries, plus template extras
    with django_assert_max_num_queries(12):
        response = client.get("/staff/analytics/")
    assert response.status_code == 200
    ctx = response.context
    states = dict((str(k), v) for k, v in ctx["states"])
    assert states["In review"] == 3 and states["Rejected"] == 1
    assert {r["kind"]: (r["open_past_due"], r["passed"]) for r in ctx["overdue"]} == {
        "audit_report": (1, 0), "finding_response": (0, 1)}
    # The T4 application's engagement on seat 2 is active and overdue (due 1 July 2025).
    loaded = [r for r in ctx["load"] if r["active"]]
    assert len(loaded) == 1 and loaded[0]["overdue"] == 1
    in_review = next(r for r in ctx["ageing"] if r["status"] == "In review")
    assert in_review["counts"][-1] == 3  # all submitted over 90 days ago


def test_page_cache_is_shared_by_visitors_only(published, client, org_admin, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):  # the snapshots' years and hashes; the snapshot's data on a miss
        first = client.get(f"/report/{YEAR}/").content
    with django_assert_max_num_queries(1):  # the snapshots' years and hashes; the page comes from the cache
        assert client.get(f"/report/{YEAR}/").content == first
    assert b"Sign out" not in first
    client.force_login(org_admin)
    signed_in = client.get(f"/report/{YEAR}/").content.decode()
    assert "Sign out" in signed_in and published.sha256 in signed_in
