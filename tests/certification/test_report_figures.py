"""Every figure of the transparency report against a hand-computed world, plus an
empty year, an empty database and a single organization.

The world (figures as of 1 March 2026, UTC):

member organizations A, B, C; D is not a member.

certificates (tier, issued, expiry, what happened)
  a1  A  T1  2024-06-01  2025-06-01  expired while valid
  a2  A  T1  2025-05-15  2026-05-15  superseded by a3 on 2025-11-01 (same release as a3)
  a3  A  T2  2025-11-01  2026-11-01  valid
  b1  B  T2  2025-03-01  2026-03-01  suspended 2025-04-01, reinstated 2025-05-01, expired
  b2  B  T4  2025-06-01  2026-06-01  suspended 2025-07-01 for good
  c1  C  T3  2024-01-10  2025-01-10  revoked 2024-12-01
  d1  D  T1  2025-02-01  2026-02-01  expired (not a member: no adoption)

decisions in 2025 (days from first submission; time in changes requested)
  x1 T1 10 days; x2 T1 30 days, 10 in CR; x3 T1 20 days, 2 + 3 in CR; y1 T3 90 days
  (x0 T1 decided in 2022; z1 decided 2026-01-05)

audits: T3 reports filed 2025-04-01 (due 04-05) and 2025-05-10 (due 05-01), T4 filed
2025-07-01 (due 07-01), one filed in 2024, one not filed.

findings (window W1 of a T3 application closes 2025-03-31; W2 of a T4 one closes 2026-01-10)
  f1 toxicity/high accepted (triaged 03-07) mitigated 04-10      due 04-14: on time
  f2 bias/medium   accepted (triaged 04-10) accepted_risk 04-30  due 04-24: late
  f3 bias/medium   accepted (triaged 03-08) no response          due 04-14: late
  f4 security/critical duplicate; f5 toxicity/low awaiting triage; f6 a draft
  f7 (W2) other/info submitted 2025-12-20 accepted 12-22, disputed 2026-01-20, due 2026-01-24
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from collections import defaultdict

import pytest
import time_machine
from django.db import connection

from auditors.models import AuditReport, Engagement
from certification.certificates.models import Certificate, RevocationProposal
from certification.framework.models import FrameworkVersion
from certification.releases.models import AIModel, Application, ApplicationTransition, Release
from certification.review.models import Finding, FindingResponse, ReviewWindow
from certification.transparency import charts as transparency_charts
from certification.transparency import figures, rollups, services
from certification.transparency.models import ReportFindingRollup, ReportTierRollup
from portal import audit
from portal.models import Organization
from tests import factories as f

S = Application.Status
UTC = dt.timezone.utc
AS_OF = dt.datetime(2026, 3, 1, tzinfo=UTC)
_seq = itertools.count(1)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def make_release(org: Organization) -> Release:
    n = next(_seq)
    model = AIModel.objects.create(organization=org, name=f"Secret model {n}", slug=f"secret-{n}")
    return Release.objects.create(ai_model=model, version="1.0", parameter_count=1000)


def make_app(org, tier, *, first=None, decided=None, status=S.CERTIFIED, release=None, cr=()) -> Application:
    fv = FrameworkVersion.objects.get(version="2025.1")
    app = Application.objects.create(
        release=release or make_release(org), framework_version=fv, status=status, tier=tier,
        first_submitted_at=at(first) if first else None, submitted_at=at(first) if first else None,
        decided_at=at(decided) if decided else None)
    for start, end in cr:
        ApplicationTransition.objects.create(application=app, from_status=S.SCREENING, to_status=S.CHANGES_REQUESTED,
                                             at=at(start))
        ApplicationTransition.objects.create(application=app, from_status=S.CHANGES_REQUESTED, to_status=S.SUBMITTED,
                                             at=at(end))
    return app


def make_cert(org, tier, issued, expires, *, status=Certificate.Status.VALID, release=None, app=None) -> Certificate:
    app = app or make_app(org, tier, status=S.CERTIFIED, release=release)
    fv = app.framework_version
    return Certificate.objects.create(
        number=f"RRC-TEST-{next(_seq):05d}", application=app, release=app.release, organization=org,
        framework_version=fv, tier=tier, status=status, issued_at=at(issued), expires_at=at(expires),
        updated_at=at(issued))


def log_at(when: str, action: str, cert: Certificate) -> None:
    with time_machine.travel(at(when), tick=False):
        audit.log(action, obj=cert, organization=cert.organization)


def engagement(app, *, seat, accepted, due, filed=None) -> Engagement:
    acc = f.AccreditationFactory()
    eng = Engagement.objects.create(application=app, accreditation=acc, seat=seat, accepted_at=at(accepted),
                                    report_due_at=at(due),
                                    status=Engagement.Status.COMPLETED if filed else Engagement.Status.ACTIVE)
    AuditReport.objects.create(engagement=eng, filed_at=at(filed) if filed else None)
    return eng


def finding(window, author, category, severity, status, *, submitted, triaged=None, response=None,
            title="Secret finding title") -> Finding:
    item = Finding.objects.create(window=window, author=author, status=status, title=title, category=category,
                                  severity=severity, submitted_at=at(submitted) if submitted else None,
                                  triaged_at=at(triaged) if triaged else None)
    if response:
        kind, when = response
        FindingResponse.objects.create(finding=item, kind=kind, details="Secret response details",
                                       responded_by=author, responded_at=at(when))
    return item


@pytest.fixture
def world(framework):
    FrameworkVersion.objects.create(version="2026.1", status="published", effective_from=at("2026-01-01"),
                                    rules=framework.rules, digest="f" * 64)
    FrameworkVersion.objects.create(version="2027.1", status="draft", rules=framework.rules)
    a = f.OrganizationFactory(name="Alpha Secret Org", slug="alpha-secret", is_alliance_member=True)
    b = f.OrganizationFactory(name="Beta Secret Org", slug="beta-secret", is_alliance_member=True)
    c = f.OrganizationFactory(name="Gamma Secret Org", slug="gamma-secret", is_alliance_member=True)
    d = f.OrganizationFactory(name="Delta Outsider", slug="delta-outsider", is_alliance_member=False)
    staff, staff2 = f.make_staff(), f.make_staff(mfa=False)

    make_cert(a, 1, "2024-06-01", "2025-06-01")
    a_release = make_release(a)
    a3 = make_cert(a, 2, "2025-11-01", "2026-11-01", release=a_release,
                   app=make_app(a, 2, status=S.CERTIFIED, release=a_release))
    a2 = make_cert(a, 1, "2025-05-15", "2026-05-15", status=Certificate.Status.SUPERSEDED,
                   app=make_app(a, 1, status=S.CERTIFIED, release=a_release))
    Certificate.objects.filter(pk=a2.pk).update(superseded_by=a3)
    b1 = make_cert(b, 2, "2025-03-01", "2026-03-01")
    log_at("2025-04-01", "certification.certificate.suspended", b1)
    log_at("2025-05-01", "certification.certificate.reinstated", b1)
    b2 = make_cert(b, 4, "2025-06-01", "2026-06-01", status=Certificate.Status.SUSPENDED)
    log_at("2025-07-01", "certification.certificate.suspended", b2)
    c1 = make_cert(c, 3, "2024-01-10", "2025-01-10", status=Certificate.Status.REVOKED)
    RevocationProposal.objects.create(certificate=c1, reason="r", proposed_by=staff, proposed_at=at("2024-11-30"),
                                      confirmed_by=staff2, confirmed_at=at("2024-12-01"))
    make_cert(d, 1, "2025-02-01", "2026-02-01")

    make_app(d, 1, first="2022-05-01", decided="2022-06-01")
    make_app(d, 1, first="2025-01-01", decided="2025-01-11")
    make_app(d, 1, first="2025-02-01", decided="2025-03-03", cr=[("2025-02-05", "2025-02-15")])
    make_app(d, 1, first="2025-04-01", decided="2025-04-21",
             cr=[("2025-04-02", "2025-04-04"), ("2025-04-10", "2025-04-13")])
    y1 = make_app(d, 3, first="2025-03-01", decided="2025-05-30", status=S.REJECTED)
    make_app(d, 2, first="2025-12-01", decided="2026-01-05")
    make_app(d, 2, first="2025-12-01", status=S.IN_REVIEW)  # not decided

    t4 = make_app(d, 4, first="2025-05-01", status=S.IN_REVIEW)
    engagement(y1, seat=1, accepted="2025-03-05", due="2025-04-05", filed="2025-04-01")
    engagement(y1, seat=2, accepted="2025-04-01", due="2025-05-01", filed="2025-05-10")
    engagement(t4, seat=1, accepted="2025-05-17", due="2025-07-01", filed="2025-07-01")
    engagement(t4, seat=2, accepted="2025-05-17", due="2025-07-01")
    engagement(make_app(d, 3, first="2024-01-01", status=S.IN_REVIEW), seat=1, accepted="2024-02-01",
               due="2024-03-01", filed="2024-02-20")

    evaluator = f.make_evaluator()
    w1 = ReviewWindow.objects.create(application=y1, tier=3, first_opened_at=at("2025-03-01"),
                                     opened_at=at("2025-03-01"), closes_at=at("2025-03-31"))
    w2 = ReviewWindow.objects.create(application=t4, tier=4, first_opened_at=at("2025-10-12"),
                                     opened_at=at("2025-10-12"), closes_at=at("2026-01-10"))
    F, K = Finding, FindingResponse.Kind
    finding(w1, evaluator, "toxicity", "high", F.Status.ACCEPTED, submitted="2025-03-05", triaged="2025-03-07",
            response=(K.MITIGATED, "2025-04-10"))
    finding(w1, evaluator, "bias", "medium", F.Status.ACCEPTED, submitted="2025-03-06", triaged="2025-04-10",
            response=(K.ACCEPTED_RISK, "2025-04-30"))
    finding(w1, evaluator, "bias", "medium", F.Status.ACCEPTED, submitted="2025-03-07", triaged="2025-03-08")
    finding(w1, evaluator, "security", "critical", F.Status.DUPLICATE, submitted="2025-03-08", triaged="2025-03-09")
    finding(w1, evaluator, "toxicity", "low", F.Status.SUBMITTED, submitted="2025-03-09")
    finding(w1, evaluator, "privacy_leakage", "high", F.Status.DRAFT, submitted=None)
    finding(w2, evaluator, "other", "info", F.Status.ACCEPTED, submitted="2025-12-20", triaged="2025-12-22",
            response=(K.DISPUTED, "2026-01-20"))
    return {"orgs": [a, b, c, d], "staff": staff}


def rows(data: dict, table: str, key: str = "tier") -> dict:
    return {r[key]: r for r in data["tables"][table]["rows"]}


@pytest.fixture
def computed(world):
    rollups.refresh_rollups(as_of=AS_OF)
    return {year: services.build_draft(year) for year in (2022, 2023, 2024, 2025, 2026)}


def test_adoption_counts_members_with_a_valid_certificate_at_any_time(computed):
    adoption = rows(computed[2025], "adoption")
    assert {k: (r["organizations_certified"], r["member_organizations"]) for k, r in adoption.items()} == {
        # A (a1, a2, a3) and B (b1, b2); C's only certificate was revoked in 2024; D is no member.
        "all": (2, 3), "1": (1, 3), "2": (2, 3), "3": (0, 3), "4": (1, 3)}
    assert adoption["all"]["share"] == 0.6667 and adoption["1"]["share"] == 0.3333 and adoption["3"]["share"] == 0
    # 2024: a1 (A, T1) and c1 (C, T3, until its revocation).
    assert {k: r["organizations_certified"] for k, r in rows(computed[2024], "adoption").items()} == {
        "all": 2, "1": 1, "2": 0, "3": 1, "4": 0}
    # 2026 up to 1 March: a3 (A, T2) and b1 (B, T2, expiring on 1 March); b2 stays suspended.
    assert {k: r["organizations_certified"] for k, r in rows(computed[2026], "adoption").items()} == {
        "all": 2, "1": 0, "2": 2, "3": 0, "4": 0}


def test_certificate_events_and_releases_by_tier(computed):
    certs = rows(computed[2025], "certificates")
    assert {k: (r["issued"], r["suspended"], r["revoked"], r["expired"], r["releases_certified"])
            for k, r in certs.items()} == {
        # issued b1 d1 a2 a3 b2; suspended b1 b2; expired a1 (valid at expiry); a2 and a3 share a release.
        "all": (5, 2, 0, 1, 4), "1": (2, 0, 0, 1, 2), "2": (2, 1, 0, 0, 2), "3": (0, 0, 0, 0, 0), "4": (1, 1, 0, 0, 1)}
    assert rows(computed[2024], "certificates")["3"]["revoked"] == 1
    # c1 was revoked before its expiry: it never expired. b1 and d1 expired in 2026 by 1 March.
    assert rows(computed[2025], "certificates")["3"]["expired"] == 0
    assert {k: r["expired"] for k, r in rows(computed[2026], "certificates").items()} == {
        "all": 2, "1": 1, "2": 1, "3": 0, "4": 0}


def test_time_to_decision_median_and_90th_percentile(computed):
    decisions = rows(computed[2025], "time_to_decision")
    assert decisions["1"] == {"tier": "1", "decisions": 3, "median_days": 20.0, "p90_days": 28.0,
                              "median_days_excluding_changes_requested": 15.0,
                              "p90_days_excluding_changes_requested": 19.0}
    assert decisions["3"]["decisions"] == 1 and decisions["3"]["median_days"] == 90.0
    assert decisions["all"] == {"tier": "all", "decisions": 4, "median_days": 25.0, "p90_days": 72.0,
                                "median_days_excluding_changes_requested": 17.5,
                                "p90_days_excluding_changes_requested": 69.0}
    assert decisions["2"]["decisions"] == 0 and decisions["2"]["median_days"] is None
    assert rows(computed[2026], "time_to_decision")["2"]["median_days"] == 35.0


def test_audits_performed_and_on_time(computed):
    audits = rows(computed[2025], "audits")
    assert {k: (r["performed"], r["on_time"], r["on_time_share"]) for k, r in audits.items()} == {
        "all": (3, 2, 0.6667), "1": (0, 0, None), "2": (0, 0, None), "3": (2, 1, 0.5), "4": (1, 1, 1.0)}
    assert rows(computed[2024], "audits")["3"]["performed"] == 1


def test_findings_by_category_severity_and_triage(computed):
    data = computed[2025]
    by_category = rows(data, "findings_by_category", "category")
    assert {k: (r["submitted"], r["accepted"]) for k, r in by_category.items() if r["submitted"]} == {
        "toxicity": (2, 1), "bias": (2, 2), "security": (1, 0), "other": (1, 1)}
    assert len(by_category) == len(Finding.Category.values)
    by_severity = rows(data, "findings_by_severity", "severity")
    assert {k: (r["submitted"], r["accepted"]) for k, r in by_severity.items()} == {
        "critical": (1, 0), "high": (1, 1), "medium": (2, 2), "low": (1, 0), "info": (1, 1)}
    cells = {(r["category"], r["severity"]): r["submitted"] for r in data["tables"]["findings"]["rows"]}
    assert cells[("bias", "medium")] == 2 and cells[("toxicity", "low")] == 1 and sum(cells.values()) == 6
    triage = rows(data, "finding_triage", "outcome")
    assert {k: r["findings"] for k, r in triage.items()} == {
        "accepted": 4, "duplicate": 1, "out_of_scope": 0, "invalid": 0, "awaiting_triage": 1}
    assert triage["accepted"]["share"] == 0.6667


def test_response_shares_and_on_time_rate(computed):
    responses = rows(computed[2025], "responses", "response")
    assert {k: (r["findings"], r["share"]) for k, r in responses.items()} == {
        "mitigated": (1, 0.25), "accepted_risk": (1, 0.25), "disputed": (1, 0.25), "no_response_yet": (1, 0.25)}
    timely = rows(computed[2025], "response_timeliness")
    assert (timely["all"]["due"], timely["all"]["on_time"], timely["all"]["on_time_share"]) == (3, 1, 0.3333)
    assert timely["3"]["due"] == 3 and timely["4"]["due"] == 0
    timely_2026 = rows(computed[2026], "response_timeliness")
    assert (timely_2026["4"]["due"], timely_2026["4"]["on_time"]) == (1, 1)


def test_framework_versions_in_force(computed):
    assert [(r["version"], r["effective_from"], r["effective_until"])
            for r in computed[2025]["tables"]["framework_versions"]["rows"]] == [
        ("2025.1", "2025-07-01T00:00:00Z", "2026-01-01T00:00:00Z")]
    assert [r["version"] for r in computed[2026]["tables"]["framework_versions"]["rows"]] == ["2026.1"]
    assert computed[2024]["tables"]["framework_versions"]["rows"] == []


def test_an_empty_year_inside_the_range_has_zeros_and_no_shares(computed):
    data = computed[2023]
    assert data is not None and data["as_of"] == "2026-03-01T00:00:00Z"
    adoption = rows(data, "adoption")["all"]
    assert adoption["organizations_certified"] == 0 and adoption["member_organizations"] == 3
    assert adoption["share"] == 0.0
    assert all(r["issued"] == 0 for r in data["tables"]["certificates"]["rows"])
    assert all(r["decisions"] == 0 and r["median_days"] is None for r in data["tables"]["time_to_decision"]["rows"])
    assert all(r["on_time_share"] is None for r in data["tables"]["audits"]["rows"])
    assert all(r["share"] is None for r in data["tables"]["responses"]["rows"])
    assert transparency_charts.charts(data)["adoption"].startswith("<svg")
    # Before the first year with data there is nothing to report.
    assert services.build_draft(2021) is None
    assert rows(computed[2022], "time_to_decision")["1"]["median_days"] == 31.0


def test_an_empty_database_gives_the_current_and_previous_years_with_zeros(framework):
    rollups.refresh_rollups(as_of=AS_OF)
    assert services.draft_years() == [2026, 2025]
    data = services.build_draft(2026)
    assert rows(data, "adoption")["all"] == {"tier": "all", "member_organizations": 0, "organizations_certified": 0,
                                             "share": None}
    assert ReportFindingRollup.objects.count() == 0


def test_a_single_organization(framework):
    org = f.OrganizationFactory(is_alliance_member=True)
    make_cert(org, 2, "2025-02-01", "2026-02-01")
    rollups.refresh_rollups(as_of=AS_OF)
    data = services.build_draft(2025)
    assert {k: r["share"] for k, r in rows(data, "adoption").items()} == {
        "all": 1.0, "1": 0.0, "2": 1.0, "3": 0.0, "4": 0.0}
    assert rows(data, "certificates")["2"]["issued"] == 1
    assert rows(services.build_draft(2026), "certificates")["2"]["expired"] == 1


def test_refresh_replaces_the_rows_and_keeps_one_per_year_and_tier(computed):
    before = ReportTierRollup.objects.count()
    assert before == 5 * 5  # 2022..2026, all tiers + 4
    rollups.refresh_rollups(as_of=AS_OF)
    assert ReportTierRollup.objects.count() == before
    assert set(ReportTierRollup.objects.values_list("computed_at", flat=True)) == {AS_OF}


def test_figures_only_count_what_happened_by_the_time_of_computing(world):
    rollups.refresh_rollups(as_of=at("2025-04-15"))
    data = services.build_draft(2025)
    # b1 was suspended on 1 April; b2 (June) did not exist yet.
    assert rows(data, "certificates")["all"]["issued"] == 2  # d1, b1
    assert rows(data, "certificates")["all"]["suspended"] == 1
    assert rows(data, "adoption")["all"]["organizations_certified"] == 2  # A (a1), B (b1 until 1 April)
    assert services.draft_years() == [2025, 2024, 2023, 2022]


@pytest.mark.postgres
def test_postgres_decision_percentiles_match_the_python_ones(world):
    assert connection.vendor == "postgresql"
    sql = {(y, t): (n, tuple(round(v, 6) if v is not None else None for v in d))
           for y, t, n, d in figures._decision_days_sql(AS_OF) if t in (0, 1, 2, 3, 4)}
    py = {(y, t): (n, tuple(round(v, 6) if v is not None else None for v in d))
          for y, t, n, d in figures._decision_days_python(AS_OF) if t in (0, 1, 2, 3, 4)}
    assert sql == py
    assert sql[(2025, 0)] == (4, (25.0, 72.0, 17.5, 69.0))


def test_percentile_interpolates_like_percentile_cont():
    assert figures.percentile([], 0.5) is None
    assert figures.percentile([7.0], 0.9) == 7.0
    assert figures.percentile([10.0, 20.0, 30.0, 90.0], 0.5) == 25.0
    assert figures.percentile([10.0, 20.0, 30.0, 90.0], 0.9) == pytest.approx(72.0)


def test_response_deadlines_follow_each_applications_framework_version(framework):
    """When versions set different response lengths, each finding's due time uses its own."""
    rules = copy.deepcopy(framework.rules)
    for entry in rules["deadlines"]:
        if entry["kind"] == "finding_response":
            entry["length_days"] = 30
    longer = FrameworkVersion.objects.create(version="2025.2", status="published", effective_from=at("2025-09-01"),
                                             rules=rules, digest="e" * 64)
    org, evaluator = f.OrganizationFactory(is_alliance_member=True), f.make_evaluator()
    for fv in (framework, longer):
        app = Application.objects.create(release=make_release(org), framework_version=fv, status=S.IN_REVIEW, tier=3,
                                         first_submitted_at=at("2025-03-01"), submitted_at=at("2025-03-01"))
        window = ReviewWindow.objects.create(application=app, tier=3, first_opened_at=at("2025-03-01"),
                                             opened_at=at("2025-03-01"), closes_at=at("2025-03-31"))
        # Due 14 days after the window closed (14 April) under 2025.1, 30 days (30 April) under 2025.2.
        finding(window, evaluator, "bias", "low", Finding.Status.ACCEPTED, submitted="2025-03-05",
                triaged="2025-03-07", response=(FindingResponse.Kind.MITIGATED, "2025-04-20"))
    rollups.refresh_rollups(as_of=AS_OF)
    timely = rows(services.build_draft(2025), "response_timeliness")
    assert (timely["3"]["due"], timely["3"]["on_time"]) == (2, 1)
    assert (timely["all"]["due"], timely["all"]["on_time"], timely["all"]["on_time_share"]) == (2, 1, 0.5)


def _tallies():
    out: dict = {}

    def tally(year, tier):
        return out.setdefault((year, tier), figures.Tally())

    return out, tally


@pytest.mark.postgres
@pytest.mark.parametrize("as_of", [AS_OF, at("2025-04-15"), at("2024-12-31T23:59:59")])
def test_postgres_statements_give_the_same_figures_as_the_orm_queries(world, as_of):
    """The PostgreSQL path (hand-written statements, years as buckets) against the
    portable ORM path, piece by piece, on the hand-computed world."""
    assert connection.vendor == "postgresql"
    years = range(figures.first_year(as_of), as_of.year + 1)
    special = sorted(figures._suspension_events(as_of))
    # b1 and b2 (suspended from April 2025) follow the event-by-event path, not these statements.
    assert bool(special) == (as_of >= at("2025-04-01"))

    sql_tallies, sql_tally = _tallies()
    orm_tallies, orm_tally = _tallies()
    sql_spans = figures._plain_certificates_sql(sql_tally, as_of, years, special)
    orm_spans = figures._plain_certificates_orm(orm_tally, as_of, special)
    assert sorted(sql_spans) == sorted(orm_spans) and sql_spans
    sql_cells: dict = defaultdict(lambda: defaultdict(int))
    orm_cells: dict = defaultdict(lambda: defaultdict(int))
    figures._review_figures_sql(sql_tally, sql_cells, as_of, years)
    figures._review_figures_orm(orm_tally, orm_cells, as_of)

    def in_range(items):
        return {key: value for key, value in items if key[0] in years}

    assert in_range(sql_tallies.items()) == in_range(orm_tallies.items())
    assert ({k: dict(v) for k, v in in_range(sql_cells.items()).items()}
            == {k: dict(v) for k, v in in_range(orm_cells.items()).items()})
    assert any(t.audits for t in sql_tallies.values()) and any(t.issued for t in sql_tallies.values())
