"""Run the deadline sweep now, or show what it would do at a given time.

    manage.py reminders --dry-run                           # what a sweep would do now
    manage.py reminders --dry-run --at 2026-05-01T09:00Z    # ... at that time
    manage.py reminders                                     # sweep now (what Celery beat does)

The dry run only reads: no claim, notification, email, state or next-action time
changes, and nothing is queued.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal import deadlines


def parse_at(value: str) -> datetime:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = parse_datetime(text)
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise CommandError(f"--at: not an ISO 8601 time: {value!r}") from None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


class Command(BaseCommand):
    help = "Send the deadline reminders, transitions and overdue notices that are due (or list them with --dry-run)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List what would happen; change nothing.")
        parser.add_argument("--at", metavar="ISO_TIME", help="With --dry-run: the time to plan for (default: now; "
                                                             "UTC unless the time has an offset).")

    def handle(self, *args, dry_run: bool, at: str | None, **options):
        if at and not dry_run:
            raise CommandError("--at only works with --dry-run: a real sweep always runs at the current time")
        now = parse_at(at) if at else timezone.now()
        if not dry_run:
            result = deadlines.sweep(now)
            for action in result.actions:
                self.stdout.write(self._line(action))
            self.stdout.write(self.style.SUCCESS(
                f"{len(result.actions)} action(s) done, {result.skipped} already claimed, {result.failed} failed"))
            return
        actions = deadlines.dry_run(now)
        self.stdout.write(f"dry run at {now.isoformat()}: nothing is sent or changed")
        for action in actions:
            self.stdout.write(self._line(action))
        reminders = sum(a.what == "reminder" for a in actions)
        transitions = sum(a.what == "transition" for a in actions)
        overdue = sum(a.what == "overdue" for a in actions)
        self.stdout.write(f"would send {reminders} reminder(s), {overdue} overdue notice(s) "
                          f"and run {transitions} transition(s)")

    @staticmethod
    def _line(action: deadlines.PlannedAction) -> str:
        d = action.deadline
        try:
            target = str(d.target)
        except Exception:  # noqa: BLE001 - a deleted object still gets a line
            target = f"{d.content_type.model} #{d.object_id} (gone)"
        return (f"{action.what:<10} {action.kind:<22} deadline #{d.pk:<6} due {d.due_at.isoformat()}  "
                f"{action.describe():<28} {target}")
