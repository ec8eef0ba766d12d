"""Idempotency-Key on state-changing API requests: a retry returns the first result and changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from auditors.assignment import offers
from auditors.models import Engagement
from certification.certificates import services as certificate_services
from certification.certificates.models import Certificate
from certification.releases import applications
from certification.releases.models import DocumentationRevision
from portal import accounts
from portal.idempotency import IdempotencyKey
from portal.models import AuditEntry
from tests.auditors.helpers import REPORT, in_review_application, make_accredited_auditor, pdf
from tests.certification.certificate_helpers import decision_pending
from tests.certification.factories import make_release

ATTESTATION = {"signer_name": "Ada Admin", "signer_title": "CTO", "affirmed": [1, 2, 3, 6]}


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def key(value: str = "3f1c7c1e-retry-1") -> dict:
    return {"HTTP_IDEMPOTENCY_KEY": value}


def token_client(user, *scopes: str) -> Client:
    _token, raw = accounts.create_api_token(user, "CI", scopes=scopes, fresh_authentication=True)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def session_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_replayed(first, again):
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")


@pytest.fixture
def draft(framework, org, org_admin):
    return applications.start_application(make_release(org, org_admin), org_admin)


def test_a_retried_submit_files_once(draft, org_admin):
    api = token_client(org_admin, "attest")
    url = f"/api/v1/applications/{draft.pk}/submit/"
    first = api.post(url, ATTESTATION, content_type="application/json", **key())
    assert first.status_code == 200, first.json()
    entries = AuditEntry.objects.count()
    again = api.post(url, ATTESTATION, content_type="application/json", **key())
    assert_replayed(first, again)
    assert DocumentationRevision.objects.filter(application=draft).count() == 1
    assert AuditEntry.objects.count() == entries
    # Without the key, the retry runs and is refused: the application is already submitted.
    assert api.post(url, ATTESTATION, content_type="application/json").status_code == 400


def test_the_same_key_for_another_request_is_422(draft, org_admin):
    api = token_client(org_admin, "attest")
    url = f"/api/v1/applications/{draft.pk}/submit/"
    assert api.post(url, ATTESTATION, content_type="application/json", **key()).status_code == 200
    other = api.post(url, {**ATTESTATION, "signer_title": "CEO"}, content_type="application/json", **key())
    assert other.status_code == 422
    assert "already used for another request (POST /api/v1/applications/" in other.json()["detail"]
    elsewhere = api.post(f"/api/v1/applications/{draft.pk}/withdraw/", content_type="application/json", **key())
    assert elsewhere.status_code == 422


def test_a_json_body_is_compared_as_json(draft, org_admin):
    api = token_client(org_admin, "attest")
    url = f"/api/v1/applications/{draft.pk}/submit/"
    first = api.post(url, json.dumps(ATTESTATION), content_type="application/json", **key())
    reordered = json.dumps(dict(reversed(list(ATTESTATION.items()))), indent=2)
    assert_replayed(first, api.post(url, reordered, content_type="application/json", **key()))


def test_a_refused_request_keeps_nothing_so_the_fixed_retry_runs(draft, org_admin):
    api = token_client(org_admin, "attest")
    url = f"/api/v1/applications/{draft.pk}/submit/"
    refused = api.post(url, {**ATTESTATION, "affirmed": [1]}, content_type="application/json", **key())
    assert refused.status_code == 400
    assert not IdempotencyKey.objects.exists()
    assert api.post(url, ATTESTATION, content_type="application/json", **key()).status_code == 200


def test_a_key_belongs_to_its_user(framework, org, org_admin, other_member, other_org):
    mine = session_client(org_admin)
    theirs = session_client(other_member)
    first = mine.post("/api/v1/models/", {"organization": org.slug, "name": "A", "slug": "a"},
                      content_type="application/json", **key())
    assert first.status_code == 201
    second = theirs.post("/api/v1/models/", {"organization": other_org.slug, "name": "A", "slug": "a"},
                         content_type="application/json", **key())
    assert second.status_code == 201 and not second.has_header("Idempotent-Replayed")
    assert second.json()["id"] != first.json()["id"]


def test_the_same_key_with_a_token_and_with_the_session_is_the_same_user(framework, org, org_admin):
    body = {"organization": org.slug, "name": "A", "slug": "a"}
    first = session_client(org_admin).post("/api/v1/models/", body, content_type="application/json", **key())
    again = token_client(org_admin, "write").post("/api/v1/models/", body, content_type="application/json", **key())
    assert_replayed(first, again)


def test_a_retried_offer_acceptance_engages_once(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff)
    acc = make_accredited_auditor(mfa=True)
    offer = offers.send_offer(app, acc, staff)
    api = token_client(acc.user, "write")
    url = f"/api/v1/offers/{offer.pk}/accept/"
    first = api.post(url, {"confidentiality": True}, content_type="application/json", **key())
    assert first.status_code == 201, first.json()
    entries = AuditEntry.objects.count()
    assert_replayed(first, api.post(url, {"confidentiality": True}, content_type="application/json", **key()))
    assert Engagement.objects.filter(offer=offer).count() == 1
    assert AuditEntry.objects.count() == entries


def test_a_retried_report_filing_files_once(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff)
    acc = make_accredited_auditor(mfa=True)
    engagement = offers.accept_offer(offers.send_offer(app, acc, staff), acc.user, confidentiality=True)
    api = token_client(acc.user, "write")
    url = f"/api/v1/engagements/{engagement.pk}/file-report/"
    report = json.dumps({**REPORT, "recommendation": "pass"})
    first = api.post(url, {"signed_file": pdf(), "report": report}, **key())
    assert first.status_code == 200, first.json()
    entries = AuditEntry.objects.count()
    # A multipart retry (a new boundary, the same upload) is the same request.
    again = api.post(url, {"signed_file": pdf(), "report": report}, **key())
    assert_replayed(first, again)
    assert AuditEntry.objects.count() == entries
    engagement.report.refresh_from_db()
    assert engagement.report.filed_at.isoformat().replace("+00:00", "Z") == first.json()["filed_at"]


def test_a_retried_approval_certifies_once(framework, org, org_admin, staff):
    app = decision_pending(org, org_admin, staff)
    api = session_client(staff)
    url = f"/api/v1/applications/{app.pk}/approve/"
    first = api.post(url, content_type="application/json", **key())
    assert first.status_code == 200, first.json()
    assert first.json()["status"] == "certified"
    entries = AuditEntry.objects.count()
    assert_replayed(first, api.post(url, content_type="application/json", **key()))
    assert Certificate.objects.filter(application=app).count() == 1
    assert AuditEntry.objects.count() == entries


def test_a_second_request_while_the_first_runs_gets_409_and_never_runs(framework, org, org_admin, staff,
                                                                       monkeypatch):
    """The first request claims the key before its view runs: the same key sent meanwhile (here from
    inside the first request's service) is refused with 409, and the decision is taken once."""
    app = decision_pending(org, org_admin, staff)
    api = session_client(staff)
    url = f"/api/v1/applications/{app.pk}/approve/"
    approve = certificate_services.approve
    meanwhile = []

    def approve_while_retried(*args, **kwargs):
        meanwhile.append(api.post(url, content_type="application/json", **key()))
        return approve(*args, **kwargs)

    monkeypatch.setattr(certificate_services, "approve", approve_while_retried)
    first = api.post(url, content_type="application/json", **key())
    assert first.status_code == 200, first.json()
    [second] = meanwhile
    assert second.status_code == 409
    assert "still being processed" in second.json()["detail"]
    assert Certificate.objects.filter(application=app).count() == 1


def test_the_database_refuses_a_second_claim_of_a_key(org_admin):
    IdempotencyKey.objects.create(user=org_admin, key="k", method="POST", path="/api/v1/x/", fingerprint="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        IdempotencyKey.objects.create(user=org_admin, key="k", method="POST", path="/api/v1/x/", fingerprint="a")


def test_keys_are_kept_24_hours(framework, org, org_admin):
    client = session_client(org_admin)
    body = {"organization": org.slug, "name": "A", "slug": "a"}
    assert client.post("/api/v1/models/", body, content_type="application/json", **key()).status_code == 201
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    # The old key is gone: the request runs again (and is refused, the slug being taken).
    again = client.post("/api/v1/models/", body, content_type="application/json", **key())
    assert again.status_code == 400 and not again.has_header("Idempotent-Replayed")
    assert not IdempotencyKey.objects.exists()


@pytest.mark.parametrize("value", ["", "x" * 256, "spaces are not allowed", "caf\u00e9"])
def test_a_malformed_key_is_400_naming_the_header(org_admin, value):
    response = session_client(org_admin).post("/api/v1/organizations/", {"name": "X"},
                                              content_type="application/json", **key(value))
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]


def test_reads_and_anonymous_requests_ignore_the_key(db, org_admin):
    client = session_client(org_admin)
    assert client.get("/api/v1/organizations/", **key()).status_code == 200
    assert Client().post("/api/v1/organizations/", {"name": "X"}, content_type="application/json",
                         **key()).status_code == 401
    assert not IdempotencyKey.objects.exists()
