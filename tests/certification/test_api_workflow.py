"""The certification flow through the authenticated API."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as Browser  # the vulnerability contact's, without an account

from certification.certificates.models import Certificate
from certification.releases.models import Application
from certification.releases.sample import RESULTS, SECTIONS
from portal.models import OutboxEmail
from tests.certification.factories import make_release

SHA = "a" * 64


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


@pytest.fixture
def api(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def test_register_model_and_release_with_tier(framework, api, org, org_admin):
    c = api(org_admin)
    r = c.post("/api/v1/models/", {"organization": org.slug, "name": "Big", "slug": "big"}, content_type="application/json")
    assert r.status_code == 201, r.json()
    model_id = r.json()["id"]
    r = c.post("/api/v1/releases/", {
        "model": model_id, "version": "1.0", "parameter_count": 80_000_000_000, "capabilities": ["code_generation"],
        "sensitive_domains": [], "emergent_capabilities": False,
        "artifacts": [{"path": "model.safetensors", "size": 10, "sha256": SHA}]}, content_type="application/json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["tier"] == 3
    assert {rule["id"] for rule in body["rules_fired"]} == {"params_gt_70b", "capability:code_generation"}
    assert body["artifacts"] == [{"path": "model.safetensors", "size": 10, "sha256": SHA}]


def test_bad_release_facts_are_400_naming_the_field(framework, api, org, org_admin):
    c = api(org_admin)
    model_id = c.post("/api/v1/models/", {"organization": org.slug, "name": "M", "slug": "m"},
                      content_type="application/json").json()["id"]
    r = c.post("/api/v1/releases/", {"model": model_id, "version": "1", "parameter_count": 10,
                                     "capabilities": ["telepathy"], "emergent_capabilities": True},
               content_type="application/json")
    assert r.status_code == 400
    errors = r.json()
    assert "capabilities" in errors and "emergent_description" in errors


def test_full_tier1_flow_through_the_api(framework, api, org, org_admin, staff):
    release = make_release(org, org_admin, fill=False)
    c = api(org_admin)
    for section, data in SECTIONS.items():
        assert c.put(f"/api/v1/releases/{release.pk}/sections/{section}/", {"data": data},
                     content_type="application/json").status_code == 200
    # The vulnerability contact: the organization asks for the confirmation, the contact uses the link.
    contact = {"email": "security@acme.example", "disclosure_policy_url": "https://acme.example/security"}
    assert c.put(f"/api/v1/releases/{release.pk}/sections/vulnerability_contact/", {"data": contact},
                 content_type="application/json").status_code == 200
    assert c.post(f"/api/v1/releases/{release.pk}/contact-confirmation/").status_code == 202
    mail = OutboxEmail.objects.get(to="security@acme.example")
    assert Browser().post(urlsplit(re.search(r"https?://\S+/contact/confirm/\S+?/", mail.body_text)[0]).path
                          ).status_code == 200
    assert c.get(f"/api/v1/releases/{release.pk}/contact-confirmation/").json()["confirmed"] is True
    for slug, metric, value in RESULTS:
        r = c.post(f"/api/v1/releases/{release.pk}/benchmark-results/", {
            "benchmark": slug, "metric": metric, "value": value, "harness": "lm-eval-harness 0.4",
            "run_date": "2025-09-01"}, content_type="application/json")
        assert r.status_code == 201, r.json()
    r = c.post(f"/api/v1/releases/{release.pk}/evidence/", {
        "file": SimpleUploadedFile("extra.json", b'{"ok": true}'), "section": "bias_report"})
    assert r.status_code == 201, r.json()
    checklist = c.get(f"/api/v1/releases/{release.pk}/checklist/").json()
    assert all(item["met"] for item in checklist["items"]), checklist
    app_id = c.post(f"/api/v1/releases/{release.pk}/apply/").json()["id"]
    # Filing with a token needs the attest scope: a token the tokens page makes after a fresh authentication.
    from django.test import Client

    from portal.accounts import create_api_token

    attest = Client(HTTP_AUTHORIZATION="Bearer " + create_api_token(
        org_admin, "filing", scopes=["attest"], fresh_authentication=True)[1])
    r = attest.post(f"/api/v1/applications/{app_id}/submit/", {"signer_name": "Ada", "signer_title": "CTO",
                                                                "affirmed": [1, 2]}, content_type="application/json")
    assert r.status_code == 400 and "affirmed" in r.json()
    r = attest.post(f"/api/v1/applications/{app_id}/submit/", {"signer_name": "Ada", "signer_title": "CTO",
                                                                "affirmed": [1, 2, 3, 6]},
                    content_type="application/json")
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    assert c.post(f"/api/v1/applications/{app_id}/screen/").status_code == 403
    s = api(staff)
    for step in ("screen", "accept", "complete-review", "approve"):
        r = s.post(f"/api/v1/applications/{app_id}/{step}/")
        assert r.status_code == 200, (step, r.json())
    assert r.json()["status"] == "certified"
    assert Certificate.objects.filter(application_id=app_id).exists()


def test_evidence_upload_errors_name_the_file_field(framework, api, org, org_admin, settings):
    release = make_release(org, org_admin, fill=False)
    c = api(org_admin)
    r = c.post(f"/api/v1/releases/{release.pk}/evidence/", {"file": SimpleUploadedFile("x.pdf", b"not a pdf")})
    assert r.status_code == 400 and "file" in r.json()
    settings.EVIDENCE_MAX_BYTES = 100
    r = c.post(f"/api/v1/releases/{release.pk}/evidence/", {"file": SimpleUploadedFile("x.txt", b"a" * 500)})
    assert r.status_code == 400 and "larger" in r.json()["file"][0]
    assert not release.evidence_files.exists()


def test_other_organization_gets_404_in_the_api(framework, api, org, org_admin, other_member):
    release = make_release(org, org_admin)
    app = Application.objects.create(release=release, framework_version=framework, tier=1)
    c = api(other_member)
    for url in (f"/api/v1/releases/{release.pk}/", f"/api/v1/releases/{release.pk}/checklist/",
                f"/api/v1/releases/{release.pk}/sections/model_card/", f"/api/v1/releases/{release.pk}/evidence/",
                f"/api/v1/applications/{app.pk}/", f"/api/v1/models/{release.ai_model.pk}/"):
        assert c.get(url).status_code == 404, url
    assert c.post(f"/api/v1/applications/{app.pk}/withdraw/").status_code == 404
    assert c.get("/api/v1/releases/").json()["results"] == []
