"""The audit summary in the signed attestation and on the public certificate page."""

from __future__ import annotations

import base64
import json

from django.urls import reverse

from auditors.reports import audit_summary
from certification.certificates import services
from certification.releases.models import Application
from tests.auditors.helpers import engage, file_report, in_review_application, make_accredited_auditor


def test_filed_report_appears_in_the_attestation_and_on_the_certificate_page(client, framework, org, org_admin,
                                                                             staff, settings):
    app = in_review_application(org, org_admin, staff)
    acc = make_accredited_auditor(tiers=(3,))
    file_report(engage(app, acc, staff))
    summary = audit_summary(app)
    assert len(summary) == 1
    assert summary[0]["recommendation"] == "pass" and summary[0]["issues_by_severity"] == {"high": 1}

    # Finish the review without the community window (not what this test is about).
    Application.objects.filter(pk=app.pk).update(status=Application.Status.DECISION_PENDING)
    app.refresh_from_db()
    second = type(staff).objects.create(email="second-staff@example.org")
    second.groups.add(*staff.groups.all())
    services.approve(app, staff)
    services.approve(app, second)
    certificate = app.certificate
    statement = json.loads(base64.b64decode(json.loads(bytes(certificate.attestation))["payload"]))
    assert statement["predicate"]["audit_summary"][0]["recommendation"] == "pass"

    page = client.get(reverse("certification:certificate-detail", args=[certificate.number]))
    assert page.status_code == 200
    assert acc.firm.encode() in page.content and b"High: 1" in page.content
