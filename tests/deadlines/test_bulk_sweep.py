"""The sweep writes a batch in bulk (issue 15 §4): the same rows as the row-by-row path, in a
number of queries that does not grow with the batch, and it falls back to the row-by-row path
(which isolates a failing handler) whenever the bulk path raises, without acting twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from portal import deadlines, tasks
from portal.deadlines import DeadlineKind
from portal.models import Deadline, DigestItem, Notification, NotificationPreference, OutboxEmail, ReminderClaim, User
from portal.notifications import batched_delivery, bulk_writes, notify

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
DIGEST_KIND = "member-joined"  # a kind a user may move to the daily digest


def _remind(deadline, user, offset):
    notify(user, "test", {"message": f"bulk reminder {deadlines.reminder_key(offset)} of {deadline.pk}"})


def _due(deadline, user):
    notify(user, "test", {"message": f"bulk deadline {deadline.pk} passed"})


def _overdue(deadline, user, repeat):
    notify(user, "test", {"message": f"bulk overdue {repeat} of {deadline.pk}"})


def _digest_remind(deadline, user, offset):
    notify(user, DIGEST_KIND, {"member": user})


def _close_own(deadline, user, offset):
    deadlines.close_deadlines(user, "test_bulk_closes")


def _explode_once_in_a_while(deadline, user, offset):
    if user.email.startswith("bad"):
        raise RuntimeError("handler bug")
    _remind(deadline, user, offset)


deadlines.register(DeadlineKind("test_bulk", (2 * DAY,), _remind, _due, repeat_every=3 * DAY, on_overdue=_overdue))
deadlines.register(DeadlineKind("test_bulk_digest", (2 * DAY,), _digest_remind, _due))
deadlines.register(DeadlineKind("test_bulk_closes", (2 * DAY,), _close_own, _due))
deadlines.register(DeadlineKind("test_bulk_flaky", (2 * DAY,), _explode_once_in_a_while, _due))


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(T0, tick=False):
        yield


@pytest.fixture
def queued(monkeypatch):
    messages: list[list[int]] = []
    monkeypatch.setattr(tasks.deliver_outbox, "delay", lambda ids: messages.append(list(ids)))
    return messages


def _due_rows(n: int, kind: str = "test_bulk", prefix: str = "u", due_at: datetime | None = None) -> list[Deadline]:
    users = User.objects.bulk_create([User(email=f"{prefix}{i}@example.org") for i in range(n)])
    ct = ContentType.objects.get_for_model(User)
    return Deadline.objects.bulk_create([
        Deadline(content_type=ct, object_id=u.pk, kind=kind, due_at=due_at or T0 + DAY, next_action_at=T0 - DAY)
        for u in users
    ])


def _mixed_world(prefix: str) -> list[Deadline]:
    """One of each case the sweep meets: a reminder, a transition, an overdue notice, a reminder
    claimed before, a deleted object, an unregistered kind, a deadline not due yet."""
    reminder, transition, overdue, claimed, deleted, unknown, later = _due_rows(7, prefix=prefix)
    Deadline.objects.filter(pk=transition.pk).update(due_at=T0 - timedelta(hours=1))
    Deadline.objects.filter(pk=overdue.pk).update(due_at=T0 - 4 * DAY, state=Deadline.State.PASSED)
    ReminderClaim.objects.create(deadline=claimed, reminder="T-2d", repeat=0)
    User.objects.filter(pk=deleted.object_id).delete()
    Deadline.objects.filter(pk=unknown.pk).update(kind="kind_not_loaded_here")
    Deadline.objects.filter(pk=later.pk).update(next_action_at=T0 + DAY)
    return [reminder, transition, overdue, claimed, deleted, unknown, later]


def _outcome(rows: list[Deadline]) -> list[tuple]:
    """What the sweep left, by position in the world (ids differ between two worlds)."""
    result = []
    for row in rows:
        row.refresh_from_db()
        notes = list(Notification.objects.filter(user_id=row.object_id).values_list("body", flat=True))
        result.append((row.state, row.next_action_at, list(row.claims.order_by("id").values_list("reminder", "repeat")),
                       [n.replace(str(row.pk), "<pk>") for n in notes],
                       OutboxEmail.objects.filter(notification__user_id=row.object_id).count()))
    return result


def test_the_bulk_sweep_leaves_exactly_what_the_row_by_row_sweep_leaves(queued):
    slow = _mixed_world("slow")
    slow_result = deadlines.sweep(bulk=False)
    expected = _outcome(slow)
    fast = _mixed_world("fast")
    fast_result = deadlines.sweep(bulk=True)
    assert _outcome(fast) == expected
    assert (len(fast_result.actions), fast_result.skipped, fast_result.failed) == (
        len(slow_result.actions), slow_result.skipped, slow_result.failed) == (3, 1, 0)
    assert expected[4][0] == Deadline.State.CANCELLED and expected[1][0] == Deadline.State.PASSED
    assert expected[5][1] == T0 + deadlines.UNKNOWN_KIND_RETRY


def test_a_batch_costs_the_same_number_of_queries_whatever_its_size(queued):
    counts = []
    # (Kept under SQLite's 999 variables per statement, where Django splits a bulk INSERT.)
    for n, prefix in ((5, "few"), (60, "many")):
        _due_rows(n, prefix=prefix)
        with CaptureQueriesContext(connection) as queries:
            result = deadlines.sweep()
        assert len(result.actions) == n
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 15, counts


def test_each_notification_gets_its_own_outbox_row_and_every_id_is_published_once(
    queued, django_capture_on_commit_callbacks
):
    _due_rows(1100)
    with django_capture_on_commit_callbacks(execute=True):
        result = deadlines.sweep()
    assert len(result.actions) == 1100 and result.batches == 3
    assert Notification.objects.count() == OutboxEmail.objects.count() == ReminderClaim.objects.count() == 1100
    assert not OutboxEmail.objects.filter(notification__isnull=True).exists()
    assert OutboxEmail.objects.values("notification").distinct().count() == 1100
    assert sorted(i for m in queued for i in m) == sorted(OutboxEmail.objects.values_list("id", flat=True))
    assert [len(m) for m in queued] == [500, 500, 100]


def test_a_digest_users_reminder_waits_for_the_digest(queued):
    rows = _due_rows(3, kind="test_bulk_digest")
    waiting = User.objects.get(pk=rows[0].object_id)
    NotificationPreference.objects.create(user=waiting, kind=DIGEST_KIND,
                                          delivery=NotificationPreference.Delivery.DIGEST)
    assert len(deadlines.sweep().actions) == 3
    assert Notification.objects.filter(kind=DIGEST_KIND).count() == 3
    assert DigestItem.objects.pending().get().notification.user == waiting
    assert sorted(OutboxEmail.objects.values_list("to", flat=True)) == sorted(
        User.objects.filter(pk__in=[r.object_id for r in rows[1:]]).values_list("email", flat=True))


def test_a_handler_that_closes_its_deadline_has_the_last_word(queued):
    rows = _due_rows(2, kind="test_bulk_closes")
    assert len(deadlines.sweep().actions) == 2
    for row in rows:
        row.refresh_from_db()
        assert row.state == Deadline.State.DONE and row.next_action_at is None


def test_a_failing_handler_sends_the_rest_of_its_batch_once_and_is_retried_later(queued):
    rows = _due_rows(5, kind="test_bulk_flaky", prefix="good") + _due_rows(1, kind="test_bulk_flaky", prefix="bad")
    result = deadlines.sweep()
    assert (len(result.actions), result.failed) == (5, 1)
    assert Notification.objects.count() == OutboxEmail.objects.count() == ReminderClaim.objects.count() == 5
    bad = rows[-1]
    bad.refresh_from_db()
    assert not bad.claims.exists() and bad.next_action_at == T0 + deadlines.FAILED_ACTION_RETRY
    assert len(deadlines.sweep().actions) == 0  # the good ones are done; the bad one waits for its retry


def test_a_claim_another_sweep_made_first_falls_back_to_row_by_row_and_acts_once(queued, monkeypatch):
    rows = _due_rows(4)
    raced = rows[2]
    # Another sweep committed this claim after this sweep read the claims already made.
    ReminderClaim.objects.create(deadline=raced, reminder="T-2d", repeat=0)
    monkeypatch.setattr(deadlines, "_claims_of", lambda deadline_ids: set())
    result = deadlines.sweep()
    assert (len(result.actions), result.skipped, result.failed) == (3, 1, 0)
    assert ReminderClaim.objects.count() == 4
    assert not Notification.objects.filter(user_id=raced.object_id).exists()
    assert Notification.objects.count() == OutboxEmail.objects.count() == 3


def test_rows_built_in_bulk_writes_are_only_written_by_flush(queued, django_capture_on_commit_callbacks):
    users = User.objects.bulk_create([User(email=f"flush{i}@example.org") for i in range(3)])
    with django_capture_on_commit_callbacks(execute=True):
        with batched_delivery(), transaction.atomic(), bulk_writes() as pending:
            notes = notify(users, "test", {"message": "x"})
            assert not Notification.objects.exists() and notes[0].pk is None
            ids = pending.flush()
    assert [n.pk for n in notes] == list(Notification.objects.order_by("id").values_list("id", flat=True))
    assert list(OutboxEmail.objects.order_by("id").values_list("notification_id", flat=True)) == [n.pk for n in notes]
    assert queued == [ids]
    with bulk_writes():
        notify(users[0], "test", {"message": "dropped"})  # never flushed: nothing written
    assert Notification.objects.count() == 3
