"""Decisions that cannot go wrong by accident (issue 12 §4) and labels that tell the truth (§2):
every staff decision with a public or irreversible effect shows a confirmation page that states its
consequence, after a fresh authentication; a successful POST redirects; section forms say "(optional)"
only for fields no check needs at the release's tier."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from certification.certificates import appeals as certificate_appeals
from certification.certificates import services as certificate_services
from certification.certificates.models import Appeal, Certificate, Decision
from certification.releases import applications as release_applications
from certification.releases.models import Application
from tests import factories as f
from tests.certification.certificate_helpers import TIER3_FACTS, certify, decision_pending
from tests.certification.factories import make_release

S = Application.Status
REAUTHENTICATE = reverse("account_reauthenticate")


@pytest.fixture(autouse=True)
def _no_gates(settings, tmp_path, monkeypatch):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
    # Tier 3/4 gates (audits, community review) are tested elsewhere; the four-eyes rule is under test here.
    monkeypatch.setattr(release_applications, "GATE_PROVIDERS", [])
    monkeypatch.setattr(release_applications, "REVIEW_STARTED_HOOKS", [])


@pytest.fixture
def staff2(db):
    return f.make_staff()


def signed_in(client, user):
    client.force_login(user)
    f.mark_reauthenticated(client, user)
    return client


# --- approve ---------------------------------------------------------------------------------------------


def test_approve_asks_for_a_fresh_authentication_first(framework, client, org, org_admin, staff):
    app = decision_pending(org, org_admin, staff)
    client.force_login(staff)
    url = reverse("certification:application-approve", args=[app.pk])
    for response in (client.get(url), client.post(url, {"confirmed": "1"})):
        assert response.status_code == 302 and response["Location"].startswith(REAUTHENTICATE)
    app.refresh_from_db()
    assert app.status == S.DECISION_PENDING and not Certificate.objects.exists()


def test_approve_on_tier_1_states_the_public_certificate_then_issues_it(framework, client, org, org_admin, staff):
    app = decision_pending(org, org_admin, staff)
    signed_in(client, staff)
    url = reverse("certification:application-approve", args=[app.pk])
    # The application page links to the confirmation; a POST without confirmation only leads there.
    assert f'href="{url}"' in client.get(reverse("certification:application-detail", args=[app.pk])).content.decode()
    assert client.post(url)["Location"] == url
    page = client.get(url).content.decode()
    assert "A public certificate is issued at once" in page
    assert "Approve and issue the certificate" in page and 'name="confirmed" value="1"' in page
    assert not Certificate.objects.exists()
    response = client.post(url, {"confirmed": "1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("certification:application-detail", args=[app.pk])
    app.refresh_from_db()
    assert app.status == S.CERTIFIED and Certificate.objects.filter(application=app).exists()


def test_four_eyes_on_tier_3_through_the_confirmation_pages(framework, client, org, org_admin, staff, staff2):
    app = decision_pending(org, org_admin, staff, **TIER3_FACTS)
    assert app.tier == 3
    url = reverse("certification:application-approve", args=[app.pk])
    signed_in(client, staff)
    page = client.get(url).content.decode()
    assert "approval 1 of the 2" in page and "No certificate is issued yet" in page
    assert "Record my approval" in page
    client.post(url, {"confirmed": "1"})
    app.refresh_from_db()
    assert app.status == S.DECISION_PENDING and not Certificate.objects.exists()
    # The same staff member cannot approve twice: the page says so and offers no button.
    page = client.get(url).content.decode()
    assert "You have already approved" in page and 'name="confirmed"' not in page
    client.post(url, {"confirmed": "1"})
    assert Decision.objects.filter(application=app, outcome="approve").count() == 1
    signed_in(client, staff2)
    page = client.get(url).content.decode()
    assert "last of the 2 approvals" in page and "A public certificate is issued at once" in page
    client.post(url, {"confirmed": "1"})
    app.refresh_from_db()
    assert app.status == S.CERTIFIED


# --- reject, suspend, revoke, appeal --------------------------------------------------------------------


def test_reject_shows_the_reasons_and_the_consequence_before_rejecting(framework, client, org, org_admin, staff):
    app = decision_pending(org, org_admin, staff)
    signed_in(client, staff)
    url = reverse("certification:application-reject", args=[app.pk])
    page = client.post(url, {"reject-reasons": "Benchmarks not reproducible."}).content.decode()
    assert "Benchmarks not reproducible." in page and "The organization can appeal once" in page
    assert 'name="reject-reasons" value="Benchmarks not reproducible."' in page
    app.refresh_from_db()
    assert app.status == S.DECISION_PENDING
    assert client.post(url, {"reject-reasons": "Benchmarks not reproducible.", "confirmed": "1"}).status_code == 302
    app.refresh_from_db()
    assert app.status == S.REJECTED
    assert app.decisions.get(outcome="reject").reasons == "Benchmarks not reproducible."


def test_reject_without_reasons_names_the_field(framework, client, org, org_admin, staff):
    app = decision_pending(org, org_admin, staff)
    signed_in(client, staff)
    response = client.post(reverse("certification:application-reject", args=[app.pk]),
                           {"reject-reasons": "", "confirmed": "1"})
    assert response.status_code == 200 and "Reasons" in response.content.decode()
    app.refresh_from_db()
    assert app.status == S.DECISION_PENDING


def test_suspend_needs_reauthentication_and_confirmation(framework, client, org, org_admin, staff):
    cert = certify(org, org_admin, staff)
    url = reverse("certification:certificate-suspend", args=[cert.number])
    client.force_login(staff)
    assert client.get(url)["Location"].startswith(REAUTHENTICATE)
    f.mark_reauthenticated(client, staff)
    page = client.post(url, {"reason": "Under investigation"}).content.decode()
    assert "answer “suspended” from the next request" in page
    cert.refresh_from_db()
    assert cert.status == Certificate.Status.VALID
    assert client.post(url, {"reason": "Under investigation", "confirmed": "1"}).status_code == 302
    cert.refresh_from_db()
    assert cert.status == Certificate.Status.SUSPENDED


def test_revocation_states_it_is_final(framework, client, org, org_admin, staff, staff2):
    cert = certify(org, org_admin, staff)
    url = reverse("certification:certificate-revoke", args=[cert.number])
    signed_in(client, staff)
    page = client.post(url, {"reason": "Fraud"}).content.decode()
    assert "revocation is final" in page and certificate_services.open_revocation(cert) is None
    client.post(url, {"reason": "Fraud", "confirmed": "1"})
    assert certificate_services.open_revocation(cert) is not None
    signed_in(client, staff2)
    page = client.get(url).content.decode()
    assert "Revocation is final" in page
    client.post(url, {"action": "something else"})
    cert.refresh_from_db()
    assert cert.status == Certificate.Status.VALID
    client.post(url, {"action": "confirm"})
    cert.refresh_from_db()
    assert cert.status == Certificate.Status.REVOKED


def test_granting_an_appeal_states_that_it_issues_the_certificate(framework, client, org, org_admin, staff, staff2):
    app = decision_pending(org, org_admin, staff)
    certificate_services.reject(app, staff, "Not reproducible.")
    appeal = certificate_appeals.file_appeal(app, org_admin, "We reran them.")
    url = reverse("certification:appeal-decide", args=[appeal.pk])
    client.force_login(staff2)
    assert client.get(url)["Location"].startswith(REAUTHENTICATE)
    f.mark_reauthenticated(client, staff2)
    page = client.post(url, {"outcome": "grant", "reasons": "Logs convince."}).content.decode()
    assert "a public certificate is issued at once" in page
    assert "Grant the appeal (certify)" in page  # the answer as chosen, not its code
    appeal.refresh_from_db()
    assert appeal.status == Appeal.Status.OPEN
    response = client.post(url, {"outcome": "grant", "reasons": "Logs convince.", "confirmed": "1"})
    assert response.status_code == 302
    appeal.refresh_from_db()
    assert appeal.status == Appeal.Status.GRANTED and Certificate.objects.filter(application=app).exists()


# --- post/redirect/get -----------------------------------------------------------------------------------


def test_filing_the_attestation_redirects_and_a_reload_does_not_file_again(framework, client, org, org_admin):
    release = make_release(org, org_admin)
    app = release_applications.start_application(release, org_admin)
    signed_in(client, org_admin)
    url = reverse("certification:application-attest", args=[app.pk])
    response = client.post(url, {"signer_name": "Ada Admin", "signer_title": "CTO",
                                 **{f"statement_{n}": "on" for n in (1, 2, 3, 6)}})
    assert response.status_code == 302 and response["Location"] == url + "?submitted=1"
    page = client.get(response["Location"])
    assert page.status_code == 200 and "Application submitted" in page.content.decode()
    assert app.revisions.count() == 1


def test_the_submitted_page_of_an_unsubmitted_application_sends_back_to_the_form(framework, client, org, org_admin):
    release = make_release(org, org_admin)
    app = release_applications.start_application(release, org_admin)
    client.force_login(org_admin)
    url = reverse("certification:application-attest", args=[app.pk])
    assert client.get(url + "?submitted=1")["Location"] == url


# --- labels tell the truth -------------------------------------------------------------------------------


def labels(html: str) -> dict[str, str]:
    """Each label's text (tags stripped), by the id of its field."""
    found = {}
    for for_id, text in re.findall(r'<label for="([^"]+)">(.*?)</label>', html, re.S):
        found[for_id] = re.sub(r"<[^>]+>", "", text).strip()
    return found


@pytest.mark.parametrize("section, field, label", [
    ("vulnerability_contact", "id_s-email", "Vulnerability contact email"),
    ("vulnerability_contact", "id_s-disclosure_policy_url", "Disclosure policy URL"),
    ("model_card", "id_s-intended_uses", "Intended uses"),
    ("compute", "id_s-energy_boundary", "Energy boundary"),
    ("training_data", "id_sources-0-license", "License"),
    ("license", "id_s-permitted_uses", "Permitted uses"),
])
@pytest.mark.parametrize("facts", [{}, TIER3_FACTS], ids=["tier1", "tier3"])
def test_fields_the_tier_needs_are_not_optional(framework, client, org, org_admin, section, field, label, facts):
    release = make_release(org, org_admin, fill=False, **facts)
    client.force_login(org_admin)
    html = client.get(reverse("certification:section-edit", args=[release.pk, section])).content.decode()
    assert labels(html)[field] == label


def test_tier_3_sections_are_needed_at_tier_3_and_optional_otherwise(framework, client, org, org_admin):
    tier1 = make_release(org, org_admin, fill=False)
    tier3 = make_release(org, org_admin, fill=False, version="2.0", **TIER3_FACTS)
    client.force_login(org_admin)

    def label_of(release):
        url = reverse("certification:section-edit", args=[release.pk, "access_instructions"])
        return labels(client.get(url).content.decode())["id_s-instructions"]

    assert label_of(tier3) == "How auditors and evaluators access the model"
    # Tier 1 needs no access instructions: the field says so.
    assert label_of(tier1) == "How auditors and evaluators access the model (optional)"


def test_conditional_fields_say_when_they_are_required(framework, client, org, org_admin):
    release = make_release(org, org_admin, fill=False)
    client.force_login(org_admin)
    html = client.get(reverse("certification:section-edit", args=[release.pk, "license"])).content.decode()
    found = labels(html)
    assert found["id_s-spdx_id"] == "SPDX license id (required unless you give a custom license name and link)"
    assert found["id_s-custom_url"] == "Custom license link (required with a custom license name)"
    assert "(optional)" not in " ".join(found.values())
    # ... and the form says so when the condition holds.
    response = client.post(reverse("certification:section-edit", args=[release.pk, "license"]),
                           {"s-custom_name": "Acme licence"})
    assert response.status_code == 200 and "Give the link to the custom license." in response.content.decode()


def test_emergent_description_is_required_when_emergent_capabilities_are_shown(framework):
    from certification.releases.forms import ReleaseForm

    rules = framework.rules
    form = ReleaseForm({"version": "1.0", "parameter_count": "7000000000", "emergent_capabilities": "on"},
                       rules=rules)
    assert not form.is_valid() and "emergent_description" in form.errors
    assert ReleaseForm({"version": "1.0", "parameter_count": "7000000000"}, rules=rules).is_valid()


def test_verify_form_field_is_required(client, db):
    html = client.get(reverse("certification:verify")).content.decode()
    assert "Certificate number, file sha256 or hub repository id" in html
    label = labels(html)["id_q"]
    assert "(optional)" not in label
    response = client.get(reverse("certification:verify"), {"q": ""})
    assert response.status_code == 200 and "This field is required." in response.content.decode()


@pytest.mark.parametrize("url_name", ["portal:staff-deadlines", "certification:screening-queue", "portal:audit-log",
                                      "certification:registry"])
def test_filter_forms_do_not_mark_every_field_optional(client, staff, url_name):
    """A filter narrows a list: every field is optional, so none says so."""
    client.force_login(staff)
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    found = labels(response.content.decode())
    assert found and not [label for label in found.values() if "(optional)" in label]
