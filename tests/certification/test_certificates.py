"""Certificates after issue: signing, rotation, four-eyes approval and revocation,
suspension, supersession by renewal, expiry reminders and concern reports."""

from __future__ import annotations

import base64
import datetime as dt
import json
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from certification.certificates import attestations
from certification.certificates import concerns as certificate_concerns
from certification.certificates import keys as certificate_keys
from certification.certificates import services as certificate_services
from certification.certificates import signing as certificate_signing
from certification.certificates.models import Certificate, ConcernReport
from certification.framework import services as framework_services
from certification.releases import applications
from certification.releases.models import Application, Documentation
from portal import deadlines
from portal.models import AuditEntry, Deadline, Notification, OutboxEmail
from tests import factories as f
from tests.certification.certificate_helpers import SHA_A, SHA_B, TIER3_FACTS, backdate, certify, decision_pending

S = Application.Status


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    # Tier 3/4 gates of later work items (audits, community review) are not under test here.
    monkeypatch.setattr(applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(applications, "REVIEW_STARTED_HOOKS", [])


@pytest.fixture
def staff2(db):
    return f.make_staff()


# --- signing ------------------------------------------------------------------------------------------


def test_issued_certificate_is_signed_and_round_trips(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff, digests=(SHA_A, SHA_B))
    stored = bytes(cert.attestation)
    verified = attestations.verify_envelope(stored, certificate_keys.verification_keys())
    assert verified.keyid == cert.attestation_keyid
    assert sorted(sha for _name, sha in verified.subjects) == [SHA_A, SHA_B]
    predicate = verified.predicate
    assert predicate["certificate"] == cert.number
    assert predicate["tier"] == 1 and predicate["rules"][0]["id"] == "params_lt_1b"
    assert predicate["framework_version"] == "2025.1" and predicate["framework_digest"] == framework.digest
    assert predicate["organization"]["slug"] == org.slug
    assert predicate["audit_summary"] == [] and predicate["review_summary"] == []
    assert predicate["issued_at"] == certificate_signing.iso(cert.issued_at)
    assert predicate["expires_at"] == certificate_signing.iso(cert.expires_at)
    assert verified.statement["predicateType"] == attestations.PREDICATE_TYPE
    # Served byte for byte as stored, never re-serialized.
    download = client.get(f"/registry/{cert.number}/attestation.json")
    assert download.content == stored
    api = client.get(f"/api/v1/certificates/{cert.number}/").json()
    assert api["attestation"] == json.loads(stored)


def test_changing_one_byte_of_the_stored_envelope_fails_verification(framework, org, org_admin, staff):
    cert = certify(org, org_admin, staff)
    envelope = json.loads(bytes(cert.attestation))
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[10] ^= 1
    envelope["payload"] = base64.b64encode(bytes(payload)).decode()
    with pytest.raises(attestations.VerificationError):
        attestations.verify_envelope(envelope, certificate_keys.verification_keys())


def test_release_without_artifacts_is_certified_on_its_documentation(framework, org, org_admin, staff):
    cert = certify(org, org_admin, staff, digests=())
    revision = cert.application.revisions.get()
    verified = attestations.verify_envelope(bytes(cert.attestation), certificate_keys.verification_keys())
    assert verified.subjects == [("documentation-revision-1.json", revision.sha256)]


def test_rotated_key_keeps_old_certificates_verifiable(framework, org, org_admin, staff, settings, tmp_path,
                                                       monkeypatch):
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(certificate_keys.private_key_pem(certificate_keys._private_key_from_env(
        "ZbIVnHFJePPjSCSq/dxMHY8wWrc5t9XlKZWnvicPmkk=")))
    monkeypatch.delenv("SIGNING_KEY")
    monkeypatch.setenv("SIGNING_KEY_FILE", str(key_file))
    monkeypatch.setenv("SIGNING_KEYS_DIR", str(tmp_path / "keys"))
    old = certify(org, org_admin, staff, version="1.0")
    new_id = certificate_keys.rotate_key(tmp_path / "keys")
    new = certify(org, org_admin, staff, version="2.0")
    assert new.attestation_keyid == new_id != old.attestation_keyid
    keys = certificate_keys.verification_keys()
    assert {k.keyid for k in keys} == {old.attestation_keyid, new_id}
    assert attestations.verify_envelope(bytes(old.attestation), keys).keyid == old.attestation_keyid
    assert attestations.verify_envelope(bytes(new.attestation), keys).keyid == new_id
    # The old key is not trusted for a certificate issued after its retirement.
    late = [k for k in keys if k.keyid == old.attestation_keyid]
    with pytest.raises(attestations.VerificationError) as err:
        attestations.verify_envelope(bytes(old.attestation), late, at=timezone.now() + timedelta(days=1))
    assert err.value.reason == "key_not_valid"


def test_sign_certificates_signs_unsigned_ones_once(framework, org, org_admin, staff, capsys):
    cert = certify(org, org_admin, staff)
    Certificate.objects.filter(pk=cert.pk).update(attestation=None, attestation_keyid="")
    cert.subjects.all().delete()
    call_command("sign_certificates", "--dry-run")
    assert Certificate.objects.get(pk=cert.pk).attestation is None
    call_command("sign_certificates")
    cert.refresh_from_db()
    first = bytes(cert.attestation)
    assert attestations.verify_envelope(first,
                                        certificate_keys.verification_keys()).predicate["certificate"] == cert.number
    assert cert.subjects.count() == 1
    call_command("sign_certificates")
    cert.refresh_from_db()
    assert bytes(cert.attestation) == first
    assert "signed 0 certificate(s)" in capsys.readouterr().out


# --- four-eyes ---------------------------------------------------------------------------------------


def test_tier3_needs_two_different_staff_to_certify(framework, org, org_admin, staff, staff2):
    app = decision_pending(org, org_admin, staff, **TIER3_FACTS)
    assert app.tier == 3
    certificate_services.approve(app, staff)
    app.refresh_from_db()
    assert app.status == S.DECISION_PENDING and not Certificate.objects.filter(application=app).exists()
    with pytest.raises(framework_services.WorkflowError):
        certificate_services.approve(app, staff)
    certificate_services.approve(app, staff2)
    app.refresh_from_db()
    assert app.status == S.CERTIFIED
    cert = Certificate.objects.get(application=app)
    assert cert.tier == 3 and cert.attestation


def test_rejection_needs_reasons(framework, org, org_admin, staff):
    app = decision_pending(org, org_admin, staff)
    with pytest.raises(framework_services.WorkflowError) as err:
        certificate_services.reject(app, staff, "   ")
    assert "reasons" in err.value.errors


# --- suspension and revocation -----------------------------------------------------------------------


def test_suspend_and_reinstate_need_a_reason_and_notify_the_organization(framework, org, org_admin, staff):
    cert = certify(org, org_admin, staff)
    with pytest.raises(framework_services.WorkflowError):
        certificate_services.suspend(cert, staff, "")
    certificate_services.suspend(cert, staff, "Concern under investigation")
    cert.refresh_from_db()
    assert cert.effective_status() == "suspended" and cert.status_reason == "Concern under investigation"
    assert Notification.objects.filter(user=org_admin, kind="certificate-suspended").exists()
    with pytest.raises(framework_services.WorkflowError):
        certificate_services.suspend(cert, staff, "again")
    certificate_services.reinstate(cert, staff, "Resolved")
    cert.refresh_from_db()
    assert cert.effective_status() == "valid"


def test_organization_members_cannot_suspend(framework, org, org_admin, staff):
    cert = certify(org, org_admin, staff)
    with pytest.raises(framework_services.WorkflowError):
        certificate_services.suspend(cert, org_admin, "no")


def test_revocation_needs_a_second_staff_member(framework, org, org_admin, staff, staff2):
    cert = certify(org, org_admin, staff)
    certificate_services.propose_revocation(cert, staff, "Misrepresented benchmarks")
    with pytest.raises(framework_services.WorkflowError):
        certificate_services.propose_revocation(cert, staff2, "twice")
    with pytest.raises(framework_services.WorkflowError) as err:
        certificate_services.confirm_revocation(cert, staff)
    assert "another staff member" in str(err.value)
    cert.refresh_from_db()
    assert cert.status == Certificate.Status.VALID
    certificate_services.confirm_revocation(cert, staff2)
    cert.refresh_from_db()
    assert cert.effective_status() == "revoked"
    assert not Deadline.objects.for_object(cert).filter(state=Deadline.State.OPEN).exists()
    assert AuditEntry.objects.filter(action="certification.certificate.revoked").exists()
    with pytest.raises(framework_services.WorkflowError):
        certificate_services.reinstate(cert, staff, "no way back")


def test_a_cancelled_proposal_revokes_nothing(framework, org, org_admin, staff, staff2):
    cert = certify(org, org_admin, staff)
    certificate_services.propose_revocation(cert, staff, "Maybe")
    certificate_services.cancel_revocation(cert, staff2)
    with pytest.raises(framework_services.WorkflowError):
        certificate_services.confirm_revocation(cert, staff2)
    cert.refresh_from_db()
    assert cert.status == Certificate.Status.VALID


def test_revocation_pages_propose_then_confirm(framework, org, org_admin, staff, staff2, client):
    cert = certify(org, org_admin, staff)
    client.force_login(staff)
    f.mark_reauthenticated(client, staff)
    r = client.post(f"/registry/{cert.number}/revoke/", {"reason": "Fraud"})
    assert r.status_code == 200 and b"What happens when you confirm" in r.content
    r = client.post(f"/registry/{cert.number}/revoke/", {"reason": "Fraud", "confirmed": "1"})
    assert r.status_code == 302
    r = client.get(f"/registry/{cert.number}/revoke/")
    assert b"another staff member must confirm" in r.content
    client.post(f"/registry/{cert.number}/revoke/", {"action": "confirm"})
    cert.refresh_from_db()
    assert cert.status == Certificate.Status.VALID
    client.force_login(staff2)
    f.mark_reauthenticated(client, staff2)
    client.post(f"/registry/{cert.number}/revoke/", {"action": "confirm"})
    cert.refresh_from_db()
    assert cert.status == Certificate.Status.REVOKED


# --- expiry ------------------------------------------------------------------------------------------------


def test_expiry_is_computed_when_read_and_reminders_go_to_org_admins(framework, org, org_admin, staff):
    cert = certify(org, org_admin, staff)
    deadline = Deadline.objects.for_object(cert).get(kind="certificate_expiry")
    assert deadline.due_at == cert.expires_at
    deadlines.sweep(now=cert.expires_at - timedelta(days=59))
    assert Notification.objects.filter(user=org_admin, kind="certificate-expiry-reminder").count() == 1
    deadlines.sweep(now=cert.expires_at - timedelta(days=6))
    assert Notification.objects.filter(user=org_admin, kind="certificate-expiry-reminder").count() == 2
    # Nothing is stored at expiry: the status is expired the moment it is read.
    assert cert.effective_status(cert.expires_at + timedelta(seconds=1)) == "expired"
    deadlines.sweep(now=cert.expires_at + timedelta(minutes=1))
    assert Notification.objects.filter(user=org_admin, kind="certificate-expired").count() == 1
    cert.refresh_from_db()
    assert cert.status == Certificate.Status.VALID


# --- renewal -----------------------------------------------------------------------------------------------


def test_renewal_opens_after_six_months_and_is_prefilled(framework, org, org_admin, staff):
    cert = certify(org, org_admin, staff)
    with pytest.raises(framework_services.WorkflowError) as err:
        certificate_services.start_renewal(cert, org_admin)
    assert "six months" in str(err.value)
    cert = backdate(cert, 200)
    app = certificate_services.start_renewal(cert, org_admin)
    assert app.previous_id == cert.application_id and app.status == S.DRAFT and app.release_id == cert.release_id
    frozen = cert.application.revisions.get().content["sections"]
    assert Documentation.objects.get(release=cert.release).sections == frozen
    # Starting again returns the same renewal.
    assert certificate_services.start_renewal(cert, org_admin).pk == app.pk


def test_renewal_certificate_supersedes_the_previous_one(framework, org, org_admin, staff):
    cert = backdate(certify(org, org_admin, staff), 200)
    app = certificate_services.start_renewal(cert, org_admin)
    applications.submit_application(app, org_admin, signer_name="Ada", signer_title="CTO", affirmed=[1, 2, 3, 4, 5, 6])
    applications.start_screening(app, staff)
    applications.accept_into_review(app, staff)
    applications.complete_review(app, staff)
    certificate_services.approve(app, staff)
    new = Certificate.objects.get(application=app)
    cert.refresh_from_db()
    assert cert.effective_status() == "superseded" and cert.superseded_by_id == new.pk
    assert new.effective_status() == "valid"
    predicate = attestations.verify_envelope(bytes(new.attestation), certificate_keys.verification_keys()).predicate
    assert predicate["renews"] == cert.number


def test_only_an_org_admin_renews_a_valid_certificate(framework, org, org_admin, org_member, staff):
    cert = backdate(certify(org, org_admin, staff), 200)
    with pytest.raises(framework_services.WorkflowError):
        certificate_services.start_renewal(cert, org_member)
    certificate_services.suspend(cert, staff, "Investigating")
    cert.refresh_from_db()
    with pytest.raises(framework_services.WorkflowError):
        certificate_services.start_renewal(cert, org_admin)


def test_other_organization_gets_404_on_the_renew_page(framework, org, org_admin, staff, other_member, client):
    cert = certify(org, org_admin, staff)
    client.force_login(other_member)
    assert client.get(f"/registry/{cert.number}/renew/").status_code == 404


# --- concerns ------------------------------------------------------------------------------------------------


def test_concern_goes_to_the_vulnerability_contact_and_staff(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    r = client.post(f"/registry/{cert.number}/concern/", {
        "summary": "Leaks training data", "details": "Prompt X returns emails.", "reporter_email": "r@example.net"})
    assert r.status_code == 302
    concern = ConcernReport.objects.get()
    assert concern.certificate == cert and concern.reporter is None
    contact = OutboxEmail.objects.get(to=f"security@{org.slug}.example")
    assert "Leaks training data" in contact.body_text
    assert Notification.objects.filter(user=staff, kind="concern-reported").exists()


def test_concern_reports_are_rate_limited_per_address(framework, org, org_admin, staff, client, settings):
    settings.CONCERN_REPORTS_PER_HOUR = 2
    cert = certify(org, org_admin, staff)
    data = {"summary": "s", "details": "d"}
    assert client.post(f"/registry/{cert.number}/concern/", data).status_code == 302
    assert client.post(f"/api/v1/certificates/{cert.number}/concerns/", data,
                       content_type="application/json").status_code == 201
    assert client.post(f"/registry/{cert.number}/concern/", data).status_code == 429
    assert client.post(f"/api/v1/certificates/{cert.number}/concerns/", data,
                       content_type="application/json").status_code == 429
    assert ConcernReport.objects.count() == 2


def test_staff_suspend_from_a_concern(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    concern = certificate_concerns.report_concern(cert, summary="Unsafe", details="Details")
    client.force_login(staff)
    f.mark_reauthenticated(client, staff)
    page = client.get(f"/registry/{cert.number}/suspend/?concern={concern.pk}")
    assert b"Concern reported: Unsafe" in page.content
    client.post(f"/registry/{cert.number}/suspend/", {"reason": "Concern reported: Unsafe", "concern": concern.pk,
                                                       "confirmed": "1"})
    cert.refresh_from_db()
    concern.refresh_from_db()
    assert cert.status == Certificate.Status.SUSPENDED and concern.status == ConcernReport.Status.ESCALATED


def test_concern_list_is_for_staff_only(framework, org_admin, client, staff):
    client.force_login(org_admin)
    assert client.get("/staff/concerns/").status_code == 403
    client.force_login(staff)
    assert client.get("/staff/concerns/").status_code == 200


# --- pages ---------------------------------------------------------------------------------------------------


def test_certificate_page_shows_the_public_model_card_but_not_access_instructions(
        framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    page = client.get(f"/registry/{cert.number}/").content.decode()
    assert "General-purpose assistant" in page  # model card: intended uses
    assert "Filtered web crawl" in page  # training data sources
    assert "H100" in page  # compute and energy
    assert "RealToxicityPrompts" in page  # benchmark results, by their catalogue name
    assert "eval.example/access" not in page  # model-access instructions stay private
    assert "badge.svg" in page and "[![" in page
    assert client.get(f"/registry/{cert.number}/print/").status_code == 200


def test_public_evidence_only_when_marked_public(framework, org, org_admin, staff, client):
    cert = certify(org, org_admin, staff)
    ev = cert.release.evidence_files.first()
    assert client.get(f"/registry/{cert.number}/evidence/{ev.pk}/").status_code == 404
    type(ev).objects.filter(pk=ev.pk).update(is_public=True)
    r = client.get(f"/registry/{cert.number}/evidence/{ev.pk}/")
    assert r.status_code == 200


def test_iso_times_are_utc_with_z():
    assert certificate_signing.iso(dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)) == "2025-01-02T03:04:05Z"


def test_add_months_clamps_to_the_month_end():
    assert certificate_services.add_months(dt.datetime(2025, 8, 31, tzinfo=dt.timezone.utc),
                                           6).date() == dt.date(2026, 2, 28)


def test_renewal_opens_exactly_six_months_after_issue(framework, org, org_admin, staff):
    cert = certify(org, org_admin, staff)
    opens = certificate_services.renewal_opens_at(cert)
    with time_machine.travel(opens - timedelta(minutes=1), tick=False):
        with pytest.raises(framework_services.WorkflowError):
            certificate_services.start_renewal(cert, org_admin)
    with time_machine.travel(opens + timedelta(minutes=1), tick=False):
        assert certificate_services.start_renewal(cert, org_admin).previous_id == cert.application_id
