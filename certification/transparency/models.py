"""The annual transparency report's rollup tables and published snapshots."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

# --- transparency report (issue 8) -------------------------------------------------------------------
# Rollups are derived data: ``certification.report.refresh_rollups`` rewrites them
# (daily from Celery beat, or when staff ask). A published year is frozen in a
# ReportSnapshot, which nothing rewrites.


class ReportTierRollup(models.Model):
    """The figures of one calendar year (UTC) for one tier; tier 0 stands for all tiers."""

    ALL_TIERS = 0

    year = models.PositiveSmallIntegerField()
    tier = models.PositiveSmallIntegerField()
    member_organizations = models.PositiveIntegerField(default=0)
    # Member organizations that held a valid certificate (of this tier) at any time in the year.
    organizations_certified = models.PositiveIntegerField(default=0)
    certificates_issued = models.PositiveIntegerField(default=0)
    certificates_suspended = models.PositiveIntegerField(default=0)
    certificates_revoked = models.PositiveIntegerField(default=0)
    certificates_expired = models.PositiveIntegerField(default=0)
    releases_certified = models.PositiveIntegerField(default=0)
    # Applications decided in the year; calendar days from the first submission to the decision.
    decisions = models.PositiveIntegerField(default=0)
    days_median = models.FloatField(null=True, blank=True)
    days_p90 = models.FloatField(null=True, blank=True)
    days_median_excluding_changes = models.FloatField(null=True, blank=True)
    days_p90_excluding_changes = models.FloatField(null=True, blank=True)
    # Audit reports filed in the year, and those filed by their due time.
    audits_performed = models.PositiveIntegerField(default=0)
    audits_on_time = models.PositiveIntegerField(default=0)
    # Responses to accepted findings that fell due in the year, and those filed by then.
    responses_due = models.PositiveIntegerField(default=0)
    responses_on_time = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["year", "tier"]
        constraints = [models.UniqueConstraint(fields=["year", "tier"], name="one_tier_rollup_per_year")]

    def __str__(self) -> str:
        return f"{self.year} tier {self.tier or 'all'}"


class ReportFindingRollup(models.Model):
    """Community findings submitted in one year, by category and severity (as triaged)."""

    year = models.PositiveSmallIntegerField()
    category = models.CharField(max_length=30)
    severity = models.CharField(max_length=10)
    submitted = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    duplicate = models.PositiveIntegerField(default=0)
    out_of_scope = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    awaiting_triage = models.PositiveIntegerField(default=0)
    # Responses of the organizations to the accepted ones.
    mitigated = models.PositiveIntegerField(default=0)
    accepted_risk = models.PositiveIntegerField(default=0)
    disputed = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["year", "category", "severity"]
        constraints = [
            models.UniqueConstraint(fields=["year", "category", "severity"], name="one_finding_rollup_per_cell")
        ]


class ReportIncidentRollup(models.Model):
    """Post-release incidents of one year by severity (issue 16 §2); severity ``all`` is every
    incident, ``not_rated`` those without a severity. Each count is by the time of its event."""

    ALL = "all"
    NOT_RATED = "not_rated"

    year = models.PositiveSmallIntegerField()
    severity = models.CharField(max_length=10)
    # Reported in the year.
    received = models.PositiveIntegerField(default=0)
    # Acknowledged in the year, and the median days from the report to the acknowledgement.
    acknowledged = models.PositiveIntegerField(default=0)
    acknowledge_days_median = models.FloatField(null=True, blank=True)
    # Resolved in the year, and the median days from the report to the resolution.
    resolved = models.PositiveIntegerField(default=0)
    resolve_days_median = models.FloatField(null=True, blank=True)
    # Escalated by staff to a suspension, and dismissed by staff, in the year.
    escalated = models.PositiveIntegerField(default=0)
    dismissed = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["year", "severity"]
        constraints = [models.UniqueConstraint(fields=["year", "severity"], name="one_incident_rollup_per_cell")]


class ReportSnapshot(models.Model):
    """A published annual report: the report data frozen as canonical JSON with its
    sha256 (DESIGN §8). Immutable; the public page of a published year reads only this."""

    year = models.PositiveSmallIntegerField(unique=True)
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+")
    data = models.JSONField()
    # sha256 over the canonical JSON (RFC 8785) of ``data``; the JSON download is those bytes.
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-year"]

    def __str__(self) -> str:
        return f"Transparency report {self.year}"

    def save(self, *args, **kwargs):
        # Guard, not workflow: a published report is never rewritten.
        if not self._state.adding:
            raise ValueError("Published reports are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Published reports are immutable")
