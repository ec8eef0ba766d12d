"""Enrolment with conflict checks, and access to the review materials decided on each
request from stored times: before and after the close, after suspension and withdrawal."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from auditors.models import Affiliation
from certification.framework import services as framework_services
from certification.releases import applications
from certification.review import services as review_services
from certification.review.models import Enrolment
from tests import factories as f
from tests.certification.review_helpers import enrolled, in_review, vetted_evaluator


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


@pytest.fixture
def window(framework, org, org_admin, staff):
    return in_review(org, org_admin, staff).review_window


def test_vetted_evaluator_enrols(window):
    user = vetted_evaluator()
    enrolment = review_services.enrol(window, user)
    assert enrolment.accreditation == user.accreditations.get() and enrolment.confidentiality_accepted_at
    assert review_services.has_access(user, window)


def test_enrolment_refused_on_a_hard_conflict_with_the_reason(window, org):
    user = vetted_evaluator()
    Affiliation.objects.create(accreditation=user.accreditations.get(), organization=org,
                               organization_name=org.name, relation=Affiliation.Relation.EMPLOYMENT)
    with pytest.raises(framework_services.WorkflowError) as err:
        review_services.enrol(window, user)
    assert "Currently affiliated with Acme AI" in " ".join(err.value.errors["non_field_errors"])
    assert err.value.errors["conflicts"] == ["current_affiliation"]
    assert not Enrolment.objects.filter(window=window).exists()


def test_hard_conflict_cannot_be_overridden(window, org, staff):
    user = vetted_evaluator()
    acc = user.accreditations.get()
    Affiliation.objects.create(accreditation=acc, organization=org, organization_name=org.name,
                               relation=Affiliation.Relation.EQUITY)
    with pytest.raises(framework_services.WorkflowError):
        review_services.override_conflict(window, acc, staff, "financial_interest", "We trust them.")


def test_potential_conflict_blocks_until_staff_override_it(window, staff):
    # The world's organization members have example.org addresses.
    user = f.make_evaluator(email="researcher@example.org")
    with pytest.raises(framework_services.WorkflowError) as err:
        review_services.enrol(window, user)
    assert err.value.errors["conflicts"] == ["shared_email_domain"]
    review_services.override_conflict(window, user.accreditations.get(), staff, "shared_email_domain",
                             "A university alias shared with many unrelated people.")
    assert review_services.enrol(window, user).withdrawn_at is None


def test_enrolment_refused_when_the_window_is_closed(window):
    user = vetted_evaluator()
    with time_machine.travel(window.closes_at, tick=False), pytest.raises(framework_services.WorkflowError):
        review_services.enrol(window, user)


def test_suspended_or_unvetted_people_cannot_enrol(window, org_member):
    suspended = vetted_evaluator()
    suspended.accreditations.update(status="suspended")
    for user in (suspended, org_member):
        with pytest.raises(framework_services.WorkflowError):
            review_services.enrol(window, user)


def test_enrol_page_shows_the_conflict_and_refuses(client, window, org):
    user = vetted_evaluator()
    Affiliation.objects.create(accreditation=user.accreditations.get(), organization=org,
                               organization_name=org.name, relation=Affiliation.Relation.CONSULTING)
    client.force_login(user)
    url = reverse("certification:review-enrol", args=[window.pk])
    assert "Currently affiliated with Acme AI" in client.get(url).content.decode()
    response = client.post(url, {"confidentiality": "on"}, follow=True)
    assert "cannot be overridden" in response.content.decode()
    assert not Enrolment.objects.filter(window=window).exists()


# --- access decided on each request ----------------------------------------------------------------


def _page(client, window):
    return client.get(reverse("certification:review-window", args=[window.pk])).content.decode()


INSTRUCTIONS = "Request an API key at https://eval.example/access"


def test_access_instructions_only_while_enrolled_and_open(client, window):
    user = vetted_evaluator()
    client.force_login(user)
    assert INSTRUCTIONS not in _page(client, window)
    review_services.enrol(window, user)
    assert INSTRUCTIONS in _page(client, window)
    with time_machine.travel(window.closes_at - timedelta(seconds=1), tick=False):
        client.force_login(user)
        assert INSTRUCTIONS in _page(client, window)
    with time_machine.travel(window.closes_at, tick=False):
        # No sweep ran: the stored closing time alone ends access.
        client.force_login(user)
        assert INSTRUCTIONS not in _page(client, window)
        assert not review_services.has_access(user, window)
        assert client.get(reverse("review-api:window-materials", args=[window.pk])).status_code == 404


def test_suspension_ends_access_at_once(client, window):
    user = enrolled(window)
    client.force_login(user)
    assert client.get(reverse("review-api:window-materials", args=[window.pk])).status_code == 200
    user.accreditations.update(status="suspended")
    assert not review_services.has_access(user, window)
    # No longer vetted: the window page itself is gone.
    assert client.get(reverse("certification:review-window", args=[window.pk])).status_code == 404
    assert client.get(reverse("review-api:window-materials", args=[window.pk])).status_code == 404


def test_accreditation_expiry_ends_access(window):
    user = enrolled(window)
    valid_until = user.accreditations.get().valid_until
    with time_machine.travel(min(valid_until, window.closes_at) - timedelta(days=1), tick=False):
        assert review_services.has_access(user, window)
    user.accreditations.update(valid_until=window.opened_at + timedelta(days=3))
    with time_machine.travel(window.opened_at + timedelta(days=4), tick=False):
        assert not review_services.has_access(user, window)


def test_withdrawal_ends_access_and_reenrolment_restores_it(client, window):
    user = enrolled(window)
    review_services.withdraw_enrolment(window, user)
    assert not review_services.has_access(user, window)
    client.force_login(user)
    assert INSTRUCTIONS not in _page(client, window)
    review_services.enrol(window, user)
    assert review_services.has_access(user, window)


def test_enrolled_evaluator_downloads_evidence_only_while_open(client, window):
    user = enrolled(window)
    ev = window.application.release.evidence_files.first()
    url = reverse("certification:evidence-download", args=[ev.pk])
    client.force_login(user)
    assert client.get(url).status_code == 200
    with time_machine.travel(window.closes_at + timedelta(minutes=1), tick=False):
        client.force_login(user)
        assert client.get(url).status_code == 404


def test_evaluator_not_enrolled_cannot_download_evidence(client, window):
    client.force_login(vetted_evaluator())
    ev = window.application.release.evidence_files.first()
    assert client.get(reverse("certification:evidence-download", args=[ev.pk])).status_code == 404


def test_withdrawn_application_ends_the_review(client, window, org_admin):
    user = enrolled(window)
    applications.withdraw(window.application, org_admin)
    window.refresh_from_db()
    assert not window.is_open() and not review_services.has_access(user, window)
    client.force_login(user)
    assert "Model M" not in client.get(reverse("certification:review-windows")).content.decode()
