"""Auditor assignment benchmark (auditor network issue). Not in CI; prints figures.

1. Batch assignment over synthetic data (no database): 1,000 applications
   (a third Tier 4 with one or two flagged domains) and 600 auditors
   (x ``--scale``), with affiliations, shared domains and existing load.
   Prints the time, the highest load ratio reached against the lower bound
   (total seats / total capacity), how many applications were served, and
   checks that no auditor passes its capacity, every served Tier 4 application
   has its domains covered and no pair has a blocking conflict.
   Target: under 60 s at full scale.
2. Suggestions for one application against 2,000 auditors (x ``--scale``) in a
   throw-away SQLite database: at most 5 queries, and the time per call.

    .venv/bin/python bench/assignment_bench.py --scale 0.1
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

APPS = 1_000
AUDITORS = 600
DB_AUDITORS = 2_000
BATCH_SECONDS = 60.0
DOMAINS = ["biology", "cybersecurity"]


def setup_django() -> None:
    tmp = tempfile.mkdtemp(prefix="assignment-bench-")
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("PORTAL_VAR_DIR", tmp)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    import django

    django.setup()


def synthetic(n_apps: int, n_auditors: int, seed: int = 7):
    from auditors.assignment import AppState, Facts
    from auditors.conflicts import AffiliationFacts, ApplicationFacts, AuditorFacts

    rng = random.Random(seed)
    today = date(2026, 6, 1)
    orgs = list(range(1, max(n_apps // 5, 2) + 1))
    auditors = []
    for i in range(n_auditors):
        capacity = rng.choice([1, 2, 2, 3, 4, 5])
        affiliations = tuple(
            AffiliationFacts(rng.choice(orgs), f"Org {i}", rng.choice(["employment", "consulting", "equity"]),
                             date(2018, 1, 1), rng.choice([None, today - timedelta(days=rng.randint(30, 2000))]))
            for _ in range(rng.choice([0, 0, 1, 2])))
        auditors.append(AuditorFacts(
            accreditation_id=i + 1, user_id=10_000 + i, name=f"Auditor {i:05d}", firm=f"Firm {i % 40}",
            tiers=frozenset(rng.choice([(3,), (3, 4), (3, 4), (4,)])),
            domains=frozenset(d for d in DOMAINS if rng.random() < 0.4), capacity=capacity,
            active_engagements=rng.randint(0, capacity - 1) if rng.random() < 0.3 else 0,
            email_domains=frozenset({f"firm{i % 40}.example", "gmail.com"}), affiliations=affiliations))
    apps, states = {}, {}
    for j in range(n_apps):
        tier = 4 if rng.random() < 1 / 3 else 3
        flagged = frozenset(rng.sample(DOMAINS, rng.choice([1, 2]))) if tier == 4 else frozenset()
        org = rng.choice(orgs)
        apps[j + 1] = ApplicationFacts(
            application_id=j + 1, organization_id=org, organization_names=(f"Org {org}",),
            organization_domains=frozenset({f"org{org}.example", f"firm{org % 40}.example" if org % 17 == 0 else ""}),
            tier=tier, flagged_domains=flagged, seats=2 if tier == 4 else 1)
        states[j + 1] = AppState()
    return Facts(auditors, apps, states), today


def bench_batch(scale: float) -> bool:
    from auditors import assignment, conflicts

    n_apps, n_auditors = max(int(APPS * scale), 10), max(int(AUDITORS * scale), 10)
    facts, today = synthetic(n_apps, n_auditors)
    started = time.perf_counter()
    proposal = assignment.propose_batch([], today=today, facts=facts)
    seconds = time.perf_counter() - started
    seats = sum(facts.apps[a].seats for a in proposal.assignments)
    capacity = sum(a.capacity for a in facts.auditors)
    load = sum(a.active_engagements for a in facts.auditors)
    bound = (load + seats) / capacity if capacity else 0
    ok = True
    by_id = facts.by_id
    for acc, (n, c) in proposal.loads.items():
        if n > c:
            print(f"  CAPACITY EXCEEDED: auditor {acc} has {n} of {c}")
            ok = False
    for app_id, accs in proposal.assignments.items():
        app = facts.apps[app_id]
        covered = set().union(*(by_id[a].domains for a in accs))
        if not app.flagged_domains <= covered or len(accs) != app.seats or len(set(accs)) != len(accs):
            print(f"  BAD ASSIGNMENT for application {app_id}: {accs}")
            ok = False
        for a in accs:
            if conflicts.blocking(conflicts.check(by_id[a], app, today)):
                print(f"  CONFLICT in application {app_id} with auditor {a}")
                ok = False
    print(f"batch: {n_apps} applications, {n_auditors} auditors: {seconds:.2f} s")
    print(f"  served {len(proposal.assignments)}, unservable {len(proposal.unservable)}")
    print(f"  highest load ratio {proposal.max_load_ratio:.3f} (lower bound on the average {bound:.3f})")
    reasons: dict[str, int] = {}
    for why in proposal.unservable.values():
        reasons[why.split(":")[0][:70]] = reasons.get(why.split(":")[0][:70], 0) + 1
    for why, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {n:5d} x {why}")
    if seconds > BATCH_SECONDS * max(scale, 0.1):
        print(f"  SLOW: over {BATCH_SECONDS * max(scale, 0.1):.0f} s")
        ok = False
    return ok


def bench_suggestions(scale: float) -> bool:
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from auditors import assignment
    from auditors.models import Accreditation, Affiliation
    from certification import sample, services
    from certification.models import Application, Benchmark, FrameworkVersion
    from certification.seed import seed_framework
    from portal.models import Membership, Organization, User

    seed_framework(FrameworkVersion, Benchmark)
    n = max(int(DB_AUDITORS * scale), 20)
    with transaction.atomic():
        org = Organization.objects.create(name="Bench AI", slug="bench-ai")
        admin = User.objects.create_user("admin@bench.example", None, name="Admin")
        Membership.objects.create(organization=org, user=admin, role="admin")
        model = services.register_model(org, admin, name="Bench", slug="bench")
        release = services.create_release(model, admin, {
            "version": "1.0", "parameter_count": 100_000_000_000, "capabilities": [],
            "sensitive_domains": ["biology", "cybersecurity"], "emergent_capabilities": False,
            "emergent_description": ""})
        sample.fill_documentation(release, admin)
        app = services.start_application(release, admin)
        services.submit_application(app, admin, signer_name="A", signer_title="B", affirmed=[1, 2, 3, 4, 5, 6])
        users = User.objects.bulk_create([User(email=f"a{i}@audit{i % 50}.example", name=f"Auditor {i}")
                                          for i in range(n)])
        now = timezone.now()
        accs = Accreditation.objects.bulk_create([
            Accreditation(user=u, role="auditor", status="approved", tiers=[3, 4],
                          domains=DOMAINS[: (i % 3)], capacity=3, approved_at=now,
                          valid_until=now + timedelta(days=700)) for i, u in enumerate(users)])
        Affiliation.objects.bulk_create([
            Affiliation(accreditation=a, organization_name=f"Lab {i}", relation="consulting")
            for i, a in enumerate(accs) if i % 2])
    app = Application.objects.select_related("release__ai_model__organization", "framework_version").get(pk=app.pk)
    times = []
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            suggestion = assignment.suggest(app)
            times.append(time.perf_counter() - started)
    print(f"suggestions: {n} auditors: {len(queries)} queries, best of 3 {min(times) * 1000:.0f} ms, "
          f"{len(suggestion.ranked)} eligible, proposal of {len(suggestion.proposal)}")
    return len(queries) <= 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1.0")))
    args = parser.parse_args()
    setup_django()
    ok = bench_batch(args.scale)
    ok = bench_suggestions(args.scale) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
