"""A deadline kind for the worker tests (tests/portal/test_deadline_fault.py).

A worker is another process: it only knows the kinds its modules register, so
the worker tests start it with ``DJANGO_SETTINGS_MODULE=tests.portal.deadline_fault_settings``,
which imports this module. The reminder notifies the deadline's target user with
the deadline id in the email, so the mail folder shows which reminders arrived.
"""

from __future__ import annotations

from datetime import timedelta

from portal import deadlines
from portal.notifications import notify

KIND = "test_worker_reminder"


def _remind(deadline, user, offset) -> None:
    notify(user, "test", {"message": f"reminder for deadline {deadline.pk}."})


def _due(deadline, user) -> None:
    notify(user, "test", {"message": f"deadline {deadline.pk} passed."})


deadlines.register(deadlines.DeadlineKind(KIND, (timedelta(days=1),), _remind, _due))
