"""The annual transparency report's drafts and published snapshots (issue 8): a draft is built
from the rollups (``certification.transparency.rollups``); staff preview it and publish it,
which freezes it as a ``ReportSnapshot`` with the sha256 of its canonical JSON; open data as
CSV and JSON tables."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from certification.framework.models import FrameworkVersion
from certification.framework.services import WorkflowError, require_staff
from certification.review.models import Finding, FindingResponse
from certification.transparency import incidents as incident_figures
from certification.transparency.figures import ALL, SCHEMA, TIERS, UTC, year_bounds
from certification.transparency.models import ReportFindingRollup, ReportSnapshot, ReportTierRollup
from certification.transparency.rollups import lock_refresh
from portal import audit
from portal.canonical import canonical_sha256

# --- building the report from the rollups ------------------------------------------------------------


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _days(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _tier_label(tier: int) -> str:
    return "all" if tier == ALL else str(tier)


def framework_versions_in_force(year: int) -> list[dict]:
    """Published versions in force at some moment of the year, with the period of each."""
    start, end = year_bounds(year)
    versions = list(FrameworkVersion.objects.published().filter(effective_from__isnull=False)
                    .order_by("effective_from").values("version", "effective_from", "digest"))
    rows = []
    for i, v in enumerate(versions):
        until = versions[i + 1]["effective_from"] if i + 1 < len(versions) else None
        if v["effective_from"] < end and (until is None or until > start):
            rows.append({"version": v["version"], "effective_from": _iso(v["effective_from"]),
                         "effective_until": _iso(until), "digest": v["digest"]})
    return rows


def _table(columns: list[str], rows: list[dict]) -> dict:
    return {"columns": columns, "rows": [{c: r.get(c) for c in columns} for r in rows]}


def build_draft(year: int) -> dict | None:
    """The report of ``year`` from the rollups, or None if they were never computed for it."""
    tier_rows = {r.tier: r for r in ReportTierRollup.objects.filter(year=year)}
    if not tier_rows:
        return None
    cells = list(ReportFindingRollup.objects.filter(year=year))
    ordered = [tier_rows[t] for t in (ALL, *TIERS) if t in tier_rows]
    all_row = tier_rows[ALL]
    start, end = year_bounds(year)
    as_of = min(r.computed_at for r in ordered)

    adoption = [{"tier": _tier_label(r.tier), "member_organizations": r.member_organizations,
                 "organizations_certified": r.organizations_certified,
                 "share": _share(r.organizations_certified, r.member_organizations)} for r in ordered]
    certificates = [{"tier": _tier_label(r.tier), "issued": r.certificates_issued,
                     "suspended": r.certificates_suspended, "revoked": r.certificates_revoked,
                     "expired": r.certificates_expired, "releases_certified": r.releases_certified} for r in ordered]
    decisions = [{"tier": _tier_label(r.tier), "decisions": r.decisions, "median_days": _days(r.days_median),
                  "p90_days": _days(r.days_p90),
                  "median_days_excluding_changes_requested": _days(r.days_median_excluding_changes),
                  "p90_days_excluding_changes_requested": _days(r.days_p90_excluding_changes)} for r in ordered]
    audits = [{"tier": _tier_label(r.tier), "performed": r.audits_performed, "on_time": r.audits_on_time,
               "on_time_share": _share(r.audits_on_time, r.audits_performed)} for r in ordered]
    timeliness = [{"tier": _tier_label(r.tier), "due": r.responses_due, "on_time": r.responses_on_time,
                   "on_time_share": _share(r.responses_on_time, r.responses_due)} for r in ordered]

    by_cell = {(c.category, c.severity): c for c in cells}
    finding_rows, by_category, by_severity = [], [], []
    outcome_totals: dict[str, int] = defaultdict(int)
    for category in Finding.Category.values:
        for severity in Finding.Severity.values:
            c = by_cell.get((category, severity))
            finding_rows.append({"category": category, "severity": severity,
                                 "submitted": c.submitted if c else 0, "accepted": c.accepted if c else 0})
            if c:
                for name in ("accepted", "duplicate", "out_of_scope", "invalid", "awaiting_triage",
                             "mitigated", "accepted_risk", "disputed"):
                    outcome_totals[name] += getattr(c, name)
    for category in Finding.Category.values:
        picked = [r for r in finding_rows if r["category"] == category]
        by_category.append({"category": category, "submitted": sum(r["submitted"] for r in picked),
                            "accepted": sum(r["accepted"] for r in picked)})
    for severity in Finding.Severity.values:
        picked = [r for r in finding_rows if r["severity"] == severity]
        by_severity.append({"severity": severity, "submitted": sum(r["submitted"] for r in picked),
                            "accepted": sum(r["accepted"] for r in picked)})
    submitted_total = sum(r["submitted"] for r in finding_rows)
    triage = [{"outcome": name, "findings": outcome_totals[name],
               "share": _share(outcome_totals[name], submitted_total)}
              for name in ("accepted", "duplicate", "out_of_scope", "invalid", "awaiting_triage")]
    accepted_total = outcome_totals["accepted"]
    answered = sum(outcome_totals[k] for k in FindingResponse.Kind.values)
    responses = [{"response": kind, "findings": outcome_totals[kind],
                  "share": _share(outcome_totals[kind], accepted_total)}
                 for kind in FindingResponse.Kind.values]
    responses.append({"response": "no_response_yet", "findings": accepted_total - answered,
                      "share": _share(accepted_total - answered, accepted_total)})

    return {
        "schema": SCHEMA,
        "year": year,
        "period": {"start": _iso(start), "end": _iso(end)},
        "as_of": _iso(as_of),
        "member_organizations": all_row.member_organizations,
        "tables": {
            "adoption": _table(["tier", "member_organizations", "organizations_certified", "share"], adoption),
            "certificates": _table(["tier", "issued", "suspended", "revoked", "expired", "releases_certified"],
                                   certificates),
            "time_to_decision": _table(["tier", "decisions", "median_days", "p90_days",
                                        "median_days_excluding_changes_requested",
                                        "p90_days_excluding_changes_requested"], decisions),
            "audits": _table(["tier", "performed", "on_time", "on_time_share"], audits),
            "findings": _table(["category", "severity", "submitted", "accepted"], finding_rows),
            "findings_by_category": _table(["category", "submitted", "accepted"], by_category),
            "findings_by_severity": _table(["severity", "submitted", "accepted"], by_severity),
            "finding_triage": _table(["outcome", "findings", "share"], triage),
            "responses": _table(["response", "findings", "share"], responses),
            "response_timeliness": _table(["tier", "due", "on_time", "on_time_share"], timeliness),
            "incidents": _table(incident_figures.COLUMNS, incident_figures.incident_table_rows(year)),
            "framework_versions": _table(["version", "effective_from", "effective_until", "digest"],
                                         framework_versions_in_force(year)),
        },
    }


TABLE_NAMES = ("adoption", "certificates", "time_to_decision", "audits", "findings", "findings_by_category",
               "findings_by_severity", "finding_triage", "responses", "response_timeliness", "incidents",
               "framework_versions")


def draft_years() -> list[int]:
    return sorted(ReportTierRollup.objects.filter(tier=ALL).values_list("year", flat=True), reverse=True)


def draft_digest(data: dict) -> str:
    return canonical_sha256(data)


# --- publishing -------------------------------------------------------------------------------------


def publish(year: int, actor, draft_sha256: str, request=None, now: dt.datetime | None = None) -> ReportSnapshot:
    """Freeze the year's draft, exactly as staff previewed it, as an immutable snapshot.

    Refused while the year is not over, when the figures were computed before its
    end, when the draft changed since the preview (a refresh ran), or when the year
    is published already.
    """
    require_staff(actor)
    now = now or timezone.now()
    _start, end = year_bounds(year)
    if now < end:
        raise WorkflowError(_("The report of %(year)s can be published once the year is over.") % {"year": year})
    with transaction.atomic():
        lock_refresh()
        data = build_draft(year)
        if data is None:
            raise WorkflowError(_("There are no figures for %(year)s yet: refresh them first.") % {"year": year})
        if dt.datetime.fromisoformat(data["as_of"].replace("Z", "+00:00")) < end:
            raise WorkflowError(_("The figures were computed before the end of the year: refresh them, "
                                  "check the draft again, then publish."))
        digest = canonical_sha256(data)
        if digest != draft_sha256:
            raise WorkflowError(_("The figures changed since you previewed them: check the draft again, then publish."))
        if ReportSnapshot.objects.filter(year=year).exists():
            raise WorkflowError(_("The report of %(year)s is published already; a published report never changes.")
                                % {"year": year})
        snapshot = ReportSnapshot.objects.create(year=year, published_at=now, published_by=actor, data=data,
                                                 sha256=digest)
        audit.log("certification.report.published", actor=actor, obj=snapshot, request=request,
                  payload={"year": year, "sha256": digest})
    return snapshot


# --- open data --------------------------------------------------------------------------------------


def table_csv(table: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table["columns"])
    for row in table["rows"]:
        writer.writerow(["" if row[c] is None else row[c] for c in table["columns"]])
    return out.getvalue()


def table_json(data: dict, name: str) -> dict:
    return {"year": data["year"], "as_of": data["as_of"], "table": name, "columns": data["tables"][name]["columns"],
            "rows": data["tables"][name]["rows"]}
