"""Ranking the auditors for one application (DESIGN §5): eligible auditors by domain and tier
accreditation, spare capacity and rotation, with why each ranks where it does and why each
excluded one is excluded."""

from __future__ import annotations

import gc
import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import partial

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from auditors import conflicts
from auditors.assignment.facts import MAX_COMBINATIONS, AppState, Facts, load
from auditors.conflicts import ApplicationFacts, AuditorFacts, Conflict
from auditors.models import Offer
from certification.releases.models import Application
from portal.labels import lazy_interpolate

# --- one application --------------------------------------------------------------------------

NO_DOMAINS: frozenset[str] = frozenset()


@dataclass
class Candidate:
    auditor: AuditorFacts
    conflicts: tuple[Conflict, ...]
    reasons: tuple[str, ...]
    eligible: bool
    status: str = ""  # "engaged", "offered", "" (free), or why excluded
    covers: frozenset[str] = frozenset()

    def to_dict(self) -> dict:
        return {
            "accreditation": self.auditor.accreditation_id, "name": self.auditor.name, "firm": self.auditor.firm,
            "eligible": self.eligible, "status": self.status, "reasons": list(self.reasons),
            "domains": sorted(self.auditor.domains), "covers": sorted(self.covers),
            "capacity": self.auditor.capacity, "active_engagements": self.auditor.active_engagements,
            "conflicts": [c.to_dict() for c in self.conflicts],
        }


@dataclass
class Suggestion:
    application_id: int
    seats: int
    flagged: frozenset[str]
    engaged: list[Candidate]
    offered: list[Candidate]
    ranked: list[Candidate]
    excluded: list[Candidate]
    open_seats: int
    remaining_domains: frozenset[str]
    proposal: list[Candidate]
    problem: str = ""

    def to_dict(self) -> dict:
        return {
            "application": self.application_id, "seats": self.seats, "flagged_domains": sorted(self.flagged),
            "open_seats": self.open_seats, "remaining_domains": sorted(self.remaining_domains),
            "engaged": [c.to_dict() for c in self.engaged], "offered": [c.to_dict() for c in self.offered],
            "ranked": [c.to_dict() for c in self.ranked], "excluded": [c.to_dict() for c in self.excluded],
            "proposal": [c.auditor.accreditation_id for c in self.proposal], "problem": self.problem,
        }


def domains_text(domains) -> str:
    return ", ".join(sorted(domains)) or _("none")


class _Texts:
    """The reasons' sentences, translated once per ranking rather than once per auditor: with
    10,000 auditors the gettext look-ups were a third of a suggestion's time. The sentences
    showing a few values only (tiers, domains, capacity and load, rotation) are also filled
    in once per distinct value: most auditors share them, and eligible auditors with the
    same values share their (immutable) reasons."""

    def __init__(self):
        self.engaged = _("Holds a seat on this audit.")
        self.offered = _("Has an open offer for this audit.")
        self.ended = _("Was removed from this audit by staff.")
        self.past = {
            Offer.Status.DECLINED: _("Declined an offer for this audit."),
            Offer.Status.EXPIRED: _("Let an offer for this audit expire."),
            Offer.Status.WITHDRAWN: _("An earlier offer for this audit was withdrawn."),
        }
        self.past_other = _("Had an offer for this audit.")
        self.tier_missing = _("Not accredited for Tier %(tier)d (accredited: %(tiers)s).")
        self.none = _("none")
        self.hard = _("Hard conflict: %(reason)s")
        self.potential = _("Potential conflict (staff may override): %(reason)s")
        self.at_capacity = _("At capacity: %(n)d of %(c)d engagements active.")
        self.tier_ok = _("Accredited for Tier %(tier)d.")
        self.covers = _("Accredited in %(mine)s; covers %(n)d of %(m)d still uncovered flagged domains.")
        self.spare = _("Spare capacity %(spare)d of %(c)d (load %(load)d%%).")
        self.no_rotation = _("No earlier engagement with this organization.")
        self.rotation = _("%(n)d earlier engagement(s) with this organization (rotation ranks them lower).")
        self.overridden = _("Potential conflict overridden by staff: %(reason)s (%(why)s)")
        self._filled: dict[tuple, str | tuple[str, ...]] = {}

    def _once(self, key: tuple, fill):
        text = self._filled.get(key)
        if text is None:
            text = self._filled[key] = fill()
        return text

    def not_accredited(self, tier: int, tiers: frozenset[int]) -> str:
        return self._once(("tier_missing", tier, tiers), lambda: self.tier_missing % {
            "tier": tier, "tiers": ", ".join(str(x) for x in sorted(tiers)) or self.none})

    def no_capacity(self, auditor: AuditorFacts) -> str:
        return self._once(("at_capacity", auditor.active_engagements, auditor.capacity), lambda: self.at_capacity % {
            "n": auditor.active_engagements, "c": auditor.capacity})

    def eligible(self, auditor: AuditorFacts, app: ApplicationFacts, covers: int, remaining: int,
                 earlier: int) -> tuple[str, ...]:
        """Why an eligible auditor ranks where it does: its tier, the flagged domains it covers,
        its spare capacity and load, its ``earlier`` engagements with the organization."""
        key = ("eligible", app.tier, bool(app.flagged_domains), auditor.domains, covers, remaining,
               auditor.active_engagements, auditor.capacity, earlier)
        return self._once(key, lambda: (
            self.tier_ok % {"tier": app.tier},
            *([self.covers % {"mine": ", ".join(sorted(auditor.domains)) or self.none, "n": covers,
                              "m": remaining}] if app.flagged_domains else []),
            self.spare % {"spare": auditor.spare, "c": auditor.capacity, "load": round(auditor.load_ratio * 100)},
            self.rotation % {"n": earlier} if earlier else self.no_rotation,
        ))


def evaluate(auditor: AuditorFacts, app: ApplicationFacts, state: AppState, today: date,
             remaining: frozenset[str], explain: bool = True, texts: _Texts | None = None) -> Candidate:
    """Whether this auditor may get an offer for this application, and why (not).
    ``explain=False`` (batch) skips writing the reasons of eligible auditors; ``texts``
    (one ``_Texts()`` for a whole ranking) saves translating the sentences per auditor."""
    t = texts or _Texts()
    # A tuple, and one empty set for the many who cover nothing: a ranking keeps a candidate
    # per active auditor, and fewer objects make the collection after it shorter.
    found = tuple(conflicts.check(auditor, app, today))
    covers = auditor.domains & remaining or NO_DOMAINS
    reasons: list[str] = []
    acc = auditor.accreditation_id
    if acc in state.engaged:
        return Candidate(auditor, found, (t.engaged,), False, "engaged", auditor.domains & app.flagged_domains)
    if acc in state.open_offers:
        return Candidate(auditor, found, (t.offered,), False, "offered", covers)
    if acc in state.ended:
        reasons.append(t.ended)
    past = state.past_offers.get(acc)
    if past:
        reasons.append(t.past.get(past, t.past_other))
    if app.tier not in auditor.tiers:
        reasons.append(t.not_accredited(app.tier, auditor.tiers))
    for c in conflicts.blocking(found) if found else ():
        reasons.append((t.hard if c.hard else t.potential) % {"reason": c.reason})
    if auditor.spare <= 0:
        reasons.append(t.no_capacity(auditor))
    if reasons:
        return Candidate(auditor, found, tuple(reasons), False, "excluded", covers)
    if not explain:
        return Candidate(auditor, found, (), True, "", covers)
    why = t.eligible(auditor, app, len(covers), len(remaining), app.engagements_with_org.get(acc, 0))
    if found:
        why += tuple(t.overridden % {"reason": c.reason, "why": c.override_reason} for c in found if c.overridden)
    return Candidate(auditor, found, why, True, "", covers)


def rank_key(candidate: Candidate, app: ApplicationFacts):
    a = candidate.auditor
    return (-len(candidate.covers), a.load_ratio, -a.spare, app.engagements_with_org.get(a.accreditation_id, 0),
            a.name.lower(), a.accreditation_id)


def find_cover(candidates: list[Candidate], k: int, remaining: frozenset[str],
               usable=lambda c: True) -> tuple[list[Candidate] | None, str]:
    """The first set of ``k`` candidates (in the given order) covering ``remaining``; or why none exists
    (translated when it is read: staff are told by email, each in their language)."""
    pool = [c for c in candidates if usable(c)]
    if k <= 0:
        return [], ""
    if len(pool) < k:
        return None, lazy_interpolate(gettext_lazy("Only %(n)d eligible auditor(s) for %(k)d open seat(s)."),
                                      {"n": len(pool), "k": k})
    union = frozenset().union(*(c.auditor.domains for c in pool))
    missing = remaining - union
    if missing:
        return None, lazy_interpolate(gettext_lazy("No eligible auditor is accredited in %(d)s."),
                                      {"d": domains_text(missing)})
    for n, combo in enumerate(itertools.combinations(pool, k)):
        if n >= MAX_COMBINATIONS:
            break
        if remaining <= frozenset().union(*(c.auditor.domains for c in combo)):
            return list(combo), ""
    return None, lazy_interpolate(
        gettext_lazy("No %(k)d eligible auditors together cover every flagged domain (%(d)s)."),
        {"k": k, "d": domains_text(remaining)})


def suggest_from(facts: Facts, app_id: int, today: date | None = None, explain: bool = True) -> Suggestion:
    today = today or timezone.localdate()
    app = facts.apps[app_id]
    state = facts.states[app_id]
    covered = frozenset().union(*(facts.by_id[a].domains for a in state.engaged if a in facts.by_id),
                                *(facts.by_id[a].domains for a in state.open_offers if a in facts.by_id))
    remaining = app.flagged_domains - covered
    texts = _Texts()
    # Engaged auditors whose accreditation is no longer active still hold their seat.
    by_status: dict[str, list[Candidate]] = {"engaged": [], "offered": [], "": [], "excluded": []}
    for a in facts.auditors:
        candidate = evaluate(a, app, state, today, remaining, explain, texts)
        by_status[candidate.status].append(candidate)
    engaged, offered, excluded = by_status["engaged"], by_status["offered"], by_status["excluded"]
    ranked = sorted(by_status[""], key=partial(rank_key, app=app))
    open_seats = max(app.seats - len(state.engaged) - len(state.open_offers), 0)
    proposal, problem = find_cover(ranked, open_seats, remaining)
    return Suggestion(app_id, app.seats, app.flagged_domains, engaged, offered, ranked, excluded, open_seats,
                      remaining, proposal or [], problem)


@contextmanager
def _without_gc_pauses():
    """Pause the cyclic garbage collector while the facts and candidates are built.

    A ranking allocates over 100,000 small objects at 10,000 auditors (and keeps some 45,000)
    and creates no cycles; the collections they trigger walk the whole process's heap and took
    half of the time. The collector's previous state comes back afterwards, even on an error."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def suggest(app: Application, today: date | None = None) -> Suggestion:
    with _without_gc_pauses():
        return suggest_from(load([app], today), app.pk, today)
