"""Batch offers: the offers of a batch proposal go out one transaction per offer,
re-posting or racing staff never add a second open offer for a pair nor more open
offers than seats, and the batch page is a thin caller of the service."""

from __future__ import annotations

import threading

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.urls import reverse

from auditors.assignment import batch as assignment_batch
from auditors.assignment import offers as assignment_offers
from auditors.models import Offer
from certification.framework.services import WorkflowError
from portal.models import AuditEntry, Notification
from tests.auditors.helpers import engage, in_review_application, make_accredited_auditor

SEATS_TAKEN = "Every audit seat of this application already has an auditor or an open offer."
ALREADY_OFFERED = "This auditor already has an open offer for this application."


@pytest.fixture
def apps(framework, org, org_admin, staff):
    """Three Tier 3 applications in review, one seat each."""
    return [in_review_application(org, org_admin, staff, version=f"v{i}") for i in range(3)]


@pytest.fixture
def auditors(db):
    return [make_accredited_auditor(name=f"Batch Auditor {i}") for i in range(3)]


def proposed_pairs(apps) -> list[tuple[int, int]]:
    proposal = assignment_batch.propose_batch(apps)
    return [(app_id, acc) for app_id, accs in sorted(proposal.assignments.items()) for acc in accs]


def open_pairs() -> list[tuple[int, int]]:
    return sorted(Offer.objects.open().values_list("application_id", "accreditation_id"))


def test_sends_one_offer_per_proposed_pair_with_its_audit_entry_and_notification(apps, auditors, staff):
    pairs = proposed_pairs(apps)
    assert sorted(app_id for app_id, _acc in pairs) == sorted(a.pk for a in apps)

    result = assignment_offers.send_batch_offers(pairs, staff)

    assert result.skipped == []
    assert sorted((o.application_id, o.accreditation_id) for o in result.sent) == sorted(pairs)
    assert open_pairs() == sorted(pairs)
    assert all(o.sent_by_id == staff.pk for o in Offer.objects.all())
    assert AuditEntry.objects.filter(action="auditors.offer.sent").count() == len(pairs)
    offered_users = {a.user_id for a in auditors if any(acc == a.pk for _app, acc in pairs)}
    assert set(Notification.objects.filter(kind="offer-sent").values_list("user_id", flat=True)) == offered_users


def test_posting_the_same_proposal_twice_creates_no_duplicate_offer(apps, auditors, staff):
    pairs = proposed_pairs(apps)
    assignment_offers.send_batch_offers(pairs, staff)

    again = assignment_offers.send_batch_offers(pairs, staff)

    assert again.sent == []
    assert sorted((s.application_id, s.accreditation_id) for s in again.skipped) == sorted(pairs)
    assert {s.reason for s in again.skipped} == {ALREADY_OFFERED}
    assert Offer.objects.count() == len(pairs)
    assert AuditEntry.objects.filter(action="auditors.offer.sent").count() == len(pairs)


@pytest.mark.parametrize("taken_by", ["open offer", "engagement"])
def test_a_seat_filled_since_the_proposal_is_skipped_and_the_others_are_sent(apps, auditors, staff, taken_by):
    pairs = proposed_pairs(apps)
    stale_app = apps[0]
    # Another staff member fills the seat after this proposal was computed.
    other = make_accredited_auditor(name="Faster Auditor")
    if taken_by == "engagement":
        engage(stale_app, other, staff)
    else:
        assignment_offers.send_offer(stale_app, other, staff)

    result = assignment_offers.send_batch_offers(pairs, staff)

    assert [(s.application_id, s.reason) for s in result.skipped] == [(stale_app.pk, SEATS_TAKEN)]
    assert sorted(o.application_id for o in result.sent) == sorted(a.pk for a in apps[1:])
    assert Offer.objects.open().filter(application=stale_app).exclude(accreditation=other).count() == 0


def test_a_pair_refused_by_send_offer_is_skipped_with_its_message(apps, auditors, staff, monkeypatch):
    pairs = proposed_pairs(apps)
    refused = apps[1].pk
    real_send_offer = assignment_offers.send_offer

    def send_offer(app, acc, actor, **kwargs):
        if app.pk == refused:
            raise WorkflowError("Refused for this test.")
        return real_send_offer(app, acc, actor, **kwargs)

    monkeypatch.setattr(assignment_offers, "send_offer", send_offer)
    result = assignment_offers.send_batch_offers(pairs, staff)

    assert [(s.application_id, s.reason) for s in result.skipped] == [(refused, "Refused for this test.")]
    assert open_pairs() == sorted(p for p in pairs if p[0] != refused)


def test_an_error_on_one_pair_keeps_the_offers_sent_before_it_and_a_retry_completes(apps, auditors, staff,
                                                                                    monkeypatch):
    pairs = proposed_pairs(apps)
    broken = pairs[1][0]
    real_send_offer = assignment_offers.send_offer

    def send_offer(app, acc, actor, **kwargs):
        if app.pk == broken:
            raise RuntimeError("mail server down")
        return real_send_offer(app, acc, actor, **kwargs)

    monkeypatch.setattr(assignment_offers, "send_offer", send_offer)
    with pytest.raises(RuntimeError):
        assignment_offers.send_batch_offers(pairs, staff)
    # One transaction per offer: the first pair's offer is not rolled back with the failure.
    assert open_pairs() == [pairs[0]]

    monkeypatch.setattr(assignment_offers, "send_offer", real_send_offer)
    retry = assignment_offers.send_batch_offers(pairs, staff)
    assert [(s.application_id, s.reason) for s in retry.skipped] == [(pairs[0][0], ALREADY_OFFERED)]
    assert open_pairs() == sorted(pairs)


def test_only_staff_send_a_batch(apps, auditors, org_admin):
    with pytest.raises(WorkflowError):
        assignment_offers.send_batch_offers(proposed_pairs(apps), org_admin)
    assert not Offer.objects.exists()


def test_the_batch_page_post_goes_through_the_service(client, apps, auditors, staff, monkeypatch):
    pairs = proposed_pairs(apps)
    calls = []
    real_service = assignment_offers.send_batch_offers

    def spy(assignments, actor, request=None):
        calls.append((list(assignments), actor.pk, request is not None))
        return real_service(assignments, actor, request=request)

    monkeypatch.setattr(assignment_offers, "send_batch_offers", spy)
    assignment_offers.send_offer(apps[0], make_accredited_auditor(name="Faster Auditor"), staff)
    client.force_login(staff)
    values = [f"{a}:{acc}" for a, acc in pairs] + ["not-a-pair"]

    response = client.post(reverse("auditors:staff-batch"), {"assignment": values})

    assert response.status_code == 302 and response.url == reverse("auditors:staff-assignments")
    assert calls == [(pairs, staff.pk, True)]
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == [f"{len(pairs) - 1} offer(s) sent.", f"#{apps[0].pk}: {SEATS_TAKEN}"]

    again = client.post(reverse("auditors:staff-batch"), {"assignment": values}, follow=True)
    page = again.content.decode()
    assert "0 offer(s) sent." in page and ALREADY_OFFERED in page
    assert Offer.objects.open().count() == len(pairs)


# --- two staff members posting at once (PostgreSQL: SQLite has no row locks) -------------------------------


def post_all_at_once(batches, staff) -> list:
    barrier = threading.Barrier(len(batches))
    results = []

    def run(pairs):
        try:
            barrier.wait()
            results.append(assignment_offers.send_batch_offers(pairs, staff))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(pairs,)) for pairs in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_staff_posting_the_same_proposal_at_once_send_each_offer_once(apps, auditors, staff):
    pairs = proposed_pairs(apps)
    results = post_all_at_once([pairs, pairs], staff)
    assert len(results) == 2 and sum(len(r.sent) for r in results) == len(pairs)
    assert open_pairs() == sorted(pairs)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_staff_offering_one_seat_to_different_auditors_at_once_send_one_offer(apps, staff):
    app = apps[0]
    first, second = make_accredited_auditor(), make_accredited_auditor()
    results = post_all_at_once([[(app.pk, first.pk)], [(app.pk, second.pk)]], staff)
    assert sorted(len(r.sent) for r in results) == [0, 1]
    assert [s.reason for r in results for s in r.skipped] == [SEATS_TAKEN]
    assert Offer.objects.open().filter(application=app).count() == 1
