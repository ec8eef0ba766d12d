"""Celery tasks of the certificates: the static registry export (STYLE §10: thin wrappers)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from portal.outages import CACHE_ERRORS

log = logging.getLogger(__name__)

DEBOUNCE_KEY = "registry-export:scheduled"


@shared_task(acks_late=True)
def refresh_registry_export() -> dict | None:
    """Write a new version of the static export into ``REGISTRY_EXPORT_DIR`` (a no-op when it is
    not set). Idempotent: a redelivered message writes one more version with the same files."""
    from certification.certificates import export

    result = export.refresh()
    if result is None:
        return None
    log.info("registry export %s: %d certificates, %d files written, %d carried over",
             result.version, result.certificates, result.written, result.linked)
    return {"version": result.version, "written": result.written, "linked": result.linked}


def schedule_refresh() -> None:
    """After a certificate's status change has committed: one export run within
    ``REGISTRY_EXPORT_DEBOUNCE_SECONDS``, however many changes happen meanwhile.

    The first change in a window sets a cache key that lives as long as the countdown of the run
    it queues; a change that finds the key committed before that run starts, so the run sees it.
    Never raises: the change is committed, and beat's periodic refresh repairs a lost run."""
    if not getattr(settings, "REGISTRY_EXPORT_DIR", ""):
        return
    seconds = max(1, settings.REGISTRY_EXPORT_DEBOUNCE_SECONDS)
    try:
        if not cache.add(DEBOUNCE_KEY, 1, seconds):
            return
    except CACHE_ERRORS as exc:
        log.warning("registry export debounce unavailable, scheduling anyway: %s", exc)
    try:
        refresh_registry_export.apply_async(countdown=seconds)
    except Exception as exc:  # noqa: BLE001 - the broker is down: beat's refresh catches up
        log.error("registry export not scheduled (the periodic refresh will catch up): %s", exc)
        try:
            cache.delete(DEBOUNCE_KEY)  # the next change tries again
        except CACHE_ERRORS:
            pass
