"""Benchmark of the static signed registry export (issue 15 §3). Not part of CI; run by `make bench`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/export_bench.py [--scale 1.0]

Needs PostgreSQL, Redis and ``wrk`` as ``registry_bench.py``, whose database seeding (bulk
``generate_series`` inserts, no application flow), production environment and wrk runner it
reuses. The size is ``--scale`` (1.0 = 100,000 certificates; ``BENCH_SCALE`` through
``bench/run.py``): CI never runs it.

1. ``export_registry`` of every certificate into a new directory: time, files, size on disk;
2. one certificate revoked, then the incremental run: time, files written, files carried over;
3. in one run, the URLs taking turns slice by slice (as registry_bench): the bare Django view,
   verify by number uncached (random numbers), verify by sha256 cached (1,000 hot digests),
   and the export's certificate files (random numbers) served by a static web server. Debian's
   nginx is used when installed; otherwise a threaded Python static server
   (``http.server.ThreadingHTTPServer``), said in the output. Printed as ratios to the bare view.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import registry_bench as rb  # noqa: E402

STATIC_LUA = r"""
local paths = {}
function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do if #line > 0 then paths[#paths + 1] = line end end
  file:close()
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""

NGINX_CONF = """
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  include /etc/nginx/mime.types;
  sendfile on;
  open_file_cache max=10000;
  client_body_temp_path {tmp}/nginx-body;
  proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fastcgi;
  uwsgi_temp_path {tmp}/nginx-uwsgi;
  scgi_temp_path {tmp}/nginx-scgi;
  server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
"""

THREADED_SERVER = """
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
handler.func.log_message = lambda *a, **k: None
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
"""


def python_load(host: str, port: int, requests: list[tuple[str, dict]], seconds: float,
                connections: int) -> rb.Result:
    """Without wrk: ``connections`` threads with keep-alive connections, random requests from the
    list, for ``seconds``. The client shares the machine and the GIL: its own ceiling caps the rates."""
    import http.client
    import random
    import statistics
    import threading

    latencies, errors, stop_at = [], [0], time.monotonic() + seconds

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=10)
        mine = []
        while time.monotonic() < stop_at:
            path, headers = random.choice(requests)
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    errors[0] += 1
            except (OSError, http.client.HTTPException):
                errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=10)
            mine.append((time.perf_counter() - t0) * 1000)
        latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    p50 = statistics.median(latencies) if latencies else 0.0
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
    return rb.Result(len(latencies), elapsed, p50, p99, f"{errors[0]} errors" if errors[0] else "")


def disk_usage(path: Path) -> tuple[int, int]:
    files = size = 0
    for p in path.rglob("*"):
        if p.is_file():
            files += 1
            size += p.stat().st_size
    return files, size


def start_static(root: Path, port: int, tmp: Path) -> tuple[subprocess.Popen, str]:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx:
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, root=root))
        proc = subprocess.Popen([nginx, "-c", str(conf), "-g", "daemon off;"], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        label = "nginx (2 workers)"
    else:
        script = tmp / "static_server.py"
        script.write_text(THREADED_SERVER)
        proc = subprocess.Popen([sys.executable, str(script), str(port), str(root)], start_new_session=True)
        label = "threaded Python static server (nginx is not installed)"
    import urllib.request

    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/current.json", timeout=2).close()
            return proc, label
        except OSError:
            if time.monotonic() > deadline:
                rb.stop(proc)
                sys.exit("the static server did not answer")
            time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 100,000 certificates")
    parser.add_argument("--duration", type=int, default=12, help="seconds of load on each URL (default 12)")
    parser.add_argument("--slice", type=int, default=2, help="seconds of each wrk run (default 2)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")):
        print("export_bench needs PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"
    prefix = f"export-bench-{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix="export-bench-"))
    admin_url, db_name, db_url = rb.create_database(base_url.rstrip("/") + "_export")
    env = rb.production_env(db_url, redis_url, prefix, tmp)
    os.environ.update(env)
    procs = []
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections
        from django.utils import timezone

        from certification.certificates import export
        from certification.certificates.models import Certificate

        call_command("migrate", verbosity=0)
        call_command("collectstatic", "--noinput", verbosity=0)
        started = time.perf_counter()
        counts = rb.seed(args.scale)
        print(f"seeded in {time.perf_counter() - started:.1f}s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))

        root = tmp / "export"
        started = time.perf_counter()
        full = export.export(root)
        full_seconds = time.perf_counter() - started
        files, size = disk_usage(full.path)
        print(f"full export: {full.certificates:,} certificates in {full_seconds:.1f}s "
              f"({full.certificates / full_seconds:,.0f}/s), {files:,} files, {size / 1e6:.1f} MB "
              f"(manifest.json {(full.path / 'manifest.json').stat().st_size / 1e3:.1f} kB)")

        victim = Certificate.objects.filter(status="valid").order_by("?").first()
        Certificate.objects.filter(pk=victim.pk).update(status="revoked", updated_at=timezone.now())
        started = time.perf_counter()
        incremental = export.export(root)
        inc_seconds = time.perf_counter() - started
        print(f"incremental export after revoking {victim.number}: {inc_seconds:.1f}s, {incremental.written} files "
              f"written, {incremental.linked:,} carried over by hard link "
              f"({inc_seconds / full_seconds:.0%} of the full export's time)")

        numbers = list(Certificate.objects.values_list("number", flat=True))
        numbers_file = tmp / "numbers.txt"
        numbers_file.write_text("\n".join(numbers) + "\n")
        paths_file = tmp / "paths.txt"
        prefix_path = f"/versions/{incremental.version}/"
        paths_file.write_text("\n".join(prefix_path + export.certificate_path(n) for n in numbers) + "\n")
        static_lua = tmp / "static.lua"
        static_lua.write_text(STATIC_LUA)
        digests = rb.hot_digests(rb.HOT_DIGESTS)
        digests_file = tmp / "digests.txt"
        sha_lua = tmp / "verify_sha256.lua"
        sha_lua.write_text(rb.VERIFY_SHA256_LUA)
        connections.close_all()

        port, static_port = rb.free_port(), rb.free_port()
        procs.append(rb.start_gunicorn(env, port, args.workers, tmp / "gunicorn.log"))
        static, static_label = start_static(root, static_port, tmp)
        procs.append(static)
        base = f"http://127.0.0.1:{port}"
        rb.warm_digests(base, digests, digests_file)
        import random as _random

        hot = [line.split(" ", 1)[0] for line in digests_file.read_text().splitlines()]
        sample = _random.sample(numbers, min(len(numbers), 20_000))
        targets = {  # (wrk url, wrk script, script args, python-client requests, label)
            "bare": (f"{base}/bare/", None, None, [("/bare/", {})], "bare Django JSON view"),
            "uncached": (base, HERE / "verify_random.lua", [str(numbers_file)],
                         [(f"/api/v1/verify/?certificate={n}", {"X-Forwarded-For": f"10.{i % 250}.{i // 250 % 250}.1"})
                          for i, n in enumerate(sample)], "portal verify, uncached"),
            "cached": (base, sha_lua, [str(digests_file)],
                       [(f"/api/v1/verify/?sha256={d}", {"X-Forwarded-For": f"10.99.{i % 250}.1"})
                        for i, d in enumerate(hot)], "portal verify by sha256, cached"),
            "static": (f"http://127.0.0.1:{static_port}", static_lua, [str(paths_file)],
                       [(prefix_path + export.certificate_path(n), {}) for n in sample], "export, static server"),
        }
        ports = {"bare": port, "uncached": port, "cached": port, "static": static_port}

        def load(key: str, seconds: int) -> rb.Result:
            url, script, script_args, requests, _label = targets[key]
            if use_wrk:
                return rb.run_wrk(url, args, script, script_args, seconds)
            return python_load("127.0.0.1", ports[key], requests, seconds, args.connections)

        print(f"gunicorn {args.workers} sync workers (production settings); static server: {static_label}; "
              f"load: {'wrk' if use_wrk else 'a threaded Python client (no wrk): its own ceiling caps the rates'}, "
              f"{args.connections} connections")
        for key in targets:
            load(key, 1)
        keys = list(targets)
        runs = {key: [] for key in keys}
        for i in range(max(1, args.duration // args.slice)):
            for key in keys[i % len(keys):] + keys[: i % len(keys)]:
                result = load(key, args.slice)
                if result.errors:
                    print(f"{targets[key][4]} answered errors: {result.errors}")
                    return 1
                runs[key].append(result)
        best = {key: rb.merge(results) for key, results in runs.items()}
        for key in keys:
            result = best[key]
            print(f"  {targets[key][4]:<34} {result.rps:8.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
                  f"p99 {result.p99_ms:7.2f} ms  = {result.rps / best['bare'].rps:6.1%} of the bare view")
        print(f"export served statically / portal verify uncached = {best['static'].rps / best['uncached'].rps:.1f}x; "
              f"/ portal verify cached = {best['static'].rps / best['cached'].rps:.1f}x")
        return 0
    finally:
        for proc in procs:
            rb.stop(proc)
        rb.drop_database(admin_url, db_name)
        rb.delete_cache_keys(redis_url, prefix)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
