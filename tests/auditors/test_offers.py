"""Offers: the 5-day acceptance deadline with reminders, expiry and the next
offer, declines with a reason, and the checks made when accepting."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from auditors import services as auditor_services
from auditors.assignment import offers as assignment_offers
from auditors.models import ConflictRecord, Engagement, Offer
from certification.framework.services import WorkflowError
from portal import deadlines
from portal.models import AuditEntry, Deadline, Notification
from tests.auditors.helpers import TIER4_BOTH, engage, in_review_application, make_accredited_auditor


@pytest.fixture
def app(framework, org, org_admin, staff):
    return in_review_application(org, org_admin, staff)


def kinds(user) -> list[str]:
    return list(Notification.objects.filter(user=user).order_by("id").values_list("kind", flat=True))


def test_review_start_asks_the_owner_to_assign_auditors(app, staff):
    assert "engagement-assignment-needed" in kinds(staff)


def test_offer_expires_after_five_days_with_reminders_and_passes_to_the_next_auditor(app, staff):
    first = make_accredited_auditor(name="Anna")
    second = make_accredited_auditor(name="Bert")
    offer = assignment_offers.send_offer(app, first, staff)
    assert (offer.expires_at - offer.sent_at) == timedelta(days=5)
    assert Deadline.objects.for_object(offer).get().kind == "offer_acceptance"
    for days_before in (2, 1):
        with time_machine.travel(offer.expires_at - timedelta(days=days_before) + timedelta(minutes=1), tick=False):
            deadlines.sweep()
            deadlines.sweep()
    assert kinds(first.user).count("offer-reminder") == 2
    with time_machine.travel(offer.expires_at + timedelta(minutes=1), tick=False):
        deadlines.sweep()
        # Accepting after the deadline is refused even before a sweep would have run.
    offer.refresh_from_db()
    assert offer.status == Offer.Status.EXPIRED
    assert "offer-expired" in kinds(first.user)
    nxt = Offer.objects.get(accreditation=second)
    assert nxt.status == Offer.Status.OPEN and "offer-sent" in kinds(second.user)
    with pytest.raises(WorkflowError):
        assignment_offers.accept_offer(offer, first.user, confidentiality=True)


def test_an_offer_past_its_time_cannot_be_accepted_before_the_sweep(app, staff):
    acc = make_accredited_auditor()
    offer = assignment_offers.send_offer(app, acc, staff)
    with time_machine.travel(offer.expires_at + timedelta(seconds=1), tick=False):
        with pytest.raises(WorkflowError, match="expired"):
            assignment_offers.accept_offer(offer, acc.user, confidentiality=True)


def test_staff_are_told_when_no_eligible_auditor_is_left(app, staff):
    only = make_accredited_auditor()
    offer = assignment_offers.send_offer(app, only, staff)
    with time_machine.travel(offer.expires_at + timedelta(minutes=1), tick=False):
        deadlines.sweep()
    assert "offer-none-left" in kinds(staff)
    assert AuditEntry.objects.filter(action="auditors.offer.none_left").exists()


def test_decline_with_a_reason_sends_the_next_offer(app, staff):
    first = make_accredited_auditor(name="Anna")
    second = make_accredited_auditor(name="Bert")
    offer = assignment_offers.send_offer(app, first, staff)
    with pytest.raises(WorkflowError):
        assignment_offers.decline_offer(offer, first.user, "because")
    with pytest.raises(WorkflowError):
        assignment_offers.decline_offer(offer, first.user, Offer.DeclineReason.OTHER, "")
    assignment_offers.decline_offer(offer, first.user, Offer.DeclineReason.OUT_OF_EXPERTISE)
    offer.refresh_from_db()
    assert offer.status == Offer.Status.DECLINED and offer.decline_reason == "out_of_expertise"
    assert Offer.objects.open().get().accreditation == second
    assert not Deadline.objects.for_object(offer).open().exists()


def test_declining_for_a_conflict_records_it(app, staff):
    acc = make_accredited_auditor()
    offer = assignment_offers.send_offer(app, acc, staff)
    assignment_offers.decline_offer(offer, acc.user, Offer.DeclineReason.CONFLICT, "I advised them last month.")
    record = ConflictRecord.objects.get()
    assert record.kind == ConflictRecord.Kind.DECLARED and "advised" in record.reason
    with pytest.raises(WorkflowError):
        assignment_offers.send_offer(app, acc, staff)


def test_only_the_offered_auditor_can_answer(app, staff, auditor):
    acc = make_accredited_auditor()
    offer = assignment_offers.send_offer(app, acc, staff)
    with pytest.raises(WorkflowError):
        assignment_offers.accept_offer(offer, auditor, confidentiality=True)
    with pytest.raises(WorkflowError):
        assignment_offers.decline_offer(offer, auditor, Offer.DeclineReason.NO_CAPACITY)


def test_accepting_requires_the_confidentiality_terms_and_records_them(app, staff):
    acc = make_accredited_auditor()
    offer = assignment_offers.send_offer(app, acc, staff)
    with pytest.raises(WorkflowError) as err:
        assignment_offers.accept_offer(offer, acc.user, confidentiality=False)
    assert "confidentiality" in err.value.errors
    engagement = assignment_offers.accept_offer(offer, acc.user, confidentiality=True)
    offer.refresh_from_db()
    assert offer.status == Offer.Status.ACCEPTED and offer.confidentiality_accepted_at is not None
    assert engagement.seat == 1 and engagement.status == Engagement.Status.ACTIVE
    entry = AuditEntry.objects.get(action="auditors.offer.accepted")
    assert entry.payload["confidentiality_accepted_at"]


def test_a_filled_seat_cannot_be_taken_twice_and_other_offers_are_withdrawn(app, staff):
    a, b = make_accredited_auditor(), make_accredited_auditor()
    offer_a, offer_b = assignment_offers.send_offer(app, a, staff), assignment_offers.send_offer(app, b, staff)
    assignment_offers.accept_offer(offer_a, a.user, confidentiality=True)
    offer_b.refresh_from_db()
    assert offer_b.status == Offer.Status.WITHDRAWN
    with pytest.raises(WorkflowError):
        assignment_offers.accept_offer(offer_b, b.user, confidentiality=True)
    assert Engagement.objects.filter(application=app).count() == 1
    with pytest.raises(WorkflowError, match="filled"):
        assignment_offers.send_offer(app, make_accredited_auditor(), staff)


def test_accepting_never_exceeds_capacity(framework, org, org_admin, staff):
    acc = make_accredited_auditor(capacity=1)
    one = in_review_application(org, org_admin, staff, version="1")
    two = in_review_application(org, org_admin, staff, version="2")
    offer_one, offer_two = assignment_offers.send_offer(one, acc, staff), assignment_offers.send_offer(two, acc, staff)
    assignment_offers.accept_offer(offer_one, acc.user, confidentiality=True)
    with pytest.raises(WorkflowError, match="capacity"):
        assignment_offers.accept_offer(offer_two, acc.user, confidentiality=True)
    assert Engagement.objects.active().filter(accreditation=acc).count() == 1


def test_two_auditors_covering_the_same_domain_cannot_fill_both_tier4_seats(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff, version="4.0", **TIER4_BOTH)
    bio1 = make_accredited_auditor(domains=["biology"])
    bio2 = make_accredited_auditor(domains=["biology"])
    o1, o2 = assignment_offers.send_offer(app, bio1, staff), assignment_offers.send_offer(app, bio2, staff)
    assignment_offers.accept_offer(o1, bio1.user, confidentiality=True)
    with pytest.raises(WorkflowError, match="cybersecurity"):
        assignment_offers.accept_offer(o2, bio2.user, confidentiality=True)
    cyber = make_accredited_auditor(domains=["cybersecurity"])
    engagement = engage(app, cyber, staff)
    assert engagement.seat == 2


def test_a_suspended_auditor_cannot_accept_and_its_offers_move_on(app, staff):
    first, second = make_accredited_auditor(name="A"), make_accredited_auditor(name="B")
    offer = assignment_offers.send_offer(app, first, staff)
    auditor_services.suspend_accreditation(first, staff, "Complaint under review.")
    offer.refresh_from_db()
    assert offer.status == Offer.Status.WITHDRAWN
    assert Offer.objects.open().get().accreditation == second


def test_reassignment_offers_the_seat_to_the_next_auditor(app, staff):
    first, second = make_accredited_auditor(name="A"), make_accredited_auditor(name="B")
    engagement = engage(app, first, staff)
    with pytest.raises(WorkflowError):
        assignment_offers.reassign(engagement, staff, "")
    assignment_offers.reassign(engagement, staff, "Stopped answering.")
    engagement.refresh_from_db()
    assert engagement.status == Engagement.Status.ENDED
    assert Offer.objects.open().get().accreditation == second
    assert "engagement-ended" in kinds(first.user)


def test_initial_offers_go_to_the_proposal(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff, version="4.0", **TIER4_BOTH)
    bio = make_accredited_auditor(domains=["biology"])
    cyber = make_accredited_auditor(domains=["cybersecurity"])
    offers = assignment_offers.send_initial_offers(app, staff)
    assert {o.accreditation_id for o in offers} == {bio.pk, cyber.pk}
