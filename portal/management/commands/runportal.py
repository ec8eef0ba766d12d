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
from django.core.management.base import BaseCommand

from portal import demo


class Command(BaseCommand):
    help = "Run web, Celery worker and beat together (development)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))

    def handle(self, *args, port: int, host: str, **options):
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
        children: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, cmd in commands.items():
            # Own process group: a Ctrl-C in the terminal reaches us, and we stop the children in order.
            children[name] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)

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
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with {child.returncode}; stopping the others.")
                    exit_code = child.returncode or 1
                    stopping = True
                    break
            time.sleep(0.5)
        for child in children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        self.stdout.write("Stopped.")
        sys.exit(exit_code)
