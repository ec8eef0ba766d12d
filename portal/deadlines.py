"""The shared deadline engine (DESIGN §2.4, §8).

Apps register deadline kinds (``register``): reminder offsets before the due
time, what happens when it passes, and optionally repeated overdue notices.
Objects get deadlines with ``open_deadline`` and close them with
``close_deadlines``. Celery beat runs ``sweep`` every few minutes:

1. select deadlines whose ``next_action_at`` has passed (partial index), locking
   them with ``skip_locked`` so concurrent sweeps share the work;
2. for each, decide the one action due now: the latest reminder whose time has
   come (a late sweep skips stale ones), the transition at the due time, or the
   overdue notice of the current repeat number;
3. claim it with a unique ``ReminderClaim`` row (a second claim fails: never twice);
4. run it (notify, transition) in the same transaction, and compute the next
   action time.

Nothing is scheduled as a far-future Celery ETA. Access that depends on a
deadline is decided from stored times on each request, never by the sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from .models import Deadline, ReminderClaim

log = logging.getLogger(__name__)

Handler = Callable[[Deadline, object], None]


@dataclass(frozen=True)
class DeadlineKind:
    name: str
    # Offsets before the due time at which a reminder goes out, e.g. [30 days, 7 days].
    reminders: tuple[timedelta, ...] = ()
    on_reminder: Callable[[Deadline, object, timedelta], None] | None = None
    on_due: Handler | None = None
    # Overdue notices every ``repeat_every`` after the due time, numbered 1, 2, ...
    repeat_every: timedelta | None = None
    on_overdue: Callable[[Deadline, object, int], None] | None = None
    description: str = ""


_registry: dict[str, DeadlineKind] = {}


def register(kind: DeadlineKind) -> DeadlineKind:
    _registry[kind.name] = kind
    return kind


def get_kind(name: str) -> DeadlineKind:
    return _registry[name]


def reminder_key(offset: timedelta) -> str:
    days = offset.total_seconds() / 86400
    return f"T-{days:g}d"


def first_action_at(kind: DeadlineKind, due_at: datetime) -> datetime:
    times = [due_at - off for off in kind.reminders] + [due_at]
    return min(times)


def open_deadline(obj: models.Model, kind_name: str, due_at: datetime) -> Deadline:
    """Open (or move) the deadline of this kind for this object."""
    kind = get_kind(kind_name)
    ct = ContentType.objects.get_for_model(obj)
    existing = Deadline.objects.filter(
        content_type=ct, object_id=obj.pk, kind=kind_name, state=Deadline.State.OPEN
    ).first()
    next_at = first_action_at(kind, due_at)
    if existing:
        existing.due_at = due_at
        existing.next_action_at = next_at
        existing.save(update_fields=["due_at", "next_action_at"])
        return existing
    return Deadline.objects.create(
        content_type=ct, object_id=obj.pk, kind=kind_name, due_at=due_at, next_action_at=next_at
    )


def close_deadlines(obj: models.Model, *kind_names: str, state: str = Deadline.State.DONE) -> int:
    qs = Deadline.objects.for_object(obj).filter(state__in=[Deadline.State.OPEN, Deadline.State.PASSED])
    if kind_names:
        qs = qs.filter(kind__in=kind_names)
    return qs.update(state=state, next_action_at=None, closed_at=timezone.now())


@dataclass
class PlannedAction:
    deadline: Deadline
    reminder: str
    repeat: int
    kind: str
    what: str  # "reminder", "transition" or "overdue"
    offset: timedelta | None = None


def plan(deadline: Deadline, now: datetime) -> tuple[PlannedAction | None, datetime | None]:
    """The one action due now for this deadline, and when to look at it next."""
    kind = _registry.get(deadline.kind)
    if kind is None:
        return None, None
    if deadline.state == Deadline.State.OPEN:
        if now >= deadline.due_at:
            next_at = deadline.due_at + kind.repeat_every if kind.repeat_every else None
            return PlannedAction(deadline, "due", 0, kind.name, "transition"), next_at
        due_offsets = sorted((off for off in kind.reminders if deadline.due_at - off <= now))
        later = sorted(
            (deadline.due_at - off for off in kind.reminders if deadline.due_at - off > now)
        )
        next_at = later[0] if later else deadline.due_at
        if not due_offsets:
            return None, next_at
        latest = due_offsets[0]  # the smallest offset already reached: the most recent reminder
        return PlannedAction(deadline, reminder_key(latest), 0, kind.name, "reminder", latest), next_at
    if deadline.state == Deadline.State.PASSED and kind.repeat_every:
        n = int((now - deadline.due_at) / kind.repeat_every)
        next_at = deadline.due_at + (n + 1) * kind.repeat_every
        if n < 1:
            return None, next_at
        return PlannedAction(deadline, "overdue", n, kind.name, "overdue"), next_at
    return None, None


@dataclass
class SweepResult:
    actions: list[PlannedAction] = field(default_factory=list)
    skipped: int = 0


def due_deadlines(now: datetime, limit: int):
    return Deadline.objects.due(now).order_by("next_action_at")[:limit]


def sweep(now: datetime | None = None, batch_size: int = 500, max_batches: int = 1000) -> SweepResult:
    """Run every due action once. Safe to run concurrently with itself."""
    now = now or timezone.now()
    result = SweepResult()
    for _ in range(max_batches):
        with transaction.atomic():
            batch = list(
                Deadline.objects.due(now)
                .order_by("next_action_at")
                .select_for_update(skip_locked=True)[:batch_size]
            )
            if not batch:
                break
            for deadline in batch:
                _process(deadline, now, result)
        if len(batch) < batch_size:
            break
    return result


def _process(deadline: Deadline, now: datetime, result: SweepResult) -> None:
    action, next_at = plan(deadline, now)
    update: dict = {"next_action_at": next_at}
    if action is not None:
        try:
            with transaction.atomic():
                ReminderClaim.objects.create(deadline=deadline, reminder=action.reminder, repeat=action.repeat)
                _run(action, deadline)
        except IntegrityError:
            # Already claimed (a sweep ran it before): never act twice.
            result.skipped += 1
        else:
            result.actions.append(action)
        if action.what == "transition":
            update["state"] = Deadline.State.PASSED
            # A handler may have closed the deadline itself (e.g. moved the object on).
            current = Deadline.objects.filter(pk=deadline.pk).values_list("state", flat=True).first()
            if current in (Deadline.State.DONE, Deadline.State.CANCELLED):
                update = {"next_action_at": None}
    Deadline.objects.filter(pk=deadline.pk).update(**update)


def _run(action: PlannedAction, deadline: Deadline) -> None:
    kind = _registry[action.kind]
    target = deadline.target
    if action.what == "reminder" and kind.on_reminder:
        kind.on_reminder(deadline, target, action.offset)
    elif action.what == "transition" and kind.on_due:
        kind.on_due(deadline, target)
    elif action.what == "overdue" and kind.on_overdue:
        kind.on_overdue(deadline, target, action.repeat)


def dry_run(now: datetime) -> list[PlannedAction]:
    """What a sweep at ``now`` would do, without doing it."""
    actions = []
    for deadline in Deadline.objects.due(now).order_by("next_action_at").iterator():
        action, _ = plan(deadline, now)
        if action and not ReminderClaim.objects.filter(
            deadline=deadline, reminder=action.reminder, repeat=action.repeat
        ).exists():
            actions.append(action)
    return actions
