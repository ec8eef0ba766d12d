"""Real Celery workers, private Redis servers and email folders for the worker tests.

``celery_worker()`` starts ``celery -A portal worker`` as a subprocess in its
own process group, pointed at the current test database, waits until it logs
``ready`` and kills the whole group on exit. Tests that use it need committed
rows, so they run with ``@pytest.mark.django_db(transaction=True)`` on
PostgreSQL (an in-memory SQLite database is invisible to another process).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)
# Variables of the developer's or CI's shell that would otherwise leak into a child.
SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "EMAIL_HOST", "EMAIL_BACKEND", "EMAIL_FILE_PATH", "PORTAL_VAR_DIR")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def current_database_url() -> str:
    """The URL of the database the current test runs on (``test_<name>``), for a child process."""
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        raise RuntimeError("a worker subprocess can only share a PostgreSQL test database")
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{quote(db['NAME'], safe='')}"


def child_env(**overrides: str | None) -> dict[str, str]:
    """The test process's environment without service variables, plus ``overrides`` (None removes)."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    # Set in this process while the browser tests' Playwright loop lives (tests/browser/conftest.py);
    # a real worker or web process must not inherit it (its start-up checks refuse it, async.E001).
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def stop_process_group(proc: subprocess.Popen, timeout: float = 15, sig: int = signal.SIGTERM) -> None:
    """Signal the child's process group (worker, pool children, embedded beat); SIGKILL if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    # Anything left in the group after the leader exited (an orphaned pool child) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class Worker:
    def __init__(self, proc: subprocess.Popen, log_path: Path, mail_dir: Path):
        self.proc = proc
        self.log_path = log_path
        self.mail_dir = mail_dir

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def emails(self) -> list[str]:
        return sent_emails(self.mail_dir)

    def wait_for_emails(self, count: int, timeout: float = 30) -> list[str]:
        try:
            wait_for(lambda: len(self.emails()) >= count, timeout, what=f"{count} email(s) in {self.mail_dir}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- worker log ---\n{self.log()[-4000:]}") from None
        return self.emails()


def sent_emails(mail_dir: Path) -> list[str]:
    """The messages Django's file backend wrote: one ``*.log`` file per connection,
    each message followed by a line of 79 dashes."""
    messages = []
    for path in sorted(mail_dir.glob("*.log")) if mail_dir.exists() else []:
        chunks = path.read_text(errors="replace").split("\n" + "-" * 79 + "\n")
        messages += [chunk for chunk in chunks if chunk.strip()]
    return messages


CURRENT = "current"


@contextlib.contextmanager
def celery_worker(
    var_dir: Path,
    *,
    broker_url: str | None = CURRENT,
    database_url: str | None = CURRENT,
    beat: bool = False,
    pool: str = "solo",
    purge: bool = True,
    env: dict[str, str | None] | None = None,
    ready_timeout: float = 60,
) -> Iterator[Worker]:
    """Run a worker until the block ends, with ``PORTAL_VAR_DIR=var_dir``.

    ``broker_url``: by default the test's ``REDIS_URL``; ``None`` leaves the
    embedded ``filesystem://`` transport under ``var_dir``. ``database_url``:
    by default the current test database; ``None`` leaves the embedded SQLite
    database under ``var_dir``. Emails go to ``var_dir/mail`` through Django's
    file backend (see ``sent_emails``).
    """
    var_dir.mkdir(parents=True, exist_ok=True)
    mail_dir = var_dir / "mail"
    mail_dir.mkdir(exist_ok=True)
    overrides: dict[str, str | None] = {
        "PORTAL_VAR_DIR": str(var_dir),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    if database_url == CURRENT:
        overrides["DATABASE_URL"] = current_database_url()
    elif database_url:
        overrides["DATABASE_URL"] = database_url
    if broker_url == CURRENT:
        broker_url = os.environ.get("REDIS_URL")
    if broker_url:
        overrides["REDIS_URL"] = broker_url
    overrides.update(env or {})

    node = f"test-{uuid.uuid4().hex[:8]}@%h"
    cmd = [
        sys.executable, "-m", "celery", "-A", "portal", "worker",
        "--pool", pool, "--loglevel", "INFO", "-n", node,
        "--without-gossip", "--without-mingle",
    ]
    if purge:
        # Leftovers of an earlier run on a shared Redis database must not be delivered here.
        cmd.append("--purge")
    if pool == "prefork":
        cmd += ["--concurrency", "1"]
    if beat:
        cmd += ["--beat", "--schedule", str(var_dir / "celerybeat-schedule")]
    log_path = var_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            cmd, cwd=BASE_DIR, env=child_env(**overrides), stdin=subprocess.DEVNULL,
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
    worker = Worker(proc, log_path, mail_dir)
    try:
        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"worker exited with {proc.returncode}:\n{worker.log()[-4000:]}")
            return " ready." in worker.log()

        try:
            wait_for(ready, ready_timeout, what="the Celery worker to be ready")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- worker log ---\n{worker.log()[-4000:]}") from None
        yield worker
    finally:
        stop_process_group(proc)


@contextlib.contextmanager
def redis_server(port: int | None = None) -> Iterator[RedisServer]:
    """A private, throw-away ``redis-server`` (no persistence) that a test may stop, freeze and restart."""
    server = RedisServer(port or free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


class RedisServer:
    def __init__(self, port: int):
        self.port = port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server on port {self.port} exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_for(answers, 10, interval=0.05, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)  # a frozen server cannot act on SIGTERM
            stop_process_group(self.proc, timeout=5)
            self.proc = None

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing ever answers."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)


@contextlib.contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Point this process's Celery app (publishing side) at ``url``; restore it afterwards.

    The app caches its connection pools, so changing ``broker_url`` alone would
    keep publishing to the old broker.
    """
    from portal.celery import app

    def reset_pools() -> None:
        if app._pool is not None:
            with contextlib.suppress(Exception):
                app._pool.force_close_all()
        app._pool = None
        with contextlib.suppress(AttributeError, KeyError):
            app.__dict__["amqp"]._producer_pool = None
        # kombu keeps producer pools in a process-wide registry keyed by connection;
        # a pool closed above would be handed out again for the same URL.
        from kombu import pools

        with contextlib.suppress(Exception):
            pools.reset()

    previous = app.conf.broker_url
    reset_pools()
    app.conf.broker_url = url
    try:
        yield
    finally:
        reset_pools()
        app.conf.broker_url = previous


class WebServer:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path):
        self.proc = proc
        self.port = port
        self.log_path = log_path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str, *, cookies: dict[str, str] | None = None, timeout: float = 20) -> HttpAnswer:
        """One GET without following redirects; any status is an answer, never an exception."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"Host": "127.0.0.1", "Accept": "text/html,application/json"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return HttpAnswer(response.status, {k.lower(): v for k, v in response.getheaders()},
                              response.read().decode(errors="replace"))
        finally:
            conn.close()


class HttpAnswer:
    def __init__(self, status: int, headers: dict[str, str], body: str):
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<HttpAnswer {self.status} {self.body[:300]!r}>"


@contextlib.contextmanager
def web_server(
    var_dir: Path,
    *,
    database_url: str | None = CURRENT,
    redis_url: str | None = CURRENT,
    env: dict[str, str | None] | None = None,
    ready_timeout: float = 60,
) -> Iterator[WebServer]:
    """Serve the portal with gunicorn (one sync worker, as deployed) until the block ends.

    Same defaults as ``celery_worker``: the current test database, the test's ``REDIS_URL``,
    ``PORTAL_VAR_DIR=var_dir``. The worker's persistent database connection
    (``CONN_MAX_AGE``) is what an outage test needs: one process that outlives the outage.
    """
    var_dir.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, str | None] = {"PORTAL_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "portal.settings"}
    if database_url == CURRENT:
        overrides["DATABASE_URL"] = current_database_url()
    elif database_url:
        overrides["DATABASE_URL"] = database_url
    if redis_url == CURRENT:
        redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        overrides["REDIS_URL"] = redis_url
    overrides.update(env or {})
    port = free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    cmd = [str(gunicorn), "portal.wsgi", "--workers", "1", "--bind", f"127.0.0.1:{port}",
           "--timeout", "60", "--access-logfile", "-", "--error-logfile", "-"]
    log_path = var_dir / f"web-{uuid.uuid4().hex[:6]}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            cmd, cwd=BASE_DIR, env=child_env(**overrides), stdin=subprocess.DEVNULL,
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = WebServer(proc, port, log_path)
    try:
        def answers() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {proc.returncode}:\n{server.log()[-4000:]}")
            try:
                return server.get("/healthz", timeout=5).status in (200, 503)
            except OSError:
                return False

        try:
            wait_for(answers, ready_timeout, interval=0.3, what="gunicorn to answer")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- web log ---\n{server.log()[-4000:]}") from None
        yield server
    finally:
        stop_process_group(proc)
