"""Lineage and upstream checks (issue 16 §1): what a release was built on, and whether that holds.

A release declares its upstream models (``certification.releases.lineage``: by certificate number,
hub repository id or artifact sha256, with the relation). Here each declaration is **resolved** to
the certificate it names, if any, with a status:

- ``valid``, ``suspended``, ``revoked``, ``expired``: the certificate's status as read. A number of
  a certificate superseded by its renewal resolves to the renewal; a repository id or a sha256
  matching several certificates resolves to the best of them (valid first, then the newest).
- ``uncertified``: a hub repository id of a model registered in the portal that has no certificate.
- ``unknown``: nothing in the registry matches (a third party's model, a mistyped number).

and **flags**: ``suspended`` and ``revoked`` (the upstream's certificate), and ``lower_tier`` (the
upstream was certified at a lower tier than the derivative's documentation assumes: the
derivative's certificate tier, or its application's tier before that).

``chain`` walks the whole lineage of some certificates (the verify API's ``lineage=1``) in a
fixed number of queries whatever its depth: one recursive query finds every release reachable
through the declarations (at most ``MAX_DEPTH`` links deep), one reads their declarations, and
``resolve`` reads the certificates they name in at most four more.

When a certificate is suspended or revoked, ``on_status_change`` notifies the organizations of
every certified derivative, down the chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict, deque
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from certification.certificates import registry
from certification.certificates.models import Certificate, CertifiedArtifact
from certification.releases.models import AIModel, Release, Upstream
from portal.notifications import notify
from portal.organizations import org_admins

C = Certificate.Status
K = Upstream.Kind
STATUSES = ("valid", "suspended", "revoked", "expired", "uncertified", "unknown")
FLAGS = ("suspended", "revoked", "lower_tier")
# How many links deep ``chain`` and the notifications follow a lineage.
MAX_DEPTH = 10
HUB_URL = "https://huggingface.co/"


@dataclass
class Link:
    """One declared upstream, resolved."""

    upstream: Upstream
    status: str
    certificate: Certificate | None
    flags: list[str] = field(default_factory=list)
    depth: int = 1
    derivative: Certificate | None = None

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def as_json(self, at: dt.datetime | None = None) -> dict:
        return {
            "derivative": self.derivative.number if self.derivative is not None else None,
            "depth": self.depth,
            "relation": self.upstream.relation,
            "named_by": self.upstream.kind,
            "value": self.upstream.value,
            "status": self.status,
            "flags": list(self.flags),
            "certificate": registry.summary(self.certificate, at) if self.certificate is not None else None,
        }


def _queryset():
    # The registry's row columns, and the reason a flagged upstream's page and warning show.
    return registry.base_queryset().only(*registry.ROW_FIELDS, "status_reason")


def flags_for(status: str, cert: Certificate | None, tier: int | None) -> list[str]:
    flags = [status] if status in ("suspended", "revoked") else []
    if cert is not None and tier is not None and cert.tier < tier:
        flags.append("lower_tier")
    return flags


def _rank(cert: Certificate, at: dt.datetime) -> tuple:
    return registry.STATUS_RANK[cert.effective_status(at)], -cert.issued_at.timestamp(), -cert.pk


def resolve(upstreams: list[Upstream], at: dt.datetime | None = None) -> dict[int, tuple[str, Certificate | None]]:
    """(status, certificate) of each declaration, by its id. At most four queries for any number."""
    at = at or timezone.now()
    numbers = {u.value for u in upstreams if u.kind == K.CERTIFICATE}
    repos = {u.value.lower() for u in upstreams if u.kind == K.MODEL}
    digests = {u.value for u in upstreams if u.kind == K.SHA256}
    by_digest: dict[str, set[int]] = defaultdict(set)
    if digests:
        for digest, cert_id in CertifiedArtifact.objects.filter(sha256__in=digests).values_list(
                "sha256", "certificate_id"):
            by_digest[digest].add(cert_id)
    certs: dict[int, Certificate] = {}
    ids = {i for found in by_digest.values() for i in found}
    if numbers or repos or ids:
        qs = _queryset().annotate(repo=Lower("hub_repo_id"))
        condition = Q(number__in=numbers) | Q(repo__in=repos) | Q(id__in=ids)
        certs = {c.pk: c for c in qs.filter(condition).order_by()}
    # A superseded certificate's renewal (same release) answers for it: one query for all of them.
    superseded = {c.release_id for c in certs.values() if c.status == C.SUPERSEDED}
    if superseded:
        for c in _queryset().filter(release_id__in=superseded).exclude(id__in=certs).order_by():
            c.repo = (c.hub_repo_id or "").lower()
            certs[c.pk] = c
    by_release: dict[int, list[Certificate]] = defaultdict(list)
    for c in certs.values():
        by_release[c.release_id].append(c)

    def current(cert: Certificate) -> Certificate:
        if cert.status != C.SUPERSEDED:
            return cert
        renewals = [c for c in by_release[cert.release_id]
                    if c.status != C.SUPERSEDED and c.issued_at >= cert.issued_at]
        return min(renewals, key=lambda c: _rank(c, at)) if renewals else cert

    by_number = {c.number: c for c in certs.values()}
    result: dict[int, tuple[str, Certificate | None]] = {}
    unmatched_repos = set()
    for u in upstreams:
        if u.kind == K.CERTIFICATE:
            candidates = [by_number[u.value]] if u.value in by_number else []
        elif u.kind == K.MODEL:
            candidates = [c for c in certs.values() if c.repo == u.value.lower()]
        else:
            candidates = [certs[i] for i in by_digest.get(u.value, ()) if i in certs]
        candidates = [current(c) for c in candidates]
        if candidates:
            best = min(candidates, key=lambda c: _rank(c, at))
            result[u.pk] = (best.effective_status(at), best)
        else:
            result[u.pk] = ("unknown", None)
            if u.kind == K.MODEL:
                unmatched_repos.add(u.value.lower())
    if unmatched_repos:
        known = set(AIModel.objects.annotate(repo=Lower("hub_repo_id")).filter(repo__in=unmatched_repos)
                    .values_list("repo", flat=True))
        for u in upstreams:
            if u.kind == K.MODEL and u.value.lower() in known and result[u.pk][1] is None:
                result[u.pk] = ("uncertified", None)
    return result


def links_of_release(release: Release, tier: int | None = None, at: dt.datetime | None = None) -> list[Link]:
    """The release's declarations, resolved; ``tier`` is the tier its documentation assumes.
    Registered with ``certification.releases.lineage`` for the release and screening pages."""
    upstreams = list(release.upstreams.all())
    resolved = resolve(upstreams, at)
    return [Link(u, *resolved[u.pk], flags=flags_for(*resolved[u.pk], tier)) for u in upstreams]


def links_of_certificate(cert: Certificate, at: dt.datetime | None = None) -> list[Link]:
    return [Link(link.upstream, link.status, link.certificate, link.flags, 1, cert)
            for link in links_of_release(cert.release, cert.tier, at)]


# --- the whole chain ----------------------------------------------------------------------------------


def _reachable(release_ids: set[int], depth: int = MAX_DEPTH) -> set[int]:
    """Every release reachable from ``release_ids`` through declarations that name a certificate,
    at most ``depth`` links away: one recursive query (PostgreSQL and SQLite alike)."""
    if not release_ids:
        return set()
    upstream = Upstream._meta.db_table
    cert = Certificate._meta.db_table
    subject = CertifiedArtifact._meta.db_table
    release = Release._meta.db_table
    placeholders = ", ".join(["%s"] * len(release_ids))
    sql = f"""
        WITH RECURSIVE edges(child, parent) AS (
            SELECT u.release_id, c.release_id FROM {upstream} u
                JOIN {cert} c ON u.kind = %s AND c.number = u.value
            UNION
            SELECT u.release_id, c.release_id FROM {upstream} u
                JOIN {cert} c ON u.kind = %s AND c.hub_repo_id <> '' AND LOWER(c.hub_repo_id) = LOWER(u.value)
            UNION
            SELECT u.release_id, a_cert.release_id FROM {upstream} u
                JOIN {subject} a ON u.kind = %s AND a.sha256 = u.value
                JOIN {cert} a_cert ON a_cert.id = a.certificate_id
        ),
        chain(release_id, depth) AS (
            SELECT id, 0 FROM {release} WHERE id IN ({placeholders})
            UNION
            SELECT e.parent, chain.depth + 1 FROM chain JOIN edges e ON e.child = chain.release_id
            WHERE chain.depth < %s
        )
        SELECT DISTINCT release_id FROM chain
    """
    params = [K.CERTIFICATE.value, K.MODEL.value, K.SHA256.value, *release_ids, depth]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()} | set(release_ids)


def chain(certs: list[Certificate], at: dt.datetime | None = None) -> list[Link]:
    """Every link of the lineage of ``certs``, breadth first (each link names its derivative and
    depth; a certificate met twice is walked once). A fixed number of queries at any depth."""
    at = at or timezone.now()
    releases = _reachable({c.release_id for c in certs})
    upstreams = list(Upstream.objects.filter(release_id__in=releases).order_by("release_id", "id"))
    resolved = resolve(upstreams, at)
    declared: dict[int, list[Upstream]] = defaultdict(list)
    for u in upstreams:
        declared[u.release_id].append(u)
    links: list[Link] = []
    walked: set[int] = set()
    queue = deque((c, 1) for c in certs)
    while queue:
        derivative, depth = queue.popleft()
        if derivative.pk in walked or depth > MAX_DEPTH:
            continue
        walked.add(derivative.pk)
        for u in declared.get(derivative.release_id, ()):
            status, cert = resolved[u.pk]
            links.append(Link(u, status, cert, flags_for(status, cert, derivative.tier), depth, derivative))
            if cert is not None:
                queue.append((cert, depth + 1))
    return links


def chain_result(certs: list[Certificate], at: dt.datetime | None = None) -> dict:
    """The ``lineage`` part of a verify answer: the links and every flag raised along them."""
    links = chain(certs, at)
    return {
        "lineage": [link.as_json(at) for link in links],
        "lineage_flags": sorted({f for link in links for f in link.flags}, key=FLAGS.index),
    }


# --- derivatives ---------------------------------------------------------------------------------------


def derivatives(cert: Certificate) -> list[Certificate]:
    """The current certificates of releases that declare ``cert``'s release as an upstream (by any of
    its certificates' numbers, its repository id or a file's sha256), newest first."""
    targets = Certificate.objects.filter(release_id=cert.release_id)
    return list(registry.row_queryset().filter(registry.built_on(targets)).exclude(release_id=cert.release_id)
                .exclude(status=C.SUPERSEDED).order_by("-issued_at", "-id"))


def descendants(cert: Certificate) -> list[Certificate]:
    """The valid and suspended certificates built on ``cert``, directly or down the chain: one query
    a level, at most ``MAX_DEPTH`` levels."""
    seen = {cert.release_id}
    frontier = {cert.release_id}
    found: list[Certificate] = []
    for _level in range(MAX_DEPTH):
        targets = Certificate.objects.filter(release_id__in=frontier)
        level = list(Certificate.objects.select_related("organization", "release__ai_model")
                     .filter(registry.built_on(targets)).exclude(release_id__in=seen)
                     .filter(status__in=[C.VALID, C.SUSPENDED]).order_by("id"))
        if not level:
            break
        frontier = {c.release_id for c in level}
        seen |= frontier
        found += level
    return found


def on_status_change(cert: Certificate, to: str) -> None:
    """After ``cert`` is suspended or revoked (``services._set_status``): tell the organization of
    every certified derivative, in the caller's transaction."""
    if to not in (C.SUSPENDED, C.REVOKED):
        return
    for derivative in descendants(cert):
        notify(org_admins(derivative.organization), "upstream-certificate-changed",
               {"certificate": derivative, "upstream": cert, "status": to},
               url=reverse("certification:certificate-detail", args=[derivative.number]))


# --- the signed statement ----------------------------------------------------------------------------


def resource_descriptors(cert: Certificate) -> list[dict]:
    """The upstreams of ``cert``'s release as in-toto ResourceDescriptors for its predicate. A
    certified upstream is named by its certificate number, points at its attestation and carries
    that envelope's sha256, so an offline verifier can fetch it, check the digest and its signature,
    and walk on. Empty when the release declares none (the predicate then has no ``upstreams``)."""
    links = links_of_release(cert.release, cert.tier)
    envelopes = dict(Certificate.objects.filter(pk__in=[link.certificate.pk for link in links if link.certificate])
                     .values_list("pk", "attestation")) if any(link.certificate for link in links) else {}
    result = []
    for link in links:
        u = link.upstream
        annotations = {"relation": u.relation, "named_by": u.kind, "declared": u.value}
        descriptor: dict = {"name": u.value}
        upstream = link.certificate
        if upstream is not None:
            descriptor["name"] = upstream.number
            descriptor["uri"] = settings.SITE_URL + reverse("certification:certificate-attestation",
                                                            args=[upstream.number])
            envelope = envelopes.get(upstream.pk)
            if envelope is not None:
                descriptor["digest"] = {"sha256": hashlib.sha256(bytes(envelope)).hexdigest()}
            annotations["tier"] = upstream.tier
        elif u.kind == K.SHA256:
            descriptor["digest"] = {"sha256": u.value}
        elif u.kind == K.MODEL:
            descriptor["uri"] = HUB_URL + u.value
        descriptor["annotations"] = annotations
        result.append(descriptor)
    return result
