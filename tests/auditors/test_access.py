"""Auditors see only their own offers and engagements, and the frozen
submission only while engaged (DESIGN §3); a reassignment ends access on the
next request."""

from __future__ import annotations

import pytest
from django.urls import reverse

from auditors import services
from auditors.assignment import offers as assignment_offers
from tests import factories as f
from tests.auditors.helpers import engage, file_report, in_review_application, make_accredited_auditor


@pytest.fixture
def app(framework, org, org_admin, staff):
    return in_review_application(org, org_admin, staff)


@pytest.fixture
def engagement(app, staff):
    return engage(app, make_accredited_auditor(mfa=True), staff)


def pages(engagement) -> list[str]:
    evidence = engagement.application.release.evidence_files.first()
    return [
        reverse("auditors:engagement-detail", args=[engagement.pk]),
        reverse("auditors:engagement-submission", args=[engagement.pk]),
        reverse("certification:evidence-download", args=[evidence.pk]),
        reverse("auditors:engagement-report", args=[engagement.pk]),
        f"/api/v1/engagements/{engagement.pk}/submission/",
        f"/api/v1/engagements/{engagement.pk}/report/",
    ]


def test_engaged_auditor_reads_the_submission_evidence_and_report(client, engagement):
    client.force_login(engagement.accreditation.user)
    for url in pages(engagement):
        assert client.get(url).status_code == 200, url
    body = client.get(reverse("auditors:engagement-submission", args=[engagement.pk])).content.decode()
    assert "eval.example/access" in body  # the model-access instructions


def test_auditor_without_the_engagement_gets_404_everywhere(client, engagement, auditor):
    client.force_login(auditor)
    for url in pages(engagement) + [reverse("auditors:offer-detail", args=[engagement.offer_id]),
                                    f"/api/v1/offers/{engagement.offer_id}/",
                                    reverse("auditors:engagement-report-download", args=[engagement.pk])]:
        assert client.get(url).status_code == 404, url


def test_access_ends_on_the_request_after_reassignment(client, engagement, staff):
    client.force_login(engagement.accreditation.user)
    assert client.get(pages(engagement)[1]).status_code == 200
    assignment_offers.reassign(engagement, staff, "Conflict found late.", offer_next=False)
    for url in pages(engagement):
        assert client.get(url).status_code == 404, url


def test_a_suspended_auditor_loses_the_submission_at_once(client, engagement, staff):
    services.suspend_accreditation(engagement.accreditation, staff, "Investigation.")
    client.force_login(engagement.accreditation.user)
    assert client.get(pages(engagement)[1]).status_code == 404
    assert client.get(pages(engagement)[2]).status_code == 404


def test_the_applicant_reads_the_filed_report_but_never_the_workspace(client, engagement, org_member):
    client.force_login(org_member)
    report_url = reverse("auditors:engagement-report", args=[engagement.pk])
    assert client.get(report_url).status_code == 404  # a draft is the auditor's
    file_report(engagement)
    assert client.get(report_url).status_code == 200
    assert client.get(reverse("auditors:engagement-report-download", args=[engagement.pk])).status_code == 200
    assert client.get(reverse("auditors:engagement-submission", args=[engagement.pk])).status_code == 404
    assert client.get(reverse("auditors:engagement-detail", args=[engagement.pk])).status_code == 404
    assert client.get(reverse("auditors:application-audit", args=[engagement.application_id])).status_code == 200


def test_another_organization_gets_404_on_the_audit_pages(client, engagement, other_member):
    file_report(engagement)
    client.force_login(other_member)
    for url in (reverse("auditors:engagement-report", args=[engagement.pk]),
                reverse("auditors:application-audit", args=[engagement.application_id]),
                f"/api/v1/engagements/{engagement.pk}/"):
        assert client.get(url).status_code == 404, url


def test_a_filed_report_cannot_be_changed_through_the_page(client, engagement):
    file_report(engagement)
    client.force_login(engagement.accreditation.user)
    response = client.post(reverse("auditors:engagement-report", args=[engagement.pk]),
                           {"scope": "rewritten", "draft": "1"})
    assert response.status_code == 302
    engagement.report.refresh_from_db()
    assert engagement.report.scope != "rewritten"


def test_lists_show_only_the_auditors_own_rows(client, app, staff, engagement):
    other = make_accredited_auditor(mfa=True)
    second_app = in_review_application(app.release.ai_model.organization, f.MembershipFactory(
        organization=app.release.ai_model.organization, role="admin").user, staff, version="2.0")
    assignment_offers.send_offer(second_app, other, staff)
    client.force_login(engagement.accreditation.user)
    assert [o["id"] for o in client.get("/api/v1/offers/").json()["results"]] == [engagement.offer_id]
    assert [e["id"] for e in client.get("/api/v1/engagements/").json()["results"]] == [engagement.pk]
