"""The Tier 1/2 workflow through the service functions and the pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from certification.certificates import services as certificate_services
from certification.certificates.models import Certificate
from certification.framework import services as framework_services
from certification.releases import applications
from certification.releases import services as release_services
from certification.releases.models import Application, DocumentationRevision
from portal.models import AuditEntry, Notification
from tests.certification.factories import make_release, submitted_application
from tests.factories import mark_reauthenticated

S = Application.Status


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


def test_tier1_application_goes_from_draft_to_certified(framework, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    assert app.status == S.SUBMITTED and app.tier == 1
    revision = app.revisions.get()
    assert revision.sha256 and revision.attestation.revision_sha256 == revision.sha256
    applications.start_screening(app, staff)
    assert app.owner == staff
    applications.accept_into_review(app, staff)
    applications.complete_review(app, staff)
    app.refresh_from_db()
    assert app.status == S.DECISION_PENDING
    certificate_services.approve(app, staff)
    app.refresh_from_db()
    assert app.status == S.CERTIFIED
    cert = Certificate.objects.get(application=app)
    assert cert.tier == 1 and (cert.expires_at - cert.issued_at).days == 365
    assert cert.effective_status() == "valid"
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"certification.application.submitted", "certification.certificate.issued"} <= actions


def test_incomplete_documentation_cannot_be_submitted(framework, org, org_admin):
    release = make_release(org, org_admin, fill=False)
    app = applications.start_application(release, org_admin)
    with pytest.raises(framework_services.WorkflowError) as err:
        applications.submit_application(app, org_admin, signer_name="A", signer_title="B", affirmed=[1, 2, 3, 6])
    assert "documentation" in err.value.errors
    app.refresh_from_db()
    assert app.status == S.DRAFT and not app.revisions.exists()


def test_tier3_release_needs_a_rollout_plan(framework, org, org_admin):
    release = make_release(org, org_admin, parameter_count=80_000_000_000)
    release_services.update_section(release, org_admin, "rollout_plan", {"stages": [{"audience": "all",
                                                                                     "planned_date": "2026-01-01"}]})
    app = applications.start_application(release, org_admin)
    assert app.tier == 3
    with pytest.raises(framework_services.WorkflowError) as err:
        applications.submit_application(app, org_admin, signer_name="A", signer_title="B", affirmed=[1, 2, 3, 4, 5, 6])
    assert any("rollout" in e.lower() for e in err.value.errors["documentation"])


def test_every_statement_must_be_affirmed(framework, org, org_admin):
    release = make_release(org, org_admin)
    app = applications.start_application(release, org_admin)
    with pytest.raises(framework_services.WorkflowError) as err:
        applications.submit_application(app, org_admin, signer_name="A", signer_title="B", affirmed=[1, 2])
    assert "affirmed" in err.value.errors


def test_member_cannot_file_the_attestation(framework, org, org_admin, org_member):
    release = make_release(org, org_admin)
    app = applications.start_application(release, org_member)
    with pytest.raises(framework_services.WorkflowError):
        applications.submit_application(app, org_member, signer_name="M", signer_title="Eng", affirmed=[1, 2, 3, 6])


def test_frozen_revision_cannot_change(framework, org, org_admin):
    app = submitted_application(org, org_admin)
    revision = app.revisions.get()
    revision.content = {"tampered": True}
    with pytest.raises(ValueError):
        revision.save()
    assert DocumentationRevision.objects.get(pk=revision.pk).content != {"tampered": True}


def test_documentation_is_locked_while_submitted(framework, org, org_admin):
    app = submitted_application(org, org_admin)
    with pytest.raises(framework_services.WorkflowError):
        release_services.update_section(app.release, org_admin, "model_card", {"intended_uses": "changed"})


def test_changes_requested_then_resubmitted(framework, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    applications.start_screening(app, staff)
    applications.request_changes(app, staff, {"model_card": "Say more about limitations."})
    assert app.status == S.CHANGES_REQUESTED
    assert Notification.objects.filter(user=org_admin, kind="changes-requested").exists()
    release_services.update_section(app.release, org_admin, "model_card", {
        "intended_uses": "x", "out_of_scope_uses": "y", "limitations": "Much more detail."})
    applications.submit_application(app, org_admin, signer_name="Ada", signer_title="CTO", affirmed=[1, 2, 3, 6])
    assert app.status == S.SUBMITTED
    assert app.revisions.count() == 2
    assert app.change_requests.get().resolved_at is not None


def test_rejection_needs_reasons(framework, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    applications.start_screening(app, staff)
    applications.accept_into_review(app, staff)
    applications.complete_review(app, staff)
    with pytest.raises(framework_services.WorkflowError):
        certificate_services.reject(app, staff, "  ")
    certificate_services.reject(app, staff, "Benchmarks not reproducible.")
    app.refresh_from_db()
    assert app.status == S.REJECTED


def test_withdraw_by_admin(framework, org, org_admin, org_member):
    app = submitted_application(org, org_admin)
    with pytest.raises(framework_services.WorkflowError):
        applications.withdraw(app, org_member)
    applications.withdraw(app, org_admin)
    assert app.status == S.WITHDRAWN


def test_declared_tier_cannot_be_below_computed(framework, org, org_admin):
    with pytest.raises(framework_services.WorkflowError) as err:
        make_release(org, org_admin, parameter_count=5_000_000_000, declared_tier=1, fill=False)
    assert "declared_tier" in err.value.errors


def test_staff_raise_after_submission_returns_to_changes_requested(framework, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    applications.start_screening(app, staff)
    applications.raise_tier(app.release, staff, 3, "Auditor saw code generation.")
    app.refresh_from_db()
    assert app.status == S.CHANGES_REQUESTED and app.tier == 3
    cr = app.change_requests.get()
    assert "rollout_plan" in cr.comments and "access_instructions" in cr.comments
    with pytest.raises(framework_services.WorkflowError):
        applications.raise_tier(app.release, staff, 2, "lower")


def test_pages_walk_through_the_flow(framework, client, org, org_admin, staff):
    release = make_release(org, org_admin)
    client.force_login(org_admin)
    assert client.get(reverse("certification:release-detail", args=[release.pk])).status_code == 200
    response = client.post(reverse("certification:application-start", args=[release.pk]))
    app = Application.objects.get(release=release)
    assert response.status_code == 302
    mark_reauthenticated(client, org_admin)
    page = client.get(reverse("certification:application-attest", args=[app.pk]))
    assert page.status_code == 200 and b"Check your answers" in page.content
    response = client.post(reverse("certification:application-attest", args=[app.pk]), {
        "signer_name": "Ada Admin", "signer_title": "CTO",
        **{f"statement_{n}": "on" for n in (1, 2, 3, 6)}})
    # Post/redirect/get: the confirmation is a page of its own, a reload does not file again.
    assert response.status_code == 302 and response["Location"].endswith("?submitted=1")
    assert b"Application submitted" in client.get(response["Location"]).content
    client.force_login(staff)
    for name in ("application-screen", "application-accept", "application-complete-review"):
        response = client.post(reverse(f"certification:{name}", args=[app.pk]))
        assert response.status_code == 302, name
    mark_reauthenticated(client, staff)
    response = client.post(reverse("certification:application-approve", args=[app.pk]), {"confirmed": "1"})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == S.CERTIFIED


def test_other_organization_gets_404(framework, client, org, org_admin, other_member):
    app = submitted_application(org, org_admin)
    client.force_login(other_member)
    for url in (
        reverse("certification:release-detail", args=[app.release.pk]),
        reverse("certification:application-detail", args=[app.pk]),
        reverse("certification:model-detail", args=[app.release.ai_model.pk]),
        reverse("certification:section-edit", args=[app.release.pk, "model_card"]),
        reverse("certification:evidence-download", args=[app.release.evidence_files.first().pk]),
        reverse("certification:revision-detail", args=[app.pk, 1]),
    ):
        assert client.get(url).status_code == 404, url
