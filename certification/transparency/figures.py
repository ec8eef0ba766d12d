"""The transparency report's figures, computed from the source tables for every year at once:
certificates (adoption, issued, suspended, revoked, expired), time to decision, audits, findings
and responses. ``certification.transparency.rollups`` writes them to the rollup tables; the
definitions are in that module's docstring and on the report page.

On PostgreSQL the heavy figures come from one pass per source table (``*_sql``): grouped
statements, or columns read once and computed in numpy (``columns``); elsewhere the same
figures come from the ORM and Python (``*_orm``, ``*_python``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from django.db import connection
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, ExtractYear, Greatest, Least

from auditors.models import AuditReport, Engagement
from certification.certificates.models import Certificate, RevocationProposal
from certification.framework import rules
from certification.framework.models import FrameworkVersion
from certification.releases.models import Application, ApplicationTransition
from certification.review.models import Finding, FindingResponse, ReviewWindow
from certification.transparency import columns
from certification.transparency.models import ReportTierRollup
from portal.models import AuditEntry

UTC = dt.timezone.utc


TIERS = (1, 2, 3, 4)


ALL = ReportTierRollup.ALL_TIERS


SCHEMA = 1




CR = Application.Status.CHANGES_REQUESTED


SUSPENDED_ACTION = "certification.certificate.suspended"


REINSTATED_ACTION = "certification.certificate.reinstated"


CERTIFICATE_TYPE = Certificate._meta.label_lower


def year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime(year, 1, 1, tzinfo=UTC), dt.datetime(year + 1, 1, 1, tzinfo=UTC)


def percentile(sorted_values, p: float) -> float | None:
    """Linear interpolation between the closest ranks (PostgreSQL ``percentile_cont``), in its
    order of operations: the same float to the last bit. A list or a numpy array."""
    if not len(sorted_values):
        return None
    h = (len(sorted_values) - 1) * p
    lo, hi = math.floor(h), math.ceil(h)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


class UTCYear(Func):
    """The calendar year (UTC) of a datetime. On PostgreSQL ``date_part`` (double
    precision), several times faster than ``EXTRACT`` (numeric since version 14)."""

    output_field = IntegerField()

    def as_sql(self, compiler, connection, **extra):
        return ExtractYear(self.source_expressions[0], tzinfo=UTC).as_sql(compiler, connection)

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"date_part('year', ({sql}) AT TIME ZONE 'UTC')::int", params


def _year(field):
    return UTCYear(field)


# --- computing the rollups ---------------------------------------------------------------------------
#
# Two implementations of the same figures. On PostgreSQL every year at once, reading each
# source table in one pass: the certificates, the applications (with their moves into and
# out of changes_requested) and the filed audit reports as columns that numpy groups, joins
# and sorts, far cheaper than the executor's sorts and joins of tens of thousands of rows;
# the findings in one hand-written statement (grouping sets and FILTER aggregates, years
# as buckets of a sorted list of boundaries, merge joins), their text keys grouped where
# they are. The audit log only through its index. Elsewhere (SQLite: development and
# tests) the ORM queries. Both share the handling of suspended certificates, which needs
# the audit log's order of events, and a test holds the two to the same figures.


@dataclass
class Tally:
    """Counters of one (year, tier) while computing."""

    organizations: int = 0
    issued: int = 0
    suspended: int = 0
    revoked: int = 0
    expired: int = 0
    releases: int = 0
    decisions: int = 0
    days: tuple = (None, None, None, None)
    audits: int = 0
    audits_on_time: int = 0
    responses_due: int = 0
    responses_on_time: int = 0


def _certificate_ends():
    """Annotation: when a certificate stopped being valid for good (revoked or
    superseded; null if neither). The subqueries inside the CASE run only for the few
    revoked and superseded rows, as index lookups (no join over all certificates)."""
    revoked_at = Subquery(
        RevocationProposal.objects.filter(certificate=OuterRef("pk"), confirmed_at__isnull=False)
        .order_by("confirmed_at").values("confirmed_at")[:1]
    )
    successor_issued_at = Subquery(Certificate.objects.filter(pk=OuterRef("superseded_by_id")).values("issued_at")[:1])
    return Case(
        # Rows without the record of the event (imported data) fall back to the last status change.
        When(status=Certificate.Status.REVOKED, then=Coalesce(revoked_at, F("updated_at"))),
        When(status=Certificate.Status.SUPERSEDED, then=Coalesce(successor_issued_at, F("updated_at"))),
        default=None,
        output_field=DateTimeField(),
    )


def _suspension_events(as_of: dt.datetime) -> dict[int, list[tuple[dt.datetime, str]]]:
    """Suspensions and reinstatements up to ``as_of`` by certificate, from the audit log
    (read through its index on (action, created_at), never by scanning the log)."""
    events: dict[int, list] = defaultdict(list)
    rows = (AuditEntry.objects.filter(action__in=[SUSPENDED_ACTION, REINSTATED_ACTION], created_at__lte=as_of,
                                      object_type=CERTIFICATE_TYPE)
            .order_by("seq").values_list("object_id", "action", "created_at"))
    for object_id, action, at in columns.values(rows):
        if object_id.isdigit():
            events[int(object_id)].append((at, action))
    return events


def _valid_intervals(issued_at, end, events, status, updated_at) -> list[tuple[dt.datetime, dt.datetime]]:
    """The periods in [issued_at, end) during which a certificate with suspensions was valid."""
    intervals, start, valid = [], issued_at, True
    for at, action in events:
        if action == SUSPENDED_ACTION and valid:
            intervals.append((start, at))
            valid = False
        elif action == REINSTATED_ACTION and not valid:
            start, valid = at, True
    if not events and status == Certificate.Status.SUSPENDED:
        # Suspended without a record of when: valid until its last status change.
        intervals.append((issued_at, updated_at))
        valid = False
    if valid:
        intervals.append((start, end))
    return [(max(a, issued_at), min(b, end)) for a, b in intervals if min(b, end) > max(a, issued_at)]


def _valid_at(when, events, status, updated_at) -> bool:
    valid = True
    for at, action in events:
        if at >= when:
            break
        valid = action == REINSTATED_ACTION
    if not events and status == Certificate.Status.SUSPENDED:
        valid = when < updated_at
    return valid


def _years_spanned(start: dt.datetime, end: dt.datetime) -> range:
    """Calendar years (UTC) that the half-open period [start, end) touches."""
    last = (end - dt.timedelta(microseconds=1)).astimezone(UTC).year
    return range(start.astimezone(UTC).year, last + 1)


def certificate_figures(tally, as_of: dt.datetime, members: set[int], years: range) -> None:
    """Adoption, certificates issued / suspended / revoked / expired, releases certified.

    Certificates never suspended (nearly all) are counted in the database: issued,
    expired, and their single period of validity as (organization, tier, first year,
    last year). Those with suspensions, or suspended now, are followed event by event
    here. Adoption is then the number of distinct member organizations per year and
    tier over both."""
    events = _suspension_events(as_of)
    special_ids = sorted(events)
    if connection.vendor == "postgresql":
        spans = _plain_certificates_sql(tally, as_of, years, special_ids)
    else:
        spans = _plain_certificates_orm(tally, as_of, special_ids)
    _revocations(tally, as_of)

    held: dict[tuple[int, int], set[int]] = defaultdict(set)
    orgs_by_span: dict[tuple[int, int, int], set[int]] = defaultdict(set)
    for org_id, tier, y0, y1 in spans:
        orgs_by_span[(tier, y0, y1)].add(org_id)
    for (tier, y0, y1), orgs in orgs_by_span.items():
        orgs &= members
        for year in range(y0, y1 + 1) if orgs else ():
            held[(year, tier)] |= orgs
            held[(year, ALL)] |= orgs

    suspended_in: dict[tuple[int, int], set[int]] = defaultdict(set)
    special = columns.pk_in(special_ids) | Q(status=Certificate.Status.SUSPENDED)
    special_rows = (Certificate.objects.filter(special, issued_at__lte=as_of).annotate(ended_at=_certificate_ends())
                    .values_list("pk", "organization_id", "tier", "status", "issued_at", "expires_at", "updated_at",
                                 "ended_at"))
    for pk, org_id, tier, status, issued_at, expires_at, updated_at, ended_at in columns.values(special_rows):
        cert_events = events.get(pk, [])
        end = min(expires_at, ended_at or expires_at, as_of)
        if org_id in members:
            for start, stop in _valid_intervals(issued_at, end, cert_events, status, updated_at):
                for year in _years_spanned(start, stop):
                    held[(year, tier)].add(org_id)
                    held[(year, ALL)].add(org_id)
        for at, action in cert_events:
            if action == SUSPENDED_ACTION:
                suspended_in[(at.astimezone(UTC).year, tier)].add(pk)
                suspended_in[(at.astimezone(UTC).year, ALL)].add(pk)
        if (expires_at <= as_of and (ended_at is None or ended_at >= expires_at)
                and _valid_at(expires_at, cert_events, status, updated_at)):
            year = expires_at.astimezone(UTC).year
            tally(year, tier).expired += 1
            tally(year, ALL).expired += 1
    for key, certs in suspended_in.items():
        tally(*key).suspended += len(certs)
    for key, orgs in held.items():
        tally(*key).organizations += len(orgs)


def _revocations(tally, as_of: dt.datetime) -> None:
    """Certificates revoked, by the year of the confirmation (few rows; the tier is an
    index lookup per proposal rather than a join over all certificates)."""
    tier = Subquery(Certificate.objects.filter(pk=OuterRef("certificate_id")).values("tier")[:1])
    for row in (RevocationProposal.objects.filter(confirmed_at__isnull=False, confirmed_at__lte=as_of)
                .annotate(year=_year("confirmed_at"), tier=tier).values("year", "tier")
                .annotate(n=Count("certificate", distinct=True))):
        tally(row["year"], row["tier"]).revoked += row["n"]
        tally(row["year"], ALL).revoked += row["n"]


def _plain_certificates_orm(tally, as_of: dt.datetime, special_ids: list[int]) -> list[tuple[int, int, int, int]]:
    """Issued, releases and expired certificates, and the validity spans of those never
    suspended (organization, tier, first year, last year), with the ORM."""
    issued = Certificate.objects.filter(issued_at__lte=as_of).annotate(year=_year("issued_at"))
    for row in issued.values("year", "tier").annotate(n=Count("id"), releases=Count("release", distinct=True)):
        t = tally(row["year"], row["tier"])
        t.issued, t.releases = row["n"], row["releases"]
    for row in issued.values("year").annotate(n=Count("id"), releases=Count("release", distinct=True)):
        t = tally(row["year"], ALL)
        t.issued, t.releases = row["n"], row["releases"]

    plain = (Certificate.objects.exclude(status=Certificate.Status.SUSPENDED).exclude(pk__in=special_ids)
             .filter(issued_at__lte=as_of)
             .annotate(ended_at=_certificate_ends())
             .annotate(valid_end=Least(F("expires_at"), Coalesce(F("ended_at"), F("expires_at")),
                                       Value(as_of, output_field=DateTimeField()))))
    expired = (plain.filter(expires_at__lte=as_of).filter(Q(ended_at__isnull=True) | Q(ended_at__gte=F("expires_at")))
               .annotate(year=_year("expires_at")).values("year", "tier").annotate(n=Count("id")))
    for row in expired:
        tally(row["year"], row["tier"]).expired += row["n"]
        tally(row["year"], ALL).expired += row["n"]
    return list(plain.filter(valid_end__gt=F("issued_at"))
                .annotate(y0=_year("issued_at"),
                          y1=_year(ExpressionWrapper(F("valid_end") - Value(dt.timedelta(microseconds=1)),
                                                     output_field=DateTimeField())))
                .values_list("organization_id", "tier", "y0", "y1").order_by().distinct())


class _Years:
    """SQL for the calendar year (UTC) of a timestamp on PostgreSQL, as a bucket of the
    sorted list of 1 January boundaries of the report's years (``width_bucket``: a
    binary search, several times cheaper than ``date_part`` with a time zone).
    Timestamps before the first year map to the year before it and those after the
    last to the year after it; neither is ever reported."""

    def __init__(self, years: range):
        self.params = {"year_base": years.start - 1,
                       "year_bounds": [year_bounds(y)[0] for y in range(years.start, years.stop + 1)]}

    @staticmethod
    def of(expression: str) -> str:
        return f"(%(year_base)s + width_bucket({expression}, %(year_bounds)s))"


def _plain_certificates_sql(tally, as_of: dt.datetime, years: range,
                            special_ids: list[int]) -> list[tuple[int, int, int, int]]:
    """The same as ``_plain_certificates_orm`` from one read of the certificates' columns
    (the end of validity of the revoked and superseded ones looked up in the statement):
    issued and distinct releases per year and tier and per year, then the expired ones
    and the distinct validity spans of those never suspended, grouped in numpy."""
    cert, proposal = Certificate._meta.db_table, RevocationProposal._meta.db_table
    S = Certificate.Status
    ended = f"""CASE
        WHEN c.status = %(revoked)s THEN COALESCE(
            (SELECT min(p.confirmed_at) FROM {proposal} p WHERE p.certificate_id = c.id AND p.confirmed_at IS NOT NULL),
            c.updated_at)
        WHEN c.status = %(superseded)s THEN COALESCE(
            (SELECT s.issued_at FROM {cert} s WHERE s.id = c.superseded_by_id), c.updated_at)
        END"""
    org, tiers, release, issued, expires, ended, plain = columns.fetch(
        f"FROM {cert} c WHERE c.issued_at <= %(as_of)s",
        {"as_of": as_of, "special": special_ids, "suspended": S.SUSPENDED, "revoked": S.REVOKED,
         "superseded": S.SUPERSEDED},
        ("c.organization_id", "int8"), ("c.tier", "int4"), ("c.release_id", "int8"), ("c.issued_at", "timestamptz"),
        ("c.expires_at", "timestamptz"), (f"COALESCE({ended}, 'infinity')", "timestamptz"),
        ("c.status <> %(suspended)s AND c.id <> ALL(%(special)s::int8[])", "bool"))
    now = columns.micros(as_of)
    boundaries = [year_bounds(y)[0] for y in range(years.start, years.stop + 1)]
    year = columns.years_of(issued, boundaries, years.start)
    # Issued, and releases as the first certificate of each (year, release[, tier]).
    order = np.lexsort((tiers, release, year))
    y, r, t = year[order], release[order], tiers[order]
    first_of_year = np.r_[True, (y[1:] != y[:-1]) | (r[1:] != r[:-1])]
    first_of_tier = first_of_year | np.r_[True, t[1:] != t[:-1]]
    for (year_, tier), (n, m) in columns.count_by(y, t, flags=first_of_tier).items():
        cell = tally(year_, tier)
        cell.issued, cell.releases = n, m
    for (year_,), (n, m) in columns.count_by(y, flags=first_of_year).items():
        cell = tally(year_, ALL)
        cell.issued, cell.releases = n, m
    # Expired while valid, and the spans of validity, of the certificates never suspended.
    expired = plain & (expires <= now) & (ended >= expires)
    for (year_, tier), (n,) in columns.count_by(columns.years_of(expires[expired], boundaries, years.start),
                                                 tiers[expired]).items():
        tally(year_, tier).expired += n
        tally(year_, ALL).expired += n
    valid_end = np.minimum(np.minimum(expires, ended), now)
    valid = plain & (valid_end > issued)
    return columns.distinct(org[valid], tiers[valid], year[valid],
                            columns.years_of(valid_end[valid] - 1, boundaries, years.start))


class Applications(NamedTuple):
    """Columns of every application (PostgreSQL), read once per refresh for the time to decision
    and the audits: id, tier (-1 for none), first submission and decision (``'infinity'`` for
    none), as integer microseconds."""

    ids: np.ndarray
    tiers: np.ndarray
    first: np.ndarray
    decided: np.ndarray


def applications() -> Applications | None:
    """The applications' columns on PostgreSQL; None elsewhere (the ORM reads what it needs)."""
    if connection.vendor != "postgresql":
        return None
    return Applications(*columns.fetch(
        f"FROM {Application._meta.db_table}", [], ("id", "int8"), ("COALESCE(tier, -1)", "int4"),
        ("COALESCE(first_submitted_at, 'infinity')", "timestamptz"),
        ("COALESCE(decided_at, 'infinity')", "timestamptz")))


def _decision_days_sql(as_of: dt.datetime, years: range | None = None,
                       apps: Applications | None = None) -> list[tuple[int, int, int, tuple]]:
    """PostgreSQL: (year, tier, decisions, (median, p90, median excl., p90 excl.)). The
    applications' columns and one read of the moves into and out of changes_requested; the
    join, the years, the groups and the percentiles (``percentile_cont``'s, to the last bit)
    in numpy, several times faster than sorting and grouping the rows in the database."""
    years = years or range(first_year(as_of), as_of.astimezone(UTC).year + 1)
    apps = apps or applications()
    tr = ApplicationTransition._meta.db_table
    infinity = np.iinfo(np.int64).max
    decided_by_then = (apps.decided != infinity) & (apps.first != infinity) & (apps.decided <= columns.micros(as_of))
    ids, tiers, first, decided = (column[decided_by_then] for column in apps)
    app_ids, at, leaves = columns.fetch(
        f"FROM {tr} WHERE from_status = %(cr)s OR to_status = %(cr)s", {"cr": CR},
        ("application_id", "int8"), ('"at"', "timestamptz"), ("from_status = %(cr)s", "bool"))
    # Time in changes_requested: each move out of it less each move into it, in exact microseconds.
    index = columns.lookup(ids, app_ids)
    cr = np.zeros(len(ids), dtype=np.int64)
    np.add.at(cr, index[index >= 0], np.where(leaves, at, -at)[index >= 0])
    secs = columns.seconds(decided - first)
    days, excl = secs / 86400.0, (secs - cr / 1e6) / 86400.0
    year = columns.years_of(decided, [year_bounds(y)[0] for y in range(years.start, years.stop + 1)], years.start)
    out = []
    for y in np.unique(year).tolist():
        in_year = year == y
        for tier in [ALL, *np.unique(tiers[in_year]).tolist()]:
            rows = in_year if tier == ALL else in_year & (tiers == tier)
            d, e = np.sort(days[rows]), np.sort(excl[rows])
            out.append((y, tier, int(rows.sum()), tuple(float(percentile(v, p)) for v in (d, e) for p in (.5, .9))))
    return out


def _decision_days_python(as_of: dt.datetime) -> list[tuple[int, int, int, tuple]]:
    """Other databases (SQLite): the same figures computed here."""
    cr_secs: dict[int, float] = defaultdict(float)
    for app_id, from_status, to_status, at in (ApplicationTransition.objects.filter(Q(from_status=CR) | Q(to_status=CR))
                                               .values_list("application_id", "from_status", "to_status", "at")):
        stamp = at.timestamp()
        cr_secs[app_id] += (stamp if from_status == CR else 0) - (stamp if to_status == CR else 0)
    groups: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for app_id, tier, first, decided in (Application.objects.filter(
            decided_at__isnull=False, first_submitted_at__isnull=False, decided_at__lte=as_of)
            .values_list("pk", "tier", "first_submitted_at", "decided_at")):
        secs = (decided - first).total_seconds()
        pair = (secs / 86400.0, (secs - cr_secs.get(app_id, 0.0)) / 86400.0)
        year = decided.astimezone(UTC).year
        groups[(year, tier if tier is not None else -1)].append(pair)
        groups[(year, None)].append(pair)
    out = []
    for (year, tier), pairs in groups.items():
        days = sorted(p[0] for p in pairs)
        excl = sorted(p[1] for p in pairs)
        out.append((year, ALL if tier is None else tier, len(pairs),
                    (percentile(days, .5), percentile(days, .9), percentile(excl, .5), percentile(excl, .9))))
    return out


def decision_days(as_of: dt.datetime, years: range | None = None,
                  apps: Applications | None = None) -> list[tuple[int, int, int, tuple]]:
    if connection.vendor == "postgresql":
        return _decision_days_sql(as_of, years, apps)
    return _decision_days_python(as_of)


def _response_length():
    """Days allowed for a response: from each application's framework version; when
    all versions agree (the usual case) a constant, with no join. Returns (days, or
    None when they differ, and a map of framework version to days)."""
    lengths = {fv.pk: rules.deadline_days(fv.rules, "finding_response")
               for fv in FrameworkVersion.objects.only("pk", "rules")}
    if len(set(lengths.values())) <= 1:
        return next(iter(lengths.values()), rules.deadline_days({}, "finding_response")), lengths
    return None, lengths


def _add_audits(tally, rows) -> None:
    for year, tier, n, on_time in rows:
        for key in {tier or 0, ALL}:  # applications without a tier count in "all tiers" only
            t = tally(year, key)
            t.audits += n
            t.audits_on_time += on_time


def _add_findings(finding_cells, rows) -> None:
    for year, category, severity, status, kind, n in rows:
        cell = finding_cells[(year, category, severity)]
        cell["submitted"] += n
        cell[{Finding.Status.SUBMITTED: "awaiting_triage"}.get(status, status)] += n
        if status == Finding.Status.ACCEPTED and kind:
            cell[kind] += n


def _add_responses_due(tally, rows) -> None:
    for year, tier, n, on_time in rows:
        for key in {tier or 0, ALL}:
            t = tally(year, key)
            t.responses_due += n
            t.responses_on_time += on_time


def review_figures(tally, finding_cells, as_of: dt.datetime, years: range, apps: Applications | None = None) -> None:
    """Audits performed and on time; findings by category and severity; responses."""
    if connection.vendor == "postgresql":
        _review_figures_sql(tally, finding_cells, as_of, years, apps)
    else:
        _review_figures_orm(tally, finding_cells, as_of)


def _review_figures_orm(tally, finding_cells, as_of: dt.datetime) -> None:
    """The review figures with the ORM (SQLite)."""
    reports = (AuditReport.objects.filter(filed_at__isnull=False, filed_at__lte=as_of)
               .annotate(year=_year("filed_at"), tier=F("engagement__application__tier"))
               .values_list("year", "tier")
               .annotate(n=Count("id"), on_time=Count("id", filter=Q(filed_at__lte=F("engagement__report_due_at")))))
    _add_audits(tally, reports)

    findings = (Finding.objects.exclude(status=Finding.Status.DRAFT)
                .filter(submitted_at__isnull=False, submitted_at__lte=as_of)
                .annotate(year=_year("submitted_at"), kind=F("response__kind"))
                .values_list("year", "category", "severity", "status", "kind").annotate(n=Count("id")))
    _add_findings(finding_cells, findings)

    days, lengths = _response_length()
    if days is not None:
        length = Value(dt.timedelta(days=days))
    else:
        length = Case(*[When(window__application__framework_version_id=pk, then=Value(dt.timedelta(days=n)))
                        for pk, n in lengths.items()],
                      default=Value(rules.deadline_length({}, "finding_response")), output_field=DurationField())
    due = ExpressionWrapper(Greatest(F("triaged_at"), F("window__closes_at")) + length, output_field=DateTimeField())
    rows = (Finding.objects.filter(status=Finding.Status.ACCEPTED, triaged_at__isnull=False)
            .annotate(due=due).filter(due__lte=as_of)
            .annotate(year=_year("due"), tier=F("window__tier")).values_list("year", "tier")
            .annotate(n=Count("id"), on_time=Count("id", filter=Q(response__responded_at__lte=F("due")))))
    _add_responses_due(tally, rows)


def _review_figures_sql(tally, finding_cells, as_of: dt.datetime, years: range,
                        apps: Applications | None = None) -> None:
    """PostgreSQL: the audits from the filed reports' columns (the application's tier looked up
    in the applications' columns); the findings in one statement, where the groups each
    grouping set makes of the rows it does not count (no year, no response) are left out."""
    y = _Years(years)
    report_t, engagement_t = AuditReport._meta.db_table, Engagement._meta.db_table
    app, finding_t = Application._meta.db_table, Finding._meta.db_table
    response_t, window_t = FindingResponse._meta.db_table, ReviewWindow._meta.db_table
    params = {"as_of": as_of, "draft": Finding.Status.DRAFT, "accepted": Finding.Status.ACCEPTED, **y.params}

    # Audit reports filed by then, with their engagement's application and due time.
    app_ids, filed, due = columns.fetch(
        f"FROM {report_t} r JOIN {engagement_t} e ON e.id = r.engagement_id "
        "WHERE r.filed_at IS NOT NULL AND r.filed_at <= %s", [as_of],
        ("e.application_id", "int8"), ("r.filed_at", "timestamptz"), ("e.report_due_at", "timestamptz"))
    apps = apps or applications()
    at = columns.lookup(apps.ids, app_ids)
    tiers = np.where(at >= 0, apps.tiers[at], -1)
    year = columns.years_of(filed, [year_bounds(y)[0] for y in range(years.start, years.stop + 1)], years.start)
    _add_audits(tally, [(year_, max(tier, 0), n, on_time)  # applications without a tier: 0, all tiers only
                        for (year_, tier), (n, on_time) in columns.count_by(year, tiers, flags=filed <= due).items()])

    days, lengths = _response_length()
    # Lengths in hours, not days: the same times (the session is in UTC, and a day is 24 hours
    # there as in Python), without the calendar arithmetic of adding days, several times slower.
    if days is not None:
        length, fv_join = "%(hours)s * interval '1 hour'", ""
        params["hours"] = days * 24
    else:
        cases = " ".join(f"WHEN {int(pk)} THEN {int(n)}" for pk, n in lengths.items())
        fallback = rules.deadline_days({}, "finding_response")
        length = f"(CASE fa.framework_version_id {cases} ELSE {int(fallback)} END) * interval '24 hours'"
        fv_join = f"JOIN {app} fa ON fa.id = w.application_id"
    due = f"(GREATEST(f.triaged_at, w.closes_at) + {length})"
    # Findings other than the accepted ones by year, category, severity and status: one
    # pass, no join. Then the accepted ones, joined once to their window and their
    # response, for two groupings at once: by kind of response, none included (submission
    # year, category, severity), and responses due (year due, tier) with those on time.
    rows = columns.rows(f"""
        SELECT 1, {y.of("submitted_at")}, category, severity, status, NULL, NULL::int, COUNT(*), 0
        FROM {finding_t}
        WHERE status <> %(draft)s AND status <> %(accepted)s AND submitted_at <= %(as_of)s
        GROUP BY 2, 3, 4, 5
        UNION ALL
        SELECT 2 + GROUPING(submitted_year), COALESCE(submitted_year, due_year), category, severity, NULL, kind, tier,
               COUNT(*), COUNT(*) FILTER (WHERE responded_at <= due)
        FROM (
            SELECT CASE WHEN f.submitted_at <= %(as_of)s THEN {y.of("f.submitted_at")} END AS submitted_year,
                   f.category, f.severity, r.kind, r.responded_at, w.tier, d.due,
                   CASE WHEN f.triaged_at IS NOT NULL AND d.due <= %(as_of)s THEN {y.of("d.due")} END AS due_year
            FROM {finding_t} f JOIN {window_t} w ON w.id = f.window_id {fv_join}
            LEFT JOIN {response_t} r ON r.finding_id = f.id
            CROSS JOIN LATERAL (SELECT {due} AS due) d
            WHERE f.status = %(accepted)s
        ) a
        GROUP BY GROUPING SETS ((submitted_year, category, severity, kind), (due_year, tier))
    """, params, merge_joins=True)
    accepted = Finding.Status.ACCEPTED
    _add_findings(finding_cells, [(year, category, severity, status if part == 1 else accepted, kind, n)
                                  for part, year, category, severity, status, kind, _tier, n, _late in rows
                                  if part == 1 or (part == 2 and year is not None)])
    _add_responses_due(tally, [(year, tier, n, on_time) for part, year, *_cells, tier, n, on_time in rows
                               if part == 3 and year is not None])


def first_year(as_of: dt.datetime) -> int:
    candidates = [
        Certificate.objects.order_by("issued_at").values_list("issued_at", flat=True).first(),
        Application.objects.filter(first_submitted_at__isnull=False).order_by("first_submitted_at")
        .values_list("first_submitted_at", flat=True).first(),
        Finding.objects.filter(submitted_at__isnull=False).order_by("submitted_at")
        .values_list("submitted_at", flat=True).first(),
    ]
    years = [c.astimezone(UTC).year for c in candidates if c is not None and c <= as_of]
    # The previous year always has its draft: it is the one staff publish in January.
    return min(years + [as_of.astimezone(UTC).year - 1])
