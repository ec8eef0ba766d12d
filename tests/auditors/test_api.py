"""The authenticated API: every action of the network, same rules as the pages."""

from __future__ import annotations

import json

import pytest

from auditors.models import Accreditation, Engagement, Offer
from tests import factories as f
from tests.auditors.helpers import REPORT, TIER4_BOTH, engage, in_review_application, make_accredited_auditor, pdf


@pytest.fixture
def app(framework, org, org_admin, staff):
    return in_review_application(org, org_admin, staff)


def test_apply_and_staff_approve_through_the_api(client, framework, staff):
    user = f.UserFactory()
    client.force_login(user)
    response = client.post("/api/v1/auditors/", {
        "role": "auditor", "kind": "audit_firm", "firm": "API Audits", "requested_tiers": [4],
        "requested_domains": ["cybersecurity"], "capacity": 3, "statement": "Experienced.",
        "affiliations": [{"organization_name": "Rival Labs", "relation": "prior_engagement",
                          "started_on": "2020-01-01", "ended_on": "2021-01-01"}]}, content_type="application/json")
    assert response.status_code == 201, response.json()
    acc_id = response.json()["id"]
    assert response.json()["status"] == "pending" and len(response.json()["affiliations"]) == 1
    assert client.post(f"/api/v1/auditors/{acc_id}/approve/", {}, content_type="application/json").status_code == 403
    upload = client.post(f"/api/v1/auditors/{acc_id}/files/", {"file": pdf("cv.pdf")})
    assert upload.status_code == 201 and len(upload.json()["sha256"]) == 64
    client.force_login(staff)
    response = client.post(f"/api/v1/auditors/{acc_id}/approve/", {"tiers": [4], "domains": ["cybersecurity"]},
                           content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert response.json()["tiers"] == [4]
    bad = client.post(f"/api/v1/auditors/{acc_id}/suspend/", {}, content_type="application/json")
    assert bad.status_code == 400 and "reason" in bad.json()


def test_staff_suggest_offer_and_the_auditor_accepts_reports_and_conditions(client, app, staff, org_member):
    acc = make_accredited_auditor(mfa=True)
    client.force_login(staff)
    suggestion = client.get(f"/api/v1/auditors/suggestions/?application={app.pk}").json()
    assert suggestion["proposal"] == [acc.pk] and suggestion["ranked"][0]["reasons"]
    response = client.post("/api/v1/offers/", {"application": app.pk, "accreditation": acc.pk},
                           content_type="application/json")
    assert response.status_code == 201
    offer_id = response.json()["id"]

    client.force_login(acc.user)
    refused = client.post(f"/api/v1/offers/{offer_id}/accept/", {"confidentiality": False},
                          content_type="application/json")
    assert refused.status_code == 400 and "confidentiality" in refused.json()
    accepted = client.post(f"/api/v1/offers/{offer_id}/accept/", {"confidentiality": True},
                           content_type="application/json")
    assert accepted.status_code == 201
    eid = accepted.json()["id"]
    submission = client.get(f"/api/v1/engagements/{eid}/submission/").json()
    assert "eval.example" in submission["access_instructions"] and len(submission["sha256"]) == 64
    draft = client.put(f"/api/v1/engagements/{eid}/report/", {"scope": "API scope"}, content_type="application/json")
    assert draft.status_code == 200 and draft.json()["scope"] == "API scope"
    filed = client.post(f"/api/v1/engagements/{eid}/file-report/", {
        "signed_file": pdf(), "report": json.dumps({**REPORT, "recommendation": "pass_with_conditions",
                                                    "conditions": ["Ship the filter."]})})
    assert filed.status_code == 200, filed.json()
    assert filed.json()["filed_at"] and filed.json()["condition_list"][0]["state"] == "open"
    condition_id = filed.json()["condition_list"][0]["id"]

    client.force_login(org_member)
    resolved = client.post(f"/api/v1/engagements/{eid}/resolve-condition/",
                           {"condition": condition_id, "text": "Shipped."}, content_type="application/json")
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    assert client.get(f"/api/v1/engagements/{eid}/report/").status_code == 200
    client.force_login(acc.user)
    done = client.post(f"/api/v1/engagements/{eid}/accept-condition/", {"condition": condition_id},
                       content_type="application/json")
    assert done.status_code == 200 and done.json()["state"] == "accepted"


def test_decline_and_batch_and_override_through_the_api(client, framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff, **TIER4_BOTH)
    bio, cyber = make_accredited_auditor(domains=["biology"], mfa=True), make_accredited_auditor(
        domains=["cybersecurity"], email_domains=["acme.example"])
    f.MembershipFactory(organization=org, user=f.UserFactory(email="x@acme.example"))
    client.force_login(staff)
    proposal = client.post("/api/v1/auditors/batch-proposal/", {}, content_type="application/json").json()
    assert proposal["unservable"] and not proposal["assignments"]
    override = client.post("/api/v1/auditors/override-conflict/", {
        "application": app.pk, "accreditation": cyber.pk, "code": "shared_email_domain",
        "reason": "Shared research network."}, content_type="application/json")
    assert override.status_code == 201
    hard = client.post("/api/v1/auditors/override-conflict/", {
        "application": app.pk, "accreditation": cyber.pk, "code": "current_affiliation", "reason": "x"},
        content_type="application/json")
    assert hard.status_code == 400
    proposal = client.post("/api/v1/auditors/batch-proposal/", {"applications": [app.pk]},
                           content_type="application/json").json()
    assert sorted(proposal["assignments"][0]["auditors"]) == sorted([bio.pk, cyber.pk])
    offer = client.post("/api/v1/offers/", {"application": app.pk, "accreditation": bio.pk},
                        content_type="application/json").json()
    client.force_login(bio.user)
    declined = client.post(f"/api/v1/offers/{offer['id']}/decline/", {"reason": "no_capacity"},
                           content_type="application/json")
    assert declined.status_code == 200 and declined.json()["status"] == "declined"


def test_reassign_through_the_api(client, app, staff):
    engagement = engage(app, make_accredited_auditor(), staff)
    client.force_login(staff)
    response = client.post(f"/api/v1/engagements/{engagement.pk}/reassign/", {"reason": "Slow."},
                           content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "ended"
    assert Engagement.objects.get(pk=engagement.pk).status == "ended"


def test_non_staff_cannot_create_offers_or_see_other_accreditations(client, app, auditor):
    acc = make_accredited_auditor()
    client.force_login(auditor)
    assert client.post("/api/v1/offers/", {"application": app.pk, "accreditation": acc.pk},
                       content_type="application/json").status_code == 403
    assert client.get(f"/api/v1/auditors/{acc.pk}/").status_code == 404
    mine = client.get("/api/v1/auditors/").json()["results"]
    assert [a["id"] for a in mine] == list(Accreditation.objects.filter(user=auditor).values_list("pk", flat=True))
    assert not Offer.objects.exists()
