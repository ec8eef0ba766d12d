"""Benchmark of the public registry and the verify API (issue 6). Not part of CI; run by `make bench`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/registry_bench.py [--scale 1.0]

Needs PostgreSQL (``DATABASE_URL``), Redis (``REDIS_URL``, default
``redis://127.0.0.1:6379/14``; only keys under a prefix of its own are written)
and ``wrk`` (Debian: ``apt-get install wrk``).

Works on a database of its own (``<name>_registry_bench``, created, migrated and
dropped unless ``--keep``), seeded with ``generate_series`` bulk inserts: at
scale 1.0, 100,000 certificates (organizations, models, releases, certified
applications, one signed-looking attestation and one subject each; valid, a few
suspended, revoked, superseded and expired).

The portal is served by gunicorn (2 sync workers, as in production) with
production settings: DEBUG=false, a SECRET_KEY, ALLOWED_HOSTS, Redis cache,
collected static files; SECURE_SSL_REDIRECT=false only so that plain HTTP works on
loopback. ``bench/bench_settings.py`` adds the bench-only URL ``/bare/`` (a bare
Django JSON view) through ``bench/bench_urls.py``. In one run against the same
gunicorn processes, ``wrk`` (fixed threads and connections, ``--latency``) loads
each URL for ``--duration`` seconds in all, in runs of ``--slice`` seconds, the URLs
taking turns (so a busy moment of the machine falls on all of them alike); a URL's
rate is its requests over its seconds, its p50 and p99 the medians of its runs':

1. ``/bare/``;
2. ``/api/v1/verify/?certificate=<random number>`` (``bench/verify_random.lua``):
   target >= 15% of the bare view's requests per second;
3. the registry page ``/registry/`` (first page): target >= 6% of the bare view;
4. page 4,000 of the registry (the last page at scale 1; at smaller scales the last
   page) reached by its cursor, computed and checked against the link on page
   3,999: target >= 80% of the first page;
5. cached verify by sha256 (issue 15): ``/api/v1/verify/?sha256=<digest>``, a random one of
   1,000 "hot" artifact digests (the files a model hub serves most), each asked once before
   the load so the shared cache holds its answer: target >= 50% of the bare view;
6. the same requests with ``If-None-Match`` set to the answer's ETag, answered 304: target
   >= 60% of the bare view.

The verify requests name a random client in X-Forwarded-For (the bench settings
trust one proxy), so the production throttle of 120 requests a minute per client
applies as it would to many clients, not to one.

Before loading, the benchmark process checks with Django's test client and
``CaptureQueriesContext`` that a verify by number runs exactly one SQL query, and
that a cached verify by sha256 runs none and answers 304 to its ETag.
Prints every rate with p50 and p99 latencies and the ratios; exits 1 if a target
is missed, 2 if something it needs is missing.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

PAGE_TARGET = 4000
TARGETS = {"verify": 0.15, "registry": 0.06, "deep": 0.80, "cached": 0.50, "notmod": 0.60}
HOT_DIGESTS = 1000

# wrk script of the cached verify: GET /api/v1/verify/?sha256=<random hot digest>, with
# If-None-Match when the second argument is "etag". The digests file holds "<sha256> <etag>"
# a line. Random client addresses, as bench/verify_random.lua.
VERIFY_SHA256_LUA = r"""
local rows = {}
local send_etag = false

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open the digests file " .. tostring(args[1]))
  for line in file:lines() do
    local digest, etag = line:match("^(%x+) (.+)$")
    if digest then rows[#rows + 1] = {digest, etag} end
  end
  file:close()
  assert(#rows > 0, "the digests file is empty")
  send_etag = args[2] == "etag"
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

function request()
  local row = rows[math.random(#rows)]
  local headers = {["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255),
                                                         math.random(1, 254))}
  if send_etag then headers["If-None-Match"] = row[2] end
  return wrk.format("GET", "/api/v1/verify/?sha256=" .. row[1], headers)
end
"""


# --- environment ------------------------------------------------------------------------------------


def production_env(db_url: str, redis_url: str, prefix: str, tmp: Path) -> dict[str, str]:
    """The environment of a production deployment on loopback (plain HTTP)."""
    return {
        "DJANGO_SETTINGS_MODULE": "bench.bench_settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "STATIC_ROOT": str(tmp / "static"),
        "PORTAL_VAR_DIR": str(tmp / "var"),
        # What the production checks require (portal/checks.py, certification/certificates/checks.py);
        # the bench serves plain HTTP on loopback, but SITE_URL must still be the https address.
        "SITE_URL": "https://127.0.0.1",
        "SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "MODEL_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "EMAIL_HOST": "127.0.0.1",
        "DEFAULT_FROM_EMAIL": "bench@portal.example",
        "PRIVATE_STORAGE_ROOT": str(tmp / "private"),
        "LOG_LEVEL": "WARNING",
    }


def create_database(url: str) -> tuple[str, str, str]:
    """(admin url, bench database name, bench database url); the database is new and empty."""
    import psycopg

    parsed = urlparse(url)
    name = (parsed.path.lstrip("/") or "portal") + "_registry_bench"
    admin_url = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # a leftover of an interrupted run
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url, name, urlunparse(parsed._replace(path=f"/{name}"))


def drop_database(admin_url: str, name: str) -> None:
    import psycopg

    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001 - Django may not be set up yet
        pass
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_cache_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


# --- seeding -----------------------------------------------------------------------------------------


def seed(scale: float) -> dict[str, int]:
    """Bulk inserts over generate_series: every certificate of a certified application."""
    from django.db import connection
    from report_bench import insert

    from certification.certificates.models import Certificate, CertifiedArtifact
    from certification.framework.models import FrameworkVersion
    from certification.releases.models import AIModel, Application, Release
    from portal.models import Organization

    n = max(1000, int(100_000 * scale))
    n_orgs = max(20, n // 50)
    n_models = max(100, n // 5)
    fv = FrameworkVersion.objects.get(version="2025.1").pk
    counts = {}
    counts["organizations"] = insert(Organization, n_orgs, {
        "id": "g", "name": "'Organization ' || g", "slug": "'org-' || g", "is_alliance_member": "(g % 5 <> 0)"})
    counts["models"] = insert(AIModel, n_models, {
        "id": "g", "organization_id": f"1 + (g % {n_orgs})", "name": "'Model ' || g", "slug": "'model-' || g",
        "hub_repo_id": "'org-' || (1 + g % " + str(n_orgs) + ") || '/model-' || g"})
    counts["releases"] = insert(Release, n, {
        "id": "g", "ai_model_id": f"1 + (g % {n_models})", "version": "'1.' || g", "parameter_count": "7000000000"})
    # Issued over the last ~3 years, in id order, so the newest certificate has the highest id.
    issued = f"(now() - interval '1100 days' + g * (interval '1100 days' / {n}))"
    counts["applications"] = insert(Application, n, {
        "id": "g", "release_id": "g", "framework_version_id": str(fv), "status": "'certified'",
        "tier": "1 + (g * 7) % 4", "first_submitted_at": f"{issued} - interval '60 days'",
        "submitted_at": f"{issued} - interval '60 days'", "decided_at": issued,
        "created_at": f"{issued} - interval '90 days'", "updated_at": issued})
    app, rel, mod = Application._meta.db_table, Release._meta.db_table, AIModel._meta.db_table
    # Numbers RRC-<year>-<8 hex>: an odd multiplier mod 2^32 keeps them unique and unordered.
    number = ("'RRC-' || to_char(a.decided_at, 'YYYY') || '-' || "
              "upper(lpad(to_hex((a.id * 2654435761) % 4294967296), 8, '0'))")
    status = ("CASE WHEN a.id % 100 = 0 THEN 'revoked' WHEN a.id % 100 < 4 THEN 'superseded' "
              "WHEN a.id % 100 = 4 THEN 'suspended' ELSE 'valid' END")
    # A small fixed DSSE envelope: signed-looking, not verifiable (the benchmark never checks it).
    envelope = ('{"payload":"eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ==",'
                '"payloadType":"application/vnd.in-toto+json","signatures":[{"keyid":"sha256:'
                + "ab" * 32 + '","sig":"' + "A" * 86 + '=="}]}')
    counts["certificates"] = insert(
        Certificate,
        f"{app} AS a JOIN {rel} r ON r.id = a.release_id JOIN {mod} m ON m.id = r.ai_model_id",
        {"id": "a.id", "number": number, "application_id": "a.id", "release_id": "a.release_id",
         "organization_id": "m.organization_id", "framework_version_id": str(fv), "tier": "a.tier",
         "status": status, "issued_at": "a.decided_at", "expires_at": "a.decided_at + interval '730 days'",
         "updated_at": "a.decided_at", "hub_repo_id": "m.hub_repo_id", "hub_revision": "'main'",
         "attestation": "convert_to('" + envelope + "', 'UTF8')", "attestation_keyid": "'sha256:" + "ab" * 32 + "'",
         "status_reason": "''"})
    cert = Certificate._meta.db_table
    counts["subjects"] = insert(CertifiedArtifact, f"{cert} AS c", {
        "certificate_id": "c.id", "path": "'model.safetensors'", "size": "14000000000",
        "sha256": "encode(sha256(convert_to('artifact ' || c.id, 'UTF8')), 'hex')"})
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {cert} SET superseded_by_id = id + 1 WHERE status = 'superseded' AND id < %s", [n])
        cursor.execute("VACUUM ANALYZE")
    return counts


# --- checks in this process ---------------------------------------------------------------------------


def check_queries(numbers: list[str]) -> None:
    """A verify by number runs exactly one SQL query (none would be a cache hit)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    for i, number in enumerate([*random.sample(numbers, 5), "RRC-1999-NOTFOUND"]):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/api/v1/verify/", {"certificate": number},
                                  HTTP_X_FORWARDED_FOR=f"10.200.0.{i + 1}")
        assert response.status_code == 200, (number, response.status_code, response.content[:300])
        found = response.json()["status"] != "not_found"
        assert found == (number != "RRC-1999-NOTFOUND"), (number, response.json())
        if len(ctx.captured_queries) > 1:
            sys.exit(f"MISSED: verify ran {len(ctx.captured_queries)} SQL queries for {number}, not one:\n"
                     + "\n".join(q["sql"] for q in ctx.captured_queries))
        queries = len(ctx.captured_queries)
    print(f"verify by number: {queries} SQL query per request (test client, CaptureQueriesContext) OK")


def hot_digests(count: int) -> list[str]:
    """``count`` artifact digests of random certificates (seeded as sha256("artifact <id>"))."""
    from certification.certificates.models import CertifiedArtifact

    ids = list(CertifiedArtifact.objects.values_list("id", flat=True))
    chosen = random.sample(ids, min(count, len(ids)))
    return list(CertifiedArtifact.objects.filter(id__in=chosen).values_list("sha256", flat=True))


def check_cached(digests: list[str]) -> None:
    """A verify by sha256 asked a second time runs no SQL query, and its ETag gives a 304."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    for i, digest in enumerate(digests[:5]):
        first = client.get("/api/v1/verify/", {"sha256": digest}, HTTP_X_FORWARDED_FOR=f"10.201.0.{i + 1}")
        assert first.status_code == 200 and first.json()["certificates"], (digest, first.content[:300])
        with CaptureQueriesContext(connection) as ctx:
            again = client.get("/api/v1/verify/", {"sha256": digest}, HTTP_X_FORWARDED_FOR=f"10.202.0.{i + 1}")
            unchanged = client.get("/api/v1/verify/", {"sha256": digest}, HTTP_IF_NONE_MATCH=first["ETag"],
                                   HTTP_X_FORWARDED_FOR=f"10.203.0.{i + 1}")
        if ctx.captured_queries or again.content != first.content or unchanged.status_code != 304:
            sys.exit(f"MISSED: a cached verify by sha256 ran {len(ctx.captured_queries)} SQL queries "
                     f"(answers {again.status_code}, {unchanged.status_code}), not 0 and a 304")
    print("cached verify by sha256: 0 SQL queries on the second request, 304 on its ETag OK")


def warm_digests(base: str, digests: list[str], path: Path) -> None:
    """Ask each hot digest once through gunicorn (filling the shared cache); write "<digest> <etag>"
    lines for the wrk script, after checking that the ETag gives a 304."""
    import urllib.error

    lines = []
    for i, digest in enumerate(digests):
        headers = {"X-Forwarded-For": f"10.210.{i // 250}.{i % 250 + 1}"}
        request = urllib.request.Request(f"{base}/api/v1/verify/?sha256={digest}", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            lines.append(f"{digest} {response.headers['ETag']}")
    request = urllib.request.Request(f"{base}/api/v1/verify/?sha256={digests[0]}",
                                     headers={"If-None-Match": lines[0].split(" ", 1)[1],
                                              "X-Forwarded-For": "10.211.0.1"})
    try:
        urllib.request.urlopen(request, timeout=10)
        sys.exit("MISSED: gunicorn did not answer 304 to a verify's own ETag")
    except urllib.error.HTTPError as exc:
        if exc.code != 304:
            raise
    path.write_text("\n".join(lines) + "\n")


def deep_cursor(page: int) -> tuple[str, int, str]:
    """The registry cursor that leads to ``page`` (25 rows a page, newest first; at most the
    last page), the page number, and the number of the first certificate it must show. The
    cursor is computed, then checked against the one the page before it links to."""
    from certification.certificates import registry
    from certification.certificates.models import Certificate

    ids = Certificate.objects.order_by("-id").values_list("id", flat=True)
    pages = -(-ids.count() // registry.PAGE_SIZE)
    page = min(page, pages)
    last_id_before = ids[(page - 1) * registry.PAGE_SIZE - 1]
    first = Certificate.objects.filter(id__lt=last_id_before).order_by("-id").values_list("number", flat=True)[0]
    cursor = registry._encode({"id": last_id_before})
    if page > 1:  # the page before, from its first row: its "next" link must be this cursor
        before = registry.search({}).filter(id__lte=ids[(page - 2) * registry.PAGE_SIZE])
        assert registry.paginate(before, None, registry.PAGE_SIZE).next_cursor == cursor, "cursor mismatch"
    return cursor, page, first


def check_pages(cursor: str, deep_first: str) -> None:
    """The first page and the deep page both show 25 rows, each by one query; the deep page
    starts where it should."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    for label, url in [("first page", "/registry/"), ("deep page", f"/registry/?cursor={cursor}")]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        content = response.content.decode()
        rows = content.count('href="/registry/RRC-')
        assert rows == 25, (label, rows)
        assert label == "first page" or f"/registry/{deep_first}/" in content, (label, deep_first)
        print(f"registry {label}: {len(ctx.captured_queries)} SQL query, {rows} certificates")


# --- serving and loading --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [str(gunicorn), "portal.wsgi", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, **env}, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bare/", timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    stop(proc)
    sys.exit(f"gunicorn did not answer within 60 s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * UNITS[unit]


def run_wrk(url: str, args, script: Path | None, script_args: list[str] | None, seconds: int) -> Result:
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if script_args:
        cmd += ["--", *script_args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"wrk failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout}{done.stderr}")
    out = done.stdout
    requests, elapsed, unit = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out).groups()
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = "; ".join(m.strip() for m in re.findall(r"^\s*(Non-2xx or 3xx responses: \d+|Socket errors: .*)$",
                                                     out, re.M))
    return Result(int(requests), float(elapsed) * UNITS[unit] / 1000, p50, p99, errors)


def merge(results: list[Result]) -> Result:
    """Requests per second over all slices; p50 and p99 are the medians of the slices' own."""
    return Result(sum(r.requests for r in results), sum(r.seconds for r in results),
                  statistics.median(r.p50_ms for r in results), statistics.median(r.p99_ms for r in results),
                  "; ".join(r.errors for r in results if r.errors))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 100,000 certificates")
    parser.add_argument("--duration", type=int, default=20, help="seconds of load on each URL (default 20)")
    parser.add_argument("--slice", type=int, default=2, help="seconds of each wrk run (default 2); the URLs "
                                                             "take turns slice by slice")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        print("registry_bench needs wrk, the HTTP load generator: install it with `apt-get install -y wrk` "
              "(Debian package wrk).", file=sys.stderr)
        return 2
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        print("registry_bench needs PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"
    prefix = f"registry-bench-{os.getpid()}"
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        print(f"registry_bench needs Redis at {redis_url} (set REDIS_URL): {exc}", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="registry-bench-"))
    admin_url, db_name, db_url = create_database(base_url)
    env = production_env(db_url, redis_url, prefix, tmp)
    os.environ.update(env)
    proc = None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("collectstatic", "--noinput", verbosity=0)
        started = time.perf_counter()
        counts = seed(args.scale)
        print(f"seeded in {time.perf_counter() - started:.1f}s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))

        from certification.certificates.models import Certificate

        numbers = list(Certificate.objects.values_list("number", flat=True))
        numbers_file = tmp / "numbers.txt"
        numbers_file.write_text("\n".join(numbers) + "\n")
        check_queries(numbers)
        digests = hot_digests(HOT_DIGESTS)
        check_cached(digests)
        digests_file = tmp / "digests.txt"
        lua = tmp / "verify_sha256.lua"
        lua.write_text(VERIFY_SHA256_LUA)
        cursor, page, deep_first = deep_cursor(PAGE_TARGET)
        check_pages(cursor, deep_first)
        from django.db import connections

        connections.close_all()

        port = free_port()
        proc = start_gunicorn(env, port, args.workers, tmp / "gunicorn.log")
        base = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        warm_digests(base, digests, digests_file)
        print(f"{len(digests):,} hot digests asked once through gunicorn in {time.perf_counter() - started:.1f}s")
        targets = {
            "bare": (f"{base}/bare/", None, None, "bare Django JSON view"),
            "verify": (base, HERE / "verify_random.lua", [str(numbers_file)], "verify API, random numbers"),
            "registry": (f"{base}/registry/", None, None, "registry, first page"),
            "deep": (f"{base}/registry/?cursor={cursor}", None, None, f"registry, page {page:,} by cursor"),
            "cached": (base, lua, [str(digests_file)], "verify by sha256, cached"),
            "notmod": (base, lua, [str(digests_file), "etag"], "verify by sha256, 304"),
        }
        slices = max(1, args.duration // args.slice)
        print(f"gunicorn {args.workers} sync workers on 127.0.0.1:{port}, production settings; "
              f"wrk -t{args.threads} -c{args.connections} -d{args.slice}s --latency, {slices} runs per URL, "
              f"the URLs taking turns")
        keys = list(targets)
        for url, script, script_args, _label in targets.values():  # warm-up: imports, connections, caches
            run_wrk(url, args, script, script_args, 2)
        runs: dict[str, list[Result]] = {key: [] for key in keys}
        for i in range(slices):
            # Turn by turn, each URL starting a turn as often as the others: the machine's
            # ups and downs fall on all of them alike, and the ratios compare like with like.
            for key in keys[i % len(keys):] + keys[: i % len(keys)]:
                url, script, script_args, label = targets[key]
                result = run_wrk(url, args, script, script_args, args.slice)
                if result.errors:
                    print(f"MISSED: {label} answered errors: {result.errors}\n"
                          f"{(tmp / 'gunicorn.log').read_text()[-2000:]}")
                    return 1
                runs[key].append(result)
        best = {key: merge(results) for key, results in runs.items()}
        for key in keys:
            result, label = best[key], targets[key][3]
            spread = sorted(r.rps for r in runs[key])
            print(f"  {label:<32} {result.rps:8.1f} req/s  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                  f"({result.requests:,} requests; runs {spread[0]:.0f}-{spread[-1]:.0f} req/s)", flush=True)
        ok = True
        print()
        for key, over, target in [("verify", "bare", TARGETS["verify"]), ("registry", "bare", TARGETS["registry"]),
                                  ("deep", "registry", TARGETS["deep"]), ("cached", "bare", TARGETS["cached"]),
                                  ("notmod", "bare", TARGETS["notmod"])]:
            ratio = best[key].rps / best[over].rps
            passed = ratio >= target
            ok &= passed
            print(f"{targets[key][3]:<32} / {targets[over][3]:<24} = {ratio:6.1%} (target >= {target:.0%}) "
                  f"{'OK' if passed else 'MISSED'}   [{best[key].rps:.0f} / {best[over].rps:.0f} req/s; "
                  f"p50 {best[key].p50_ms:.2f} ms, p99 {best[key].p99_ms:.2f} ms]")
        return 0 if ok else 1
    finally:
        if proc is not None:
            stop(proc)
        if not args.keep:
            drop_database(admin_url, db_name)
        else:
            print(f"kept database {db_name}")
        delete_cache_keys(redis_url, prefix)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
