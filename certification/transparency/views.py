"""Pages of the annual transparency report (public, from published snapshots), the
staff draft preview, refresh and publication, the open-data downloads, and the
staff analytics page (issue 8)."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from auditors.models import Accreditation, Engagement, Offer
from certification.framework.services import WorkflowError
from certification.releases.models import Application
from certification.transparency import charts as transparency_charts
from certification.transparency import figures as transparency_figures
from certification.transparency import rollups as transparency_rollups
from certification.transparency import services as transparency_services
from certification.transparency.models import ReportSnapshot, ReportTierRollup
from portal import labels as portal_labels
from portal.canonical import canonical_json
from portal.models import Deadline
from portal.views import staff_required

# --- how the tables are shown --------------------------------------------------------------------------

COLUMN_LABELS = {
    "tier": gettext_lazy("Tier"),
    "member_organizations": gettext_lazy("Member organizations"),
    "organizations_certified": gettext_lazy("With a valid certificate"),
    "share": gettext_lazy("Share"),
    "issued": gettext_lazy("Issued"),
    "suspended": gettext_lazy("Suspended"),
    "revoked": gettext_lazy("Revoked"),
    "expired": gettext_lazy("Expired"),
    "releases_certified": gettext_lazy("Releases certified"),
    "decisions": gettext_lazy("Decisions"),
    "median_days": gettext_lazy("Median days"),
    "p90_days": gettext_lazy("90th percentile, days"),
    "median_days_excluding_changes_requested": gettext_lazy("Median days, excluding changes requested"),
    "p90_days_excluding_changes_requested": gettext_lazy("90th percentile, excluding changes requested"),
    "performed": gettext_lazy("Reports filed"),
    "on_time": gettext_lazy("On time"),
    "on_time_share": gettext_lazy("Share on time"),
    "category": gettext_lazy("Category"),
    "severity": gettext_lazy("Severity"),
    "submitted": gettext_lazy("Submitted"),
    "accepted": gettext_lazy("Accepted"),
    "outcome": gettext_lazy("Triage outcome"),
    "findings": gettext_lazy("Findings"),
    "response": gettext_lazy("Response"),
    "due": gettext_lazy("Responses due"),
    "version": gettext_lazy("Version"),
    "effective_from": gettext_lazy("In force from"),
    "effective_until": gettext_lazy("Until"),
    "digest": gettext_lazy("Document digest (sha256)"),
    "received": gettext_lazy("Received"),
    "acknowledged": gettext_lazy("Acknowledged"),
    "median_days_to_acknowledge": gettext_lazy("Median days to acknowledge"),
    "resolved": gettext_lazy("Resolved"),
    "median_days_to_resolve": gettext_lazy("Median days to resolve"),
    "escalated": gettext_lazy("Escalated to a suspension"),
    "dismissed": gettext_lazy("Dismissed by staff"),
}
LABELLED = {"tier", "category", "severity", "outcome", "response"}
SHARES = {"share", "on_time_share"}

TABLE_CAPTIONS = {
    "adoption": gettext_lazy("Adoption by tier"),
    "certificates": gettext_lazy("Certificates and releases by tier"),
    "time_to_decision": gettext_lazy("Calendar days from first submission to decision"),
    "audits": gettext_lazy("Audits performed and on time"),
    "findings": gettext_lazy("Community findings by category and severity"),
    "findings_by_category": gettext_lazy("Community findings by category"),
    "findings_by_severity": gettext_lazy("Community findings by severity"),
    "finding_triage": gettext_lazy("Triage outcomes"),
    "responses": gettext_lazy("Responses to accepted findings"),
    "response_timeliness": gettext_lazy("Responses filed on time"),
    "incidents": gettext_lazy("Post-release incidents by severity"),
    "framework_versions": gettext_lazy("Framework versions in force"),
}

# (section id, heading, definition, charts, tables)
SECTIONS = [
    ("adoption", gettext_lazy("Adoption"),
     gettext_lazy("The share of Alliance member organizations that held at least one valid certificate at any "
                  "time in the year, overall and by tier (a valid certificate of that tier). Member organizations "
                  "are those recorded as Alliance members when the figures were computed. A certificate is valid "
                  "from its issue until it expires, is revoked or is superseded by a renewal, except while it is "
                  "suspended."),
     ["adoption"], ["adoption"]),
    ("certificates", gettext_lazy("Certificates and releases"),
     gettext_lazy("Certificates issued, suspended, revoked and expired in the year, each counted by the time of "
                  "the event; a certificate suspended twice counts once. Expired counts certificates that reached "
                  "their expiry time while valid. Releases certified counts distinct releases with a certificate "
                  "issued in the year, by the certificate's tier."),
     ["certificates", "releases"], ["certificates"]),
    ("time-to-decision", gettext_lazy("Time to decision"),
     gettext_lazy("Applications decided (certified or rejected) in the year: calendar days, weekends included, "
                  "from the first submission to the decision. Median and 90th percentile, interpolated linearly "
                  "between the closest values. The second chart subtracts the time the application spent in "
                  "\"changes requested\", waiting for the organization."),
     ["time_to_decision", "time_to_decision_excl"], ["time_to_decision"]),
    ("audits", gettext_lazy("Third-party audits"),
     gettext_lazy("Audit reports filed in the year (Tier 3 and 4 releases), and the share filed by the due time of "
                  "the engagement (30 days from acceptance for Tier 3, 45 for Tier 4, under version 2025.1)."),
     ["audits"], ["audits"]),
    ("findings", gettext_lazy("Community findings"),
     gettext_lazy("Findings submitted by community evaluators in the year, by category and by severity (as "
                  "settled by staff at triage), and what triage made of them. Only counts are published: no "
                  "titles, no models, no organizations."),
     ["findings_by_category", "findings_by_severity"],
     ["findings_by_category", "findings_by_severity", "findings", "finding_triage"]),
    ("responses", gettext_lazy("Responses to findings"),
     gettext_lazy("Organizations respond publicly to every accepted finding: mitigated, accepted as a risk, or "
                  "disputed. Shares of the accepted findings submitted in the year. A response is on time when "
                  "filed within 14 days after triage or after the review window closed, whichever is later; the "
                  "on-time rate counts the responses that fell due in the year, unanswered ones as late."),
     ["responses", "response_timeliness"], ["responses", "response_timeliness"]),
    ("incidents", gettext_lazy("Post-release incidents"),
     gettext_lazy("Concerns reported about certified releases become incidents that the organization acknowledges, "
                  "investigates and resolves with a public note, or that staff escalate to a suspension of the "
                  "certificate or dismiss as not an incident. By severity as rated by the reporter or by staff "
                  "(\"not rated\" when neither did), each count by the time of its event in the year: incidents "
                  "received; acknowledged, with the median days from the report to the acknowledgement; resolved, "
                  "with the median days from the report to the resolution; escalated; dismissed. Calendar days, "
                  "weekends included; the median is interpolated between the two middle values. Only counts are "
                  "published: no titles, no models, no organizations."),
     ["incidents", "incident_days"], ["incidents"]),
    ("framework", gettext_lazy("Framework versions in force"),
     gettext_lazy("The published versions of the framework in force at some time in the year, with their "
                  "document digests (sha256 of the rules as canonical JSON)."),
     [], ["framework_versions"]),
]


def _cell(column: str, value) -> str:
    if column in SHARES:
        return transparency_charts.percent(value)
    if column in LABELLED:
        return transparency_charts.label(column, value)
    if column in ("effective_from", "effective_until"):
        return portal_labels.day(date.fromisoformat(value[:10])) if value else "–"
    return transparency_charts.number(value)


def _table_context(data: dict, name: str) -> dict:
    table = data["tables"][name]
    return {
        "name": name,
        "caption": TABLE_CAPTIONS[name],
        "headers": [COLUMN_LABELS[c] for c in table["columns"]],
        "rows": [[{"text": _cell(c, row[c]), "cls": _cell_class(c)} for c in table["columns"]]
                 for row in table["rows"]],
    }


def _cell_class(column: str) -> str:
    if column == "digest":
        return "hash"
    if column in LABELLED or column in ("version", "effective_from", "effective_until"):
        return ""
    return "num"


def _downloads(year: int, name: str, draft: bool) -> dict:
    prefix = "certification:staff-report-" if draft else "certification:report-"
    return {"csv": reverse(prefix + "csv", args=[year, name]),
            "json": reverse(prefix + "table-json", args=[year, name])}


def render_body(data: dict, draft: bool) -> str:
    """The report itself (definitions, charts, data tables, downloads), from draft or snapshot data.
    A section whose tables a snapshot does not hold (published before they existed) is left out."""
    charts = transparency_charts.charts(data)
    sections = []
    for section_id, heading, definition, chart_names, table_names in SECTIONS:
        if any(name not in data["tables"] for name in table_names):
            continue
        tables = []
        for name in table_names:
            table = _table_context(data, name)
            table["downloads"] = _downloads(data["year"], name, draft)
            tables.append(table)
        sections.append({"id": section_id, "heading": heading, "definition": definition,
                         "charts": [charts[c] for c in chart_names], "tables": tables})
    return render_to_string("certification/transparency/_body.html", {"data": data, "sections": sections,
                                                                      "draft": draft})


def _published(year: int, fields=("year", "sha256", "published_at")) -> ReportSnapshot:
    snapshot = ReportSnapshot.objects.filter(year=year).only(*fields).first()
    if snapshot is None:
        raise Http404
    return snapshot


# --- public pages -------------------------------------------------------------------------------------


@require_GET
def report_index(request: HttpRequest) -> HttpResponse:
    snapshots = ReportSnapshot.objects.only("year", "sha256", "published_at")
    return render(request, "certification/transparency/index.html", {"snapshots": snapshots})


@require_GET
def report_detail(request: HttpRequest, year: int) -> HttpResponse:
    """A published year, read only from its snapshot (one query over the few snapshots).

    A snapshot never changes, so what is rendered from it is cached under its
    sha256 in the shared cache: the report body for everyone, and the whole page
    for visitors without a session or pending messages (their page is the same
    for all of them, in a given language)."""
    published = list(ReportSnapshot.objects.order_by("-year").values_list("year", "sha256", "published_at"))
    entry = next((p for p in published if p[0] == year), None)
    if entry is None:
        raise Http404
    _year, sha256, published_at = entry
    language = get_language()
    # The rendering's version too: a snapshot never changes, but how its charts are drawn may.
    page_key = f"report-page:{transparency_charts.RENDER_VERSION}:{year}:{sha256}:{language}"
    shared_page = not (request.COOKIES.get(settings.SESSION_COOKIE_NAME) or request.COOKIES.get("messages"))
    if shared_page and not request.user.is_authenticated:
        html = cache.get(page_key)
        if html is not None:
            return HttpResponse(html)
    body_key = f"report-body:{transparency_charts.RENDER_VERSION}:{year}:{sha256}:{language}"
    body = cache.get(body_key)
    if body is None:
        data = ReportSnapshot.objects.values_list("data", flat=True).get(year=year)
        body = render_body(data, draft=False)
        cache.set(body_key, body, timeout=None)
    snapshot = {"year": year, "sha256": sha256, "published_at": published_at}
    response = render(request, "certification/transparency/detail.html",
                      {"snapshot": snapshot, "body": body, "years": [p[0] for p in published]})
    if shared_page and not request.user.is_authenticated:
        cache.set(page_key, response.content, timeout=None)
    return response


def _table_response(data: dict, name: str, fmt: str, etag: str | None = None) -> HttpResponse:
    if name not in data["tables"]:
        raise Http404
    filename = f"transparency-report-{data['year']}-{name}.{fmt}"
    if fmt == "csv":
        response = HttpResponse(transparency_services.table_csv(data["tables"][name]),
                                content_type="text/csv; charset=utf-8")
    else:
        response = JsonResponse(transparency_services.table_json(data, name))
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    if etag:
        response["ETag"] = f'"{etag}"'
        response["Cache-Control"] = "public, max-age=86400"
    return response


@require_GET
def report_table(request: HttpRequest, year: int, table: str, fmt: str) -> HttpResponse:
    snapshot = _published(year, fields=("year", "sha256", "data"))
    return _table_response(snapshot.data, table, fmt, etag=f"{snapshot.sha256}-{table}-{fmt}")


@require_GET
def report_snapshot_json(request: HttpRequest, year: int) -> HttpResponse:
    """The whole snapshot as its canonical JSON: the bytes its sha256 is computed over."""
    snapshot = _published(year, fields=("year", "sha256", "data"))
    response = HttpResponse(canonical_json(snapshot.data), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="transparency-report-{year}.json"'
    response["ETag"] = f'"{snapshot.sha256}"'
    response["Cache-Control"] = "public, max-age=86400"
    return response


# --- staff: drafts, refresh, publication --------------------------------------------------------------


@staff_required
@require_GET
def staff_report(request: HttpRequest) -> HttpResponse:
    published = {s.year: s for s in ReportSnapshot.objects.select_related("published_by")
                 .only("year", "sha256", "published_at", "published_by__name", "published_by__email")}
    rollups = {r.year: r for r in ReportTierRollup.objects.filter(tier=transparency_figures.ALL)}
    years = sorted(set(rollups) | set(published), reverse=True)
    rows = [{"year": y, "rollup": rollups.get(y), "snapshot": published.get(y)} for y in years]
    return render(request, "certification/transparency/staff.html", {"rows": rows})


@staff_required
@require_POST
def staff_report_refresh(request: HttpRequest) -> HttpResponse:
    count = transparency_rollups.refresh_by_staff(request.user, request=request)
    messages.success(request, ngettext("The figures of %(n)d year were recomputed.",
                                       "The figures of %(n)d years were recomputed.", count) % {"n": count})
    target = request.POST.get("next", "")
    if target.startswith("/staff/report/"):
        return redirect(target)
    return redirect("certification:staff-report")


def _draft_or_404(year: int) -> dict:
    data = transparency_services.build_draft(year)
    if data is None:
        raise Http404
    return data


@staff_required
@require_GET
def staff_report_preview(request: HttpRequest, year: int) -> HttpResponse:
    data = _draft_or_404(year)
    snapshot = ReportSnapshot.objects.filter(year=year).only("year", "sha256", "published_at").first()
    context = {"data": data, "body": render_body(data, draft=True), "digest": transparency_services.draft_digest(data),
               "snapshot": snapshot, "year_over": timezone.now() >= transparency_figures.year_bounds(year)[1]}
    return render(request, "certification/transparency/preview.html", context)


@staff_required
def staff_report_publish(request: HttpRequest, year: int) -> HttpResponse:
    data = _draft_or_404(year)
    if request.method == "POST":
        try:
            transparency_services.publish(year, request.user, request.POST.get("draft_sha256", ""), request=request)
        except WorkflowError as exc:
            messages.error(request, str(exc))
            return redirect("certification:staff-report-preview", year=year)
        messages.success(request, _("The report of %(year)s is published.") % {"year": year})
        return redirect("certification:report-detail", year=year)
    return render(request, "certification/transparency/publish.html",
                  {"data": data, "digest": transparency_services.draft_digest(data), "year": year})


@staff_required
@require_GET
def staff_report_table(request: HttpRequest, year: int, table: str, fmt: str) -> HttpResponse:
    return _table_response(_draft_or_404(year), table, fmt)


# --- staff analytics ------------------------------------------------------------------------------------

AGE_BUCKETS = [(0, 7), (7, 30), (30, 60), (60, 90), (90, None)]


@staff_required
@require_GET
def staff_analytics(request: HttpRequest) -> HttpResponse:
    """Live counts for staff: applications by state, ageing, auditor load, overdue deadlines."""
    now = timezone.now()
    # 1 query: applications by state.
    by_state = dict(Application.objects.values_list("status").annotate(n=Count("id")))
    states = [(label, by_state.get(value, 0)) for value, label in Application.Status.choices]
    # 1 query: open applications (submitted at least once) by state and days since the first submission.
    buckets = {}
    for i, (lo, hi) in enumerate(AGE_BUCKETS):
        cond = Q(first_submitted_at__lte=now - timedelta(days=lo))
        if hi is not None:
            cond &= Q(first_submitted_at__gt=now - timedelta(days=hi))
        buckets[f"b{i}"] = Count("id", filter=cond)
    ageing_rows = (Application.objects.open().exclude(status=Application.Status.DRAFT)
                   .filter(first_submitted_at__isnull=False).values("status").annotate(**buckets).order_by("status"))
    labels = dict(Application.Status.choices)
    ageing = [{"status": labels.get(r["status"], r["status"]),
               "counts": [r[f"b{i}"] for i in range(len(AGE_BUCKETS))]} for r in ageing_rows]
    bucket_labels = [_("%(lo)d–%(hi)d days") % {"lo": lo, "hi": hi} if hi else _("over %(lo)d days") % {"lo": lo}
                     for lo, hi in AGE_BUCKETS]
    # 1 query: every active auditor with the engagements and offers they hold now.
    auditors = (Accreditation.objects.auditors().active(now).select_related("user")
                .annotate(n_active=Count("engagements", filter=Q(engagements__status=Engagement.Status.ACTIVE),
                                       distinct=True),
                          n_overdue=Count("engagements", filter=Q(engagements__status=Engagement.Status.ACTIVE,
                                                                engagements__report_due_at__lt=now), distinct=True),
                          n_offers=Count("offers", filter=Q(offers__status=Offer.Status.OPEN,
                                                          offers__expires_at__gt=now), distinct=True))
                .order_by("user__email"))
    load = [{"auditor": a, "active": a.n_active, "capacity": a.capacity, "overdue": a.n_overdue,
             "offers": a.n_offers, "ratio": (a.n_active / a.capacity) if a.capacity else None} for a in auditors]
    load.sort(key=lambda r: (-(r["ratio"] or 0), r["auditor"].user.email))
    # 1 query: deadlines past due, by kind.
    overdue = (Deadline.objects.filter(Q(state=Deadline.State.OPEN, due_at__lt=now) | Q(state=Deadline.State.PASSED))
               .values("kind").annotate(open_past_due=Count("id", filter=Q(state=Deadline.State.OPEN)),
                                        passed=Count("id", filter=Q(state=Deadline.State.PASSED)))
               .order_by("kind"))
    return render(request, "certification/transparency/analytics.html", {
        "states": states, "ageing": ageing, "bucket_labels": bucket_labels, "load": load,
        "overdue": list(overdue), "now": now,
    })

