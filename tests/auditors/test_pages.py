"""The pages: staff assign from the suggestions, the auditor answers and
reports, the organization resolves conditions; dashboards show the state."""

from __future__ import annotations

import pytest
from django.urls import reverse

from auditors.models import Accreditation, AuditReport, Engagement, Offer, ReportCondition
from tests.auditors.helpers import TIER4_BOTH, engage, file_report, in_review_application, make_accredited_auditor, pdf


@pytest.fixture
def app(framework, org, org_admin, staff):
    return in_review_application(org, org_admin, staff)


def test_staff_send_the_proposed_offer_and_the_auditor_accepts_and_files(client, app, staff, org_member):
    acc = make_accredited_auditor(mfa=True, name="Page Auditor")
    client.force_login(staff)
    page = client.get(reverse("auditors:staff-application", args=[app.pk])).content.decode()
    assert "Page Auditor" in page and "Accredited for Tier 3." in page
    client.post(reverse("auditors:staff-send-offers", args=[app.pk]), {"proposal": "1"})
    offer = Offer.objects.get(accreditation=acc)
    assert "Page Auditor" in client.get(reverse("auditors:staff-assignments")).content.decode()

    client.force_login(acc.user)
    dashboard = client.get(reverse("auditors:my-network")).content.decode()
    assert reverse("auditors:offer-detail", args=[offer.pk]) in dashboard
    assert client.get(reverse("auditors:offer-detail", args=[offer.pk])).status_code == 200
    response = client.post(reverse("auditors:offer-accept", args=[offer.pk]), {})  # terms not ticked
    assert Offer.objects.get(pk=offer.pk).status == Offer.Status.OPEN
    response = client.post(reverse("auditors:offer-accept", args=[offer.pk]), {"confidentiality": "on"})
    engagement = Engagement.objects.get(accreditation=acc)
    assert response.url == reverse("auditors:engagement-detail", args=[engagement.pk])
    assert "Active engagements" in client.get(reverse("auditors:my-network")).content.decode()

    url = reverse("auditors:engagement-report", args=[engagement.pk])
    form = client.get(url).content.decode()
    assert "truthfulqa" in form  # one reproduced-value field per reported result
    client.post(url, {"scope": "Scope", "methods": "Methods", "issues": "high | Jailbreak | Works on v1",
                      "recommendation": "pass_with_conditions", "conditions": "Fix the jailbreak",
                      "reproduced_2": "0.50", "draft": "1"})
    report = AuditReport.objects.get(engagement=engagement)
    assert report.filed_at is None and report.issues[0]["severity"] == "high"
    bad = client.post(url, {"scope": "Scope", "methods": "Methods", "issues": "urgent | x",
                            "recommendation": "pass", "file": "1"})
    assert bad.status_code == 200 and b"severity" in bad.content
    response = client.post(url, {"scope": "Scope", "methods": "Methods", "issues": "high | Jailbreak | Works on v1",
                                 "recommendation": "pass_with_conditions", "conditions": "Fix the jailbreak",
                                 "signed_file": pdf(), "file": "1"})
    assert response.url == url + "?confirm=1"  # filing goes through the confirmation page
    client.post(url, {"confirm_file": "1"})
    report.refresh_from_db()
    assert report.filed_at is not None and report.signed_file_sha256

    condition = ReportCondition.objects.get(report=report)
    client.force_login(org_member)
    audit_page = client.get(reverse("auditors:application-audit", args=[app.pk])).content.decode()
    assert "Fix the jailbreak" in audit_page
    client.post(reverse("auditors:condition-resolve", args=[condition.pk]), {"resolution": "Patched in 1.0.1"})
    client.force_login(acc.user)
    client.post(reverse("auditors:condition-accept", args=[condition.pk]), {"note": "Verified."})
    condition.refresh_from_db()
    assert condition.state == "accepted"


def test_staff_override_through_the_page(client, app, staff, org):
    acc = make_accredited_auditor(email_domains=["acme.example"])
    org.website = "https://www.acme.example"
    org.save()
    client.force_login(staff)
    page = client.get(reverse("auditors:staff-application", args=[app.pk])).content.decode()
    assert "shared_email_domain" in page
    client.post(reverse("auditors:staff-override", args=[app.pk]),
                {"accreditation": acc.pk, "code": "shared_email_domain", "reason": "University network."})
    assert acc.conflict_records.get().reason == "University network."


def test_staff_decide_an_accreditation_through_the_pages(client, framework, staff):
    from tests import factories as f

    acc = Accreditation.objects.create(user=f.UserFactory(), role="auditor", firm="F", requested_tiers=[3, 4],
                                       requested_domains=["biology"])
    client.force_login(staff)
    assert client.get(reverse("auditors:staff-accreditations")).status_code == 200
    assert client.get(reverse("auditors:staff-accreditation", args=[acc.pk])).status_code == 200
    client.post(reverse("auditors:staff-accreditation-approve", args=[acc.pk]),
                {"tiers": ["4"], "domains": ["biology"], "capacity": "3", "valid_until": "2030-01-31"})
    acc.refresh_from_db()
    assert acc.status == "approved" and acc.tiers == [4] and acc.capacity == 3 and acc.valid_until.year == 2030
    client.post(reverse("auditors:staff-accreditation-suspend", args=[acc.pk]), {"reason": "Check."})
    client.post(reverse("auditors:staff-accreditation-reinstate", args=[acc.pk]))
    acc.refresh_from_db()
    assert acc.status == "approved"


def test_batch_page_proposes_and_confirming_sends_offers(client, framework, org, org_admin, staff):
    apps = [in_review_application(org, org_admin, staff, version=f"v{i}") for i in range(2)]
    t4 = in_review_application(org, org_admin, staff, version="t4", **TIER4_BOTH)
    a, b = make_accredited_auditor(name="A"), make_accredited_auditor(name="B")
    client.force_login(staff)
    page = client.get(reverse("auditors:staff-batch")).content.decode()
    assert "cannot be served" in page and str(t4.release) in page
    values = [f"{apps[0].pk}:{a.pk}", f"{apps[1].pk}:{b.pk}"]
    client.post(reverse("auditors:staff-batch"), {"assignment": values})
    assert Offer.objects.open().count() == 2


def test_staff_reassign_through_the_page(client, app, staff):
    engagement = engage(app, make_accredited_auditor(), staff)
    client.force_login(staff)
    assert client.get(reverse("auditors:engagement-reassign", args=[engagement.pk])).status_code == 200
    client.post(reverse("auditors:engagement-reassign", args=[engagement.pk]), {"reason": "Too slow."})
    engagement.refresh_from_db()
    assert engagement.status == Engagement.Status.ENDED


def test_auditor_declares_a_conflict_on_an_engagement(client, app, staff):
    engagement = engage(app, make_accredited_auditor(mfa=True), staff)
    client.force_login(engagement.accreditation.user)
    client.post(reverse("auditors:engagement-conflict", args=[engagement.pk]), {"reason": "New job offer there."})
    assert engagement.accreditation.conflict_records.get().kind == "declared"
    assert staff.notifications.filter(kind="engagement-conflict-declared").exists()


def test_decline_through_the_page(client, app, staff):
    acc = make_accredited_auditor(mfa=True)
    from auditors.assignment import offers

    offer = offers.send_offer(app, acc, staff)
    client.force_login(acc.user)
    client.post(reverse("auditors:offer-decline", args=[offer.pk]), {"reason": "no_capacity"})
    offer.refresh_from_db()
    assert offer.status == "declined" and offer.decline_reason == "no_capacity"


def test_filed_report_page_for_staff(client, app, staff):
    engagement = engage(app, make_accredited_auditor(), staff)
    file_report(engagement)
    client.force_login(staff)
    body = client.get(reverse("auditors:engagement-report", args=[engagement.pk])).content.decode()
    assert "Prompt injection via tool output" in body and engagement.report.sha256 in body
