"""The release operations the pages had and the API lacked (issue 14): requesting the
vulnerability contact's confirmation, model card import and export, removing an evidence file
or a benchmark result from a draft. Same services, same rules, same audit entries as the pages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from certification.releases import applications
from certification.releases.models import BenchmarkResult, ContactConfirmation, Documentation, EvidenceFile
from portal.models import AuditEntry, OutboxEmail
from tests.certification.factories import make_release, submitted_application
from tests.certification.test_modelcard import CARD


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


@pytest.fixture
def release(framework, org, org_admin):
    return make_release(org, org_admin, fill=False)


@pytest.fixture
def filled(framework, org, org_admin):
    return make_release(org, org_admin, fill=True)


def actions(release) -> list[str]:
    return list(AuditEntry.objects.filter(object_id=str(release.pk)).values_list("action", flat=True))


def put_contact(client, release, email="Security@Acme.example"):
    response = client.put(f"/api/v1/releases/{release.pk}/sections/vulnerability_contact/", {"data": {
        "email": email, "disclosure_policy_url": "https://acme.example/security"}}, content_type="application/json")
    assert response.status_code == 200, response.json()


def confirm_link(email: str) -> str:
    """The path of the link in the last confirmation email to ``email``: what the contact opens."""
    mail = OutboxEmail.objects.filter(to__iexact=email).order_by("-pk").first()
    assert mail is not None, f"no email to {email}"
    return urlsplit(re.search(r"https?://\S+/contact/confirm/\S+?/", mail.body_text).group(0)).path


# --- the vulnerability contact's confirmation -------------------------------------------------------


def test_requesting_the_contact_confirmation_sends_the_link_and_the_contact_confirms(client_for, org_admin, release,
                                                                                      client):
    c = client_for(org_admin)
    url = f"/api/v1/releases/{release.pk}/contact-confirmation/"
    assert c.get(url).json() == {"email": None, "confirmed": False, "sent_at": None, "confirmed_at": None}
    put_contact(c, release)
    assert not OutboxEmail.objects.exists()  # saving the section through the API sends nothing by itself
    response = c.post(url)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["email"] == "security@acme.example" and body["confirmed"] is False and body["sent_at"]
    assert "certification.documentation.contact_confirmation_sent" in actions(release)
    checklist = c.get(f"/api/v1/releases/{release.pk}/checklist/").json()
    contact = next(i for i in checklist["items"] if i["id"] == "vulnerability_contact")
    assert any("not confirmed" in p for p in contact["problems"])

    c.logout()
    assert client.post(confirm_link("security@acme.example")).status_code == 200  # the contact, no account
    c = client_for(org_admin)
    state = c.get(url).json()
    assert state["confirmed"] is True and state["confirmed_at"]
    checklist = c.get(f"/api/v1/releases/{release.pk}/checklist/").json()
    contact = next(i for i in checklist["items"] if i["id"] == "vulnerability_contact")
    assert contact["problems"] == []
    # Asking again for a confirmed address sends nothing.
    sent = OutboxEmail.objects.count()
    response = c.post(url)
    assert response.status_code == 200 and response.json()["confirmed"] is True
    assert OutboxEmail.objects.count() == sent


def test_the_section_page_writes_the_same_audit_entry_when_it_sends_the_link(client_for, org_admin, release):
    c = client_for(org_admin)
    response = c.post(f"/releases/{release.pk}/sections/vulnerability_contact/", {
        "s-email": "sec@acme.example", "s-disclosure_policy_url": "https://acme.example/security"})
    assert response.status_code == 302
    assert OutboxEmail.objects.filter(to="sec@acme.example").exists()
    assert "certification.documentation.contact_confirmation_sent" in actions(release)


def test_contact_confirmation_without_a_saved_address_is_400_naming_email(client_for, org_admin, release):
    response = client_for(org_admin).post(f"/api/v1/releases/{release.pk}/contact-confirmation/")
    assert response.status_code == 400
    assert "email" in response.json()
    assert not ContactConfirmation.objects.exists()


@pytest.mark.parametrize("email", ["not-an-address", "a" * 250 + "@acme.example", 42, ["x@acme.example"]])
def test_contact_confirmation_to_an_invalid_saved_address_is_400_naming_email(client_for, org_admin, release, email):
    # The API stores a section as sent; nothing is emailed to what is not an address.
    c = client_for(org_admin)
    c.put(f"/api/v1/releases/{release.pk}/sections/vulnerability_contact/", {"data": {"email": email}},
          content_type="application/json")
    assert c.get(f"/api/v1/releases/{release.pk}/contact-confirmation/").status_code == 200
    response = c.post(f"/api/v1/releases/{release.pk}/contact-confirmation/")
    assert response.status_code == 400
    assert "email" in response.json()
    assert not ContactConfirmation.objects.exists() and not OutboxEmail.objects.exists()


def test_contact_confirmation_by_persona(client_for, org_member, other_member, staff, release, org_admin):
    put_contact(client_for(org_admin), release)
    url = f"/api/v1/releases/{release.pk}/contact-confirmation/"
    c = client_for(other_member)
    assert c.get(url).status_code == 404
    assert c.post(url).status_code == 404
    c = client_for(staff)
    assert c.get(url).status_code == 200
    assert c.post(url).status_code == 403  # staff read drafts, they do not edit them
    assert not ContactConfirmation.objects.exists()
    assert client_for(org_member).post(url).status_code == 202  # members edit drafts (DESIGN §3)


def test_contact_confirmation_is_refused_while_under_review(client_for, framework, org, org_admin):
    app = submitted_application(org, org_admin)
    release = app.release
    put_url = f"/api/v1/releases/{release.pk}/contact-confirmation/"
    Documentation.objects.filter(release=release).update(sections={
        **Documentation.objects.get(release=release).sections,
        "vulnerability_contact": {"email": "new@acme.example", "disclosure_policy_url": "https://acme.example/s"}})
    response = client_for(org_admin).post(put_url)
    assert response.status_code == 400
    assert "under review" in str(response.json())
    assert not OutboxEmail.objects.filter(to="new@acme.example").exists()


# --- model cards ------------------------------------------------------------------------------------


def test_model_card_import_as_json_prefills_the_documentation(client_for, org_member, release):
    c = client_for(org_member)
    response = c.post(f"/api/v1/releases/{release.pk}/model-card/import/", {"card_text": CARD},
                      content_type="application/json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body["sections"]) == {"model_card", "license", "training_data", "compute"}
    assert len(body["benchmarks_added"]) == 3 and body["benchmarks_skipped"] == ["MMLU"]
    doc = Documentation.objects.get(release=release).sections
    assert doc["license"] == {"spdx_id": "apache-2.0"}
    assert doc["model_card"]["out_of_scope_uses"] == "Medical advice."
    assert release.benchmark_results.count() == 3
    assert "certification.documentation.modelcard_imported" in actions(release)


def test_model_card_import_as_a_file(client_for, org_member, release):
    response = client_for(org_member).post(f"/api/v1/releases/{release.pk}/model-card/import/", {
        "card_file": SimpleUploadedFile("README.md", CARD.encode(), "text/markdown")})
    assert response.status_code == 200, response.json()
    assert "model_card" in response.json()["sections"]


@pytest.mark.parametrize(("payload", "field", "expected"), [
    ({}, "non_field_errors", "Choose a README.md file or paste the model card."),
    ({"card_text": "---\n- license\n- mit\n---\n"}, "card_text", "must be a mapping"),
    ({"card_text": "---\nlicense: [mit, apache-2.0]\n---\n"}, "card_text", "license must be a single"),
])
def test_bad_model_card_is_400_naming_the_field_and_saves_nothing(client_for, org_member, release, payload, field,
                                                                   expected):
    before = AuditEntry.objects.count()
    response = client_for(org_member).post(f"/api/v1/releases/{release.pk}/model-card/import/", payload,
                                           content_type="application/json")
    assert response.status_code == 400
    assert expected in " ".join(response.json()[field])
    assert AuditEntry.objects.count() == before
    assert not Documentation.objects.filter(release=release).exclude(sections={}).exists()


def test_model_card_import_by_persona(client_for, other_member, staff, release):
    url = f"/api/v1/releases/{release.pk}/model-card/import/"
    assert client_for(other_member).post(url, {"card_text": CARD}, content_type="application/json").status_code == 404
    assert client_for(staff).post(url, {"card_text": CARD}, content_type="application/json").status_code == 403
    assert not release.benchmark_results.exists()


def test_model_card_import_is_refused_while_under_review(client_for, framework, org, org_admin):
    app = submitted_application(org, org_admin)
    response = client_for(org_admin).post(f"/api/v1/releases/{app.release.pk}/model-card/import/",
                                          {"card_text": CARD}, content_type="application/json")
    assert response.status_code == 400
    assert "under review" in str(response.json())


def test_model_card_export_is_the_pages_readme(client_for, org_member, other_member, staff, filled):
    url = f"/api/v1/releases/{filled.pk}/model-card/"
    response = client_for(org_member).get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    page = client_for(org_member).get(f"/releases/{filled.pk}/modelcard/export/")
    assert response.content == page.content
    assert client_for(staff).get(url).status_code == 200
    assert client_for(other_member).get(url).status_code == 404


# --- removing from a draft ----------------------------------------------------------------------------


def test_member_deletes_an_evidence_file_of_a_draft(client_for, org_member, filled):
    ev = filled.evidence_files.first()
    response = client_for(org_member).delete(f"/api/v1/releases/{filled.pk}/evidence/{ev.pk}/")
    assert response.status_code == 204
    assert not EvidenceFile.objects.filter(pk=ev.pk).exists()
    assert AuditEntry.objects.filter(action="certification.releases.evidence.deleted", object_id=str(ev.pk)).exists()


def test_evidence_delete_by_persona(client_for, other_member, staff, filled, framework, other_org):
    ev = filled.evidence_files.first()
    url = f"/api/v1/releases/{filled.pk}/evidence/{ev.pk}/"
    assert client_for(other_member).delete(url).status_code == 404
    assert client_for(staff).delete(url).status_code == 403
    # An evidence file of another release, through this release's URL: 404.
    foreign = make_release(other_org, other_member, version="2.0")
    foreign_ev = foreign.evidence_files.first()
    assert client_for(other_member).delete(f"/api/v1/releases/{foreign.pk}/evidence/{ev.pk}/").status_code == 404
    assert client_for(other_member).delete(f"/api/v1/releases/{filled.pk}/evidence/{foreign_ev.pk}/").status_code \
        == 404
    assert EvidenceFile.objects.filter(pk__in=[ev.pk, foreign_ev.pk]).count() == 2


def test_evidence_of_a_submitted_release_cannot_be_deleted(client_for, framework, org, org_admin):
    app = submitted_application(org, org_admin)
    ev = app.release.evidence_files.first()
    response = client_for(org_admin).delete(f"/api/v1/releases/{app.release.pk}/evidence/{ev.pk}/")
    assert response.status_code == 400
    assert "under review" in str(response.json())
    assert EvidenceFile.objects.filter(pk=ev.pk).exists()


def test_member_removes_a_benchmark_result_of_a_draft(client_for, org_member, filled):
    result = filled.benchmark_results.first()
    response = client_for(org_member).delete(f"/api/v1/releases/{filled.pk}/benchmark-results/{result.pk}/")
    assert response.status_code == 204
    assert not BenchmarkResult.objects.filter(pk=result.pk).exists()
    assert "certification.documentation.benchmark_removed" in actions(filled)


def test_benchmark_result_delete_by_persona_and_state(client_for, other_member, staff, filled, org_admin):
    result = filled.benchmark_results.first()
    url = f"/api/v1/releases/{filled.pk}/benchmark-results/{result.pk}/"
    assert client_for(other_member).delete(url).status_code == 404
    assert client_for(staff).delete(url).status_code == 403
    assert client_for(org_admin).delete(f"/api/v1/releases/{filled.pk}/benchmark-results/999999/").status_code == 404
    app = applications.start_application(filled, org_admin)
    applications.submit_application(app, org_admin, signer_name="Ada", signer_title="CTO", affirmed=[1, 2, 3, 6])
    response = client_for(org_admin).delete(url)
    assert response.status_code == 400 and "under review" in str(response.json())
    assert BenchmarkResult.objects.filter(pk=result.pk).exists()


def test_the_release_itself_still_has_no_delete(client_for, org_admin, filled):
    assert client_for(org_admin).delete(f"/api/v1/releases/{filled.pk}/").status_code == 405
