"""The community review through the authenticated API: the same services and rules
as the pages (DESIGN §7.1, last line)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from auditors.models import Affiliation
from certification.review.models import Finding
from tests.certification.review_helpers import FINDING, in_review, vetted_evaluator


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


@pytest.fixture
def window(framework, org, org_admin, staff):
    return in_review(org, org_admin, staff).review_window


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_full_cycle_through_the_api(window, staff, org_admin):
    evaluator = vetted_evaluator()
    ev = api_as(evaluator)
    detail = ev.get(reverse("review-api:window-detail", args=[window.pk])).json()
    assert detail["enrolled"] is False and detail["access_instructions"] is None
    assert ev.get(reverse("review-api:window-materials", args=[window.pk])).status_code == 404
    r = ev.post(reverse("review-api:window-enrol", args=[window.pk]), {"confidentiality": True}, format="json")
    assert r.status_code == 201 and r.json()["has_access"] is True
    assert "eval.example/access" in r.json()["access_instructions"]
    materials = ev.get(reverse("review-api:window-materials", args=[window.pk])).json()
    assert materials["revision"] == 1 and materials["evidence"]

    r = ev.post(reverse("review-api:finding-list"), {**FINDING, "window": window.pk}, format="json")
    assert r.status_code == 201, r.json()
    pk = r.json()["id"]
    r = ev.patch(reverse("review-api:finding-detail", args=[pk]), {"title": "Role-play jailbreak"}, format="json")
    assert r.status_code == 200 and r.json()["title"] == "Role-play jailbreak"
    upload = SimpleUploadedFile("transcript.txt", b"user: pretend...\nassistant: sure\n")
    r = ev.post(reverse("review-api:finding-attachments", args=[pk]), {"file": upload}, format="multipart")
    assert r.status_code == 201 and len(r.json()["sha256"]) == 64
    r = ev.post(reverse("review-api:finding-submit", args=[pk]))
    assert r.json()["status"] == "submitted"
    assert ev.patch(reverse("review-api:finding-detail", args=[pk]), {"title": "x"}, format="json").status_code == 400

    r = api_as(staff).post(reverse("review-api:finding-triage", args=[pk]),
                           {"outcome": "accepted", "severity": "critical", "severity_reason": "No login needed."},
                           format="json")
    assert r.status_code == 200 and r.json()["severity"] == "critical" and r.json()["submitted_severity"] == "high"

    org = api_as(org_admin)
    seen = org.get(reverse("review-api:finding-detail", args=[pk])).json()
    assert seen["author"] is None  # the organization does not learn who filed it
    r = org.post(reverse("review-api:finding-respond", args=[pk]), {"kind": "mitigated", "details": "Patched."},
                 format="json")
    assert r.status_code == 400 and "fixed_in" in r.json()
    r = org.post(reverse("review-api:finding-respond", args=[pk]),
                 {"kind": "mitigated", "details": "Patched.", "fixed_in": "1.0.1"}, format="json")
    assert r.status_code == 200 and r.json()["response"]["kind"] == "mitigated"
    r = ev.post(reverse("review-api:finding-rejoinder", args=[pk]), {"text": "Still works in French."}, format="json")
    assert r.status_code == 200 and r.json()["rejoinder"]["text"] == "Still works in French."
    assert Finding.objects.get(pk=pk).rejoinder.author == evaluator


def test_enrolment_refused_with_the_conflict_in_the_api(window, org):
    evaluator = vetted_evaluator()
    Affiliation.objects.create(accreditation=evaluator.accreditations.get(), organization=org,
                               organization_name=org.name, relation=Affiliation.Relation.FUNDING)
    r = api_as(evaluator).post(reverse("review-api:window-enrol", args=[window.pk]), {"confidentiality": True},
                               format="json")
    assert r.status_code == 400
    assert r.json()["conflicts"] == ["financial_interest"]
    assert any("financial interest" in m for m in r.json()["non_field_errors"])


def test_windows_are_404_for_organization_members_in_the_api(window, org_admin, other_member):
    for user in (org_admin, other_member):
        client = api_as(user)
        assert client.get(reverse("review-api:window-list")).status_code == 404
        assert client.get(reverse("review-api:window-detail", args=[window.pk])).status_code == 404


def test_only_staff_triage_in_the_api(window, org_admin):
    evaluator = vetted_evaluator()
    ev = api_as(evaluator)
    ev.post(reverse("review-api:window-enrol", args=[window.pk]), {"confidentiality": True}, format="json")
    pk = ev.post(reverse("review-api:finding-list"), {**FINDING, "window": window.pk}, format="json").json()["id"]
    ev.post(reverse("review-api:finding-submit", args=[pk]))
    for user in (evaluator, org_admin):
        r = api_as(user).post(reverse("review-api:finding-triage", args=[pk]), {"outcome": "invalid", "note": "x"},
                              format="json")
        assert r.status_code == 400
    assert Finding.objects.get(pk=pk).status == "submitted"


def test_the_author_deletes_a_draft_through_the_api_and_nobody_else_can(window, staff):
    from portal.models import AuditEntry

    evaluator = vetted_evaluator()
    ev = api_as(evaluator)
    ev.post(reverse("review-api:window-enrol", args=[window.pk]), {"confidentiality": True}, format="json")
    draft = ev.post(reverse("review-api:finding-list"), {**FINDING, "window": window.pk}, format="json").json()["id"]
    other = vetted_evaluator()
    assert api_as(other).delete(reverse("review-api:finding-detail", args=[draft])).status_code == 404
    assert api_as(staff).delete(reverse("review-api:finding-detail", args=[draft])).status_code == 404  # drafts are private
    assert ev.delete(reverse("review-api:finding-detail", args=[draft])).status_code == 204
    assert not Finding.objects.filter(pk=draft).exists()
    assert AuditEntry.objects.filter(action="certification.review.finding_deleted").count() == 1

    submitted = ev.post(reverse("review-api:finding-list"), {**FINDING, "window": window.pk}, format="json").json()["id"]
    ev.post(reverse("review-api:finding-submit", args=[submitted]))
    response = ev.delete(reverse("review-api:finding-detail", args=[submitted]))
    assert response.status_code == 400
    assert Finding.objects.filter(pk=submitted).exists()
