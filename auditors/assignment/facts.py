"""The facts that ranking and batch assignment read (DESIGN §5).

``load`` reads every fact the rules need in five queries, whatever the number of auditors or
applications; ``suggestions.suggest`` and ``batch.propose_batch`` are pure functions over what
it returns:

1. active auditors with their user;
2. their declared affiliations;
3. every auditor's count of active engagements, and the offers and conflict records of the
   applications (one UNION);
4. the applicant organizations' applications with their engagements (seats held, audits
   filed, rotation, the last certified releases);
5. the organizations' members and the releases' contributors (one UNION).

Without applications only the first three run.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from urllib.parse import urlsplit

from django.db.models import Count, F, TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone

from auditors import conflicts
from auditors.conflicts import ApplicationFacts, AuditorFacts
from auditors.models import Accreditation, Affiliation, ConflictRecord, Engagement, Offer
from certification.framework import tiers
from certification.releases.models import Application, Attestation, Documentation, DocumentationRevision, EvidenceFile
from portal.models import Membership

# Combinations tried when looking for a set of auditors covering every domain.
MAX_COMBINATIONS = 200_000


def seats_required(app: Application) -> int:
    try:
        return int(tiers.tier_settings(app.framework_version.rules, app.tier or 1).get("auditors_required", 0))
    except ValueError:
        return 0


def coverage_required(app: Application) -> bool:
    try:
        return bool(tiers.tier_settings(app.framework_version.rules, app.tier or 1).get("auditor_domain_coverage"))
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


@lru_cache(maxsize=4096)
def _json_set(text: str | None, item=str) -> frozenset:
    """A JSON list column read as text (``Cast``), as a set of ``item``; null or not a list: empty."""
    value = json.loads(text) if text else None
    return frozenset(item(v) for v in value) if isinstance(value, list) else frozenset()


@lru_cache(maxsize=4096)
def _email_domains(text: str | None, address_domain: str) -> frozenset[str]:
    """The declared email domains (``_json_set``) and the domain of the auditor's address: one
    set per distinct pair, shared by the auditors of a firm, which ``conflicts.check`` then
    compares with the applicant once."""
    return _json_set(text) | {address_domain}


def load(apps: list[Application], today: date | None = None) -> Facts:
    """Every fact for these applications, in five queries. The applications come
    with ``release__ai_model__organization`` and ``framework_version`` loaded."""
    today = today or timezone.localdate()
    # 1. auditors, as plain rows: building 10,000 model instances (and their users) was most of
    # the time of one application's suggestions.
    accreditations = list(
        Accreditation.objects.active().auditors()
        .order_by("pk")
        # The JSON lists as their text, parsed once per distinct value (``_json_set``): most
        # auditors share a handful of tier and domain lists.
        .annotate(tiers_text=Cast("tiers", TextField()), domains_text=Cast("domains", TextField()),
                  email_domains_text=Cast("email_domains", TextField()))
        .values_list("pk", "user_id", "user__name", "user__email", "firm", "firm_organization_id", "tiers_text",
                     "domains_text", "capacity", "email_domains_text")
    )
    # 2. affiliations, each auditor's in the model's order (by organization name, then start):
    # sorted by auditor first, the database compares names only within an auditor's few.
    affiliation_lists: dict[int, list[conflicts.AffiliationFacts]] = defaultdict(list)
    for row in Affiliation.objects.filter(accreditation__in=Accreditation.objects.active().auditors()).order_by(
        "accreditation_id", *Affiliation._meta.ordering
    ).values_list("accreditation_id", "organization_id", "organization_name", "relation", "started_on", "ended_on"):
        affiliation_lists[row[0]].append(conflicts.AffiliationFacts(*row[1:]))
    affiliations = {pk: tuple(found) for pk, found in affiliation_lists.items()}

    org_ids = {app.release.ai_model.organization_id for app in apps}
    app_ids = [app.pk for app in apps]
    release_ids = [app.release_id for app in apps]
    states: dict[int, AppState] = {pk: AppState() for pk in app_ids}

    # 3. active engagements per auditor, offers and conflict records of the applications, in
    # one UNION. The counts are one GROUP BY: as a subquery of query 1 they were counted
    # auditor by auditor, a third of the time of one application's suggestions.
    # Every column an annotation: a UNION matches columns by position.
    active_counts = Engagement.objects.filter(status=Engagement.Status.ACTIVE).order_by().values(
        "accreditation_id").annotate(
        k=Value("active"), a=Count("pk"), acc=F("accreditation_id"), c=Value(""), text=Value(""),
    ).values_list("k", "a", "acc", "c", "text")
    offers = Offer.objects.filter(application_id__in=app_ids).order_by().annotate(
        k=Value("offer"), a=F("application_id"), acc=F("accreditation_id"), c=F("status"), text=F("decline_note"),
    ).values_list("k", "a", "acc", "c", "text")
    records = ConflictRecord.objects.filter(application_id__in=app_ids).order_by().annotate(
        k=F("kind"), a=F("application_id"), acc=F("accreditation_id"), c=F("code"), text=F("reason"),
    ).values_list("k", "a", "acc", "c", "text")
    active: dict[int, int] = {}
    declared: dict[int, dict[int, str]] = defaultdict(dict)
    overrides: dict[int, dict[int, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    for kind, app_id, acc, code, text in active_counts.union(offers, records, all=True):
        if kind == "active":
            active[acc] = app_id  # the count, in the application's column
        elif kind == "offer":
            if code == Offer.Status.OPEN:
                states[app_id].open_offers.add(acc)
            elif code != Offer.Status.ACCEPTED:
                states[app_id].past_offers[acc] = code
        elif kind == ConflictRecord.Kind.DECLARED:
            declared[app_id][acc] = text
        elif kind == ConflictRecord.Kind.OVERRIDE:
            overrides[app_id][acc][code] = text

    # The fields in their order (AuditorFacts): by keyword, building them took twice as long.
    auditors = [
        AuditorFacts(
            pk, user_id, name or email, firm, firm_org_id, _json_set(acc_tiers, int), _json_set(domains), capacity,
            active.get(pk, 0), _email_domains(email_domains, conflicts.normalize_domain(email)),
            affiliations.get(pk, ()),
        )
        for (pk, user_id, name, email, firm, firm_org_id, acc_tiers, domains, capacity,
             email_domains) in accreditations
    ]
    if not apps:
        return Facts(auditors, {}, {})

    # 4. the organizations' applications and engagements
    certified: dict[int, list[tuple]] = defaultdict(list)
    audited: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    with_org: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
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

    # 5. members of the organizations and contributors to the releases, in one UNION
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
