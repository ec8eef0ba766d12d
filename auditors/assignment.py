"""Ranking auditors for an application, and batch assignment (DESIGN §5).

``load`` reads every fact the rules need in five queries, whatever the number
of auditors or applications; ``suggest`` and ``propose_batch`` are pure
functions over what it returns:

1. active auditors with their user and their count of active engagements;
2. their declared affiliations;
3. the applicant organizations' applications with their engagements (seats
   held, audits filed, rotation, the last certified releases);
4. the organizations' members and the releases' contributors (one UNION);
5. offers and conflict records of the applications (one UNION).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

from django.db.models import Count, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from certification import tiers as tier_rules
from certification.models import Application, Attestation, Documentation, DocumentationRevision, EvidenceFile
from portal.models import Membership

from . import conflicts
from .conflicts import ApplicationFacts, AuditorFacts, Conflict
from .models import Accreditation, Affiliation, ConflictRecord, Engagement, Offer

# Combinations tried when looking for a set of auditors covering every domain.
MAX_COMBINATIONS = 200_000


def seats_required(app: Application) -> int:
    try:
        return int(tier_rules.tier_settings(app.framework_version.rules, app.tier or 1).get("auditors_required", 0))
    except ValueError:
        return 0


def coverage_required(app: Application) -> bool:
    try:
        return bool(tier_rules.tier_settings(app.framework_version.rules, app.tier or 1).get("auditor_domain_coverage"))
    except ValueError:
        return False


def flagged_domains(app: Application) -> frozenset[str]:
    return frozenset(app.release.sensitive_domains or []) if coverage_required(app) else frozenset()


# --- loading ---------------------------------------------------------------------------------


@dataclass
class AppState:
    """Per application: who holds a seat, who was offered it, who was removed."""

    engaged: list[int] = field(default_factory=list)  # accreditation ids holding a seat
    ended: set[int] = field(default_factory=set)
    open_offers: set[int] = field(default_factory=set)
    past_offers: dict[int, str] = field(default_factory=dict)  # accreditation id -> declined/expired/withdrawn


@dataclass
class Facts:
    auditors: list[AuditorFacts]
    apps: dict[int, ApplicationFacts]
    states: dict[int, AppState]
    by_id: dict[int, AuditorFacts] = field(default_factory=dict)

    def __post_init__(self):
        self.by_id = {a.accreditation_id: a for a in self.auditors}


def _host(url: str) -> str:
    try:
        return conflicts.normalize_domain(urlsplit(url).hostname or "")
    except ValueError:
        return ""


def load(apps: list[Application], today: date | None = None) -> Facts:
    """Every fact for these applications, in five queries. The applications come
    with ``release__ai_model__organization`` and ``framework_version`` loaded."""
    today = today or timezone.localdate()
    active_count = (
        Engagement.objects.filter(accreditation=OuterRef("pk"), status=Engagement.Status.ACTIVE)
        .order_by().values("accreditation").annotate(n=Count("pk")).values("n")
    )
    # 1. auditors
    accreditations = list(
        Accreditation.objects.active().auditors().select_related("user")
        .annotate(active_count=Coalesce(Subquery(active_count, output_field=IntegerField()), Value(0)))
        .order_by("pk")
    )
    # 2. affiliations
    affiliations: dict[int, list[conflicts.AffiliationFacts]] = defaultdict(list)
    for row in Affiliation.objects.filter(accreditation__in=Accreditation.objects.active().auditors()).values(
        "accreditation_id", "organization_id", "organization_name", "relation", "started_on", "ended_on"
    ):
        affiliations[row["accreditation_id"]].append(conflicts.AffiliationFacts(
            row["organization_id"], row["organization_name"], row["relation"], row["started_on"], row["ended_on"]))
    auditors = [
        AuditorFacts(
            accreditation_id=a.pk, user_id=a.user_id, name=a.user.display_name, firm=a.firm,
            firm_organization_id=a.firm_organization_id, tiers=frozenset(int(t) for t in a.tiers or []),
            domains=frozenset(a.domains or []), capacity=a.capacity, active_engagements=a.active_count,
            email_domains=frozenset([*(a.email_domains or []), conflicts.normalize_domain(a.user.email)]),
            affiliations=tuple(affiliations.get(a.pk, ())),
        )
        for a in accreditations
    ]
    if not apps:
        return Facts(auditors, {}, {})

    org_ids = {app.release.ai_model.organization_id for app in apps}
    app_ids = [app.pk for app in apps]
    release_ids = [app.release_id for app in apps]

    # 3. the organizations' applications and engagements
    certified: dict[int, list[tuple]] = defaultdict(list)
    audited: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    with_org: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    states: dict[int, AppState] = {pk: AppState() for pk in app_ids}
    seen_apps: set[int] = set()
    for row in Application.objects.filter(release__ai_model__organization_id__in=org_ids).values(
        "id", "status", "decided_at", "release__ai_model__organization_id",
        "engagements__accreditation_id", "engagements__status", "engagements__seat",
    ):
        org_id, app_id = row["release__ai_model__organization_id"], row["id"]
        if app_id not in seen_apps:
            seen_apps.add(app_id)
            if row["status"] == Application.Status.CERTIFIED:
                certified[org_id].append((row["decided_at"] or timezone.now(), app_id))
        acc, status = row["engagements__accreditation_id"], row["engagements__status"]
        if acc is None:
            continue
        if status == Engagement.Status.COMPLETED:
            audited[org_id][acc].add(app_id)
        if status in Engagement.SEAT_STATES:
            with_org[org_id][acc].add(app_id)
        if app_id in states:
            if status in Engagement.SEAT_STATES:
                states[app_id].engaged.append(acc)
            elif status == Engagement.Status.ENDED:
                states[app_id].ended.add(acc)

    # 4. members of the organizations and contributors to the releases, in one UNION
    def people(qs, kind: str, key: str, user: str):
        # No ORDER BY inside a UNION (models' default orderings).
        return qs.order_by().annotate(k=Value(kind), key_id=F(key), uid=F(user), mail=F(f"{user}__email")).values_list(
            "k", "key_id", "uid", "mail")

    members = people(Membership.objects.filter(organization_id__in=org_ids), "m", "organization_id", "user_id")
    union = members.union(
        people(EvidenceFile.objects.filter(release_id__in=release_ids, uploaded_by__isnull=False), "r",
               "release_id", "uploaded_by_id"),
        people(Documentation.objects.filter(release_id__in=release_ids, updated_by__isnull=False), "r",
               "release_id", "updated_by_id"),
        people(DocumentationRevision.objects.filter(application__release_id__in=release_ids,
                                                    created_by__isnull=False), "r",
               "application__release_id", "created_by_id"),
        people(Attestation.objects.filter(application__release_id__in=release_ids), "r",
               "application__release_id", "signer_id"),
    )
    member_ids: dict[int, set[int]] = defaultdict(set)
    member_domains: dict[int, set[str]] = defaultdict(set)
    contributors: dict[int, set[int]] = defaultdict(set)
    for kind, key, uid, mail in union:
        if kind == "m":
            member_ids[key].add(uid)
            member_domains[key].add(conflicts.normalize_domain(mail or ""))
        else:
            contributors[key].add(uid)

    # 5. offers and conflict records of the applications, in one UNION
    # Every column an annotation: a UNION matches columns by position.
    offers = Offer.objects.filter(application_id__in=app_ids).order_by().annotate(
        k=Value("offer"), a=F("application_id"), acc=F("accreditation_id"), c=F("status"), text=F("decline_note"),
    ).values_list("k", "a", "acc", "c", "text")
    records = ConflictRecord.objects.filter(application_id__in=app_ids).order_by().annotate(
        k=F("kind"), a=F("application_id"), acc=F("accreditation_id"), c=F("code"), text=F("reason"),
    ).values_list("k", "a", "acc", "c", "text")
    declared: dict[int, dict[int, str]] = defaultdict(dict)
    overrides: dict[int, dict[int, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    for kind, app_id, acc, code, text in offers.union(records, all=True):
        if kind == "offer":
            if code == Offer.Status.OPEN:
                states[app_id].open_offers.add(acc)
            elif code != Offer.Status.ACCEPTED:
                states[app_id].past_offers[acc] = code
        elif kind == ConflictRecord.Kind.DECLARED:
            declared[app_id][acc] = text
        elif kind == ConflictRecord.Kind.OVERRIDE:
            overrides[app_id][acc][code] = text

    facts: dict[int, ApplicationFacts] = {}
    for app in apps:
        release = app.release
        org = release.ai_model.organization
        org_domains = set(member_domains.get(org.pk, set()))
        if org.website:
            org_domains.add(_host(org.website))
        last = tuple(pk for _at, pk in sorted(certified.get(org.pk, []), reverse=True)[: conflicts.ROTATION_RELEASES])
        contributor_ids = set(contributors.get(release.pk, set()))
        contributor_ids.update(pk for pk in (release.created_by_id, release.ai_model.created_by_id) if pk)
        facts[app.pk] = ApplicationFacts(
            application_id=app.pk, organization_id=org.pk,
            organization_names=tuple(n for n in (org.name, org.legal_name, org.slug) if n),
            organization_domains=frozenset(d for d in org_domains if d),
            member_user_ids=frozenset(member_ids.get(org.pk, set())),
            contributor_user_ids=frozenset(contributor_ids),
            tier=app.tier or 1, flagged_domains=flagged_domains(app), seats=seats_required(app),
            last_certified=last,
            audited={acc: frozenset(ids) for acc, ids in audited.get(org.pk, {}).items()},
            engagements_with_org={acc: len(ids) for acc, ids in with_org.get(org.pk, {}).items()},
            declared=dict(declared.get(app.pk, {})),
            overrides={acc: dict(codes) for acc, codes in overrides.get(app.pk, {}).items()},
        )
    return Facts(auditors, facts, states)


# --- one application --------------------------------------------------------------------------


@dataclass
class Candidate:
    auditor: AuditorFacts
    conflicts: list[Conflict]
    reasons: list[str]
    eligible: bool
    status: str = ""  # "engaged", "offered", "" (free), or why excluded
    covers: frozenset[str] = frozenset()

    def to_dict(self) -> dict:
        return {
            "accreditation": self.auditor.accreditation_id, "name": self.auditor.name, "firm": self.auditor.firm,
            "eligible": self.eligible, "status": self.status, "reasons": self.reasons,
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


def _domains_text(domains) -> str:
    return ", ".join(sorted(domains)) or _("none")


def evaluate(auditor: AuditorFacts, app: ApplicationFacts, state: AppState, today: date,
             remaining: frozenset[str], explain: bool = True) -> Candidate:
    """Whether this auditor may get an offer for this application, and why (not).
    ``explain=False`` (batch) skips writing the reasons of eligible auditors."""
    found = conflicts.check(auditor, app, today)
    covers = auditor.domains & remaining
    reasons: list[str] = []
    acc = auditor.accreditation_id
    if acc in state.engaged:
        return Candidate(auditor, found, [_("Holds a seat on this audit.")], False, "engaged", auditor.domains & app.flagged_domains)
    if acc in state.open_offers:
        return Candidate(auditor, found, [_("Has an open offer for this audit.")], False, "offered", covers)
    if acc in state.ended:
        reasons.append(_("Was removed from this audit by staff."))
    past = state.past_offers.get(acc)
    if past:
        reasons.append({
            Offer.Status.DECLINED: _("Declined an offer for this audit."),
            Offer.Status.EXPIRED: _("Let an offer for this audit expire."),
            Offer.Status.WITHDRAWN: _("An earlier offer for this audit was withdrawn."),
        }.get(past, _("Had an offer for this audit.")))
    if app.tier not in auditor.tiers:
        reasons.append(_("Not accredited for Tier %(tier)d (accredited: %(tiers)s).")
                       % {"tier": app.tier, "tiers": ", ".join(str(t) for t in sorted(auditor.tiers)) or _("none")})
    for c in conflicts.blocking(found):
        reasons.append((_("Hard conflict: %(reason)s") if c.hard else
                        _("Potential conflict (staff may override): %(reason)s")) % {"reason": c.reason})
    if auditor.spare <= 0:
        reasons.append(_("At capacity: %(n)d of %(c)d engagements active.")
                       % {"n": auditor.active_engagements, "c": auditor.capacity})
    if reasons:
        return Candidate(auditor, found, reasons, False, "excluded", covers)
    if not explain:
        return Candidate(auditor, found, [], True, "", covers)
    reasons.append(_("Accredited for Tier %(tier)d.") % {"tier": app.tier})
    if app.flagged_domains:
        reasons.append(_("Accredited in %(mine)s; covers %(n)d of %(m)d still uncovered flagged domains.")
                       % {"mine": _domains_text(auditor.domains), "n": len(covers), "m": len(remaining)})
    reasons.append(_("Spare capacity %(spare)d of %(c)d (load %(load)d%%).")
                   % {"spare": auditor.spare, "c": auditor.capacity, "load": round(auditor.load_ratio * 100)})
    past_with_org = app.engagements_with_org.get(acc, 0)
    reasons.append(
        _("No earlier engagement with this organization.") if not past_with_org else
        _("%(n)d earlier engagement(s) with this organization (rotation ranks them lower).") % {"n": past_with_org}
    )
    for c in found:
        if c.overridden:
            reasons.append(_("Potential conflict overridden by staff: %(reason)s (%(why)s)")
                           % {"reason": c.reason, "why": c.override_reason})
    return Candidate(auditor, found, reasons, True, "", covers)


def rank_key(candidate: Candidate, app: ApplicationFacts):
    a = candidate.auditor
    return (-len(candidate.covers), a.load_ratio, -a.spare, app.engagements_with_org.get(a.accreditation_id, 0),
            a.name.lower(), a.accreditation_id)


def find_cover(candidates: list[Candidate], k: int, remaining: frozenset[str],
               usable=lambda c: True) -> tuple[list[Candidate] | None, str]:
    """The first set of ``k`` candidates (in the given order) covering ``remaining``; or why none exists."""
    pool = [c for c in candidates if usable(c)]
    if k <= 0:
        return [], ""
    if len(pool) < k:
        return None, _("Only %(n)d eligible auditor(s) for %(k)d open seat(s).") % {"n": len(pool), "k": k}
    union = frozenset().union(*(c.auditor.domains for c in pool))
    missing = remaining - union
    if missing:
        return None, _("No eligible auditor is accredited in %(d)s.") % {"d": _domains_text(missing)}
    for n, combo in enumerate(itertools.combinations(pool, k)):
        if n >= MAX_COMBINATIONS:
            break
        if remaining <= frozenset().union(*(c.auditor.domains for c in combo)):
            return list(combo), ""
    return None, _("No %(k)d eligible auditors together cover every flagged domain (%(d)s).") % {
        "k": k, "d": _domains_text(remaining)}


def suggest_from(facts: Facts, app_id: int, today: date | None = None, explain: bool = True) -> Suggestion:
    today = today or timezone.localdate()
    app = facts.apps[app_id]
    state = facts.states[app_id]
    covered = frozenset().union(*(facts.by_id[a].domains for a in state.engaged if a in facts.by_id),
                                *(facts.by_id[a].domains for a in state.open_offers if a in facts.by_id))
    remaining = app.flagged_domains - covered
    candidates = [evaluate(a, app, state, today, remaining, explain) for a in facts.auditors]
    # Engaged auditors whose accreditation is no longer active still hold their seat.
    engaged = [c for c in candidates if c.status == "engaged"]
    offered = [c for c in candidates if c.status == "offered"]
    ranked = sorted((c for c in candidates if c.eligible), key=lambda c: rank_key(c, app))
    excluded = [c for c in candidates if c.status == "excluded"]
    open_seats = max(app.seats - len(state.engaged) - len(state.open_offers), 0)
    proposal, problem = find_cover(ranked, open_seats, remaining)
    return Suggestion(app_id, app.seats, app.flagged_domains, engaged, offered, ranked, excluded, open_seats,
                      remaining, proposal or [], problem)


def suggest(app: Application, today: date | None = None) -> Suggestion:
    return suggest_from(load([app], today), app.pk, today)


# --- batch -------------------------------------------------------------------------------------


@dataclass
class BatchProposal:
    assignments: dict[int, list[int]]  # application id -> accreditation ids
    unservable: dict[int, str]
    max_load_ratio: float
    loads: dict[int, tuple[int, int]]  # accreditation id -> (engagements after the batch, capacity)

    def to_dict(self) -> dict:
        return {
            "assignments": [{"application": a, "auditors": accs} for a, accs in sorted(self.assignments.items())],
            "unservable": [{"application": a, "reason": r} for a, r in sorted(self.unservable.items())],
            "max_load_ratio": round(self.max_load_ratio, 4),
            "loads": [{"accreditation": acc, "engagements": n, "capacity": c}
                      for acc, (n, c) in sorted(self.loads.items())],
        }


def _greedy(order, pools, needs, facts: Facts, threshold: float):
    """Assign most-constrained applications first, never letting an auditor's
    load ratio pass ``threshold`` nor its capacity. Returns (assignments, failed)."""
    extra: dict[int, int] = defaultdict(int)

    def allowed(c: Candidate) -> bool:
        a = c.auditor
        limit = min(a.capacity, math.floor(threshold * a.capacity + 1e-9))
        return a.active_engagements + extra[a.accreditation_id] + 1 <= limit

    def load_after(c: Candidate) -> float:
        a = c.auditor
        return (a.active_engagements + extra[a.accreditation_id] + 1) / a.capacity

    assignments: dict[int, list[int]] = {}
    failed: list[int] = []
    for app_id in order:
        k, remaining = needs[app_id]
        app = facts.apps[app_id]
        pool = sorted(pools[app_id], key=lambda c: (load_after(c), rank_key(c, app)))
        chosen, _why = find_cover(pool, k, remaining, allowed)
        if chosen is None:
            failed.append(app_id)
            continue
        for c in chosen:
            extra[c.auditor.accreditation_id] += 1
        assignments[app_id] = [c.auditor.accreditation_id for c in chosen]
    return assignments, failed


def propose_batch(apps: list[Application], today: date | None = None, facts: Facts | None = None) -> BatchProposal:
    """Offers for many applications at once, minimizing the highest load ratio.

    Steps: evaluate every (application, auditor) pair once; serve what can be
    served at full capacity (greedy, most-constrained first); then binary-search
    the smallest load-ratio ceiling at which the greedy still serves as many;
    explain each application left out.
    """
    today = today or timezone.localdate()
    facts = facts or load(apps, today)
    pools: dict[int, list[Candidate]] = {}
    needs: dict[int, tuple[int, frozenset[str]]] = {}
    unservable: dict[int, str] = {}
    for app_id in facts.apps:
        s = suggest_from(facts, app_id, today, explain=False)
        if s.open_seats == 0:
            continue
        if s.problem:
            unservable[app_id] = s.problem
            continue
        pools[app_id] = s.ranked
        needs[app_id] = (s.open_seats, s.remaining_domains)
    order = sorted(pools, key=lambda a: (len(pools[a]), -needs[a][0], -len(needs[a][1]), a))

    best, failed = _greedy(order, pools, needs, facts, 1.0)
    target = len(best)
    ratios = sorted({n / a.capacity for a in facts.auditors if a.capacity
                     for n in range(a.active_engagements + 1, a.capacity + 1)})
    lo, hi = 0, len(ratios) - 1
    while lo <= hi and ratios:
        mid = (lo + hi) // 2
        trial, _f = _greedy(order, pools, needs, facts, ratios[mid])
        if len(trial) >= target:
            best, hi = trial, mid - 1
        else:
            lo = mid + 1
    for app_id in order:
        if app_id not in best:
            unservable[app_id] = _("The eligible auditors' capacity is taken by other applications in this batch.")
    counts: dict[int, int] = defaultdict(int)
    for accs in best.values():
        for acc in accs:
            counts[acc] += 1
    loads = {a.accreditation_id: (a.active_engagements + counts[a.accreditation_id], a.capacity)
             for a in facts.auditors}
    max_ratio = max((n / c for n, c in loads.values() if c), default=0.0)
    return BatchProposal(best, unservable, max_ratio, loads)
