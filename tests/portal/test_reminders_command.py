"""``manage.py reminders --dry-run --at ISO_TIME`` lists what a sweep would do and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from portal import deadlines, tasks
from portal.deadlines import DeadlineKind
from portal.models import Deadline, Notification, OutboxEmail, ReminderClaim
from portal.notifications import notify
from tests import factories as f

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def _remind(deadline, user, offset):
    notify(user, "test", {"message": "reminder"})


def _due(deadline, user):
    notify(user, "test", {"message": "due"})


deadlines.register(DeadlineKind("test_command_kind", (7 * DAY, 2 * DAY), _remind, _due,
                                repeat_every=3 * DAY, on_overdue=lambda d, u, n: notify(u, "test", {"message": "o"})))


def snapshot():
    return (
        list(Deadline.objects.order_by("id").values_list("id", "state", "next_action_at", "due_at", "closed_at")),
        ReminderClaim.objects.count(), Notification.objects.count(), OutboxEmail.objects.count(),
    )


def run(*args) -> str:
    out = StringIO()
    call_command("reminders", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def queued(monkeypatch):
    messages = []
    monkeypatch.setattr(tasks.deliver_outbox, "delay", lambda ids: messages.append(ids))
    return messages


@pytest.fixture
def rows():
    now = datetime.now(UTC)
    a, b, c = f.UserFactory(), f.UserFactory(), f.UserFactory()
    return {
        "reminder": deadlines.open_deadline(a, "test_command_kind", now + 20 * DAY),
        "due": deadlines.open_deadline(b, "test_command_kind", now + 30 * DAY),
        "later": deadlines.open_deadline(c, "test_command_kind", now + 90 * DAY),
        "now": now,
    }


def test_dry_run_lists_reminders_and_transitions_at_that_time_and_changes_nothing(
    rows, queued, django_capture_on_commit_callbacks
):
    at = rows["now"] + 30 * DAY + timedelta(hours=1)
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        out = run("--dry-run", "--at", at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert snapshot() == before
    assert callbacks == [] and queued == []
    assert f"deadline #{rows['due'].pk}" in out and "transition (deadline passes)" in out
    assert f"deadline #{rows['reminder'].pk}" in out
    assert f"deadline #{rows['later'].pk}" not in out
    assert "would send 0 reminder(s), 0 overdue notice(s) and run 2 transition(s)" in out


def test_dry_run_names_the_latest_reminder_only(rows, queued):
    at = rows["now"] + 20 * DAY - 2 * DAY + timedelta(minutes=5)  # T-7d and T-2d of "reminder" have come
    out = run("--dry-run", "--at", at.isoformat())
    line = next(line for line in out.splitlines() if f"deadline #{rows['reminder'].pk}" in line)
    assert "reminder T-2d" in line
    assert "would send 1 reminder(s)" in out  # "due" has its T-7d five days later


def test_dry_run_leaves_out_what_was_already_sent(rows, queued):
    at = rows["now"] + 20 * DAY - 7 * DAY + timedelta(minutes=5)
    assert "would send 1 reminder(s)" in run("--dry-run", "--at", at.isoformat())
    deadlines.sweep(at)
    assert "would send 0 reminder(s)" in run("--dry-run", "--at", at.isoformat())


def test_without_dry_run_it_sweeps_now_and_refuses_another_time(rows, queued):
    with pytest.raises(CommandError):
        run("--at", "2030-01-01T00:00Z")
    Deadline.objects.filter(pk=rows["reminder"].pk).update(next_action_at=rows["now"] - DAY,
                                                           due_at=rows["now"] + DAY)
    out = run()
    assert "1 action(s) done" in out
    assert ReminderClaim.objects.filter(deadline=rows["reminder"], reminder="T-2d").exists()


def test_a_bad_time_is_refused():
    with pytest.raises(CommandError, match="ISO 8601"):
        run("--dry-run", "--at", "next tuesday")
