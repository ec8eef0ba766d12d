"""The Celery app. Tasks take ids, load rows and call a service (STYLE §10)."""

import os
import sys

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_checked = False


def refuse_to_start_misconfigured(sender=None, **kwargs) -> None:
    """The worker and beat refuse to start while the configuration has an error
    (``portal.checks``): the errors go to stderr and the process exits with status 1.
    Celery logs and swallows exceptions raised by signal handlers, hence ``SystemExit``.
    Once per process tree: an embedded beat (``worker --beat``) was checked with its worker."""
    global _checked
    if _checked:
        return
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from portal.checks import StartupCheckFailed, refuse_to_start

    try:
        refuse_to_start("The Celery worker" if kwargs.get("signal") is signals.worker_init else "Celery beat")
    except StartupCheckFailed as exc:
        # The real stderr: beat has already redirected sys.stderr into its logger.
        stderr = sys.__stderr__ or sys.stderr
        stderr.write(f"{exc}\n")
        stderr.flush()
        raise SystemExit(1) from None
    _checked = True


signals.worker_init.connect(refuse_to_start_misconfigured, weak=False)
signals.beat_init.connect(refuse_to_start_misconfigured, weak=False)
