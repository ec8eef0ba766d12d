"""Start the web server, a Celery worker and beat together; stop them all together.

Used by ``make run``. Ctrl-C or SIGTERM stops every child; if one child dies
the others are stopped too, so nothing is left running half-way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal import checks, demo


class Command(BaseCommand):
    help = "Run web, Celery worker and beat together (development)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))

    def handle(self, *args, port: int, host: str, **options):
        if not settings.DEBUG:
            # Refuse before starting anything, even with --skip-checks: the deployment checks
            # too, each error naming the variable to set (portal.checks).
            try:
                checks.refuse_to_start("The portal")
            except checks.StartupCheckFailed as exc:
                raise CommandError(str(exc)) from None
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        commands = {
            "web": [python, manage, "runserver", f"{host}:{port}", "--noreload"],
            # One worker with embedded beat: there must be a single beat (see README).
            "worker": [
                python, "-m", "celery", "-A", "portal", "worker", "--beat", "--loglevel", "INFO",
                "--concurrency", "2", "--schedule", str(settings.CELERY_BEAT_SCHEDULE_FILENAME),
            ],
        }
        # Links in emails rendered by the web process point at this server.
        env = {**os.environ, "SITE_URL": os.environ.get("SITE_URL") or f"http://localhost:{port}"}
        children: dict[str, subprocess.Popen] = {}
        signals_received = 0

        def stop(*_):
            nonlocal signals_received
            signals_received += 1
            if signals_received > 1:
                # A second Ctrl-C: do not wait for a warm shutdown.
                for child in children.values():
                    _kill_group(child, signal.SIGKILL)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, cmd in commands.items():
            # Own process group: a Ctrl-C in the terminal reaches only us, and we stop
            # the children in order (the worker first finishes its task and stops beat).
            children[name] = subprocess.Popen(
                cmd, cwd=settings.BASE_DIR, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                preexec_fn=_die_with_parent,
            )

        self.stdout.write(self.style.SUCCESS(f"\nPortal running at http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/"))
        if settings.DEBUG or settings.DEMO_MODE:
            self.stdout.write(f"Demo logins (password {demo.DEMO_PASSWORD}):")
            for spec in demo.DEMO_USERS:
                line = f"  {spec.role:<40} {spec.email}"
                if spec.totp_secret:
                    line += f"   TOTP secret: {spec.totp_secret}"
                self.stdout.write(line)
        self.stdout.write(f"Emails are written to {settings.EMAIL_FILE_PATH if hasattr(settings, 'EMAIL_FILE_PATH') else 'SMTP'}")
        self.stdout.write("Press Ctrl-C to stop.\n")
        self.stdout.flush()

        exit_code = 0
        while not signals_received:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with {child.returncode}; stopping the others.")
                    exit_code = child.returncode or 1
                    signals_received = 1
                    break
            time.sleep(0.5)
        # SIGTERM to each leader only: the Celery worker then shuts down warm (it waits
        # for its pool and stops its embedded beat); signalling its whole group would
        # kill the pool children mid-task.
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(child, signal.SIGKILL)
                child.wait()
        for child in children.values():
            _kill_group(child, signal.SIGKILL)  # anything its leader left behind
        self.stdout.write("Stopped.")
        sys.exit(exit_code)


def _kill_group(child: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(child.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _die_with_parent() -> None:
    """In the child, before exec: if runportal itself is killed (SIGKILL, closed
    terminal), the kernel sends the child SIGTERM instead of leaving it running."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
