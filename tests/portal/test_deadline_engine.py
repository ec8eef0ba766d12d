"""The deadline engine (DESIGN §2.4): reminders at their offsets, each once; the
transition when the deadline passes; numbered overdue notices; late sweeps send
only the latest reminder; concurrent sweeps on PostgreSQL act once; emails of a
sweep batch are published in a few messages; the due query is an index scan.

Engine mechanics use fake kinds registered here (their target is a user, who is
notified); the real certification kinds run through the same walk at the end.
Time travels with time-machine; the sweep runs in-process.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType
from django.db import connection, connections, transaction

from certification.releases import applications
from portal import deadlines, tasks
from portal.deadlines import DeadlineKind
from portal.models import Deadline, Notification, OutboxEmail, ReminderClaim, User
from portal.notifications import notify
from tests import factories as f

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
calls: list[tuple[str, int, str]] = []


def _remind(deadline, user, offset):
    calls.append(("reminder", deadline.pk, deadlines.reminder_key(offset)))
    notify(user, "test", {"message": f"reminder {deadlines.reminder_key(offset)} of deadline {deadline.pk}"})


def _due(deadline, user):
    calls.append(("due", deadline.pk, ""))
    notify(user, "test", {"message": f"deadline {deadline.pk} passed"})


def _overdue(deadline, user, repeat):
    calls.append(("overdue", deadline.pk, str(repeat)))
    notify(user, "test", {"message": f"overdue notice {repeat} of deadline {deadline.pk}"})


FAKE = deadlines.register(DeadlineKind("test_fake", (7 * DAY, 2 * DAY), _remind, _due))
FAKE_REPEATING = deadlines.register(
    DeadlineKind("test_fake_repeating", (2 * DAY,), _remind, _due, repeat_every=3 * DAY, on_overdue=_overdue)
)


def _explode(deadline, user, offset):
    raise RuntimeError("handler bug")


EXPLODING = deadlines.register(DeadlineKind("test_fake_exploding", (DAY,), _explode, _due))


@pytest.fixture(autouse=True)
def _reset_calls():
    calls.clear()


@pytest.fixture
def traveller():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def queued(monkeypatch):
    """What enqueue_delivery hands to Celery, one list of outbox ids per broker message."""
    messages: list[list[int]] = []
    monkeypatch.setattr(tasks.deliver_outbox, "delay", lambda ids: messages.append(list(ids)))
    return messages


def sweep_at(traveller, when: datetime, times: int = 2) -> None:
    traveller.move_to(when)
    for _ in range(times):
        deadlines.sweep()


def claims(deadline: Deadline) -> list[tuple[str, int]]:
    return list(deadline.claims.order_by("id").values_list("reminder", "repeat"))


# --- offsets, once each, the transition ---------------------------------------------------


def test_reminders_go_out_at_their_offsets_each_exactly_once_then_the_transition(traveller):
    user = f.UserFactory()
    d = deadlines.open_deadline(user, "test_fake", T0 + 10 * DAY)
    due = d.due_at
    assert d.next_action_at == due - 7 * DAY  # the first reminder, not the due time

    sweep_at(traveller, due - 7 * DAY - timedelta(minutes=1))
    assert calls == []
    sweep_at(traveller, due - 7 * DAY)
    assert calls == [("reminder", d.pk, "T-7d")]
    sweep_at(traveller, due - 3 * DAY)
    assert len(calls) == 1
    sweep_at(traveller, due - 2 * DAY + timedelta(hours=1))
    assert calls[-1] == ("reminder", d.pk, "T-2d") and len(calls) == 2
    sweep_at(traveller, due - timedelta(seconds=1))
    assert len(calls) == 2

    sweep_at(traveller, due)
    assert calls[-1] == ("due", d.pk, "") and len(calls) == 3
    d.refresh_from_db()
    assert d.state == Deadline.State.PASSED
    assert d.next_action_at is None  # nothing repeats: the row leaves the sweep's index
    assert claims(d) == [("T-7d", 0), ("T-2d", 0), ("due", 0)]
    assert Notification.objects.filter(user=user).count() == 3

    sweep_at(traveller, due + 30 * DAY)
    assert len(calls) == 3


def test_overdue_notices_repeat_with_their_number(traveller):
    user = f.UserFactory()
    d = deadlines.open_deadline(user, "test_fake_repeating", T0 + 5 * DAY)
    due = d.due_at
    sweep_at(traveller, due)
    sweep_at(traveller, due + 3 * DAY - timedelta(minutes=1))
    sweep_at(traveller, due + 3 * DAY)
    sweep_at(traveller, due + 4 * DAY)
    sweep_at(traveller, due + 6 * DAY)
    assert [c for c in calls if c[0] != "reminder"] == [
        ("due", d.pk, ""), ("overdue", d.pk, "1"), ("overdue", d.pk, "2")
    ]
    assert claims(d) == [("due", 0), ("overdue", 1), ("overdue", 2)]
    d.refresh_from_db()
    assert d.state == Deadline.State.PASSED and d.next_action_at == due + 9 * DAY


def test_closing_the_deadline_stops_the_overdue_notices(traveller):
    user = f.UserFactory()
    d = deadlines.open_deadline(user, "test_fake_repeating", T0 + 5 * DAY)
    sweep_at(traveller, d.due_at + 3 * DAY)
    assert deadlines.close_deadlines(user, "test_fake_repeating") == 1
    sweep_at(traveller, d.due_at + 30 * DAY)
    assert [c[0] for c in calls] == ["due"]  # the late sweep at +3d did the transition only
    d.refresh_from_db()
    assert d.state == Deadline.State.DONE and d.next_action_at is None


# --- late sweeps ------------------------------------------------------------------------------


def test_a_late_sweep_sends_only_the_latest_reminder(traveller):
    user = f.UserFactory()
    d = deadlines.open_deadline(user, "test_fake", T0 + 10 * DAY)
    # The sweep did not run for a week: T-7d and T-2d have both come.
    sweep_at(traveller, d.due_at - DAY)
    assert calls == [("reminder", d.pk, "T-2d")]
    assert claims(d) == [("T-2d", 0)]
    sweep_at(traveller, d.due_at - timedelta(minutes=1))
    assert len(calls) == 1  # the stale T-7d is never sent


def test_a_late_sweep_after_the_due_time_transitions_without_a_burst_of_overdue_notices(traveller):
    user = f.UserFactory()
    d = deadlines.open_deadline(user, "test_fake_repeating", T0 + 5 * DAY)
    sweep_at(traveller, d.due_at + 10 * DAY)  # repeats 1, 2 and 3 have all come
    assert [c[0] for c in calls] == ["due"]
    d.refresh_from_db()
    assert d.next_action_at == d.due_at + 12 * DAY
    sweep_at(traveller, d.due_at + 12 * DAY)
    assert calls[-1] == ("overdue", d.pk, "4")  # numbered by the time elapsed


def test_moving_the_due_time_keeps_sent_reminders_sent(traveller):
    user = f.UserFactory()
    d = deadlines.open_deadline(user, "test_fake", T0 + 10 * DAY)
    sweep_at(traveller, d.due_at - 7 * DAY)
    deadlines.open_deadline(user, "test_fake", T0 + 12 * DAY)  # extended by two days
    sweep_at(traveller, T0 + 12 * DAY - 7 * DAY)
    assert [c for c in calls if c[0] == "reminder"] == [("reminder", d.pk, "T-7d")]


# --- robustness ---------------------------------------------------------------------------


def test_a_failing_handler_rolls_back_its_claim_and_does_not_hold_up_the_others(traveller):
    bad_user, good_user = f.UserFactory(), f.UserFactory()
    bad = deadlines.open_deadline(bad_user, "test_fake_exploding", T0 + 2 * DAY)
    good = deadlines.open_deadline(good_user, "test_fake", T0 + 3 * DAY)
    traveller.move_to(T0 + 1 * DAY + timedelta(hours=1))
    result = deadlines.sweep()
    assert result.failed == 1
    assert claims(bad) == []  # rolled back with the handler: it will be tried again
    assert claims(good) == [("T-2d", 0)]
    bad.refresh_from_db()
    assert bad.next_action_at == T0 + DAY + timedelta(hours=1) + deadlines.FAILED_ACTION_RETRY


def test_a_deadline_of_an_unregistered_kind_is_kept_and_looked_at_later(traveller):
    user = f.UserFactory()
    d = Deadline.objects.create(content_type=ContentType.objects.get_for_model(User), object_id=user.pk,
                                kind="kind_not_loaded_here", due_at=T0 + DAY, next_action_at=T0)
    deadlines.sweep()
    d.refresh_from_db()
    assert d.state == Deadline.State.OPEN
    assert d.next_action_at == T0 + deadlines.UNKNOWN_KIND_RETRY


def test_a_deadline_whose_object_was_deleted_is_cancelled(traveller):
    user = f.UserFactory()
    d = deadlines.open_deadline(user, "test_fake", T0 + DAY)
    pk = user.pk
    User.objects.filter(pk=pk).delete()
    sweep_at(traveller, T0 + 2 * DAY)
    d.refresh_from_db()
    assert d.state == Deadline.State.CANCELLED and d.next_action_at is None and calls == []


# --- batched email dispatch ---------------------------------------------------------------


def _bulk_due(n: int, kind: str = "test_fake", due_at: datetime | None = None, prefix: str = "bulk") -> list[User]:
    users = User.objects.bulk_create([User(email=f"{prefix}{i}@example.org") for i in range(n)])
    ct = ContentType.objects.get_for_model(User)
    due_at = due_at or T0 + DAY  # T-2d has come at T0
    Deadline.objects.bulk_create([
        Deadline(content_type=ct, object_id=u.pk, kind=kind, due_at=due_at, next_action_at=T0 - DAY) for u in users
    ])
    return users


def test_a_sweep_publishes_its_emails_in_batches_of_500_not_one_message_each(
    traveller, queued, django_capture_on_commit_callbacks
):
    _bulk_due(1100)
    with django_capture_on_commit_callbacks(execute=True):
        result = deadlines.sweep()
    assert len(result.actions) == 1100 and result.batches == 3
    assert OutboxEmail.objects.count() == 1100
    # One message per committed batch (500 + 500 + 100), each listing every id once.
    assert [len(m) for m in queued] == [500, 500, 100]
    assert sorted(i for m in queued for i in m) == sorted(OutboxEmail.objects.values_list("id", flat=True))


def test_batched_delivery_splits_one_big_notify_into_chunks(queued, django_capture_on_commit_callbacks):
    from portal.notifications import batched_delivery

    users = User.objects.bulk_create([User(email=f"many{i}@example.org") for i in range(1201)])
    with django_capture_on_commit_callbacks(execute=True):
        with batched_delivery(), transaction.atomic():
            notify(users, "test", {"message": "x"})
    assert [len(m) for m in queued] == [500, 500, 201]


def test_nothing_is_published_for_a_batch_that_rolled_back(queued, django_capture_on_commit_callbacks):
    from portal.notifications import batched_delivery

    user = f.UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), batched_delivery(), transaction.atomic():
            notify(user, "test", {"message": "x"})
            raise RuntimeError("rollback")
    assert queued == [] and OutboxEmail.objects.count() == 0


# --- PostgreSQL: concurrency and the query plan --------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_the_same_time_send_each_reminder_once(monkeypatch):
    monkeypatch.setattr(tasks.deliver_outbox, "delay", lambda ids: None)
    with time_machine.travel(T0, tick=False):
        _bulk_due(600)
    start = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            start.wait()
            results.append(deadlines.sweep(T0, batch_size=50))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sum(len(r.actions) for r in results) == 600
    assert all(r.actions for r in results), "both sweeps should have shared the work"
    assert ReminderClaim.objects.count() == 600
    assert Notification.objects.count() == 600
    assert OutboxEmail.objects.values("notification__user").distinct().count() == 600


@pytest.mark.postgres
def test_the_due_query_is_an_index_scan_whose_cost_follows_what_is_due():
    user = f.UserFactory()
    ct = ContentType.objects.get_for_model(User)
    with connection.cursor() as cur:
        # 50,000 rows not due (next action within the year) and 100 due.
        cur.execute(
            """INSERT INTO portal_deadline (content_type_id, object_id, kind, due_at, state, next_action_at, created_at)
               SELECT %s, %s, 'test_fake', now() + (g || ' minutes')::interval + interval '1 day', 'open',
                      now() + (g || ' minutes')::interval, now()
               FROM generate_series(1, 50000) g""", [ct.pk, user.pk])
        cur.execute(
            """INSERT INTO portal_deadline (content_type_id, object_id, kind, due_at, state, next_action_at, created_at)
               SELECT %s, %s, 'test_fake', now() + interval '1 day', 'open', now() - interval '1 hour', now()
               FROM generate_series(1, 100) g""", [ct.pk, user.pk])
        cur.execute("ANALYZE portal_deadline")
    from django.utils import timezone

    with transaction.atomic():
        plan = deadlines.due_batch(timezone.now(), 500).explain()
    assert "Index Scan using deadline_next_action" in plan, plan
    assert "Seq Scan" not in plan, plan


# --- the real certification kinds through the same walk ----------------------------------


def walk(traveller, deadline: Deadline) -> list[tuple[str, int]]:
    """Sweep (twice each time) just before and at every reminder and at the due time;
    return the claims in order."""
    kind = deadlines.get_kind(deadline.kind)
    moments = sorted({deadline.due_at - off for off in kind.reminders} | {deadline.due_at})
    for moment in moments:
        sweep_at(traveller, moment - timedelta(minutes=1))
        sweep_at(traveller, moment)
    return claims(deadline)


@pytest.fixture
def certification_world(traveller, org, org_admin, staff):
    from certification.framework.models import Benchmark, FrameworkVersion
    from certification.framework.seed import seed_framework

    seed_framework(FrameworkVersion, Benchmark)
    return org


def test_changes_requested_runs_through_the_engine(traveller, certification_world, org_admin, staff, settings,
                                                   tmp_path):
    from certification.releases.models import Application
    from tests.certification.factories import submitted_application

    settings.PRIVATE_STORAGE_ROOT = tmp_path
    app = submitted_application(certification_world, org_admin)
    applications.start_screening(app, staff)
    applications.request_changes(app, staff, {"model_card": "More detail."})
    d = Deadline.objects.for_object(app).get(kind="changes_requested")
    assert walk(traveller, d) == [("T-30d", 0), ("T-7d", 0), ("due", 0)]
    assert Notification.objects.filter(user=org_admin, kind="changes-requested-reminder").count() == 2
    app.refresh_from_db()
    assert app.status == Application.Status.LAPSED


def test_staff_decision_runs_through_the_engine(traveller, certification_world, org_admin, staff, settings, tmp_path):
    from tests.certification.factories import submitted_application

    settings.PRIVATE_STORAGE_ROOT = tmp_path
    app = submitted_application(certification_world, org_admin)
    applications.start_screening(app, staff)
    applications.accept_into_review(app, staff)
    applications.complete_review(app, staff)
    d = Deadline.objects.for_object(app).get(kind="staff_decision")
    assert walk(traveller, d) == [("T-5d", 0), ("due", 0)]
    assert Notification.objects.filter(user=staff, kind="decision-reminder").count() == 1
    assert Notification.objects.filter(user=staff, kind="decision-overdue").count() == 1


# --- the staff page ---------------------------------------------------------------------


def test_staff_page_lists_upcoming_and_overdue_deadlines_with_filters(client_for, staff, traveller):
    a, b, c = f.UserFactory(name="Ada Quux"), f.UserFactory(name="Bob Zorn"), f.UserFactory(name="Cyd Wemp")
    deadlines.open_deadline(a, "test_fake", T0 + 10 * DAY)
    deadlines.open_deadline(b, "test_fake_repeating", T0 - DAY)
    deadlines.open_deadline(c, "test_fake", T0 + 5 * DAY)
    deadlines.close_deadlines(c, "test_fake")
    client = client_for(staff)

    page = client.get("/staff/deadlines/").content.decode()
    assert "Ada Quux" in page and "Bob Zorn" in page and "Cyd Wemp" not in page
    assert page.index("Bob Zorn") < page.index("Ada Quux")  # soonest first
    assert "Overdue" in page

    page = client.get("/staff/deadlines/?state=overdue").content.decode()
    assert "Bob Zorn" in page and "Ada Quux" not in page
    page = client.get("/staff/deadlines/?state=upcoming&kind=test_fake").content.decode()
    assert "Ada Quux" in page and "Bob Zorn" not in page
    page = client.get("/staff/deadlines/?state=closed").content.decode()
    assert "Cyd Wemp" in page and "Ada Quux" not in page


def test_staff_page_links_to_the_application(client_for, staff, traveller, certification_world, org_admin, settings,
                                             tmp_path):
    from tests.certification.factories import submitted_application

    settings.PRIVATE_STORAGE_ROOT = tmp_path
    app = submitted_application(certification_world, org_admin)
    applications.start_screening(app, staff)
    applications.request_changes(app, staff, {"model_card": "More detail."})
    page = client_for(staff).get("/staff/deadlines/?kind=changes_requested").content.decode()
    assert f'href="/applications/{app.pk}/"' in page
    assert "Changes requested by staff" in page


def test_staff_page_queries_do_not_grow_with_the_rows(client_for, staff, traveller, django_assert_max_num_queries):
    client = client_for(staff)
    _bulk_due(3)
    client.get("/staff/deadlines/")  # warm the session and content type caches
    _bulk_due(40, prefix="more")
    # 1 session, 2 user, 3 staff group, 4 MFA enrolment, 5 unread notifications (site chrome),
    # 6 past-due rows of kinds that say whether their object still waits (none here: their objects
    # would be one query per kind of object), 7 count, 8 page of deadlines, 9 their objects (one query
    # per kind of object, here users).
    with django_assert_max_num_queries(9):
        response = client.get("/staff/deadlines/")
    assert response.content.decode().count("<tr") == 44  # header + 43 rows


def test_staff_page_is_for_staff_only(client_for, org_admin):
    assert client_for(org_admin).get("/staff/deadlines/").status_code == 403
