"""Deadline sweep benchmark (issue 7). Needs PostgreSQL (``DATABASE_URL``); not in CI.

Figures printed, and checked:

1. the sweep with 1,000 due deadlines among 10,000 not due, then among
   1,000,000 not due (x ``--scale``): the larger table may cost at most 1.5x;
2. EXPLAIN of the sweep's query (``portal.deadlines.due_batch``): an index scan,
   no sequential scan, on both tables;
3. a sweep of 10,000 due reminders publishes at most 21 broker messages
   (publishes counted with Celery's ``before_task_publish`` signal) and takes at most
   8 s (issue 15: 38.5 s before the sweep wrote in bulk);
4. the bulk sweep against the row-by-row one (``sweep(bulk=False)``, the path it falls
   back to) on the same 1,000 due rows in the same run: at least 4x as fast.

It works in a throw-away database ``<DATABASE_URL's name>_deadline_bench``
(created, migrated, dropped at the end; ``--keep`` leaves it), seeds rows with
``generate_series`` and publishes to Celery's in-memory transport, so it touches
neither the development database nor a broker.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

KIND = "bench_reminder"
DUE = 1_000
SMALL = 10_000
PUBLISH_N = 10_000
PUBLISH_SECONDS = 8.0
SPEEDUP = 4.0
RUNS = 3


def prepare_database(keep: bool) -> tuple[str, callable]:
    import dj_database_url
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("deadline_bench needs PostgreSQL: set DATABASE_URL=postgres://...")
    cfg = dj_database_url.parse(url)
    name = f"{cfg['NAME']}_deadline_bench"
    admin = psycopg.connect(host=cfg["HOST"] or None, port=cfg["PORT"] or None, user=cfg["USER"] or None,
                            password=cfg["PASSWORD"] or None, dbname="postgres", autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        if not keep:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    base = url.rsplit("/", 1)[0]
    return f"{base}/{name}", drop


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    # No Redis: the in-memory transport below; a private var dir for the embedded cache.
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("PORTAL_VAR_DIR", tempfile.mkdtemp(prefix="deadline-bench-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from portal.celery import app

    app.conf.broker_url = "memory://"


def register_kind() -> None:
    from datetime import timedelta

    from portal import deadlines
    from portal.notifications import notify

    def remind(deadline, user, offset):
        notify(user, "test", {"message": f"reminder for deadline {deadline.pk}"})

    deadlines.register(deadlines.DeadlineKind(KIND, (timedelta(days=1),), remind, lambda d, u: None))


def sql(statement: str, params=None) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(statement, params or [])


def seed_targets(n: int = 1000) -> tuple[int, int, int]:
    from django.contrib.contenttypes.models import ContentType

    from portal.models import User

    users = User.objects.bulk_create([User(email=f"bench{i}@example.org") for i in range(n)])
    ct = ContentType.objects.get_for_model(User)
    return ct.pk, users[0].pk, users[-1].pk


def add_not_due(count: int, ct: int, first_user: int, last_user: int) -> None:
    """Open deadlines whose next action is within the coming year (so they are in the index)."""
    span = last_user - first_user + 1
    sql(f"""
        INSERT INTO portal_deadline (content_type_id, object_id, kind, due_at, state, next_action_at, created_at)
        SELECT {ct}, {first_user} + (g %% {span}), '{KIND}',
               now() + interval '2 days' + (g %% 525600) * interval '1 minute', 'open',
               now() + interval '1 day' + (g %% 525600) * interval '1 minute', now()
        FROM generate_series(1, %s) g""", [count])


def reset_due(count: int, ct: int, first_user: int, last_user: int) -> None:
    """Exactly ``count`` due deadlines, and no claims, notifications or emails."""
    sql("TRUNCATE portal_reminderclaim, portal_digestitem, portal_outboxemail, portal_notification CASCADE")
    sql("DELETE FROM portal_deadline WHERE next_action_at <= now() OR state <> 'open'")
    span = last_user - first_user + 1
    sql(f"""
        INSERT INTO portal_deadline (content_type_id, object_id, kind, due_at, state, next_action_at, created_at)
        SELECT {ct}, {first_user} + (g %% {span}), '{KIND}', now() + interval '12 hours', 'open',
               now() - interval '1 minute', now()
        FROM generate_series(1, %s) g""", [count])
    sql("ANALYZE portal_deadline")


def explain() -> str:
    from django.db import transaction
    from django.utils import timezone

    from portal import deadlines

    with transaction.atomic():
        return deadlines.due_batch(timezone.now(), 500).explain(analyze=True)


def time_sweeps(label: str, ct: int, first: int, last: int, bulk: bool = True) -> float:
    from portal import deadlines

    times = []
    for _ in range(RUNS):
        reset_due(DUE, ct, first, last)
        started = time.perf_counter()
        result = deadlines.sweep(bulk=bulk)
        times.append(time.perf_counter() - started)
        assert len(result.actions) == DUE, f"{label}: {len(result.actions)} actions, expected {DUE}"
    best = min(times)
    print(f"  {label}: sweep of {DUE} due: best {best * 1000:.0f} ms, median {statistics.median(times) * 1000:.0f} ms "
          f"over {RUNS} runs")
    return best


def check_plan(label: str, failures: list[str]) -> None:
    plan = explain()
    print(f"  EXPLAIN ANALYZE of the sweep query ({label}):")
    for line in plan.splitlines():
        print(f"    {line}")
    if "Index Scan" not in plan or "Seq Scan" in plan:
        failures.append(f"{label}: the sweep query is not an index scan")


def count_publishes(ct: int, first: int, last: int, failures: list[str]) -> None:
    from celery.signals import before_task_publish

    from portal import deadlines
    from portal.models import OutboxEmail

    published: list[int] = []

    def count(sender=None, body=None, **kwargs):
        if sender == "portal.tasks.deliver_outbox":
            args = body[0] if isinstance(body, tuple) else body.get("args", [])
            published.append(len(args[0]))

    reset_due(PUBLISH_N, ct, first, last)
    before_task_publish.connect(count, weak=False)
    try:
        started = time.perf_counter()
        result = deadlines.sweep()
        seconds = time.perf_counter() - started
    finally:
        before_task_publish.disconnect(count)
    emails = OutboxEmail.objects.count()
    print(f"  sweep of {PUBLISH_N} due reminders: {len(result.actions)} actions in {seconds:.1f} s, "
          f"{emails} outbox emails, {len(published)} broker messages (ids per message: max {max(published or [0])}, "
          f"total {sum(published)})")
    print(f"  {PUBLISH_N / seconds:,.0f} due reminders a second (target: {PUBLISH_N:,} in <= {PUBLISH_SECONDS:g} s)")
    if len(result.actions) != PUBLISH_N or seconds > PUBLISH_SECONDS:
        failures.append(f"{len(result.actions)} of {PUBLISH_N} reminders in {seconds:.1f} s "
                        f"(at most {PUBLISH_SECONDS:g} s)")
    if len(published) > 21:
        failures.append(f"{len(published)} broker messages for {PUBLISH_N} reminders (at most 21)")
    if sum(published) != emails:
        failures.append(f"{sum(published)} outbox ids published for {emails} emails")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 1,000,000 not-due rows in the large table")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    big = max(SMALL * 2, int(1_000_000 * args.scale))

    database_url, drop = prepare_database(args.keep)
    failures: list[str] = []
    try:
        setup_django(database_url)
        register_kind()
        ct, first, last = seed_targets()

        print(f"1. sweep cost with {SMALL:,} vs {big:,} deadlines not due, {DUE:,} due in both")
        add_not_due(SMALL, ct, first, last)
        reset_due(DUE, ct, first, last)
        check_plan(f"{SMALL:,} not due", failures)
        small_time = time_sweeps(f"{SMALL:,} not due", ct, first, last)

        started = time.perf_counter()
        add_not_due(big - SMALL, ct, first, last)
        print(f"  seeded {big - SMALL:,} more rows in {time.perf_counter() - started:.1f} s")
        reset_due(DUE, ct, first, last)
        check_plan(f"{big:,} not due", failures)
        big_time = time_sweeps(f"{big:,} not due", ct, first, last)
        ratio = big_time / small_time
        print(f"  ratio: {ratio:.2f} (target <= 1.5)")
        if ratio > 1.5:
            failures.append(f"sweep with {big:,} not-due rows is {ratio:.2f}x the one with {SMALL:,}")

        print(f"2. broker messages and time for {PUBLISH_N:,} due reminders")
        count_publishes(ct, first, last, failures)

        print(f"3. bulk sweep vs row by row, {DUE:,} due among {big:,} not due")
        row_time = time_sweeps("row by row (baseline)", ct, first, last, bulk=False)
        speedup = row_time / big_time
        print(f"  bulk is {speedup:.1f}x the row-by-row sweep (target >= {SPEEDUP:g}x)")
        if speedup < SPEEDUP:
            failures.append(f"the bulk sweep is {speedup:.1f}x the row-by-row one (at least {SPEEDUP:g}x)")
    finally:
        drop()
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print("all deadline targets met")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
