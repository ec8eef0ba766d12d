"""The first deadlines (DESIGN §2.4): "changes requested" (reminders to the
organization admins at T-30d and T-7d, lapse at 60 days) and the staff decision
(reminder to the owner at T-5d, escalation to every staff member at 10 days).
Time travels with time-machine; the sweep runs in-process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from certification.certificates import services as certificate_services
from certification.releases import applications
from certification.releases import services as release_services
from certification.releases.models import Application
from portal import deadlines
from portal.models import Deadline, Notification, ReminderClaim
from tests import factories as f
from tests.certification.factories import submitted_application

S = Application.Status
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REMINDER = "changes-requested-reminder"
LAPSED = "application-lapsed"


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"


@pytest.fixture
def traveller():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def sweep_at(traveller, when: datetime, times: int = 1) -> None:
    traveller.move_to(when)
    for _ in range(times):
        deadlines.sweep()


def notes(kind: str, user=None) -> int:
    qs = Notification.objects.filter(kind=kind)
    return (qs.filter(user=user) if user else qs).count()


@pytest.fixture
def second_admin(org):
    return f.MembershipFactory(organization=org, role="admin").user


@pytest.fixture
def changes_requested(traveller, framework, org, org_admin, second_admin, org_member, staff):
    """An application sent back for changes at T0: due at T0 + 60 days."""
    app = submitted_application(org, org_admin)
    applications.start_screening(app, staff)
    applications.request_changes(app, staff, {"model_card": "Describe the limitations in more detail."})
    assert app.status == S.CHANGES_REQUESTED
    return app


def test_changes_requested_opens_a_60_day_deadline(changes_requested):
    deadline = Deadline.objects.for_object(changes_requested).get(kind="changes_requested")
    assert deadline.due_at == T0 + timedelta(days=60)
    assert deadline.state == Deadline.State.OPEN


def test_reminders_at_t_minus_30_and_7_days_each_once(traveller, changes_requested, org_admin, second_admin,
                                                      org_member):
    due = T0 + timedelta(days=60)
    sweep_at(traveller, T0 + timedelta(days=29, hours=23), times=3)
    assert notes(REMINDER) == 0

    sweep_at(traveller, due - timedelta(days=30), times=3)
    assert notes(REMINDER, org_admin) == 1 and notes(REMINDER, second_admin) == 1
    assert notes(REMINDER, org_member) == 0  # admins only
    assert Notification.objects.get(kind=REMINDER, user=org_admin).subject.startswith("Reminder: 30 days left")

    for day in (31, 40, 52):
        sweep_at(traveller, T0 + timedelta(days=day), times=2)
    assert notes(REMINDER, org_admin) == 1

    sweep_at(traveller, due - timedelta(days=7), times=3)
    sweep_at(traveller, due - timedelta(days=1), times=3)
    assert notes(REMINDER, org_admin) == 2 and notes(REMINDER, second_admin) == 2
    deadline = Deadline.objects.for_object(changes_requested).get()
    assert sorted(ReminderClaim.objects.filter(deadline=deadline).values_list("reminder", flat=True)) == [
        "T-30d", "T-7d"]
    changes_requested.refresh_from_db()
    assert changes_requested.status == S.CHANGES_REQUESTED
    assert notes(LAPSED) == 0


def test_late_sweep_sends_only_the_latest_reminder(traveller, changes_requested, org_admin):
    due = T0 + timedelta(days=60)
    # The sweep did not run for 55 days: the stale T-30d reminder is skipped.
    sweep_at(traveller, due - timedelta(days=5), times=3)
    assert notes(REMINDER, org_admin) == 1
    note = Notification.objects.get(kind=REMINDER, user=org_admin)
    assert note.subject.startswith("Reminder: 7 days left")
    deadline = Deadline.objects.for_object(changes_requested).get()
    assert list(ReminderClaim.objects.filter(deadline=deadline).values_list("reminder", flat=True)) == ["T-7d"]


def test_application_lapses_at_60_days(traveller, changes_requested, org_admin, second_admin):
    due = T0 + timedelta(days=60)
    sweep_at(traveller, due - timedelta(minutes=1))
    changes_requested.refresh_from_db()
    assert changes_requested.status == S.CHANGES_REQUESTED

    sweep_at(traveller, due + timedelta(minutes=1), times=3)
    changes_requested.refresh_from_db()
    assert changes_requested.status == S.LAPSED
    assert notes(LAPSED, org_admin) == 1 and notes(LAPSED, second_admin) == 1
    assert changes_requested.transitions.filter(to_status=S.LAPSED).count() == 1
    assert Deadline.objects.for_object(changes_requested).get().state == Deadline.State.PASSED
    # A lapsed application is closed: the release can start a new one.
    assert release_services.editable_application(changes_requested.release) is None


def test_resubmitting_before_the_deadline_closes_it(traveller, changes_requested, org_admin):
    sweep_at(traveller, T0 + timedelta(days=30))
    assert notes(REMINDER, org_admin) == 1
    traveller.move_to(T0 + timedelta(days=40))
    applications.submit_application(changes_requested, org_admin, signer_name="Ada", signer_title="CTO",
                                affirmed=[1, 2, 3, 6])
    deadline = Deadline.objects.for_object(changes_requested).get()
    assert deadline.state == Deadline.State.DONE and deadline.next_action_at is None

    for day in (53, 59, 61, 90):
        sweep_at(traveller, T0 + timedelta(days=day), times=2)
    changes_requested.refresh_from_db()
    assert changes_requested.status == S.SUBMITTED
    assert notes(REMINDER, org_admin) == 1  # no T-7d reminder after the resubmission
    assert notes(LAPSED) == 0


def test_a_second_change_request_gets_a_fresh_deadline(traveller, changes_requested, org_admin, staff):
    sweep_at(traveller, T0 + timedelta(days=30))
    traveller.move_to(T0 + timedelta(days=40))
    applications.submit_application(changes_requested, org_admin, signer_name="Ada", signer_title="CTO",
                                affirmed=[1, 2, 3, 6])
    applications.start_screening(changes_requested, staff)
    applications.request_changes(changes_requested, staff, {"license": "Link the custom license."})
    fresh = Deadline.objects.for_object(changes_requested).get(state=Deadline.State.OPEN)
    assert fresh.due_at == T0 + timedelta(days=100)
    sweep_at(traveller, T0 + timedelta(days=70))  # T-30d of the new deadline
    assert notes(REMINDER, org_admin) == 2
    sweep_at(traveller, T0 + timedelta(days=101))
    changes_requested.refresh_from_db()
    assert changes_requested.status == S.LAPSED


# --- staff decision ----------------------------------------------------------------------------


@pytest.fixture
def decision_pending(traveller, framework, org, org_admin, staff):
    app = submitted_application(org, org_admin)
    applications.start_screening(app, staff)
    applications.accept_into_review(app, staff)
    applications.complete_review(app, staff)
    app.refresh_from_db()
    assert app.status == S.DECISION_PENDING and app.owner == staff
    return app


def test_staff_decision_reminds_the_owner_at_t_minus_5_days(traveller, decision_pending, staff):
    other_staff = f.make_staff(mfa=False)
    due = T0 + timedelta(days=10)
    assert Deadline.objects.for_object(decision_pending).get(kind="staff_decision").due_at == due
    sweep_at(traveller, due - timedelta(days=5, minutes=1), times=2)
    assert notes("decision-reminder") == 0
    sweep_at(traveller, due - timedelta(days=5), times=3)
    sweep_at(traveller, due - timedelta(days=1), times=2)
    assert notes("decision-reminder", staff) == 1
    assert notes("decision-reminder", other_staff) == 0
    assert notes("decision-overdue") == 0


def test_staff_decision_escalates_to_every_staff_member_after_10_days(traveller, decision_pending, staff, org_admin):
    other_staff = f.make_staff(mfa=False)
    sweep_at(traveller, T0 + timedelta(days=10, minutes=1), times=3)
    sweep_at(traveller, T0 + timedelta(days=20), times=2)
    assert notes("decision-overdue", staff) == 1
    assert notes("decision-overdue", other_staff) == 1
    assert notes("decision-overdue", org_admin) == 0
    decision_pending.refresh_from_db()
    assert decision_pending.status == S.DECISION_PENDING  # escalation, not a transition


def test_a_decision_in_time_closes_the_staff_deadline(traveller, decision_pending, staff):
    traveller.move_to(T0 + timedelta(days=3))
    certificate_services.approve(decision_pending, staff)
    assert decision_pending.status == S.CERTIFIED
    sweep_at(traveller, T0 + timedelta(days=6))
    sweep_at(traveller, T0 + timedelta(days=11))
    assert notes("decision-reminder") == 0 and notes("decision-overdue") == 0
