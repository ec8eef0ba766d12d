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

Steps 3 and 4 are written in bulk for the whole batch (one INSERT of the claims, one per
table for the handlers' notifications and emails, one UPDATE of the rows); whenever that
raises, the batch is redone row by row, each action in its own savepoint.

Nothing is scheduled as a far-future Celery ETA. Access that depends on a
deadline is decided from stored times on each request, never by the sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from portal import labels
from portal.models import Deadline, ReminderClaim

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
    # Shown on the staff page and in calendar feeds (the apps register the framework's titles).
    title: str = ""
    # The page of the deadline's object; defaults to the object's ``get_absolute_url()``.
    target_url: Callable[[object], str] | None = None
    # The schedule of one object, where it depends on the object (the framework version an
    # application is bound to): read when the deadline opens and kept on its row, so a later
    # version never changes a running deadline. Without them ``reminders``/``repeat_every`` apply.
    reminders_for: Callable[[object], tuple[timedelta, ...]] | None = None
    repeat_every_for: Callable[[object], timedelta | None] | None = None
    # Whether the object is still in the state the deadline is about (the application still awaits
    # its decision, the certificate is still valid): a deadline past due is work to do only then.
    # None: always, as long as the deadline is open or passed.
    pending: Callable[[object], bool] | None = None


def offsets_of(deadline: Deadline, kind: DeadlineKind) -> tuple[timedelta, ...]:
    """The reminder offsets of this deadline: the ones stored when it opened, or the kind's."""
    if deadline.reminders is not None:
        return tuple(timedelta(seconds=s) for s in deadline.reminders)
    return kind.reminders


def repeat_of(deadline: Deadline, kind: DeadlineKind) -> timedelta | None:
    if deadline.reminders is not None:  # a stored schedule: its repeat (or none) is the one
        return deadline.repeat_every
    return kind.repeat_every


_registry: dict[str, DeadlineKind] = {}


def register(kind: DeadlineKind) -> DeadlineKind:
    _registry[kind.name] = kind
    return kind


def get_kind(name: str) -> DeadlineKind:
    return _registry[name]


def registered_kinds() -> dict[str, DeadlineKind]:
    return dict(_registry)


def kind_title(name: str) -> str:
    """The human title of a kind: the one it was registered with, or its name."""
    kind = _registry.get(name)
    if kind and kind.title:
        # Titles come from data (the framework's): shown in the reader's language.
        return labels.data_text(kind.title) if isinstance(kind.title, str) else str(kind.title)
    return name.replace("_", " ").capitalize()


def is_pending(deadline: Deadline, target: object | None) -> bool:
    """Whether the deadline's object still waits for what the deadline is about (False for a
    deleted object): the staff overview lists only such deadlines as overdue work."""
    if target is None or deadline.state not in (Deadline.State.OPEN, Deadline.State.PASSED):
        return False
    kind = _registry.get(deadline.kind)
    return kind is None or kind.pending is None or bool(kind.pending(target))


def _application_url(obj) -> str:
    from django.urls import reverse

    pk = obj.pk if obj._meta.label_lower == "certification.application" else getattr(obj, "application_id", None)
    return reverse("certification:application-detail", args=[pk]) if pk else ""


def target_url(deadline: Deadline, target: object | None = None) -> str:
    """The page of the deadline's object, or "" when it has none: the kind's
    ``target_url``, the object's ``get_absolute_url()``, or, for an application
    or an object of one (offer, engagement, window, appeal), the application page."""
    target = deadline.target if target is None else target
    if target is None:
        return ""
    kind = _registry.get(deadline.kind)
    try:
        if kind and kind.target_url:
            return kind.target_url(target)
        if hasattr(target, "get_absolute_url"):
            return target.get_absolute_url()
        return _application_url(target)
    except Exception:  # noqa: BLE001 - a broken link must not break a listing
        log.warning("no URL for deadline %s", deadline.pk, exc_info=True)
    return ""


def reminder_key(offset: timedelta) -> str:
    days = offset.total_seconds() / 86400
    return f"T-{days:g}d"


def first_action_at(offsets: tuple[timedelta, ...], due_at: datetime) -> datetime:
    times = [due_at - off for off in offsets] + [due_at]
    return min(times)


def open_deadline(obj: models.Model, kind_name: str, due_at: datetime) -> Deadline:
    """Open (or move) the deadline of this kind for this object, with the object's schedule."""
    kind = get_kind(kind_name)
    schedule: dict = {"reminders": None, "repeat_every": None}
    if kind.reminders_for is not None:
        schedule["reminders"] = [int(off.total_seconds()) for off in kind.reminders_for(obj)]
        schedule["repeat_every"] = kind.repeat_every_for(obj) if kind.repeat_every_for else None
    offsets = (tuple(timedelta(seconds=s) for s in schedule["reminders"]) if schedule["reminders"] is not None
               else kind.reminders)
    ct = ContentType.objects.get_for_model(obj)
    existing = Deadline.objects.filter(
        content_type=ct, object_id=obj.pk, kind=kind_name, state=Deadline.State.OPEN
    ).first()
    next_at = first_action_at(offsets, due_at)
    if existing:
        existing.due_at = due_at
        existing.next_action_at = next_at
        existing.reminders, existing.repeat_every = schedule["reminders"], schedule["repeat_every"]
        existing.save(update_fields=["due_at", "next_action_at", "reminders", "repeat_every"])
        return existing
    return Deadline.objects.create(
        content_type=ct, object_id=obj.pk, kind=kind_name, due_at=due_at, next_action_at=next_at, **schedule
    )


def close_deadlines(obj: models.Model, *kind_names: str, state: str = Deadline.State.DONE) -> int:
    qs = Deadline.objects.for_object(obj).filter(state__in=[Deadline.State.OPEN, Deadline.State.PASSED])
    if kind_names:
        qs = qs.filter(kind__in=kind_names)
    return qs.update(state=state, next_action_at=None, closed_at=timezone.now())


@dataclass
class PlannedAction:
    deadline: Deadline
    reminder: str  # "T-7d", "due" or "overdue"; with ``repeat`` the claim key
    repeat: int
    kind: str
    what: str  # "reminder", "transition" or "overdue"
    offset: timedelta | None = None

    def describe(self) -> str:
        if self.what == "reminder":
            return f"reminder {self.reminder}"
        if self.what == "overdue":
            return f"overdue notice #{self.repeat}"
        return "transition (deadline passes)"


# A deadline whose kind is not registered in this process (a module not loaded, a
# kind removed) is looked at again after this long instead of being dropped.
UNKNOWN_KIND_RETRY = timedelta(hours=1)


def _next_repeat_after(due_at: datetime, every: timedelta, now: datetime) -> tuple[int, datetime]:
    """(n, time of repeat n+1): n repeats of ``every`` have passed since ``due_at`` at ``now``."""
    n = max(0, int((now - due_at) / every))
    return n, due_at + (n + 1) * every


def plan(deadline: Deadline, now: datetime) -> tuple[PlannedAction | None, datetime | None]:
    """The one action due now for this deadline, and when to look at it next.

    Late sweeps: of the reminders whose time has come only the latest is planned
    (a stale T-30d is skipped once T-7d has come); after a late transition the
    next overdue notice is the next one still in the future, so no burst follows.
    """
    kind = _registry.get(deadline.kind)
    if kind is None:
        return None, now + UNKNOWN_KIND_RETRY
    if deadline.state == Deadline.State.OPEN:
        every = repeat_of(deadline, kind)
        if now >= deadline.due_at:
            next_at = _next_repeat_after(deadline.due_at, every, now)[1] if every else None
            return PlannedAction(deadline, "due", 0, kind.name, "transition"), next_at
        offsets = offsets_of(deadline, kind)
        reached = sorted(off for off in offsets if deadline.due_at - off <= now)
        later = sorted(deadline.due_at - off for off in offsets if deadline.due_at - off > now)
        next_at = later[0] if later else deadline.due_at
        if not reached:
            return None, next_at
        latest = reached[0]  # the smallest offset already reached: the most recent reminder
        return PlannedAction(deadline, reminder_key(latest), 0, kind.name, "reminder", latest), next_at
    every = repeat_of(deadline, kind)
    if deadline.state == Deadline.State.PASSED and every:
        n, next_at = _next_repeat_after(deadline.due_at, every, now)
        if n < 1:
            return None, next_at
        return PlannedAction(deadline, "overdue", n, kind.name, "overdue"), next_at
    return None, None


@dataclass
class SweepResult:
    actions: list[PlannedAction] = field(default_factory=list)
    skipped: int = 0
    failed: int = 0
    batches: int = 0


def due_batch(now: datetime, batch_size: int):
    """The sweep's query: the oldest due rows, locked, skipping rows another sweep holds.

    ``next_action_at <= now`` on the partial index ``deadline_next_action`` (rows
    with nothing left to do are not in it) is an index range scan that stops
    after ``batch_size`` rows: its cost grows with what is due, never with the
    table (bench/deadline_bench.py checks the plan and the timing)."""
    return (
        Deadline.objects.due(now)
        .order_by("next_action_at")
        .select_for_update(skip_locked=True)[:batch_size]
    )


def sweep(now: datetime | None = None, batch_size: int = 500, max_batches: int = 1000,
          bulk: bool = True) -> SweepResult:
    """Run every due action once. Safe to run concurrently with itself.

    Each batch is one transaction: lock up to ``batch_size`` due rows, claim and
    run each action, move ``next_action_at`` on, commit. The emails that the
    batch's ``notify()`` calls queued are published after the commit in messages
    of up to 500 outbox ids (``batched_delivery``), not one message per email.
    A worker killed mid-batch loses only that uncommitted batch, which the next
    sweep redoes; committed claims are never redone.

    ``bulk`` (the default) writes the batch's claims, notifications, outbox rows and
    deadline updates a few statements per batch (``_process_bulk``); ``bulk=False``
    is the row-by-row path it falls back to (and the benchmark's baseline).
    """
    from portal.notifications import batched_delivery

    now = now or timezone.now()
    result = SweepResult()
    for _ in range(max_batches):
        with batched_delivery(), transaction.atomic():
            batch = list(due_batch(now, batch_size))
            if bulk:
                _process_bulk(batch, now, result)
            else:
                for deadline in batch:
                    _process(deadline, now, result)
        if batch:
            result.batches += 1
        if len(batch) < batch_size:
            break
    return result


class _AlreadyClaimed(Exception):
    pass


# A handler that raised is tried again after this long; meanwhile the rest of the sweep goes on.
FAILED_ACTION_RETRY = timedelta(minutes=15)


def _process(deadline: Deadline, now: datetime, result: SweepResult) -> None:
    action, next_at = plan(deadline, now)
    if deadline.kind not in _registry:
        log.error("deadline %s has unregistered kind %r; looking again at %s", deadline.pk, deadline.kind, next_at)
    update: dict = {"next_action_at": next_at}
    if action is not None:
        try:
            deadline.target  # noqa: B018 - loads (and caches) the object
        except ObjectDoesNotExist:
            # Its object was deleted: nothing left to remind anyone of.
            Deadline.objects.filter(pk=deadline.pk).update(
                state=Deadline.State.CANCELLED, next_action_at=None, closed_at=now)
            return
        try:
            with transaction.atomic():
                try:
                    with transaction.atomic():
                        ReminderClaim.objects.create(deadline=deadline, reminder=action.reminder, repeat=action.repeat)
                except IntegrityError:
                    raise _AlreadyClaimed from None
                _run(action, deadline)
        except _AlreadyClaimed:
            # Claimed before (by an earlier or a concurrent sweep): never act twice.
            result.skipped += 1
            if action.what == "transition":
                update["state"] = Deadline.State.PASSED
        except Exception:
            # The claim and the handler's writes rolled back together: try again later,
            # without holding up every other due deadline behind this one.
            log.exception("deadline %s (%s): %s failed", deadline.pk, deadline.kind, action.describe())
            result.failed += 1
            update = {"next_action_at": now + FAILED_ACTION_RETRY}
        else:
            result.actions.append(action)
            if action.what == "transition":
                update["state"] = Deadline.State.PASSED
    # Only if the handler left the row as it was: a handler that closed the deadline
    # (report filed, object moved on) or moved its due time has the last word.
    Deadline.objects.filter(pk=deadline.pk, state=deadline.state, due_at=deadline.due_at).update(**update)


def _load_targets(deadlines: list[Deadline]) -> None:
    """Load the objects of these deadlines in one query per content type and cache each on
    its deadline (``Deadline.target``); a deleted object's deadline is left without one."""
    wanted: dict[int, set[int]] = {}
    for deadline in deadlines:
        wanted.setdefault(deadline.content_type_id, set()).add(deadline.object_id)
    found: dict[int, dict] = {}
    for ct_id, ids in wanted.items():
        model = ContentType.objects.get_for_id(ct_id).model_class()
        found[ct_id] = model._base_manager.in_bulk(ids)  # as ContentType.get_object_for_this_type does
    for deadline in deadlines:
        deadline.content_type = ContentType.objects.get_for_id(deadline.content_type_id)
        target = found[deadline.content_type_id].get(deadline.object_id)
        if target is not None:
            deadline.__dict__["target"] = target  # the cached_property's slot


def _process_bulk(batch: list[Deadline], now: datetime, result: SweepResult) -> None:
    """The batch in a few statements: the objects in one query per type, the claims in one
    INSERT (after one SELECT of the claims already made), the handlers' notifications and
    emails in one INSERT per table (``notifications.bulk_writes``), and one UPDATE of the rows.

    All of it runs in one savepoint. If anything raises (a handler's bug, a claim a concurrent
    sweep made first), the savepoint rolls back and the batch is redone row by row with
    ``_process``, which isolates a failing handler and still claims each action once."""
    try:
        with transaction.atomic():
            part = SweepResult()
            _bulk_batch(batch, now, part)
    except Exception as exc:  # noqa: BLE001 - the row-by-row path reports the failing action
        log.info("bulk sweep of %d deadline(s) fell back to row by row: %s: %s", len(batch), type(exc).__name__, exc)
        # The rows are still locked by this transaction; read them again as the rollback left them.
        for deadline in Deadline.objects.filter(pk__in=[d.pk for d in batch]).order_by("next_action_at", "pk"):
            _process(deadline, now, result)
        return
    result.actions += part.actions
    result.skipped += part.skipped


def _bulk_batch(batch: list[Deadline], now: datetime, result: SweepResult) -> None:
    from portal.notifications import bulk_writes

    planned: list[tuple[Deadline, PlannedAction | None, datetime | None]] = []
    for deadline in batch:
        action, next_at = plan(deadline, now)
        if deadline.kind not in _registry:
            log.error("deadline %s has unregistered kind %r; looking again at %s", deadline.pk, deadline.kind, next_at)
        planned.append((deadline, action, next_at))
    _load_targets([d for d, action, _ in planned if action is not None])
    gone = {d.pk for d, action, _ in planned if action is not None and "target" not in d.__dict__}
    if gone:  # their objects were deleted: nothing left to remind anyone of
        Deadline.objects.filter(pk__in=gone).update(state=Deadline.State.CANCELLED, next_action_at=None,
                                                    closed_at=now)
    acting = [(d, action, next_at) for d, action, next_at in planned if action is not None and d.pk not in gone]
    claimed = _claims_of([d.pk for d, _, _ in acting])
    fresh = [(d, action) for d, action, _ in acting if (d.pk, action.reminder, action.repeat) not in claimed]
    # A claim made meanwhile by another sweep fails this INSERT: the row-by-row path skips it.
    ReminderClaim.objects.bulk_create(
        [ReminderClaim(deadline=d, reminder=action.reminder, repeat=action.repeat) for d, action in fresh])
    updates: dict[int, dict] = {}
    with bulk_writes() as pending:
        for deadline, action, next_at in planned:
            if deadline.pk in gone:
                continue
            update: dict = {"next_action_at": next_at}
            if action is not None:
                if (deadline.pk, action.reminder, action.repeat) in claimed:
                    result.skipped += 1  # claimed before (by an earlier or a concurrent sweep): never act twice
                else:
                    _run(action, deadline)
                    result.actions.append(action)
                if action.what == "transition":
                    update["state"] = Deadline.State.PASSED
            updates[deadline.pk] = update
        pending.flush()
    _apply_updates(batch, updates)


def _claims_of(deadline_ids: list[int]) -> set[tuple[int, str, int]]:
    """(deadline, reminder, repeat) of every claim these deadlines have."""
    claims = ReminderClaim.objects.filter(deadline_id__in=deadline_ids)
    return set(claims.values_list("deadline_id", "reminder", "repeat"))


def _apply_updates(batch: list[Deadline], updates: dict[int, dict]) -> None:
    """Move each row on, only if the handlers left it as it was (as ``_process`` does per row):
    one SELECT of the rows (still locked by this transaction) and one UPDATE per distinct change."""
    before = {d.pk: (d.state, d.due_at) for d in batch if d.pk in updates}
    now_rows = Deadline.objects.filter(pk__in=list(before)).values_list("pk", "state", "due_at")
    groups: dict[tuple, list[int]] = {}
    for pk, state, due_at in now_rows:
        if before[pk] == (state, due_at):
            update = updates[pk]
            groups.setdefault((update["next_action_at"], update.get("state")), []).append(pk)
    if len(groups) <= 3:
        for (next_at, state), pks in groups.items():
            Deadline.objects.filter(pk__in=pks).update(next_action_at=next_at, **({"state": state} if state else {}))
        return
    rows = []
    for (next_at, state), pks in groups.items():
        for pk in pks:
            rows.append(Deadline(pk=pk, next_action_at=next_at, state=state or before[pk][0]))
    Deadline.objects.bulk_update(rows, ["next_action_at", "state"], batch_size=1000)


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
    """What a sweep at ``now`` would do, without doing it (reads only)."""
    actions = []
    claimed = set()
    due = list(Deadline.objects.due(now).order_by("next_action_at", "id").select_related("content_type"))
    for start in range(0, len(due), 1000):
        chunk = due[start:start + 1000]
        claimed |= set(
            ReminderClaim.objects.filter(deadline__in=chunk).values_list("deadline_id", "reminder", "repeat")
        )
    for deadline in due:
        action, _ = plan(deadline, now)
        if action and (deadline.pk, action.reminder, action.repeat) not in claimed:
            actions.append(action)
    return actions
