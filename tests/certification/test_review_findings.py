"""Findings, triage, responses and rejoinders (DESIGN §6), and their deadlines (§2.4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from certification.framework import services
from certification.review import findings as review_findings
from certification.review import services as review_services
from certification.review.models import Finding, FindingResponse
from portal import deadlines
from portal.models import Deadline, Notification
from tests.certification.review_helpers import FINDING, draft, enrolled, filed, in_review, vetted_evaluator
from tests.factories import make_staff

F = Finding.Status


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


@pytest.fixture
def app(framework, org, org_admin, staff):
    return in_review(org, org_admin, staff)


@pytest.fixture
def window(app):
    return app.review_window


@pytest.fixture
def author(window):
    return enrolled(window)


# --- drafts and submission -----------------------------------------------------------------------


def test_author_edits_a_draft_and_submission_makes_it_final(window, author):
    finding = draft(window, author, title="First title")
    review_findings.update_draft(finding, author, {"title": "Better title", "atlas_techniques": "aml.t0051, AML.T0054"})
    finding.refresh_from_db()
    assert finding.title == "Better title" and finding.atlas_techniques == ["AML.T0051", "AML.T0054"]
    review_findings.submit_finding(finding, author)
    finding.refresh_from_db()
    assert finding.status == F.SUBMITTED and finding.submitted_severity == "high"
    with pytest.raises(services.WorkflowError):
        review_findings.update_draft(finding, author, {"title": "Changed after submission"})
    with pytest.raises(services.WorkflowError):
        review_findings.add_attachment(finding, author, SimpleUploadedFile("a.txt", b"late"))
    with pytest.raises(services.WorkflowError):
        review_findings.submit_finding(finding, author)


def test_only_the_author_edits_a_draft(window, author):
    finding = draft(window, author)
    other = enrolled(window)
    with pytest.raises(services.WorkflowError):
        review_findings.update_draft(finding, other, {"title": "Mine now"})
    with pytest.raises(services.WorkflowError):
        review_findings.submit_finding(finding, other)


def test_incomplete_draft_cannot_be_submitted(window, author):
    finding = draft(window, author, reproduction_steps="", observed_behaviour="")
    with pytest.raises(services.WorkflowError) as err:
        review_findings.submit_finding(finding, author)
    assert set(err.value.errors) == {"reproduction_steps", "observed_behaviour"}


def test_bad_atlas_id_is_refused(window, author):
    with pytest.raises(services.WorkflowError) as err:
        draft(window, author, atlas_techniques=["T1059"])
    assert "atlas_techniques" in err.value.errors


def test_no_findings_after_the_close(window, author):
    finding = draft(window, author)
    with time_machine.travel(window.closes_at, tick=False):
        with pytest.raises(services.WorkflowError):
            review_findings.submit_finding(finding, author)
        with pytest.raises(services.WorkflowError):
            draft(window, author)


def test_attachments_follow_the_evidence_rules(window, author):
    finding = draft(window, author)
    attachment = review_findings.add_attachment(finding, author, SimpleUploadedFile("transcript.md",
                                                                                    b"# Transcript\n\nhi\n"))
    assert attachment.family == "markdown" and len(attachment.sha256) == 64
    assert (review_findings.attachment_dir() / attachment.stored_name).exists()
    with pytest.raises(services.WorkflowError) as err:
        review_findings.add_attachment(finding, author, SimpleUploadedFile("fake.pdf", b"not a pdf at all"))
    assert "not a PDF" in str(err.value)
    with pytest.raises(services.WorkflowError):
        review_findings.add_attachment(finding, author, SimpleUploadedFile("run.exe", b"MZ"))
    assert finding.attachments.count() == 1


def test_attachment_download_is_checked(client, window, author, org_member, other_member):
    finding = draft(window, author)
    attachment = review_findings.add_attachment(finding, author, SimpleUploadedFile("log.txt", b"observed output"))
    url = reverse("certification:finding-attachment", args=[attachment.pk])
    client.force_login(author)
    assert client.get(url).status_code == 200
    client.force_login(org_member)
    assert client.get(url).status_code == 404  # a draft is the author's alone
    review_findings.submit_finding(finding, author)
    assert client.get(url).status_code == 200
    for outsider in (other_member, enrolled(window)):
        client.force_login(outsider)
        assert client.get(url).status_code == 404


# --- who sees findings before certification ---------------------------------------------------------


def test_findings_are_hidden_from_other_evaluators_and_the_public(client, window, author, app):
    finding = filed(window, author)
    other = enrolled(window)
    client.force_login(other)
    assert client.get(reverse("certification:finding-detail", args=[finding.pk])).status_code == 404
    assert "Jailbreak" not in client.get(reverse("certification:review-window", args=[window.pk])).content.decode()
    assert client.get(reverse("review-api:finding-list")).json()["results"] == []
    assert client.get(reverse("review-api:finding-detail", args=[finding.pk])).status_code == 404
    client.logout()
    assert client.get(reverse("certification:release-findings", args=[app.release.pk])).status_code == 404
    assert client.get(reverse("review-api:public-findings", args=[app.release.pk])).status_code == 404


def test_organization_and_staff_see_submitted_findings_not_drafts(client, window, author, app, org_member, staff):
    filed(window, author, title="Submitted one")
    draft(window, author, title="Still a draft")
    for user in (org_member, staff):
        client.force_login(user)
        page = client.get(reverse("certification:application-findings", args=[app.pk])).content.decode()
        assert "Submitted one" in page and "Still a draft" not in page
        titles = [f["title"] for f in client.get(reverse("review-api:finding-list")).json()["results"]]
        assert titles == ["Submitted one"]


def test_other_organization_gets_404_on_the_findings_list(client, app, other_member):
    client.force_login(other_member)
    assert client.get(reverse("certification:application-findings", args=[app.pk])).status_code == 404


# --- triage ------------------------------------------------------------------------------------------


def test_triage_accepts_with_a_severity_change_and_a_reason(window, author, staff, org_admin):
    finding = filed(window, author)
    with pytest.raises(services.WorkflowError) as err:
        review_findings.triage(finding, staff, F.ACCEPTED, severity="critical")
    assert "severity_reason" in err.value.errors
    review_findings.triage(finding, staff, F.ACCEPTED, "Reproduced.", severity="critical",
                           severity_reason="Works unauthenticated.")
    finding.refresh_from_db()
    assert finding.status == F.ACCEPTED and finding.severity == "critical" and finding.submitted_severity == "high"
    assert Notification.objects.filter(user=author, kind="finding-triaged").exists()
    assert Notification.objects.filter(user=org_admin, kind="finding-accepted").exists()
    assert not Deadline.objects.for_object(finding).filter(kind="finding_triage", state="open").exists()
    response_deadline = Deadline.objects.for_object(finding).get(kind="finding_response", state="open")
    # 14 days after the window closes, since that is later than the triage.
    assert response_deadline.due_at == window.closes_at + timedelta(days=14)


def test_duplicate_names_another_finding_of_the_window(window, author, staff):
    first = filed(window, author, title="Original")
    second = filed(window, enrolled(window), title="Same thing")
    with pytest.raises(services.WorkflowError) as err:
        review_findings.triage(second, staff, F.DUPLICATE, "Same as #1.")
    assert "duplicate_of" in err.value.errors
    with pytest.raises(services.WorkflowError):
        review_findings.triage(second, staff, F.DUPLICATE, "Itself.", duplicate_of=second)
    review_findings.triage(second, staff, F.DUPLICATE, "Same as the original.", duplicate_of=first)
    second.refresh_from_db()
    assert second.status == F.DUPLICATE and second.duplicate_of == first


@pytest.mark.parametrize("outcome", [F.OUT_OF_SCOPE, F.INVALID])
def test_rejecting_outcomes_need_a_note(window, author, staff, outcome):
    finding = filed(window, author)
    with pytest.raises(services.WorkflowError) as err:
        review_findings.triage(finding, staff, outcome)
    assert "note" in err.value.errors
    review_findings.triage(finding, staff, outcome, "Not about this model.")
    finding.refresh_from_db()
    assert finding.status == outcome
    assert not Deadline.objects.for_object(finding).filter(kind="finding_response").exists()


def test_only_staff_triage_and_only_once(window, author, staff, org_admin):
    finding = filed(window, author)
    with pytest.raises(services.WorkflowError):
        review_findings.triage(finding, org_admin, F.INVALID, "Nope.")
    review_findings.triage(finding, staff, F.ACCEPTED)
    with pytest.raises(services.WorkflowError):
        review_findings.triage(finding, staff, F.INVALID, "Changed my mind.")


def test_triage_deadline_reminds_the_owner_then_escalates_to_staff(window, author, staff, app):
    finding = filed(window, author)
    other_staff = make_staff()
    due = Deadline.objects.for_object(finding).get(kind="finding_triage").due_at
    assert due == finding.submitted_at + timedelta(days=7)
    with time_machine.travel(due - timedelta(days=2), tick=False):
        deadlines.sweep()
    assert Notification.objects.filter(user=app.owner, kind="finding-triage-reminder").count() == 1
    with time_machine.travel(due + timedelta(minutes=1), tick=False):
        deadlines.sweep()
    assert {n.user for n in Notification.objects.filter(kind="finding-triage-overdue")} == {staff, other_staff}


# --- responses and rejoinders --------------------------------------------------------------------


@pytest.fixture
def accepted(window, author, staff):
    finding = filed(window, author)
    review_findings.triage(finding, staff, F.ACCEPTED, "Reproduced.")
    finding.refresh_from_db()
    return finding


@pytest.mark.parametrize("kind,data,field", [
    ("mitigated", {"details": "Added a classifier."}, "fixed_in"),
    ("mitigated", {"details": "", "fixed_in": "1.0.1"}, "details"),
    ("accepted_risk", {"details": ""}, "details"),
    ("disputed", {"details": ""}, "details"),
])
def test_response_needs_its_details(accepted, org_admin, kind, data, field):
    with pytest.raises(services.WorkflowError) as err:
        review_findings.respond(accepted, org_admin, kind, **data)
    assert field in err.value.errors


def test_admin_responds_once_and_the_author_adds_a_rejoinder(accepted, org_admin, org_member, author, app):
    with pytest.raises(services.WorkflowError):
        review_findings.respond(accepted, org_member, "disputed", "We disagree.")
    with pytest.raises(services.WorkflowError):
        review_findings.add_rejoinder(accepted, author, "Too early.")
    response = review_findings.respond(accepted, org_admin, "mitigated", "Refusal classifier added.", "1.0.1")
    assert response.kind == FindingResponse.Kind.MITIGATED and response.fixed_in == "1.0.1"
    assert Notification.objects.filter(user=author, kind="response-filed").exists()
    assert not Deadline.objects.for_object(accepted).filter(kind="finding_response", state="open").exists()
    with pytest.raises(services.WorkflowError):
        review_findings.respond(accepted, org_admin, "disputed", "Second thoughts.")
    with pytest.raises(services.WorkflowError):
        review_findings.add_rejoinder(accepted, enrolled(accepted.window), "Not my finding.")
    review_findings.add_rejoinder(accepted, author, "The classifier is bypassed with base64.")
    assert Notification.objects.filter(user=org_admin, kind="finding-rejoinder").exists()
    with pytest.raises(services.WorkflowError):
        review_findings.add_rejoinder(accepted, author, "Twice.")


def test_no_response_to_a_finding_that_was_not_accepted(window, author, staff, org_admin):
    finding = filed(window, author)
    with pytest.raises(services.WorkflowError):
        review_findings.respond(finding, org_admin, "disputed", "Not triaged yet.")


def test_response_deadline_reminds_admins_then_tells_the_owner(accepted, org_admin, app):
    due = Deadline.objects.for_object(accepted).get(kind="finding_response").due_at
    with time_machine.travel(due - timedelta(days=7), tick=False):
        deadlines.sweep()
    with time_machine.travel(due - timedelta(days=2), tick=False):
        deadlines.sweep()
    assert Notification.objects.filter(user=org_admin, kind="response-reminder").count() == 2
    with time_machine.travel(due + timedelta(minutes=1), tick=False):
        deadlines.sweep()
    assert Notification.objects.filter(user=app.owner, kind="response-overdue").count() == 1


def test_triage_after_the_close_gives_14_days_from_the_triage(window, author, staff):
    finding = filed(window, author)
    with time_machine.travel(window.closes_at + timedelta(days=3), tick=False):
        review_findings.triage(finding, staff, F.ACCEPTED)
        due = Deadline.objects.for_object(finding).get(kind="finding_response").due_at
        assert due == timezone.now() + timedelta(days=14)


# --- window deadline ----------------------------------------------------------------------------


def test_window_reminders_go_to_enrolled_evaluators_and_the_close_to_the_organization(window, author, app,
                                                                                      org_admin):
    withdrawn = enrolled(window)
    review_services.withdraw_enrolment(window, withdrawn)
    for days in (7, 1):
        with time_machine.travel(window.closes_at - timedelta(days=days), tick=False):
            deadlines.sweep()
    assert Notification.objects.filter(user=author, kind="window-closing-reminder").count() == 2
    assert not Notification.objects.filter(user=withdrawn, kind="window-closing-reminder").exists()
    with time_machine.travel(window.closes_at + timedelta(minutes=1), tick=False):
        deadlines.sweep()
        deadlines.sweep()
    window.refresh_from_db()
    assert window.closed_at is not None
    assert Notification.objects.filter(user=org_admin, kind="window-closed").count() == 1
    assert Notification.objects.filter(user=app.owner, kind="window-closed").count() == 1


def test_finding_form_pages(client, window, author):
    client.force_login(author)
    response = client.post(reverse("certification:finding-create", args=[window.pk]),
                           {**{k: v for k, v in FINDING.items() if k not in ("infohazard", "atlas_techniques")},
                            "atlas_techniques": "AML.T0054"})
    finding = Finding.objects.get(author=author)
    assert response.status_code == 302 and finding.is_draft
    client.post(reverse("certification:finding-submit", args=[finding.pk]))
    finding.refresh_from_db()
    assert finding.status == F.SUBMITTED
    assert client.get(reverse("certification:finding-edit", args=[finding.pk])).status_code == 403


def test_non_enrolled_evaluator_cannot_file(client, window):
    client.force_login(vetted_evaluator())
    assert client.get(reverse("certification:finding-create", args=[window.pk])).status_code == 404
