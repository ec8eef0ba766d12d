"""Suggestions for one application and batch assignment (DESIGN §5)."""

from __future__ import annotations

from datetime import date

import pytest

from auditors import assignment, conflicts, services
from auditors.models import Affiliation, ConflictRecord
from certification.models import Application
from certification.services import WorkflowError
from portal.models import AuditEntry
from tests import factories as f

from .helpers import TIER4_BOTH, engage, in_review_application, make_accredited_auditor


@pytest.fixture
def app(framework, org, org_admin, staff):
    return in_review_application(org, org_admin, staff)


def preloaded(app) -> Application:
    return Application.objects.select_related("release__ai_model__organization", "framework_version").get(pk=app.pk)


def names(candidates) -> list[str]:
    return [c.auditor.name for c in candidates]


def test_ranking_prefers_spare_capacity_and_explains(app, staff, org, org_admin):
    busy = make_accredited_auditor(name="Busy", capacity=2)
    make_accredited_auditor(name="Free", capacity=2)
    engage(in_review_application(org, org_admin, staff, version="0.9"), busy, staff)
    s = assignment.suggest(preloaded(app))
    assert names(s.ranked) == ["Free", "Busy"]
    busy_reasons = next(c for c in s.ranked if c.auditor.name == "Busy").reasons
    assert "Accredited for Tier 3." in busy_reasons
    assert any("Spare capacity 1 of 2 (load 50%)" in r for r in busy_reasons)
    assert s.open_seats == 1 and names(s.proposal) == ["Free"]


def test_domain_coverage_ranks_first_for_tier4(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff, version="4.0", **TIER4_BOTH)
    make_accredited_auditor(name="Idle generalist", domains=[], capacity=5)
    both = make_accredited_auditor(name="Busy specialist", domains=["biology", "cybersecurity"], capacity=2)
    engage(in_review_application(org, org_admin, staff, version="0.9"), both, staff)
    s = assignment.suggest(preloaded(app))
    assert names(s.ranked) == ["Busy specialist", "Idle generalist"]
    assert any("covers 2 of 2" in r for r in s.ranked[0].reasons)


def test_rotation_ranks_an_auditor_new_to_the_organization_higher(app, staff, org, org_admin):
    from .helpers import file_report

    veteran = make_accredited_auditor(name="Veteran")
    newcomer = make_accredited_auditor(name="Newcomer")
    earlier = in_review_application(org, org_admin, staff, version="0.9")
    file_report(engage(earlier, veteran, staff))  # filed: no longer an active engagement
    s = assignment.suggest(preloaded(app))
    assert names(s.ranked) == ["Newcomer", "Veteran"]
    veteran_reasons = next(c for c in s.ranked if c.auditor.name == "Veteran").reasons
    assert any("1 earlier engagement" in r for r in veteran_reasons)
    del newcomer


def test_excluded_auditors_come_with_their_reason(app, org, org_admin):
    make_accredited_auditor(name="Tier four only", tiers=(4,))
    make_accredited_auditor(name="Full", capacity=1)
    make_accredited_auditor(name="Employee", affiliations=[{"organization": org, "organization_name": org.name,
                                                           "relation": "employment", "started_on": date(2020, 1, 1)}])
    make_accredited_auditor(name="Colleague", email_domains=["acme.example"])
    f.MembershipFactory(organization=org, user=f.UserFactory(email="dev@acme.example"))
    full = next(a for a in services.Accreditation.objects.filter(user__name="Full"))
    other_app = in_review_application(org, org_admin, f.make_staff(), version="0.8")
    engage(other_app, full, f.make_staff())
    s = assignment.suggest(preloaded(app))
    why = {c.auditor.name: " ".join(c.reasons) for c in s.excluded}
    assert "Not accredited for Tier 3" in why["Tier four only"]
    assert "At capacity" in why["Full"]
    assert "Hard conflict" in why["Employee"]
    assert "Potential conflict" in why["Colleague"] and "acme.example" in why["Colleague"]
    assert s.ranked == [] and s.proposal == [] and "Only 0 eligible" in s.problem


def test_suggestions_take_at_most_five_queries_whatever_the_number_of_auditors(app, org, django_assert_max_num_queries):
    for n in range(40):
        make_accredited_auditor(domains=["biology"] if n % 2 else [], affiliations=[
            {"organization_name": f"Lab {n}", "relation": "consulting", "started_on": date(2021, 1, 1)}])
    loaded = preloaded(app)
    with django_assert_max_num_queries(5):
        s = assignment.suggest(loaded)
    assert len(s.ranked) == 40


def test_tier4_proposes_a_pair_covering_every_flagged_domain(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff, version="4.0", **TIER4_BOTH)
    make_accredited_auditor(name="Bio one", domains=["biology"])
    make_accredited_auditor(name="Bio two", domains=["biology"])
    make_accredited_auditor(name="Cyber", domains=["cybersecurity"])
    make_accredited_auditor(name="Tier three", tiers=(3,), domains=["biology", "cybersecurity"])
    s = assignment.suggest(preloaded(app))
    assert s.seats == 2 and s.flagged == {"biology", "cybersecurity"}
    pair = {c.auditor.name for c in s.proposal}
    assert len(pair) == 2 and "Cyber" in pair
    covered = set().union(*(c.auditor.domains for c in s.proposal))
    assert covered >= {"biology", "cybersecurity"}


def test_tier4_without_a_covering_pair_says_why(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff, version="4.0", **TIER4_BOTH)
    make_accredited_auditor(domains=["biology"])
    make_accredited_auditor(domains=["biology"])
    s = assignment.suggest(preloaded(app))
    assert s.proposal == [] and "cybersecurity" in s.problem


def test_tier4_pair_needs_two_people_even_if_one_covers_everything(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff, version="4.0", **TIER4_BOTH)
    make_accredited_auditor(domains=["biology", "cybersecurity"])
    s = assignment.suggest(preloaded(app))
    assert s.proposal == [] and "Only 1 eligible" in s.problem


def test_hard_conflict_cannot_be_overridden(app, org, staff):
    acc = make_accredited_auditor(affiliations=[{"organization": org, "organization_name": org.name,
                                                 "relation": "equity", "started_on": date(2020, 1, 1)}])
    with pytest.raises(WorkflowError, match="hard conflict"):
        services.override_conflict(app, acc, staff, conflicts.FINANCIAL_INTEREST, "Small stake.")
    assert not ConflictRecord.objects.exists()
    with pytest.raises(WorkflowError):
        services.send_offer(app, acc, staff)


def test_override_of_a_potential_conflict_is_logged_and_makes_the_auditor_eligible(app, org, staff):
    acc = make_accredited_auditor(affiliations=[{"organization": org, "organization_name": org.name,
                                                 "relation": "consulting", "started_on": date(2020, 1, 1),
                                                 "ended_on": date.today().replace(year=date.today().year - 1)}])
    assert assignment.suggest(preloaded(app)).ranked == []
    with pytest.raises(WorkflowError):
        services.override_conflict(app, acc, staff, conflicts.RECENT_AFFILIATION, "  ")
    with pytest.raises(WorkflowError):
        services.override_conflict(app, acc, f.UserFactory(), conflicts.RECENT_AFFILIATION, "Reason")
    services.override_conflict(app, acc, staff, conflicts.RECENT_AFFILIATION, "One short engagement, long ago.")
    entry = AuditEntry.objects.get(action="auditors.conflict.overridden")
    assert entry.actor == staff and entry.payload["code"] == conflicts.RECENT_AFFILIATION
    assert entry.payload["staff_only"]["reason"] == "One short engagement, long ago."
    s = assignment.suggest(preloaded(app))
    assert [c.auditor.accreditation_id for c in s.ranked] == [acc.pk]
    assert any("overridden by staff" in r for r in s.ranked[0].reasons)
    services.send_offer(app, acc, staff)


def test_override_of_a_conflict_the_auditor_does_not_have_is_refused(app, staff):
    acc = make_accredited_auditor()
    with pytest.raises(WorkflowError, match="no such potential conflict"):
        services.override_conflict(app, acc, staff, conflicts.SHARED_EMAIL_DOMAIN, "Because.")


# --- batch --------------------------------------------------------------------------------


def _apps(framework, org, org_admin, staff, n: int, **facts) -> list[Application]:
    return [preloaded(in_review_application(org, org_admin, staff, version=f"b{i}", **facts)) for i in range(n)]


def test_batch_spreads_load_and_never_exceeds_capacity(framework, org, org_admin, staff):
    apps = _apps(framework, org, org_admin, staff, 4)
    big = make_accredited_auditor(name="Big", capacity=4)
    small = make_accredited_auditor(name="Small", capacity=2)
    proposal = assignment.propose_batch(apps)
    assert len(proposal.assignments) == 4 and proposal.unservable == {}
    counts = {big.pk: 0, small.pk: 0}
    for accs in proposal.assignments.values():
        for acc in accs:
            counts[acc] += 1
    # Four seats on capacities 4 and 2: 3 + 1 gives the lowest highest ratio (75 %, against 100 % for 2 + 2).
    assert counts == {big.pk: 3, small.pk: 1}
    assert proposal.max_load_ratio == pytest.approx(0.75)


def test_batch_reports_unservable_applications_with_a_reason(framework, org, org_admin, staff):
    apps = _apps(framework, org, org_admin, staff, 3)
    make_accredited_auditor(name="Only", capacity=2)
    t4 = preloaded(in_review_application(org, org_admin, staff, version="t4", **TIER4_BOTH))
    proposal = assignment.propose_batch([*apps, t4])
    assert len(proposal.assignments) == 2
    assert set(proposal.unservable) == {t4.pk, *(a.pk for a in apps if a.pk not in proposal.assignments)}
    assert "capacity is taken" in next(r for pk, r in proposal.unservable.items() if pk != t4.pk)
    assert "Only 1 eligible" in proposal.unservable[t4.pk] or "accredited in" in proposal.unservable[t4.pk]
    assert all(n <= c for n, c in proposal.loads.values())


def test_batch_covers_tier4_domains_and_respects_existing_load(framework, org, org_admin, staff):
    apps = [preloaded(in_review_application(org, org_admin, staff, version=f"t{i}", **TIER4_BOTH)) for i in range(2)]
    bio = make_accredited_auditor(name="Bio", domains=["biology"], capacity=3)
    cyber = make_accredited_auditor(name="Cyber", domains=["cybersecurity"], capacity=2)
    generalist = make_accredited_auditor(name="Both", domains=["biology", "cybersecurity"], capacity=2)
    # Cyber is already half busy.
    engage(preloaded(in_review_application(org, org_admin, staff, version="x", parameter_count=100_000_000_000)),
           cyber, staff)
    proposal = assignment.propose_batch(apps)
    assert proposal.unservable == {}
    for app_id, accs in proposal.assignments.items():
        domains = set()
        for acc in accs:
            domains |= {"biology"} if acc == bio.pk else {"cybersecurity"} if acc == cyber.pk else {
                "biology", "cybersecurity"}
        assert len(accs) == 2 and domains >= {"biology", "cybersecurity"}
    assert all(n <= c for n, c in proposal.loads.values())
    del generalist


def test_batch_proposal_excludes_conflicted_auditors(framework, org, org_admin, staff):
    apps = _apps(framework, org, org_admin, staff, 1)
    conflicted = make_accredited_auditor(firm=org.name)
    proposal = assignment.propose_batch(apps)
    assert proposal.assignments == {} and conflicted.pk in proposal.loads
    assert "Only 0 eligible" in proposal.unservable[apps[0].pk]


def test_affiliation_rows_are_real(org):
    acc = make_accredited_auditor(affiliations=[{"organization_name": "X", "relation": "funding"}])
    assert Affiliation.objects.filter(accreditation=acc).count() == 1
