"""The annual transparency report (issue 8): rollups, drafts, published snapshots.

Figures come from two rollup tables (``ReportTierRollup``, ``ReportFindingRollup``)
that ``refresh_rollups`` rewrites for every year at once: daily from Celery beat
and whenever staff ask. Each source table is read in one or two passes (grouped
statements, or its columns grouped in numpy), so a refresh costs a few scans of each,
whatever the number of years.

A draft is the report built from the rollups; staff preview it and publish it,
which freezes it as a ``ReportSnapshot`` with the sha256 of its canonical JSON.
The public page of a published year reads only the snapshot.

Definitions (they are also stated on the page; years are calendar years in UTC):

- adoption: member organizations (``Organization.is_alliance_member`` when the
  figures are computed) that held at least one valid certificate at any moment
  of the year, over all member organizations; per tier, a valid certificate of
  that tier. A certificate is valid from its issue until it expires, is revoked
  or superseded, except while it is suspended (suspensions and reinstatements
  come from the audit log, revocations from the confirmed revocation proposal,
  supersession from the successor's issue time);
- certificates issued / suspended / revoked / expired in the year: by the time
  of each event; expired counts certificates that reached their expiry time
  while valid;
- releases certified: distinct releases with a certificate issued in the year;
- time to decision: applications decided (certified or rejected) in the year,
  calendar days from the first submission to the decision, median and 90th
  percentile (linear interpolation, as PostgreSQL's ``percentile_cont``), with
  and without the time spent in ``changes_requested``;
- audits performed: audit reports filed in the year; on time when filed by the
  engagement's due time;
- findings: community findings submitted in the year (by the severity staff
  settled at triage); responses are those to the accepted ones;
- responses on time: responses to accepted findings that fell due in the year
  (14 days, or the framework version's length, after triage or after the window
  closed, whichever is later), filed by then; unanswered ones count as late;
- incidents (post-release, issue 16 §2): received, acknowledged, resolved, escalated and
  dismissed in the year by severity, and the median days to acknowledge and to resolve
  (``certification.transparency.incidents``, where each is defined).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db import connection, transaction
from django.utils import timezone

from certification.framework.services import require_staff
from certification.transparency.figures import (
    ALL,
    TIERS,
    UTC,
    Tally,
    applications,
    certificate_figures,
    decision_days,
    first_year,
    review_figures,
)
from certification.transparency.incidents import incident_figures
from certification.transparency.models import ReportFindingRollup, ReportIncidentRollup, ReportTierRollup
from portal import audit
from portal.models import Organization


def lock_refresh(sort_memory: bool = False) -> None:
    """Serialize refreshes (PostgreSQL; SQLite transactions are serialized already).
    With ``sort_memory``, the transaction's sorts (distinct counts, percentiles) get
    enough memory to stay off the disk, and JIT compilation, which costs far more
    than it saves on statements of this size, is off."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x7265706F7274])  # "report"
            if sort_memory:
                cursor.execute("SET LOCAL work_mem = '32MB'")
                cursor.execute("SET LOCAL jit = off")


def refresh_rollups(as_of: dt.datetime | None = None) -> int:
    """Recompute every year's rollups from the source tables; returns the number of years.

    Steps, in one transaction holding the refresh lock: compute every figure for
    all years in grouped queries, then replace the rollup rows of those years.
    """
    as_of = as_of or timezone.now()
    with transaction.atomic():
        lock_refresh(sort_memory=True)
        return _refresh(as_of)


def _refresh(as_of: dt.datetime) -> int:
    members = set(Organization.objects.filter(is_alliance_member=True).values_list("pk", flat=True))
    tallies: dict[tuple[int, int], Tally] = {}

    def tally(year: int, tier: int) -> Tally:
        key = (year, tier)
        if key not in tallies:
            tallies[key] = Tally()
        return tallies[key]

    finding_cells: dict[tuple[int, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    years = range(first_year(as_of), as_of.astimezone(UTC).year + 1)
    certificate_figures(tally, as_of, members, years)
    apps = applications()  # read once for the time to decision and the audits (PostgreSQL)
    for year, tier, n, days in decision_days(as_of, years, apps):
        if tier not in (ALL, *TIERS):
            continue  # applications without a tier count in "all tiers" only
        t = tally(year, tier)
        t.decisions, t.days = n, days
    review_figures(tally, finding_cells, as_of, years, apps)

    tier_rows = []
    for year in years:
        for tier in (ALL, *TIERS):
            t = tallies.get((year, tier)) or Tally()
            tier_rows.append(ReportTierRollup(
                year=year, tier=tier, member_organizations=len(members), organizations_certified=t.organizations,
                certificates_issued=t.issued, certificates_suspended=t.suspended, certificates_revoked=t.revoked,
                certificates_expired=t.expired, releases_certified=t.releases, decisions=t.decisions,
                days_median=t.days[0], days_p90=t.days[1], days_median_excluding_changes=t.days[2],
                days_p90_excluding_changes=t.days[3], audits_performed=t.audits, audits_on_time=t.audits_on_time,
                responses_due=t.responses_due, responses_on_time=t.responses_on_time, computed_at=as_of))
    finding_rows = [
        ReportFindingRollup(year=year, category=category, severity=severity, computed_at=as_of, **counts)
        for (year, category, severity), counts in sorted(finding_cells.items()) if year in years
    ]
    incident_rows = incident_figures(as_of, years)
    ReportTierRollup.objects.filter(year__in=list(years)).delete()
    ReportFindingRollup.objects.filter(year__in=list(years)).delete()
    ReportIncidentRollup.objects.filter(year__in=list(years)).delete()
    ReportTierRollup.objects.bulk_create(tier_rows)
    ReportFindingRollup.objects.bulk_create(finding_rows)
    ReportIncidentRollup.objects.bulk_create(incident_rows)
    return len(years)


def refresh_by_staff(actor, request=None) -> int:
    """The on-demand refresh from the staff report page."""
    require_staff(actor)
    count = refresh_rollups()
    audit.log("certification.report.refreshed", actor=actor, request=request, payload={"years": count})
    return count
