"""The public registry page: search, filters, keyset pagination, what it never
shows, and a query count that does not grow with the rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certification.certificates import registry, services
from certification.certificates.models import Certificate
from certification.releases import applications
from certification.releases.models import Application
from tests import factories as f
from tests.certification.certificate_helpers import certify, decision_pending
from tests.certification.factories import make_release, submitted_application


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    monkeypatch.setattr(applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(applications, "REVIEW_STARTED_HOOKS", [])


def bulk_certificates(release, framework, count: int) -> list[Certificate]:
    """Rows straight into the tables: the page's cost, not the workflow's, is under test."""
    now = timezone.now()
    start = Certificate.objects.count()
    apps = Application.objects.bulk_create([
        Application(release=release, framework_version=framework, status=Application.Status.CERTIFIED, tier=1)
        for _ in range(count)])
    return Certificate.objects.bulk_create([
        Certificate(number=f"RRC-BULK-{start + i:05d}", application=app, release=release, organization=release.organization,
                    framework_version=framework, tier=1 + (start + i) % 4, issued_at=now, expires_at=now + timedelta(days=365),
                    updated_at=now)
        for i, app in enumerate(apps)])


def registry_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/registry/")
    assert response.status_code == 200
    return len(queries)


def test_registry_query_count_does_not_grow_with_rows(framework, org, org_admin, client):
    release = make_release(org, org_admin, fill=False)
    bulk_certificates(release, framework, 5)
    # 1: a page of certificates (26 rows at most) with organization, release, model and version. No COUNT.
    small = registry_queries(client)
    assert small == 1
    bulk_certificates(release, framework, 495)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/registry/")
    assert len(queries) == small
    assert not any("COUNT(" in q["sql"].upper() for q in queries)
    assert response.content.decode().count("/registry/RRC-BULK-") == registry.PAGE_SIZE


def test_registry_pages_by_keyset_25_a_page(framework, org, org_admin, client):
    release = make_release(org, org_admin, fill=False)
    certs = bulk_certificates(release, framework, 30)
    first = client.get("/registry/")
    page = first.content.decode()
    assert certs[-1].number in page and certs[5].number in page and certs[4].number not in page
    assert 'rel="next"' in page
    cursor = first.context["next_url"]
    second = client.get("/registry/" + cursor).content.decode()
    assert certs[4].number in second and certs[0].number in second and certs[5].number not in second
    assert 'rel="next"' not in second


def test_registry_search_and_filters(framework, org, org_admin, staff, other_org, other_member, client):
    acme = certify(org, org_admin, staff, version="1.0")
    other = certify(other_org, other_member, staff, version="1.0")
    services.suspend(other, staff, "Investigating")

    def numbers(**params):
        return {c.number for c, _status in client.get("/registry/", params).context["rows"]}

    assert numbers() == {acme.number, other.number}
    assert numbers(q=acme.number.lower()) == {acme.number}
    assert numbers(q="rival") == {other.number}
    assert numbers(organization=org.slug) == {acme.number}
    assert numbers(status="suspended") == {other.number}
    assert numbers(status="valid") == {acme.number}
    assert numbers(tier="1", framework_version="2025.1") == {acme.number, other.number}
    assert numbers(tier="2") == set()


def test_expired_filter_is_computed(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    Certificate.objects.filter(pk=cert.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    rows = client.get("/registry/", {"status": "expired"}).context["rows"]
    assert [(c.number, s) for c, s in rows] == [(cert.number, "expired")]
    assert client.get("/registry/", {"status": "valid"}).context["rows"] == []


def test_registry_never_shows_drafts_or_rejected(framework, org, org_admin, staff, client):
    make_release(org, org_admin, version="draft-only")
    submitted_application(org, org_admin, version="submitted")
    rejected = decision_pending(org, org_admin, staff, version="rejected")
    services.reject(rejected, staff, "No")
    page = client.get("/registry/", {"q": "Model M"}).content.decode()
    assert "No certificate matches" in page
    for version in ("draft-only", "submitted", "rejected"):
        assert f"Model M {version}" not in page


def test_certificate_page_is_public_and_404_for_unknown(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    page = client.get(f"/registry/{cert.number}/")
    assert page.status_code == 200 and cert.number in page.content.decode()
    assert client.get("/registry/RRC-0000-NOPE/").status_code == 404


def test_staff_actions_are_shown_to_staff_only(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    assert b"Staff actions" not in client.get(f"/registry/{cert.number}/").content
    client.force_login(org_admin)
    assert b"Staff actions" not in client.get(f"/registry/{cert.number}/").content
    assert client.get(f"/registry/{cert.number}/suspend/").status_code == 403
    client.force_login(staff)
    assert b"Staff actions" in client.get(f"/registry/{cert.number}/").content


def test_registry_and_verify_are_linked_from_the_header_and_home(framework, client):
    page = client.get("/").content.decode()
    assert 'href="/registry/"' in page and 'href="/verify/"' in page


def test_verify_page_by_number_and_sha256(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    page = client.get("/verify/", {"q": cert.number}).content.decode()
    assert "Verified: a valid certificate matches" in page
    services.suspend(cert, staff, "x")
    page = client.get("/verify/", {"q": "a" * 64}).content.decode()
    assert "Not verified: the certificate is suspended" in page
    assert "no certificate matches" in client.get("/verify/", {"q": "RRC-NONE"}).content.decode()


def test_verify_page_checks_an_uploaded_envelope(framework, org, org_admin, staff, client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    cert = certify(org, org_admin, staff)
    good = SimpleUploadedFile("cert.json", bytes(cert.attestation), content_type="application/json")
    page = client.post("/verify/", {"envelope": good}).content.decode()
    assert "The signature is valid" in page and cert.number in page
    bad = bytearray(bytes(cert.attestation))
    bad[-20] = ord("A") if bad[-20] != ord("A") else ord("B")
    page = client.post("/verify/", {"envelope": SimpleUploadedFile("x.json", bytes(bad))}).content.decode()
    assert "The file does not verify" in page


def test_other_staff_persona_sees_every_registry_row(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    client.force_login(f.make_staff())
    assert cert.number in client.get("/registry/").content.decode()
