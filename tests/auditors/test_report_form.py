"""The auditor's report form keeps an attached signed file across "Save draft", and filing (which locks
the report) goes through a confirmation page that lists what will be filed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from auditors.models import AuditReport, Engagement
from tests.auditors.helpers import engage, in_review_application, make_accredited_auditor, pdf

TEXT = {"scope": "Documentation and sandbox.", "methods": "Reproduced benchmarks.", "issues": "",
        "recommendation": "pass", "conditions": ""}


@pytest.fixture
def engagement(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff)
    acc = make_accredited_auditor(mfa=True)
    return engage(app, acc, staff)


@pytest.fixture
def auditor_client(client, engagement):
    client.force_login(engagement.accreditation.user)
    return client


def url(engagement) -> str:
    return reverse("auditors:engagement-report", args=[engagement.pk])


def test_save_draft_keeps_the_signed_file(auditor_client, engagement):
    response = auditor_client.post(url(engagement), {**TEXT, "signed_file": pdf(), "draft": "1"})
    assert response.status_code == 302 and response["Location"] == url(engagement)
    report = AuditReport.objects.get(engagement=engagement)
    assert report.filed_at is None and report.signed_file_name == "signed-report.pdf" and report.signed_file_sha256
    # A later draft without a new file keeps it; the form says so.
    auditor_client.post(url(engagement), {**TEXT, "scope": "Wider scope.", "draft": "1"})
    report.refresh_from_db()
    assert report.scope == "Wider scope." and report.signed_file_name == "signed-report.pdf"
    assert "Signed file kept with the draft: signed-report.pdf" in auditor_client.get(url(engagement)).content.decode()


def test_a_new_file_replaces_the_kept_one(auditor_client, engagement, settings):
    auditor_client.post(url(engagement), {**TEXT, "signed_file": pdf("first.pdf"), "draft": "1"})
    first = AuditReport.objects.get(engagement=engagement).signed_file_stored
    auditor_client.post(url(engagement), {**TEXT, "signed_file": pdf("second.pdf"), "draft": "1"})
    report = AuditReport.objects.get(engagement=engagement)
    assert report.signed_file_name == "second.pdf" and report.signed_file_stored != first
    from auditors.services import private_path

    assert not private_path("reports", first).exists() and private_path("reports", report.signed_file_stored).exists()


def test_filing_goes_through_a_confirmation_page_listing_the_report(auditor_client, engagement):
    response = auditor_client.post(url(engagement), {**TEXT, "signed_file": pdf(), "file": "1"})
    assert response["Location"] == url(engagement) + "?confirm=1"
    report = AuditReport.objects.get(engagement=engagement)
    assert report.filed_at is None  # not yet: the file was kept with the draft
    page = auditor_client.get(response["Location"]).content.decode()
    for text in ("Documentation and sandbox.", "Reproduced benchmarks.", "Pass", "signed-report.pdf",
                 report.signed_file_sha256, "The report is locked"):
        assert text in page
    response = auditor_client.post(url(engagement), {"confirm_file": "1"})
    assert response["Location"] == reverse("auditors:engagement-detail", args=[engagement.pk])
    report.refresh_from_db()
    assert report.filed_at is not None and report.scope == "Documentation and sandbox."
    assert Engagement.objects.get(pk=engagement.pk).status == Engagement.Status.COMPLETED


def test_the_file_saved_with_a_draft_is_the_one_filed(auditor_client, engagement):
    auditor_client.post(url(engagement), {**TEXT, "signed_file": pdf(), "draft": "1"})
    response = auditor_client.post(url(engagement), {**TEXT, "file": "1"})  # no file attached this time
    assert response["Location"].endswith("?confirm=1")
    auditor_client.post(url(engagement), {"confirm_file": "1"})
    report = AuditReport.objects.get(engagement=engagement)
    assert report.filed_at is not None and report.signed_file_name == "signed-report.pdf"


def test_an_incomplete_report_is_not_offered_for_filing(auditor_client, engagement):
    auditor_client.post(url(engagement), {**TEXT, "recommendation": "", "file": "1"})
    page = auditor_client.get(url(engagement) + "?confirm=1").content.decode()
    assert "Choose a recommendation." in page and "Attach the signed report (PDF)." in page
    assert 'name="confirm_file"' not in page
    response = auditor_client.post(url(engagement), {"confirm_file": "1"})
    assert response["Location"] == url(engagement) + "?confirm=1"
    assert AuditReport.objects.get(engagement=engagement).filed_at is None


def test_a_filed_report_cannot_be_filed_again(auditor_client, engagement):
    auditor_client.post(url(engagement), {**TEXT, "signed_file": pdf(), "file": "1"})
    auditor_client.post(url(engagement), {"confirm_file": "1"})
    response = auditor_client.post(url(engagement), {"confirm_file": "1"})
    assert response.status_code == 302
    assert AuditReport.objects.filter(engagement=engagement, filed_at__isnull=False).count() == 1
