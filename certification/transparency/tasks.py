"""Celery tasks of the certification app: thin wrappers around services (STYLE §10)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def refresh_report_rollups() -> int:
    """Recompute the transparency report's rollups (daily, from beat). Idempotent:
    a refresh rewrites every year's rows under a lock, so a redelivered message
    only recomputes the same figures."""
    from certification.transparency import rollups

    return rollups.refresh_rollups()
