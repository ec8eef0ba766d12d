"""The public JSON API of DESIGN §7.1: verify, certificates, keys, revocations;
conditional requests, CORS, throttling, the OpenAPI schema and query budgets."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certification.certificates import attestations, keys, offline
from certification.certificates import services as certificate_services
from certification.certificates.models import Certificate
from certification.releases import applications as release_applications
from certification.releases import services as release_services
from certification.releases.models import AIModel, Release
from tests import factories as f
from tests.certification.certificate_helpers import SHA_A, SHA_B, backdate, certify, decision_pending
from tests.certification.factories import make_release, submitted_application


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    monkeypatch.setattr(release_applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(release_applications, "REVIEW_STARTED_HOOKS", [])


@pytest.fixture
def staff2(db):
    return f.make_staff()


def verify(client, **params):
    response = client.get("/api/v1/verify/", params)
    assert response.status_code == 200, response.content
    return response.json()


# --- verified only when valid --------------------------------------------------------------------------


def test_valid_certificate_verifies_by_number_sha256_and_model(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff, digests=(SHA_A,), hub_repo_id="acme/m-1b")
    Release.objects.filter(pk=cert.release_id).update(hub_revision="main")
    for params in ({"certificate": cert.number}, {"certificate": cert.number.lower()}, {"sha256": SHA_A.upper()},
                   {"model": "acme/m-1b"}):
        body = verify(client, **params)
        assert body["verified"] is True and body["status"] == "valid", params
        assert [c["number"] for c in body["certificates"]] == [cert.number]
    # The revision named at issue (empty here) is what counts, not a later edit of the release.
    assert verify(client, model="acme/m-1b@main")["status"] == "not_found"


@pytest.mark.parametrize("change", ["suspended", "revoked", "expired", "superseded"])
def test_verify_answers_false_unless_valid(framework, org, org_admin, staff, staff2, client, change):
    cert = certify(org, org_admin, staff)
    if change == "suspended":
        certificate_services.suspend(cert, staff, "Investigating")
    elif change == "revoked":
        certificate_services.propose_revocation(cert, staff, "Fraud")
        certificate_services.confirm_revocation(cert, staff2)
    elif change == "expired":
        Certificate.objects.filter(pk=cert.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        cert = backdate(cert, 200)
        app = certificate_services.start_renewal(cert, org_admin)
        release_applications.submit_application(app, org_admin, signer_name="A", signer_title="B", affirmed=[1, 2, 3,
                                                                                                             4, 5, 6])
        release_applications.start_screening(app, staff)
        release_applications.accept_into_review(app, staff)
        release_applications.complete_review(app, staff)
        certificate_services.approve(app, staff)
    body = verify(client, certificate=cert.number)
    assert body == {"verified": False, "status": change, "certificates": body["certificates"]}
    assert body["certificates"][0]["status"] == change


def test_several_matches_are_listed_and_status_is_the_best(framework, org, org_admin, staff, client):
    old = certify(org, org_admin, staff, version="1.0", digests=(SHA_A,))
    new = certify(org, org_admin, staff, version="2.0", digests=(SHA_A, SHA_B))
    certificate_services.suspend(old, staff, "Investigating")
    body = verify(client, sha256=SHA_A)
    assert body["verified"] is True and body["status"] == "valid"
    assert {c["number"]: c["status"] for c in body["certificates"]} == {old.number: "suspended", new.number: "valid"}
    certificate_services.suspend(new, staff, "Investigating too")
    assert verify(client, sha256=SHA_A) | {"certificates": None} == {
        "verified": False, "status": "suspended", "certificates": None}


def test_drafts_and_rejected_applications_never_verify(framework, org, org_admin, staff, client):
    draft_release = make_release(org, org_admin, version="d")
    release_services.replace_artifacts(draft_release, org_admin, [{"path": "w.safetensors", "size": 1,
                                                                   "sha256": SHA_A}])
    release_applications.start_application(draft_release, org_admin)
    AIModel.objects.filter(organization=org).update(hub_repo_id="acme/hidden")
    rejected = decision_pending(org, org_admin, staff, version="r", digests=(SHA_B,))
    certificate_services.reject(rejected, staff, "Incomplete")
    for params in ({"sha256": SHA_A}, {"sha256": SHA_B}, {"model": "acme/hidden"}):
        assert verify(client, **params) == {"verified": False, "status": "not_found", "certificates": []}
    listing = client.get("/api/v1/certificates/").json()
    assert listing == {"results": [], "next": None}


def test_verify_needs_exactly_one_valid_parameter(framework, client):
    assert client.get("/api/v1/verify/").status_code == 400
    assert client.get("/api/v1/verify/", {"certificate": "X", "sha256": SHA_A}).status_code == 400
    bad = client.get("/api/v1/verify/", {"sha256": "zz"})
    assert bad.status_code == 400 and "sha256" in bad.json()


# --- one query, fresh on every request ------------------------------------------------------------------


def test_verify_by_number_is_one_query(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/verify/", {"certificate": cert.number})
    assert response.status_code == 200 and response.json()["verified"] is True
    # 1: the certificate with its organization, release, model and framework version.
    assert len(queries) == 1, [q["sql"] for q in queries]


def test_status_change_shows_on_the_very_next_request(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    first = client.get("/api/v1/verify/", {"certificate": cert.number})
    assert first["Cache-Control"] == "public, max-age=60"  # the server side stays exact (issue 15)
    assert client.get("/api/v1/verify/", {"certificate": cert.number},
                      HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    certificate_services.suspend(cert, staff, "Investigating")
    after = client.get("/api/v1/verify/", {"certificate": cert.number}, HTTP_IF_NONE_MATCH=first["ETag"])
    assert after.status_code == 200 and after.json()["status"] == "suspended"
    assert after["ETag"] != first["ETag"]


def test_expiry_changes_the_answer_without_any_write(framework, org, org_admin, staff, client):
    import time_machine

    cert = certify(org, org_admin, staff)
    first = client.get(f"/api/v1/certificates/{cert.number}/")
    with time_machine.travel(cert.expires_at + timedelta(seconds=5), tick=False):
        later = client.get(f"/api/v1/certificates/{cert.number}/", HTTP_IF_NONE_MATCH=first["ETag"],
                           HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert later.status_code == 200 and later.json()["status"] == "expired"


def test_if_modified_since_gives_304(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    first = client.get(f"/api/v1/certificates/{cert.number}/")
    assert first["Last-Modified"]
    again = client.get(f"/api/v1/certificates/{cert.number}/", HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert again.status_code == 304


def test_cors_on_get_without_credentials(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    for url in ("/api/v1/certificates/", f"/api/v1/certificates/{cert.number}/", "/api/v1/keys/",
                "/api/v1/revocations/", f"/api/v1/verify/?certificate={cert.number}"):
        response = client.get(url, HTTP_ORIGIN="https://hub.example")
        assert response.status_code == 200, url
        assert response["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in response
        assert "Set-Cookie" not in response


def test_public_api_ignores_sessions(framework, org, org_admin, staff, client):
    """Anonymous by design: a signed-in browser gets the same public answer."""
    cert = certify(org, org_admin, staff)
    client.force_login(org_admin)
    assert client.get("/api/v1/verify/", {"certificate": cert.number}).json()["verified"] is True


def test_public_api_is_throttled(framework, client, settings):
    from rest_framework.settings import api_settings

    rates = dict(api_settings.DEFAULT_THROTTLE_RATES, registry="3/minute")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    # Different numbers: an answer already in the cache is served before the throttle (issue 15).
    codes = [client.get("/api/v1/verify/", {"certificate": f"RRC-{i}"}).status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]


# --- certificate list and detail ---------------------------------------------------------------------------


def test_certificate_detail_has_the_contract_fields(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff, digests=(SHA_A,))
    body = client.get(f"/api/v1/certificates/{cert.number}/").json()
    assert {"number", "status", "tier", "framework_version", "organization", "model", "release", "artifacts",
            "issued_at", "expires_at", "attestation"} <= set(body)
    assert body["artifacts"] == [{"path": "model-00001.safetensors", "size": 101, "sha256": SHA_A}]
    assert body["attestation"]["payloadType"] == attestations.PAYLOAD_TYPE
    assert client.get("/api/v1/certificates/RRC-NOPE/").status_code == 404


def test_certificate_list_filters_and_cursor(framework, org, org_admin, staff, client):
    certs = [certify(org, org_admin, staff, version=f"{i}.0") for i in range(3)]
    certificate_services.suspend(certs[0], staff, "x")
    assert [c["number"] for c in client.get("/api/v1/certificates/", {"status": "suspended"}).json()["results"]] == [
        certs[0].number]
    assert len(client.get("/api/v1/certificates/", {"status": "valid"}).json()["results"]) == 2
    assert client.get("/api/v1/certificates/", {"tier": "3"}).json()["results"] == []
    assert len(client.get("/api/v1/certificates/", {"organization": org.slug, "framework_version": "2025.1",
                                                    "q": "model m"}).json()["results"]) == 3
    assert client.get("/api/v1/certificates/", {"tier": "9"}).status_code == 400
    assert client.get("/api/v1/certificates/", {"cursor": "garbage!"}).status_code == 400


def test_list_pages_with_a_cursor(framework, org, org_admin, staff, client, monkeypatch):
    from certification.certificates import registry

    monkeypatch.setattr(registry, "API_PAGE_SIZE", 2)
    certs = [certify(org, org_admin, staff, version=f"{i}.0") for i in range(3)]
    page1 = client.get("/api/v1/certificates/").json()
    assert [c["number"] for c in page1["results"]] == [certs[2].number, certs[1].number]
    page2 = client.get(page1["next"]).json()
    assert [c["number"] for c in page2["results"]] == [certs[0].number] and page2["next"] is None


def test_updated_since_is_a_change_feed(framework, org, org_admin, staff, client):
    a = certify(org, org_admin, staff, version="1.0")
    b = certify(org, org_admin, staff, version="2.0")
    since = timezone.now()
    certificate_services.suspend(a, staff, "x")
    feed = client.get("/api/v1/certificates/", {"updated_since": since.isoformat()}).json()
    assert [c["number"] for c in feed["results"]] == [a.number]
    assert b.number not in json.dumps(feed)
    assert client.get("/api/v1/certificates/", {"updated_since": "yesterday"}).status_code == 400


# --- keys and revocations -----------------------------------------------------------------------------------


def test_keys_lists_the_published_keys(framework, client):
    body = client.get("/api/v1/keys/").json()
    key = body["keys"][0]
    assert key["algorithm"] == "ed25519" and key["valid_until"] is None
    raw = base64.b64decode(key["public_key"])
    assert key["keyid"] == attestations.keyid_for(raw)


def test_revocations_is_a_signed_list_of_revoked_and_suspended(framework, org, org_admin, staff, staff2, client):
    kept = certify(org, org_admin, staff, version="1.0")
    suspended = certify(org, org_admin, staff, version="2.0")
    revoked = certify(org, org_admin, staff, version="3.0")
    certificate_services.suspend(suspended, staff, "x")
    certificate_services.propose_revocation(revoked, staff, "y")
    certificate_services.confirm_revocation(revoked, staff2)
    response = client.get("/api/v1/revocations/")
    body = offline.verify_revocation_list(response.content, keys.verification_keys())
    assert {c["number"]: c["status"] for c in body["certificates"]} == {
        suspended.number: "suspended", revoked.number: "revoked"}
    assert kept.number not in response.content.decode()
    # Unchanged list, same bytes: the ETag holds.
    assert client.get("/api/v1/revocations/", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    tampered = json.loads(response.content)
    tampered["payload"] = base64.b64encode(base64.b64decode(tampered["payload"]).replace(b"revoked", b"valid!!"))\
        .decode()
    with pytest.raises(attestations.VerificationError):
        offline.verify_revocation_list(json.dumps(tampered).encode(), keys.verification_keys())


# --- the schema -----------------------------------------------------------------------------------------------


def test_openapi_schema_documents_the_public_contract(framework, client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ("/api/v1/certificates/", "/api/v1/certificates/{number}/", "/api/v1/verify/", "/api/v1/keys/",
                 "/api/v1/revocations/"):
        assert f"{path}:" in schema or f'"{path}"' in schema, path
    assert "VerifyResult" in schema and "CertificateDetail" in schema


# --- four-eyes through the authenticated API ---------------------------------------------------------------


def test_tier3_approval_through_the_api_needs_two_staff(framework, org, org_admin, staff, staff2, client):
    app = decision_pending(org, org_admin, staff, parameter_count=80_000_000_000)
    client.force_login(staff)
    r = client.post(f"/api/v1/applications/{app.pk}/approve/")
    assert r.status_code == 200 and r.json()["status"] == "decision_pending"
    again = client.post(f"/api/v1/applications/{app.pk}/approve/")
    assert again.status_code == 400
    client.force_login(staff2)
    assert client.post(f"/api/v1/applications/{app.pk}/approve/").json()["status"] == "certified"
    cert = Certificate.objects.get(application=app)
    client.logout()
    assert verify(client, certificate=cert.number)["verified"] is True


def test_staff_certificate_actions_through_the_api(framework, org, org_admin, staff, staff2, client):
    cert = certify(org, org_admin, staff)
    client.force_login(org_admin)
    assert client.post(f"/api/v1/certificates/{cert.number}/suspend/", {"reason": "x"},
                       content_type="application/json").status_code == 403
    client.force_login(staff)
    r = client.post(f"/api/v1/certificates/{cert.number}/suspend/", {"reason": "x"}, content_type="application/json")
    assert r.json() == {"number": cert.number, "status": "suspended"}
    r = client.post(f"/api/v1/certificates/{cert.number}/revoke/", {"reason": "fraud"},
                    content_type="application/json")
    assert r.json()["status"] == "suspended"  # proposed only
    assert client.post(f"/api/v1/certificates/{cert.number}/revoke/", {},
                       content_type="application/json").status_code == 400  # same staff cannot confirm
    client.force_login(staff2)
    r = client.post(f"/api/v1/certificates/{cert.number}/revoke/", {}, content_type="application/json")
    assert r.json()["status"] == "revoked"


def test_anonymous_cannot_use_the_staff_actions(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    assert client.post(f"/api/v1/certificates/{cert.number}/suspend/", {"reason": "x"}).status_code in (401, 403)


def test_submitted_application_is_not_in_the_registry(framework, org, org_admin, client):
    submitted_application(org, org_admin)
    assert client.get("/api/v1/certificates/").json()["results"] == []
