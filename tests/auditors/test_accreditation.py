"""Joining the network, staff decisions, the public directory, expiry."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from auditors import services
from auditors.models import Accreditation, SupportingFile
from certification.framework.services import WorkflowError
from portal import deadlines
from portal.models import AuditEntry, Deadline, Notification
from tests import factories as f
from tests.auditors.helpers import make_accredited_auditor


@pytest.fixture
def applicant(db):
    return f.UserFactory(email="ann@sound-audits.example", name="Ann Applicant")


def apply(user, role="auditor", **extra):
    data = {"kind": "audit_firm", "firm": "Sound Audits", "requested_tiers": [3, 4],
            "requested_domains": ["biology"], "capacity": 3, "email_domains": ["sound-audits.example"],
            "statement": "Ten years of ML audits.", **extra}
    return services.apply_to_join(user, role, data, [
        {"organization_name": "Acme AI", "relation": "consulting", "started_on": date(2021, 1, 1),
         "ended_on": date(2023, 6, 30)}])


def test_applying_through_the_page_stores_affiliations_and_the_file(client, framework, applicant, staff):
    client.force_login(applicant)
    assert client.get(reverse("auditors:join", args=["auditor"])).status_code == 200
    response = client.post(reverse("auditors:join", args=["auditor"]), {
        "kind": "independent_lab", "firm": "Sound Audits", "requested_tiers": ["3", "4"],
        "requested_domains": ["biology"], "capacity": "2", "email_domains": "sound-audits.example, labs.example",
        "statement": "Audits since 2015.",
        "supporting_file": SimpleUploadedFile("cv.md", b"# CV\n\nAudits.\n"),
        "aff-TOTAL_FORMS": "3", "aff-INITIAL_FORMS": "0", "aff-MIN_NUM_FORMS": "0", "aff-MAX_NUM_FORMS": "1000",
        "aff-0-organization_name": "Acme AI", "aff-0-relation": "equity", "aff-0-started_on": "2022-01-01",
    })
    assert response.status_code == 302
    acc = Accreditation.objects.get(user=applicant)
    assert acc.status == Accreditation.Status.PENDING and acc.requested_tiers == [3, 4]
    assert acc.email_domains == ["labs.example", "sound-audits.example"]
    assert acc.affiliations.get().relation == "equity"
    sf = SupportingFile.objects.get(accreditation=acc)
    assert len(sf.sha256) == 64 and sf.family == "markdown"
    assert Notification.objects.filter(user=staff, kind="accreditation-received").exists()
    # The file downloads for staff only (and its owner).
    client.force_login(staff)
    assert client.get(reverse("auditors:supporting-file", args=[sf.pk])).status_code == 200


def test_a_supporting_file_of_the_wrong_family_is_refused(framework, applicant):
    with pytest.raises(WorkflowError):
        services.apply_to_join(applicant, "auditor", {"firm": "X", "requested_tiers": [3]}, [],
                               [SimpleUploadedFile("cv.pdf", b"not a pdf")])
    assert not Accreditation.objects.filter(user=applicant).exists()


def test_approval_defaults_to_two_years_and_opens_the_expiry_deadline(framework, applicant, staff):
    acc = apply(applicant)
    services.approve_accreditation(acc, staff, tiers=[3], domains=["biology"], capacity=2)
    acc.refresh_from_db()
    assert acc.status == Accreditation.Status.APPROVED and acc.tiers == [3] and acc.domains == ["biology"]
    assert 729 <= (acc.valid_until - timezone.now()).days <= 731
    assert Deadline.objects.for_object(acc).get().kind == "accreditation_expiry"
    assert applicant.__class__.objects.get(pk=applicant.pk).is_auditor
    assert AuditEntry.objects.filter(action="auditors.accreditation.approved").exists()


def test_approval_refuses_unknown_domains_and_tiers(framework, applicant, staff):
    acc = apply(applicant)
    with pytest.raises(WorkflowError):
        services.approve_accreditation(acc, staff, tiers=[3], domains=["chemistry"])
    with pytest.raises(WorkflowError):
        services.approve_accreditation(acc, staff, tiers=[2])
    with pytest.raises(WorkflowError):
        services.approve_accreditation(acc, applicant, tiers=[3])


def test_rejection_needs_a_reason_and_the_person_may_apply_again(framework, applicant, staff):
    acc = apply(applicant)
    with pytest.raises(WorkflowError):
        services.reject_accreditation(acc, staff, " ")
    services.reject_accreditation(acc, staff, "No audit experience shown.")
    acc.refresh_from_db()
    assert acc.status == Accreditation.Status.REJECTED and acc.decision_reason == "No audit experience shown."
    again = apply(applicant)
    assert again.pk == acc.pk and again.status == Accreditation.Status.PENDING
    with pytest.raises(WorkflowError):
        apply(applicant)  # already pending


def test_suspend_and_reinstate(framework, staff):
    acc = make_accredited_auditor()
    services.suspend_accreditation(acc, staff, "Complaint.")
    assert not acc.user.__class__.objects.get(pk=acc.user_id).is_auditor
    services.reinstate_accreditation(acc, staff)
    acc.refresh_from_db()
    assert acc.status == Accreditation.Status.APPROVED
    with pytest.raises(WorkflowError):
        services.reinstate_accreditation(acc, staff)


def test_evaluators_apply_on_the_lighter_form(client, framework, applicant):
    client.force_login(applicant)
    response = client.get(reverse("auditors:join", args=["evaluator"]))
    assert b"requested_tiers" not in response.content and b"capacity" not in response.content
    acc = services.apply_to_join(applicant, "evaluator", {"firm": "Uni", "kind": "academia"}, [])
    assert acc.role == "evaluator" and acc.requested_tiers == []


def test_directory_lists_approved_people_who_did_not_opt_out(client, framework, applicant):
    listed = make_accredited_auditor(name="Listed Person", firm="Listed LLP", domains=["biology"])
    hidden = make_accredited_auditor(name="Hidden Person")
    services.set_listing(hidden, hidden.user, False)
    apply(applicant)
    body = client.get(reverse("auditors:directory")).content.decode()
    assert "Listed Person" in body and "Listed LLP" in body and "biology" in body
    assert "Hidden Person" not in body and "Ann Applicant" not in body
    api = client.get("/api/v1/auditors/directory/").json()
    assert [e["name"] for e in api] == ["Listed Person"]
    del listed


def test_directory_opt_out_through_the_page(client, framework):
    acc = make_accredited_auditor(mfa=True)
    client.force_login(acc.user)
    client.post(reverse("auditors:my-listing"), {"accreditation": acc.pk})
    acc.refresh_from_db()
    assert acc.listed_publicly is False


def test_expiry_reminders_then_lapse(framework, applicant, staff):
    acc = apply(applicant)
    services.approve_accreditation(acc, staff, tiers=[3])
    acc.refresh_from_db()
    for days in (60, 30, 7):
        with time_machine.travel(acc.valid_until - timedelta(days=days) + timedelta(minutes=1), tick=False):
            deadlines.sweep()
    assert Notification.objects.filter(user=applicant, kind="accreditation-expiry-reminder").count() == 3
    assert Notification.objects.filter(user=staff, kind="accreditation-expiry-reminder").count() == 3
    with time_machine.travel(acc.valid_until + timedelta(minutes=1), tick=False):
        # No new offers from the very moment of expiry, sweep or not.
        assert not Accreditation.objects.active().filter(pk=acc.pk).exists()
        deadlines.sweep()
    acc.refresh_from_db()
    assert acc.status == Accreditation.Status.LAPSED


def test_affiliations_can_be_declared_any_time(client, framework):
    acc = make_accredited_auditor(mfa=True)
    client.force_login(acc.user)
    client.post(reverse("auditors:my-affiliation-add"), {"accreditation": acc.pk, "organization_name": "Rival Labs",
                                                         "relation": "funding", "started_on": "2025-01-01"})
    assert acc.affiliations.get().organization_name == "Rival Labs"
