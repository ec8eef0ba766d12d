"""Benchmark of the transparency report (issue 8). Not part of CI; run by `make bench`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/report_bench.py [--scale 1.0]

Works on a database of its own (``<name>_report_bench``, created, migrated and
dropped unless ``--keep``), seeded with ``generate_series`` bulk inserts: at scale
1.0, 100,000 applications with their status history, certificates, audits, review
windows, findings and responses. Then, in one run:

1. the sequential scan of each source table of the rollups (median of 3 after a
   warm-up, index scans and parallel workers switched off), summed; then a full rollup recompute
   (median of 3): target recompute <= 2.5x the summed scans;
2. requests per second of a published report page and of a bare Django JSON view,
   both through the same process, middleware stack and Django test client:
   target report page >= 10% of the bare view.

Prints both measurements and their ratios; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# A bare view and the portal's own URLs, in one URLconf for the test client.
urlpatterns: list = []


def bare_json(request):
    from django.http import JsonResponse

    return JsonResponse({"ok": True})


def _setup_database(keep: bool) -> tuple[str, str]:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("report_bench needs PostgreSQL: set DATABASE_URL=postgres://...")
    parsed = urlparse(url)
    name = parsed.path.lstrip("/") + "_report_bench"
    admin_url = urlunparse(parsed._replace(path="/postgres"))
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunparse(parsed._replace(path=f"/{name}"))
    return admin_url, name


def _drop_database(admin_url: str, name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


# --- seeding -----------------------------------------------------------------------------------------


def _fill(field) -> str | None:
    """A SQL expression for a NOT NULL column the seed does not set (Django defaults are not in the schema)."""
    from django.db import models

    if field.null or field.primary_key:
        return None
    default = field.default
    if default is models.NOT_PROVIDED:
        default = None
    if callable(default):
        if isinstance(field, models.CharField):
            return f"left(md5(random()::text || g::text), {min(field.max_length, 32)})"
        if isinstance(field, models.DateTimeField):
            return "now()"
        default = default()
    if isinstance(field, models.JSONField):
        import json

        return "'" + json.dumps(default if default is not None else {}) + "'::jsonb"
    if isinstance(field, models.BooleanField):
        return "true" if default else "false"
    if isinstance(field, (models.IntegerField, models.FloatField)):
        return str(default or 0)
    if isinstance(field, models.DateTimeField):
        return "now()"
    if isinstance(field, models.BinaryField):
        return "''::bytea"
    return "'" + str(default or "").replace("'", "''") + "'"


def insert(model, count_or_from: int | str, values: dict[str, str]) -> int:
    """INSERT ... SELECT over ``generate_series(1, n) AS g`` (or a FROM clause given as text),
    filling the other NOT NULL columns from the model's defaults."""
    from django.db import connection

    columns, exprs = [], []
    for field in model._meta.concrete_fields:
        column = field.column
        if column in values:
            expr = values[column]
        else:
            expr = _fill(field)
            if expr is None:
                continue
        columns.append(f'"{column}"')
        exprs.append(expr)
    source = f"generate_series(1, {count_or_from}) AS g" if isinstance(count_or_from, int) else count_or_from
    sql = f'INSERT INTO {model._meta.db_table} ({", ".join(columns)}) SELECT {", ".join(exprs)} FROM {source}'
    with connection.cursor() as cursor:
        cursor.execute(sql)
        inserted = cursor.rowcount
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{model._meta.db_table}', 'id'), "
                       f"(SELECT COALESCE(MAX(id), 1) FROM {model._meta.db_table}))")
    return inserted


def seed(scale: float) -> dict[str, int]:
    from django.db import connection

    from auditors.models import Accreditation, AuditReport, Engagement
    from certification.certificates.models import Certificate, RevocationProposal
    from certification.framework.models import FrameworkVersion
    from certification.releases.models import AIModel, Application, ApplicationTransition, Release
    from certification.review.models import Finding, FindingResponse, ReviewWindow
    from portal.models import AuditEntry, Organization, User

    n_apps = max(1000, int(100_000 * scale))
    n_orgs = max(20, n_apps // 50)
    n_models = max(100, n_apps // 5)
    n_users = 300
    fv = FrameworkVersion.objects.get(version="2025.1").pk
    counts = {}
    counts["users"] = insert(User, n_users, {"id": "g", "email": "'bench' || g || '@bench.example'",
                                             "pseudonym": "'p' || g"})
    counts["organizations"] = insert(Organization, n_orgs, {
        "id": "g", "name": "'Org ' || g", "slug": "'org-' || g", "is_alliance_member": "(g % 5 <> 0)"})
    insert(AIModel, n_models, {"id": "g", "organization_id": f"1 + (g % {n_orgs})", "name": "'Model ' || g",
                               "slug": "'m' || g", "hub_repo_id": "''"})
    insert(Release, n_apps, {"id": "g", "ai_model_id": f"1 + (g % {n_models})", "version": "g::text",
                             "parameter_count": "1000000"})
    # Statuses by g % 10: 0-5 certified, 6 rejected, 7 in review, 8 submitted, 9 draft; tiers independent of it.
    status = ("CASE WHEN g % 10 < 6 THEN 'certified' WHEN g % 10 = 6 THEN 'rejected' WHEN g % 10 = 7 "
              "THEN 'in_review' WHEN g % 10 = 8 THEN 'submitted' ELSE 'draft' END")
    first = "(timestamptz '2023-01-01' + ((g * 37) % 1300) * interval '1 day' + (g % 24) * interval '1 hour')"
    counts["applications"] = insert(Application, n_apps, {
        "id": "g", "release_id": "g", "framework_version_id": str(fv), "status": status,
        "tier": "1 + (g / 10) % 4",
        "first_submitted_at": f"CASE WHEN g % 10 = 9 THEN NULL ELSE {first} END",
        "submitted_at": f"CASE WHEN g % 10 = 9 THEN NULL ELSE {first} END",
        "decided_at": f"CASE WHEN g % 10 < 7 THEN {first} + (5 + g % 80) * interval '1 day' END",
        "created_at": first, "updated_at": first})
    app = Application._meta.db_table
    tr_rows = 0
    for from_s, to_s, when, where in [
        ("draft", "submitted", "first_submitted_at", "first_submitted_at IS NOT NULL"),
        ("submitted", "screening", "first_submitted_at + interval '1 day'",
         "status <> 'submitted' AND status <> 'draft'"),
        ("screening", "changes_requested", "first_submitted_at + interval '2 days'",
         "status IN ('certified', 'rejected', 'in_review') AND id % 3 = 0"),
        ("changes_requested", "submitted", "first_submitted_at + interval '4 days'",
         "status IN ('certified', 'rejected', 'in_review') AND id % 3 = 0"),
        ("screening", "in_review", "first_submitted_at + interval '5 days'",
         "status IN ('certified', 'rejected', 'in_review')"),
        ("in_review", "decision_pending", "decided_at - interval '1 day'", "decided_at IS NOT NULL"),
        ("decision_pending", "certified", "decided_at", "status = 'certified'"),
        ("decision_pending", "rejected", "decided_at", "status = 'rejected'"),
    ]:
        tr_rows += insert(ApplicationTransition, f"{app} AS a WHERE {where}", {
            "application_id": "a.id", "from_status": f"'{from_s}'", "to_status": f"'{to_s}'", "at": when})
    counts["transitions"] = tr_rows
    rel, mod = Release._meta.db_table, AIModel._meta.db_table
    # Certificates: 1% revoked, 8% superseded, 1% suspended, the rest valid.
    cert_status = ("CASE WHEN a.id % 100 = 0 THEN 'revoked' WHEN a.id % 100 < 9 THEN 'superseded' "
                   "WHEN a.id % 100 = 9 THEN 'suspended' ELSE 'valid' END")
    counts["certificates"] = insert(Certificate, f"{app} AS a JOIN {rel} r ON r.id = a.release_id "
                                                 f"JOIN {mod} m ON m.id = r.ai_model_id WHERE a.status = 'certified'", {
        "id": "a.id", "number": "'RRC-B-' || a.id", "application_id": "a.id", "release_id": "a.release_id",
        "organization_id": "m.organization_id", "framework_version_id": str(fv), "tier": "a.tier",
        "status": cert_status, "issued_at": "a.decided_at", "expires_at": "a.decided_at + interval '365 days'",
        "updated_at": "a.decided_at + interval '100 days'", "hub_repo_id": "''", "hub_revision": "''",
        "attestation_keyid": "''", "status_reason": "''"})
    cert = Certificate._meta.db_table
    insert(RevocationProposal, f"{cert} AS c WHERE c.status = 'revoked'", {
        "certificate_id": "c.id", "reason": "'bench'", "proposed_by_id": "1", "proposed_at": "c.updated_at",
        "confirmed_by_id": "2", "confirmed_at": "c.updated_at"})
    # The audit log, at one entry per recorded event, as the services write it: every status
    # change of an application, the issue and signature of every certificate, suspensions
    # (some reinstated), and the findings' submissions, triage and responses. (The findings
    # and responses come later in this seed: their entries are added after them.)
    entries = 0
    tr = ApplicationTransition._meta.db_table

    def audit_rows(source: str, action: str, object_type: str, object_id: str, when: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {AuditEntry._meta.db_table}")
            base = cursor.fetchone()[0]
        return insert(AuditEntry, f"(SELECT s.*, row_number() OVER () AS n FROM {source} s) AS c", {
            "seq": f"{base} + c.n", "created_at": when, "action": action, "object_type": f"'{object_type}'",
            "object_id": f"{object_id}::text", "object_repr": "''", "payload": "'{}'::jsonb",
            "prev_hash": f"md5({base} + c.n || 'p') || md5({base} + c.n || 'q')",
            "hash": f"md5({base} + c.n || 'h') || md5({base} + c.n || 'i')"})

    entries += audit_rows(tr, "'certification.application.' || c.to_status", "certification.application",
                          "c.application_id", "c.at")
    for action, where, when in [
        ("certification.certificate.issued", "true", "c.issued_at"),
        ("certification.certificate.signed", "true", "c.issued_at"),
        ("certification.certificate.suspended", "status = 'suspended' OR id % 100 = 10",
         "c.issued_at + interval '30 days'"),
        ("certification.certificate.reinstated", "id % 100 = 10", "c.issued_at + interval '40 days'"),
    ]:
        entries += audit_rows(f"(SELECT * FROM {cert} WHERE {where})", f"'{action}'", "certification.certificate",
                              "c.id", when)
    counts["audit entries"] = entries
    # The chain head follows the seeded entries, so later appends (the publication) chain on.
    from portal.models import AuditChainHead

    last = AuditEntry.objects.order_by("-seq").first()
    AuditChainHead.objects.update_or_create(pk=1, defaults={"seq": last.seq, "hash": last.hash})
    insert(Accreditation, 200, {"id": "g", "user_id": "g", "role": "'auditor'", "status": "'approved'",
                                "capacity": "5", "tiers": "'[3, 4]'::jsonb"})
    big = "a.tier >= 3 AND a.status IN ('certified', 'rejected', 'in_review')"
    counts["engagements"] = insert(Engagement, f"{app} AS a CROSS JOIN generate_series(1, 2) AS seat "
                                               f"WHERE {big} AND (seat = 1 OR a.tier = 4)", {
        "application_id": "a.id", "accreditation_id": "1 + (a.id + seat) % 200", "seat": "seat",
        "status": "CASE WHEN a.status = 'in_review' THEN 'active' ELSE 'completed' END",
        "accepted_at": "a.first_submitted_at + interval '6 days'",
        "report_due_at": "a.first_submitted_at + interval '6 days' + CASE WHEN a.tier = 3 THEN interval '30 days' "
                         "ELSE interval '45 days' END"})
    eng = Engagement._meta.db_table
    insert(AuditReport, f"{eng} AS e", {
        "engagement_id": "e.id", "updated_at": "e.accepted_at",
        "filed_at": "CASE WHEN e.status = 'completed' THEN e.accepted_at + (20 + e.id % 30) * interval '1 day' END"})
    counts["review windows"] = insert(ReviewWindow, f"{app} AS a WHERE {big}", {
        "application_id": "a.id", "tier": "a.tier", "first_opened_at": "a.first_submitted_at + interval '6 days'",
        "opened_at": "a.first_submitted_at + interval '6 days'",
        "closes_at": "a.first_submitted_at + interval '6 days' + CASE WHEN a.tier = 3 THEN interval '30 days' "
                     "ELSE interval '90 days' END"})
    win = ReviewWindow._meta.db_table
    categories = "(ARRAY['toxicity','bias','factuality','privacy_leakage','security','dangerous_capability'," \
                 "'documentation_discrepancy','license_use_policy','other'])"
    counts["findings"] = insert(Finding, f"{win} AS w CROSS JOIN generate_series(1, 3) AS k", {
        "window_id": "w.id", "author_id": "1 + (w.id + k) % 300",
        "status": "(ARRAY['accepted','accepted','accepted','duplicate','invalid','out_of_scope','submitted'])"
                  "[1 + (w.id + k) % 7]",
        "title": "'Finding ' || k", "category": f"{categories}[1 + (w.id * 3 + k) % 9]",
        "severity": "(ARRAY['critical','high','medium','low','info'])[1 + (w.id + 2 * k) % 5]",
        "submitted_at": "w.opened_at + k * interval '3 days'",
        "triaged_at": "w.opened_at + k * interval '3 days' + interval '2 days'"})
    fnd = Finding._meta.db_table
    counts["responses"] = insert(FindingResponse, f"{fnd} AS f WHERE f.status = 'accepted' AND f.id % 5 <> 0", {
        "finding_id": "f.id", "kind": "(ARRAY['mitigated','accepted_risk','disputed'])[1 + f.id % 3]",
        "details": "'x'", "responded_by_id": "1", "responded_at": "f.triaged_at + (f.id % 40) * interval '1 day'"})
    resp = FindingResponse._meta.db_table
    for source, action, when in [
        (fnd, "certification.review.finding_submitted", "c.submitted_at"),
        (f"(SELECT * FROM {fnd} WHERE triaged_at IS NOT NULL AND status <> 'submitted')",
         "certification.review.finding_triaged", "c.triaged_at"),
        (resp, "certification.review.response_filed", "c.responded_at"),
    ]:
        counts["audit entries"] += audit_rows(source, f"'{action}'", "certification.finding",
                                              "c.finding_id" if source == resp else "c.id", when)
    last = AuditEntry.objects.order_by("-seq").first()
    AuditChainHead.objects.update_or_create(pk=1, defaults={"seq": last.seq, "hash": last.hash})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return counts


# --- measurements ------------------------------------------------------------------------------------


def median_time(fn, runs: int = 3) -> float:
    fn()  # warm-up: caches, buffers
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# The full recompute, at most this many times the summed sequential scans of its source tables.
RECOMPUTE_TARGET = 2.5

SOURCE_TABLES = [
    "certification_application", "certification_applicationtransition", "certification_certificate",
    "certification_revocationproposal", "portal_auditentry", "portal_organization", "auditors_auditreport",
    "auditors_engagement", "certification_finding", "certification_findingresponse", "certification_reviewwindow",
    "certification_frameworkversion",
]


def seq_scans() -> dict[str, float]:
    from django.db import connection, transaction

    out = {}
    for table in SOURCE_TABLES:
        def scan(table=table):
            with transaction.atomic(), connection.cursor() as cursor:
                for setting in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"):
                    cursor.execute(f"SET LOCAL {setting} = off")
                # One process reads each table, as the recompute's aggregates must (string_agg,
                # grouping sets and percentiles have no parallel plan): with parallel workers the
                # yardstick would shrink on an idle machine and grow on a busy one.
                cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                cursor.execute(f"SELECT count(*) FROM {table}")
                cursor.fetchone()
        out[table] = median_time(scan)
    return out


def requests_per_second(client, url: str, seconds: float) -> float:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            client.get(url)
        done += 20
    return done / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 100,000 applications")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each requests-per-second run")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()

    admin_url, db_name = _setup_database(args.keep)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import include, path
    from django.utils import timezone

    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        counts = seed(args.scale)
        print(f"seeded in {time.perf_counter() - started:.1f}s: "
              + ", ".join(f"{v:,} {k}" for k, v in counts.items()))

        from certification.transparency import rollups as transparency_rollups
        from certification.transparency import services as transparency_services
        from portal.accounts import staff_group
        from portal.models import User

        # 1. Sequential scans of the source tables, then the full recompute.
        scans = seq_scans()
        scan_total = sum(scans.values())
        for table, seconds in scans.items():
            print(f"  seq scan {table:40s} {seconds * 1000:8.1f} ms")
        recompute = median_time(transparency_rollups.refresh_rollups)
        ratio = recompute / scan_total
        print(f"sequential scans, summed: {scan_total * 1000:.1f} ms; full rollup recompute: {recompute * 1000:.1f} ms")
        print(f"recompute / scans = {ratio:.2f} (target <= {RECOMPUTE_TARGET:.2f}) "
              f"{'OK' if ratio <= RECOMPUTE_TARGET else 'MISSED'}")

        # 2. A published report page against a bare JSON view, same process and stack.
        year = timezone.now().year - 1
        staff = User.objects.get(pk=1)
        staff.groups.add(staff_group())
        transparency_services.publish(year, staff,
                                      transparency_services.draft_digest(transparency_services.build_draft(year)))
        global urlpatterns
        urlpatterns = [path("bench/bare/", bare_json), path("", include(settings.ROOT_URLCONF))]
        with override_settings(ROOT_URLCONF=__name__):
            client = Client()
            bare = requests_per_second(client, "/bench/bare/", args.seconds)
            page = requests_per_second(client, f"/report/{year}/", args.seconds)
        share = page / bare
        print(f"bare JSON view: {bare:.0f} req/s; published report page: {page:.0f} req/s")
        print(f"report page / bare view = {share:.2f} (target >= 0.10) {'OK' if share >= 0.10 else 'MISSED'}")
        return 0 if ratio <= RECOMPUTE_TARGET and share >= 0.10 else 1
    finally:
        if not args.keep:
            _drop_database(admin_url, db_name)


if __name__ == "__main__":
    sys.exit(main())
