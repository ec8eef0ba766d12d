"""The transparency report's figures of post-release incidents (issue 16 §2), by year and severity.

Definitions (also stated on the report page; years are calendar years in UTC, each count by the
time of its own event, the severity as it stands when the figures are computed: the reporter's
rating or the one staff set, ``not_rated`` when there is none):

- received: incidents reported in the year;
- acknowledged: incidents the organization acknowledged in the year; time to acknowledge is the
  median of the days (fractional, calendar days) from the report to the acknowledgement;
- resolved: incidents the organization resolved in the year; time to resolve is the median of the
  days from the report to the resolution;
- escalated and dismissed: incidents staff escalated to a suspension of the certificate, or
  dismissed as not an incident, in the year.

Medians interpolate between the two middle values, as ``percentile_cont(0.5)``. Incidents are few
(reports are rate limited), so their dates are read in one query and counted here, on every
database alike.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from certification.certificates.models import ConcernReport
from certification.transparency.figures import UTC, percentile
from certification.transparency.models import ReportIncidentRollup

ALL = ReportIncidentRollup.ALL
NOT_RATED = ReportIncidentRollup.NOT_RATED
SEVERITIES = (*reversed(ConcernReport.Severity.values), NOT_RATED)  # critical first
I = ConcernReport.Status  # noqa: E741


def _days(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds() / 86400.0


def incident_figures(as_of: dt.datetime, years: range) -> list[ReportIncidentRollup]:
    """The rollup rows of every (year, severity) with at least one event, ``all`` included."""
    counts: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    ack_days: dict[tuple[int, str], list[float]] = defaultdict(list)
    resolve_days: dict[tuple[int, str], list[float]] = defaultdict(list)

    def add(at: dt.datetime | None, severity: str, name: str, days: list | None = None, value: float = 0.0):
        if at is None or at > as_of:
            return
        year = at.astimezone(UTC).year
        if year not in years:
            return
        for key in ((year, severity), (year, ALL)):
            counts[key][name] += 1
            if days is not None:
                days[key].append(value)

    rows = (ConcernReport.objects.filter(created_at__lte=as_of)
            .values_list("severity", "status", "created_at", "acknowledged_at", "resolved_at", "handled_at"))
    for severity, status, created, acknowledged, resolved, handled in rows:
        severity = severity or NOT_RATED
        add(created, severity, "received")
        if acknowledged is not None:
            add(acknowledged, severity, "acknowledged", ack_days, _days(created, acknowledged))
        if status == I.RESOLVED and resolved is not None:
            add(resolved, severity, "resolved", resolve_days, _days(created, resolved))
        elif status == I.ESCALATED:
            add(handled, severity, "escalated")
        elif status == I.DISMISSED:
            add(handled, severity, "dismissed")

    out = []
    for (year, severity), cell in sorted(counts.items()):
        out.append(ReportIncidentRollup(
            year=year, severity=severity, computed_at=as_of, received=cell["received"],
            acknowledged=cell["acknowledged"], resolved=cell["resolved"], escalated=cell["escalated"],
            dismissed=cell["dismissed"],
            acknowledge_days_median=percentile(sorted(ack_days[(year, severity)]), 0.5),
            resolve_days_median=percentile(sorted(resolve_days[(year, severity)]), 0.5)))
    return out


COLUMNS = ["severity", "received", "acknowledged", "median_days_to_acknowledge", "resolved",
           "median_days_to_resolve", "escalated", "dismissed"]


def incident_table_rows(year: int) -> list[dict]:
    """The report's ``incidents`` table: all severities first, then critical to low and not rated,
    zeros for a severity without incidents."""
    cells = {r.severity: r for r in ReportIncidentRollup.objects.filter(year=year)}
    rows = []
    for severity in (ALL, *SEVERITIES):
        r = cells.get(severity)
        rows.append({
            "severity": severity,
            "received": r.received if r else 0,
            "acknowledged": r.acknowledged if r else 0,
            "median_days_to_acknowledge": _round(r.acknowledge_days_median) if r else None,
            "resolved": r.resolved if r else 0,
            "median_days_to_resolve": _round(r.resolve_days_median) if r else None,
            "escalated": r.escalated if r else 0,
            "dismissed": r.dismissed if r else 0,
        })
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
