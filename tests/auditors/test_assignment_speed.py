"""What makes one application's suggestions fast at 10,000 auditors (issue 15 §4) keeps them
right: the auditors read as plain rows with their JSON lists as text, the sentences translated
once per ranking, and the garbage collector paused only while the facts are built."""

from __future__ import annotations

import gc
from datetime import date

import pytest

from auditors.assignment import facts as assignment_facts
from auditors.assignment import suggestions
from auditors.models import Affiliation
from certification.releases.models import Application
from portal.models import User
from tests.auditors.helpers import engage, in_review_application, make_accredited_auditor

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(framework, org, org_admin, staff):
    return Application.objects.select_related("release__ai_model__organization", "framework_version").get(
        pk=in_review_application(org, org_admin, staff).pk)


@pytest.mark.parametrize(("text", "item", "expected"), [
    ("[3, 4]", int, frozenset({3, 4})),
    ('["3"]', int, frozenset({3})),
    ('["biology", "cybersecurity"]', str, frozenset({"biology", "cybersecurity"})),
    ("[]", str, frozenset()),
    (None, str, frozenset()),
    ("", str, frozenset()),
    ('{"not": "a list"}', str, frozenset()),
])
def test_a_json_list_read_as_text_becomes_a_set(text, item, expected):
    assert assignment_facts._json_set(text, item) == expected


def test_the_auditors_facts_are_read_from_plain_rows_as_from_the_models(app, other_org, org, org_admin, staff):
    acc = make_accredited_auditor(email="ada@lab.example", tiers=(3, 4), domains=("biology",),
                                  email_domains=("partner.example",), capacity=3, firm="Partner Labs",
                                  firm_organization=other_org, affiliations=[
                                      {"organization_name": "Lab", "relation": "consulting",
                                       "started_on": date(2021, 1, 1)}])
    engage(in_review_application(org, org_admin, staff, version="2.0"), acc, staff)
    idle = make_accredited_auditor()
    User.objects.filter(pk=acc.user_id).update(name="")
    facts = assignment_facts.load([app])
    auditor = facts.by_id[acc.pk]
    assert auditor.name == "ada@lab.example"  # no name: the email, as User.display_name
    assert (auditor.accreditation_id, auditor.user_id) == (acc.pk, acc.user_id)
    assert (auditor.firm, auditor.firm_organization_id) == ("Partner Labs", other_org.pk)
    assert (auditor.tiers, auditor.domains, auditor.capacity) == (frozenset({3, 4}), frozenset({"biology"}), 3)
    assert (auditor.active_engagements, facts.by_id[idle.pk].active_engagements) == (1, 0)
    assert auditor.email_domains == frozenset({"partner.example", "lab.example"})
    assert [(a.organization_name, a.relation, a.started_on) for a in auditor.affiliations] == [
        ("Lab", "consulting", date(2021, 1, 1))]
    assert facts.by_id[idle.pk].affiliations == ()


def test_each_auditors_affiliations_come_in_the_models_order(app):
    acc = make_accredited_auditor(affiliations=[
        {"organization_name": "Zeta", "relation": "consulting", "started_on": date(2020, 1, 1)},
        {"organization_name": "Alpha", "relation": "funding", "started_on": date(2022, 1, 1)},
        {"organization_name": "Alpha", "relation": "employment", "started_on": date(2019, 1, 1)}])
    make_accredited_auditor(affiliations=[{"organization_name": "Beta", "relation": "consulting"}])
    loaded = [(a.organization_name, a.relation) for a in assignment_facts.load([app]).by_id[acc.pk].affiliations]
    assert loaded == list(Affiliation.objects.filter(accreditation=acc).values_list("organization_name", "relation"))
    assert loaded == [("Alpha", "employment"), ("Alpha", "funding"), ("Zeta", "consulting")]


def test_the_sentences_are_the_same_whether_translated_once_or_per_auditor(app):
    make_accredited_auditor(domains=("biology",))
    make_accredited_auditor(tiers=(1,))
    facts = assignment_facts.load([app])
    app_facts, state = facts.apps[app.pk], facts.states[app.pk]
    texts = suggestions._Texts()
    for auditor in facts.auditors:
        once = suggestions.evaluate(auditor, app_facts, state, date.today(), frozenset(), texts=texts)
        each = suggestions.evaluate(auditor, app_facts, state, date.today(), frozenset())
        assert once.reasons == each.reasons and once.reasons


def test_the_collector_is_paused_while_ranking_and_comes_back_as_it_was(app, monkeypatch):
    make_accredited_auditor()
    seen = []
    real = suggestions.suggest_from

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(suggestions, "suggest_from", spy)
    assert gc.isenabled()
    suggestions.suggest(app)
    assert seen == [False] and gc.isenabled()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(suggestions, "suggest_from", broken)
    with pytest.raises(RuntimeError):
        suggestions.suggest(app)
    assert gc.isenabled()
    gc.disable()
    try:
        monkeypatch.setattr(suggestions, "suggest_from", spy)
        suggestions.suggest(app)
        assert not gc.isenabled()  # a caller that had paused it keeps it paused
    finally:
        gc.enable()
