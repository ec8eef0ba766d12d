"""Smoke test of the embedded default (DESIGN §9): no DATABASE_URL, no REDIS_URL.

A fresh ``PORTAL_VAR_DIR`` gets a migrated SQLite database; notify() queues on
kombu's ``filesystem://`` transport; a worker with embedded beat delivers into
``<var>/mail``, both the email queued at commit and one left for the periodic
drain. ``manage.py runportal`` starts web, worker and beat and stops them all
on SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.celery_support import BASE_DIR, celery_worker, child_env, free_port, stop_process_group, wait_for

pytestmark = pytest.mark.slow

# Embedded defaults only: no service URLs, emails to the default folder under the var dir.
EMBEDDED_ENV = {"EMAIL_BACKEND": None, "EMAIL_FILE_PATH": None, "DEBUG": None, "DEMO_MODE": None}

NOTIFY = """
from django.db import transaction
from portal.models import OutboxEmail, User
from portal.notifications import notify

user = User.objects.create_user("embedded@example.org", "embedded-pass-2025", name="Em Bedded")
notify(user, "test", {"message": "Queued at commit."})
# As if the broker had been down at commit: only the periodic drain can send this one.
with transaction.atomic():
    OutboxEmail.objects.create(to="drained@example.org", subject="Left for the drain", body_text="Drained.")
"""

OUTBOX_STATE = """
import json
from portal.models import OutboxEmail
print(json.dumps({row.to: bool(row.sent_at) for row in OutboxEmail.objects.all()}))
"""


def manage(var_dir: Path, *args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR, env=child_env(PORTAL_VAR_DIR=str(var_dir), **EMBEDDED_ENV),
        capture_output=True, text=True, timeout=timeout,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def outbox_state(var_dir: Path) -> dict[str, bool]:
    """{recipient: sent?} read by another process from the embedded database."""
    return json.loads(manage(var_dir, "shell", "-v0", "-c", OUTBOX_STATE).strip().splitlines()[-1])


@pytest.fixture(scope="module")
def embedded_var(tmp_path_factory) -> Path:
    var_dir = tmp_path_factory.mktemp("embedded-var")
    manage(var_dir, "migrate", "--noinput", "-v0")
    assert (var_dir / "portal.sqlite3").exists()
    return var_dir


def test_embedded_default_delivers_notification_emails_through_a_filesystem_worker(embedded_var):
    manage(embedded_var, "shell", "-c", NOTIFY)
    # notify() queued its task as a file on the filesystem:// transport.
    assert list((embedded_var / "celery" / "queue").iterdir())

    with celery_worker(
        embedded_var, broker_url=None, database_url=None, beat=True, purge=False,
        env={**EMBEDDED_ENV, "OUTBOX_DRAIN_SECONDS": "1"},
    ) as worker:
        emails = worker.wait_for_emails(2, timeout=60)
        state = wait_for(lambda: (s := outbox_state(embedded_var)) and all(s.values()) and s, 30, what="sent_at")
        log = worker.log()

    assert worker.mail_dir == embedded_var / "mail"
    assert state == {"embedded@example.org": True, "drained@example.org": True}
    assert len(emails) == 2
    assert sum("To: embedded@example.org" in e and "Queued at commit." in e for e in emails) == 1
    assert sum("To: drained@example.org" in e for e in emails) == 1
    assert re.search(r"portal\.tasks\.deliver_outbox\[[^\]]+\] succeeded", log), log[-3000:]
    assert re.search(r"portal\.tasks\.drain_outbox\[[^\]]+\] succeeded in [0-9.]+s: 1\b", log), log[-3000:]


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc), whatever session it moved to."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_runportal_serves_and_stops_web_worker_and_beat_on_a_signal(embedded_var, tmp_path, sig):
    port = free_port()
    log_path = tmp_path / "runportal.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runportal", "--port", str(port)],
            cwd=BASE_DIR, env=child_env(PORTAL_VAR_DIR=str(embedded_var), **EMBEDDED_ENV),
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:

        def healthy() -> bool:
            assert proc.poll() is None, f"runportal exited early:\n{log_path.read_text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(healthy, 60, interval=0.5, what="/healthz to answer 200")
        # Web (runserver) and worker, whose embedded beat is a child of the worker.
        wait_for(lambda: len(_descendants(proc.pid)) >= 3, 30, what="web, worker and beat processes")
        processes = _descendants(proc.pid)
        output = log_path.read_text()
        assert f"Portal running at http://localhost:{port}/" in output
        assert "staff@demo.example" in output and "Demo logins" in output

        started = time.monotonic()
        # SIGINT to the whole group, as Ctrl-C in a terminal does; SIGTERM to the process only.
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 20
        assert "Stopped." in log_path.read_text()
        left = [pid for pid in processes if _alive(pid)]
        assert not left, f"still running after runportal stopped: {left}"
    finally:
        if proc.poll() is None:
            stop_process_group(proc)
