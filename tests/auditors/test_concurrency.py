"""Concurrent acceptances on PostgreSQL: the locked transaction gives one winner per seat."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from auditors.assignment import offers as assignment_offers
from auditors.models import Engagement
from certification.framework.services import WorkflowError
from tests.auditors.helpers import TIER4_BOTH, in_review_application, make_accredited_auditor

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def accept_all_at_once(offers) -> tuple[list, list]:
    barrier = threading.Barrier(len(offers))
    won, lost = [], []

    def run(offer):
        try:
            barrier.wait()
            won.append(assignment_offers.accept_offer(offer, offer.accreditation.user, confidentiality=True))
        except WorkflowError as exc:
            lost.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(offer,)) for offer in offers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return won, lost


def test_concurrent_accepts_fill_a_tier3_seat_once(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff)
    offers = [assignment_offers.send_offer(app, make_accredited_auditor(), staff) for _ in range(6)]
    won, lost = accept_all_at_once(offers)
    assert len(won) == 1 and len(lost) == 5
    assert Engagement.objects.current().filter(application=app).count() == 1


def test_two_auditors_of_the_same_domain_cannot_both_fill_tier4_seats(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff, **TIER4_BOTH)
    offers = [assignment_offers.send_offer(app, make_accredited_auditor(domains=["biology"]), staff) for _ in range(2)]
    won, lost = accept_all_at_once(offers)
    assert len(won) == 1 and len(lost) == 1 and "cybersecurity" in lost[0]
    assert Engagement.objects.current().filter(application=app).count() == 1


def test_concurrent_tier4_accepts_that_cover_each_other_fill_both_seats(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff, **TIER4_BOTH)
    offers = [assignment_offers.send_offer(app, make_accredited_auditor(domains=[d]), staff) for d in
              ("biology", "cybersecurity", "cybersecurity")]
    won, lost = accept_all_at_once(offers)
    assert len(won) == 2 and len(lost) == 1
    seats = sorted(Engagement.objects.current().filter(application=app).values_list("seat", flat=True))
    assert seats == [1, 2]


def test_one_auditor_accepting_many_offers_at_once_stays_within_capacity(framework, org, org_admin, staff):
    acc = make_accredited_auditor(capacity=2)
    offers = [assignment_offers.send_offer(in_review_application(org, org_admin, staff, version=f"v{i}"), acc, staff)
              for i in range(5)]
    won, lost = accept_all_at_once(offers)
    assert len(won) == 2 and len(lost) == 3
    assert Engagement.objects.active().filter(accreditation=acc).count() == 2
