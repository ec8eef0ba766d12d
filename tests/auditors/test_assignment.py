"""Suggestions for one application and batch assignment (DESIGN §5)."""

from __future__ import annotations

from datetime import date

import pytest

from auditors import conflicts
from auditors import models as auditor_models
from auditors.assignment import batch as assignment_batch
from auditors.assignment import facts as assignment_facts
from auditors.assignment import offers as assignment_offers
from auditors.assignment import suggestions
from auditors.models import Affiliation, ConflictRecord
from certification.framework.services import WorkflowError
from certification.releases.models import Application
from portal.models import AuditEntry
from tests import factories as f
from tests.auditors.helpers import TIER4_BOTH, engage, in_review_application, make_accredited_auditor


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
    s = suggestions.suggest(preloaded(app))
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
    s = suggestions.suggest(preloaded(app))
    assert names(s.ranked) == ["Busy specialist", "Idle generalist"]
    assert any("covers 2 of 2" in r for r in s.ranked[0].reasons)


def test_rotation_ranks_an_auditor_new_to_the_organization_higher(app, staff, org, org_admin):
    from tests.auditors.helpers import file_report

    veteran = make_accredited_auditor(name="Veteran")
    newcomer = make_accredited_auditor(name="Newcomer")
    earlier = in_review_application(org, org_admin, staff, version="0.9")
    file_report(engage(earlier, veteran, staff))  # filed: no longer an active engagement
    s = suggestions.suggest(preloaded(app))
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
    full = next(a for a in auditor_models.Accreditation.objects.filter(user__name="Full"))
    other_app = in_review_application(org, org_admin, f.make_staff(), version="0.8")
    engage(other_app, full, f.make_staff())
    s = suggestions.suggest(preloaded(app))
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
        s = suggestions.suggest(loaded)
    assert len(s.ranked) == 40


def test_tier4_proposes_a_pair_covering_every_flagged_domain(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff, version="4.0", **TIER4_BOTH)
    make_accredited_auditor(name="Bio one", domains=["biology"])
    make_accredited_auditor(name="Bio two", domains=["biology"])
    make_accredited_auditor(name="Cyber", domains=["cybersecurity"])
    make_accredited_auditor(name="Tier three", tiers=(3,), domains=["biology", "cybersecurity"])
    s = suggestions.suggest(preloaded(app))
    assert s.seats == 2 and s.flagged == {"biology", "cybersecurity"}
    pair = {c.auditor.name for c in s.proposal}
    assert len(pair) == 2 and "Cyber" in pair
    covered = set().union(*(c.auditor.domains for c in s.proposal))
    assert covered >= {"biology", "cybersecurity"}


def test_tier4_without_a_covering_pair_says_why(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff, version="4.0", **TIER4_BOTH)
    make_accredited_auditor(domains=["biology"])
    make_accredited_auditor(domains=["biology"])
    s = suggestions.suggest(preloaded(app))
    assert s.proposal == [] and "cybersecurity" in s.problem


def test_tier4_pair_needs_two_people_even_if_one_covers_everything(framework, org, org_admin, staff):
    app = in_review_application(org, org_admin, staff, version="4.0", **TIER4_BOTH)
    make_accredited_auditor(domains=["biology", "cybersecurity"])
    s = suggestions.suggest(preloaded(app))
    assert s.proposal == [] and "Only 1 eligible" in s.problem


def test_hard_conflict_cannot_be_overridden(app, org, staff):
    acc = make_accredited_auditor(affiliations=[{"organization": org, "organization_name": org.name,
                                                 "relation": "equity", "started_on": date(2020, 1, 1)}])
    with pytest.raises(WorkflowError, match="hard conflict"):
        assignment_offers.override_conflict(app, acc, staff, conflicts.FINANCIAL_INTEREST, "Small stake.")
    assert not ConflictRecord.objects.exists()
    with pytest.raises(WorkflowError):
        assignment_offers.send_offer(app, acc, staff)


def test_override_of_a_potential_conflict_is_logged_and_makes_the_auditor_eligible(app, org, staff):
    acc = make_accredited_auditor(affiliations=[{"organization": org, "organization_name": org.name,
                                                 "relation": "consulting", "started_on": date(2020, 1, 1),
                                                 "ended_on": date.today().replace(year=date.today().year - 1)}])
    assert suggestions.suggest(preloaded(app)).ranked == []
    with pytest.raises(WorkflowError):
        assignment_offers.override_conflict(app, acc, staff, conflicts.RECENT_AFFILIATION, "  ")
    with pytest.raises(WorkflowError):
        assignment_offers.override_conflict(app, acc, f.UserFactory(), conflicts.RECENT_AFFILIATION, "Reason")
    assignment_offers.override_conflict(app, acc, staff, conflicts.RECENT_AFFILIATION,
                                        "One short engagement, long ago.")
    entry = AuditEntry.objects.get(action="auditors.conflict.overridden")
    assert entry.actor == staff and entry.payload["code"] == conflicts.RECENT_AFFILIATION
    assert entry.payload["staff_only"]["reason"] == "One short engagement, long ago."
    s = suggestions.suggest(preloaded(app))
    assert [c.auditor.accreditation_id for c in s.ranked] == [acc.pk]
    assert any("overridden by staff" in r for r in s.ranked[0].reasons)
    assignment_offers.send_offer(app, acc, staff)


def test_override_of_a_conflict_the_auditor_does_not_have_is_refused(app, staff):
    acc = make_accredited_auditor()
    with pytest.raises(WorkflowError, match="no such potential conflict"):
        assignment_offers.override_conflict(app, acc, staff, conflicts.SHARED_EMAIL_DOMAIN, "Because.")


# --- batch --------------------------------------------------------------------------------


def _apps(framework, org, org_admin, staff, n: int, **facts) -> list[Application]:
    return [preloaded(in_review_application(org, org_admin, staff, version=f"b{i}", **facts)) for i in range(n)]


def test_batch_spreads_load_and_never_exceeds_capacity(framework, org, org_admin, staff):
    apps = _apps(framework, org, org_admin, staff, 4)
    big = make_accredited_auditor(name="Big", capacity=4)
    small = make_accredited_auditor(name="Small", capacity=2)
    proposal = assignment_batch.propose_batch(apps)
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
    proposal = assignment_batch.propose_batch([*apps, t4])
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
    proposal = assignment_batch.propose_batch(apps)
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
    proposal = assignment_batch.propose_batch(apps)
    assert proposal.assignments == {} and conflicted.pk in proposal.loads
    assert "Only 0 eligible" in proposal.unservable[apps[0].pk]


def test_affiliation_rows_are_real(org):
    acc = make_accredited_auditor(affiliations=[{"organization_name": "X", "relation": "funding"}])
    assert Affiliation.objects.filter(accreditation=acc).count() == 1


# --- batch on arrays: the same rules as one application's suggestion ------------------------

TODAY = date(2026, 6, 1)


def _facts(seed: int, n_auditors: int = 40, n_apps: int = 12) -> assignment_facts.Facts:
    """Pure facts (no database) exercising every rule: affiliations by id and by name
    (current, recent, old, not yet started), members, contributors, firms, declarations,
    shared and free-mail domains (sub- and parent domains), repeat auditors, overrides,
    seats, offers, removals and past offers, tiers and full auditors."""
    import random

    from auditors.conflicts import AffiliationFacts, ApplicationFacts, AuditorFacts

    rng = random.Random(seed)
    orgs = [1, 2, 3, 4]
    names = {1: "Acme AI", 2: "Beta Labs", 3: "Gamma", 4: "Delta"}
    auditors = []
    for i in range(n_auditors):
        capacity = rng.choice([1, 2, 3])
        affiliations = []
        for _ in range(rng.choice([0, 0, 1, 2])):
            org = rng.choice(orgs)
            by_name = rng.random() < 0.4
            affiliations.append(AffiliationFacts(
                None if by_name else org, f"{names[org]} Inc." if by_name else names[org],
                rng.choice(["employment", "consulting", "equity", "funding"]),
                rng.choice([None, date(2015, 1, 1), date(2027, 1, 1)]),
                rng.choice([None, date(2025, 6, 1), date(2020, 1, 1), date(2023, 6, 2)])))
        auditors.append(AuditorFacts(
            accreditation_id=100 + i, user_id=1000 + i, name=f"Auditor {i:03d}",
            firm=rng.choice(["Independent", "Acme AI Ltd", "Audit Co"]),
            firm_organization_id=rng.choice([None, None, None, 2]),
            tiers=frozenset(rng.choice([(3,), (3, 4), (4,)])),
            domains=frozenset(d for d in ("biology", "cybersecurity", "chemistry") if rng.random() < 0.4),
            capacity=capacity, active_engagements=rng.choice([0, 0, capacity - 1, capacity]),
            email_domains=frozenset(rng.sample(["gmail.com", "acme.example", "eu.acme.example", "example",
                                                "beta.example", "audit.example", "gmx.de"], 2)),
            affiliations=tuple(affiliations)))
    apps, states = {}, {}
    for j in range(n_apps):
        org = rng.choice(orgs)
        tier = rng.choice([3, 4])
        picks = rng.sample(auditors, 6)
        state = assignment_facts.AppState(
            engaged=[picks[0].accreditation_id] if rng.random() < 0.3 else [],
            ended={picks[1].accreditation_id}, open_offers={picks[2].accreditation_id} if rng.random() < 0.2 else set(),
            past_offers={picks[3].accreditation_id: "declined"})
        last = (900 + j, 901 + j, 902 + j) if rng.random() < 0.5 else ()
        apps[j + 1] = ApplicationFacts(
            application_id=j + 1, organization_id=org, organization_names=(names[org], f"{names[org]} Inc."),
            organization_domains=frozenset({f"{names[org].split()[0].lower()}.example", "gmail.com"}),
            member_user_ids=frozenset({picks[4].user_id}), contributor_user_ids=frozenset({picks[5].user_id}),
            tier=tier, seats=2 if tier == 4 else 1,
            flagged_domains=frozenset(rng.sample(["biology", "cybersecurity", "chemistry"], rng.choice([1, 2, 3])))
            if tier == 4 else frozenset(),
            last_certified=last, audited={a.accreditation_id: frozenset(last) for a in rng.sample(auditors, 5)},
            engagements_with_org={a.accreditation_id: rng.choice([1, 2]) for a in rng.sample(auditors, 5)},
            declared={rng.choice(auditors).accreditation_id: "Advised them."},
            overrides={a.accreditation_id: {code: "Long ago." for code in (
                conflicts.RECENT_AFFILIATION, conflicts.SHARED_EMAIL_DOMAIN, conflicts.REPEAT_AUDITOR,
                conflicts.CURRENT_AFFILIATION)} for a in rng.sample(auditors, 8)})
        states[j + 1] = state
    return assignment_facts.Facts(auditors, apps, states)


@pytest.mark.parametrize("seed", range(8))
def test_batch_eligibility_is_the_rule_of_single_suggestions_for_every_pair(seed):
    facts = _facts(seed)
    arrays = assignment_batch.batch_arrays(facts)
    eligible = assignment_batch.eligibility(arrays, facts, TODAY)
    expected = []
    for app_id in arrays.app_ids:
        s = suggestions.suggest_from(facts, app_id, TODAY, explain=False)
        ok = {c.auditor.accreditation_id for c in s.ranked}
        expected.append([a.accreditation_id in ok for a in facts.auditors])
    dense = eligible.dense()
    assert dense.tolist() == expected
    assert eligible.counts().tolist() == dense.sum(axis=1).tolist()
    assert [eligible.row(r).tolist() for r in range(len(arrays.app_ids))] == expected
    assert 0 < dense.sum() < dense.size  # the rules both include and exclude


@pytest.mark.parametrize("seed", range(4))
def test_each_candidate_gets_the_reasons_of_its_own_evaluation(seed):
    """Eligible auditors with the same values share one tuple of reasons in a ranking
    (``_Texts.eligible``); each candidate's are still those of its evaluation on its own,
    and say its own tier, covered domains, capacity, load and rotation."""
    facts = _facts(seed, n_auditors=60, n_apps=8)
    for app_id, app in facts.apps.items():
        state = facts.states[app_id]
        s = suggestions.suggest_from(facts, app_id, TODAY)
        candidates = [*s.engaged, *s.offered, *s.ranked, *s.excluded]
        assert len(candidates) == len(facts.auditors)
        for c in candidates:
            alone = suggestions.evaluate(c.auditor, app, state, TODAY, s.remaining_domains)
            assert (c.status, c.reasons, c.conflicts, c.covers) == (alone.status, alone.reasons, alone.conflicts,
                                                                    alone.covers)
        for c in s.ranked:
            a, earlier = c.auditor, app.engagements_with_org.get(c.auditor.accreditation_id, 0)
            assert c.reasons[0] == f"Accredited for Tier {app.tier}."
            assert f"Spare capacity {a.spare} of {a.capacity} (load {round(a.load_ratio * 100)}%)." in c.reasons
            assert (f"{earlier} earlier engagement(s)" in " ".join(c.reasons)) == bool(earlier)
            if app.flagged_domains:
                assert c.reasons[1].startswith(f"Accredited in {suggestions.domains_text(a.domains)}; covers "
                                               f"{len(c.covers)} of {len(s.remaining_domains)} ")


def test_batch_finds_blocking_conflicts_of_every_kind():
    from auditors.conflicts import AffiliationFacts, ApplicationFacts, AuditorFacts

    def auditor(n, **kw):
        return AuditorFacts(accreditation_id=n, user_id=n, name=f"A{n}", tiers=frozenset({3}), capacity=2, **kw)

    auditors = [
        auditor(1),
        auditor(2, affiliations=(AffiliationFacts(7, "Acme", "employment", date(2020, 1, 1)),)),
        auditor(3, affiliations=(AffiliationFacts(None, "ACME, Inc.", "equity", date(2020, 1, 1)),)),
        auditor(4, affiliations=(AffiliationFacts(7, "Acme", "consulting", date(2020, 1, 1), date(2025, 1, 1)),)),
        auditor(5, affiliations=(AffiliationFacts(7, "Acme", "consulting", date(2010, 1, 1), date(2020, 1, 1)),)),
        auditor(6, firm="Acme Corp"),
        auditor(7, firm_organization_id=7),
        auditor(8, email_domains=frozenset({"lab.acme.example"})),
        auditor(9, email_domains=frozenset({"gmail.com"})),
        auditor(10), auditor(11), auditor(12), auditor(13, email_domains=frozenset({"acme.example"})),
    ]
    app = ApplicationFacts(
        application_id=1, organization_id=7, organization_names=("Acme",), tier=3, seats=1,
        organization_domains=frozenset({"acme.example", "gmail.com"}), member_user_ids=frozenset({10}),
        contributor_user_ids=frozenset({11}), declared={12: "Friend of the CEO."},
        overrides={13: {conflicts.SHARED_EMAIL_DOMAIN: "Shared hosting only."}})
    facts = assignment_facts.Facts(auditors, {1: app}, {1: assignment_facts.AppState()})
    arrays = assignment_batch.batch_arrays(facts)
    row = assignment_batch.eligibility(arrays, facts, TODAY).row(0)
    assert [a.accreditation_id for a, ok in zip(auditors, row) if ok] == [1, 5, 9, 13]


def _check_proposal(facts, proposal):
    by_id = facts.by_id
    for acc, (n, c) in proposal.loads.items():
        assert n <= c, f"auditor {acc} over capacity"
    for app_id, accs in proposal.assignments.items():
        app, state = facts.apps[app_id], facts.states[app_id]
        assert len(set(accs)) == len(accs) == app.seats - len(state.engaged) - len(state.open_offers)
        covered = set().union(*(by_id[a].domains for a in (*accs, *state.engaged, *state.open_offers) if a in by_id))
        assert app.flagged_domains <= covered
        for acc in accs:
            assert suggestions.evaluate(by_id[acc], app, state, TODAY, frozenset()).eligible
    for app_id, app in facts.apps.items():
        state = facts.states[app_id]
        has_seats = app.seats > len(state.engaged) + len(state.open_offers)
        assert has_seats == ((app_id in proposal.assignments) or (app_id in proposal.unservable))
        assert not (app_id in proposal.assignments and app_id in proposal.unservable)


@pytest.mark.parametrize("seed", range(12))
def test_batch_keeps_every_constraint_on_random_batches(seed):
    facts = _facts(seed, n_auditors=30, n_apps=25)
    proposal = assignment_batch.propose_batch([], today=TODAY, facts=facts)
    _check_proposal(facts, proposal)
    # An application no set of eligible auditors can serve gets the single suggestion's reason.
    for app_id, why in proposal.unservable.items():
        problem = suggestions.suggest_from(facts, app_id, TODAY, explain=False).problem
        assert why == problem or (not problem and "capacity is taken" in why)


def test_batch_says_why_no_pair_covers_three_flagged_domains():
    from auditors.conflicts import ApplicationFacts, AuditorFacts

    auditors = [AuditorFacts(accreditation_id=n, user_id=n, name=f"A{n}", tiers=frozenset({4}), capacity=3,
                             domains=frozenset({d})) for n, d in enumerate(["biology", "chemistry", "cybersecurity"])]
    app = ApplicationFacts(application_id=1, organization_id=1, organization_names=("Org",), tier=4, seats=2,
                           flagged_domains=frozenset({"biology", "chemistry", "cybersecurity"}))
    facts = assignment_facts.Facts(auditors, {1: app}, {1: assignment_facts.AppState()})
    proposal = assignment_batch.propose_batch([], today=TODAY, facts=facts)
    assert proposal.assignments == {}
    assert proposal.unservable[1] == suggestions.suggest_from(facts, 1, TODAY).problem
    assert proposal.unservable[1].startswith("No 2 eligible auditors together cover")


def test_batch_keeps_versatile_auditors_for_the_applications_that_need_them():
    """The Tier 3 application goes first (fewer eligible auditors); taking the auditor
    accredited in both domains would leave the Tier 4 one without a covering pair."""
    from auditors.conflicts import ApplicationFacts, AuditorFacts

    def auditor(n, name, tiers, domains=()):
        return AuditorFacts(accreditation_id=n, user_id=n, name=name, tiers=frozenset(tiers), capacity=1,
                            domains=frozenset(domains))

    auditors = [auditor(1, "Both", (3, 4), ("biology", "cybersecurity")), auditor(2, "Plain", (3,)),
                auditor(3, "Bio", (4,), ("biology",)), auditor(4, "Bio too", (4,), ("biology",))]
    t4 = ApplicationFacts(application_id=1, organization_id=1, organization_names=("One",), tier=4, seats=2,
                          flagged_domains=frozenset({"biology", "cybersecurity"}))
    t3 = ApplicationFacts(application_id=2, organization_id=2, organization_names=("Two",), tier=3, seats=1)
    facts = assignment_facts.Facts(auditors, {1: t4, 2: t3}, {1: assignment_facts.AppState(),
                                                              2: assignment_facts.AppState()})
    proposal = assignment_batch.propose_batch([], today=TODAY, facts=facts)
    assert proposal.unservable == {}
    assert proposal.assignments[2] == [2] and 1 in proposal.assignments[1]
    _check_proposal(facts, proposal)


def test_batch_prefers_an_auditor_new_to_the_organization():
    from auditors.conflicts import ApplicationFacts, AuditorFacts

    auditors = [AuditorFacts(accreditation_id=n, user_id=n, name=f"A{n}", tiers=frozenset({3}), capacity=2)
                for n in (1, 2)]
    app = ApplicationFacts(application_id=1, organization_id=1, organization_names=("Org",), tier=3, seats=1,
                           engagements_with_org={1: 1})
    facts = assignment_facts.Facts(auditors, {1: app}, {1: assignment_facts.AppState()})
    assert assignment_batch.propose_batch([], today=TODAY, facts=facts).assignments == {1: [2]}


def test_score_matrix_is_the_score_function_over_every_pair():
    import numpy as np

    domains = np.array([0b00, 0b01, 0b11], dtype=np.uint8)
    remaining = np.array([0b00, 0b11], dtype=np.uint8)
    load_after = np.array([0.5, 1.0, 0.25], dtype=np.float32)
    rotation = np.array([[0, 0, 0], [0, 2, 0]], dtype=np.uint8)
    matrix = assignment_batch.score_matrix(domains, remaining, load_after, rotation)
    unused = [[0, 1, 2], [0, 0, 0]]  # accredited domains the application does not need
    expected = [float(assignment_batch.score(unused[r][c], load_after[c], rotation[r, c]))
                for r in range(2) for c in range(3)]
    assert matrix.dtype == np.float32 and matrix.shape == (2, 3)
    assert matrix.ravel().tolist() == pytest.approx(expected)
    assert matrix.ravel().tolist() == pytest.approx([-0.5, -1.3, -0.85, -0.5, -1.5, -0.25])
