"""The signed attestation of a certificate and the signed revocation list (DESIGN §7).

**Attestation subjects** are the release's artifacts as frozen in the submitted revision. A
release that lists no artifacts is certified on its documentation: the statement then has one
subject, the frozen revision (``documentation-revision-<n>.json`` with the revision's sha256).
The predicate carries the audit summary (``auditors.reports``), the community review
summary (``certification.review.services``) and, when the release declares upstream models, their
resource descriptors (``lineage.resource_descriptors``). The signed bytes are stored and served as issued.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from auditors import reports
from certification.certificates import attestations, keys, lineage
from certification.certificates.models import Certificate, CertifiedArtifact
from certification.framework import tiers
from certification.review import services as review_services
from portal import audit
from portal.canonical import canonical_json

C = Certificate.Status

REVOCATIONS_PAYLOAD_TYPE = "application/vnd.responsible-release.revocations+json"
REVOCATIONS_TYPE = "https://certification.responsible-release.org/revocations/v1"


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def certificate_url(cert: Certificate) -> str:
    return reverse("certification:certificate-detail", args=[cert.number])


# --- the signed statement -----------------------------------------------------------------------


# The portal's own reasons for a tier above the computed one: signed in English (the attestation is
# language-neutral: ids and numbers, and the version's own texts); pages translate them.
PORTAL_RULE_TEXTS = {
    "raised_by_staff": gettext_noop("Tier raised by Alliance staff."),
    "declared_tier": gettext_noop("The organization declared a higher tier than computed."),
}


def fired_rules(content: dict, rules: dict, tier: int) -> list[dict]:
    """The classification rules that fired for the frozen release facts, plus the
    declared or staff-raised tier when it is above the computed one. The attestation signs these
    with the version's rules as stored; pages pass the rules in the reader's language."""
    facts = {k: content.get("release", {}).get(k) for k in tiers.FIELDS}
    try:
        classification = tiers.classify(facts, rules)
    except (tiers.ClassificationError, ValueError):
        return []
    result = [{"id": r.id, "tier": r.tier, "text": r.text} for r in classification.rules]
    if tier > classification.tier:
        raised = content.get("release", {}).get("raised_tier")
        declared = content.get("release", {}).get("declared_tier")
        if raised and raised >= tier:
            result.insert(0, {"id": "raised_by_staff", "tier": raised, "text": PORTAL_RULE_TEXTS["raised_by_staff"]})
        elif declared:
            result.insert(0, {"id": "declared_tier", "tier": declared, "text": PORTAL_RULE_TEXTS["declared_tier"]})
    return result


def statement_subjects(content: dict, revision_number: int, revision_sha256: str) -> list[dict]:
    artifacts = [{"path": a["path"], "size": a.get("size"), "sha256": a["sha256"].lower()}
                 for a in content.get("artifacts", [])]
    if artifacts:
        return artifacts
    return [{"path": f"documentation-revision-{revision_number}.json", "size": None, "sha256": revision_sha256}]


def build_predicate(cert: Certificate) -> tuple[dict, list[dict]]:
    """The predicate of DESIGN §7 and the statement's subjects, from the frozen revision."""
    app = cert.application
    revision = app.revisions.order_by("-number").first()
    content = revision.content
    fv = cert.framework_version
    previous = Certificate.objects.filter(application_id=app.previous_id).values_list("number", flat=True).first()
    predicate = {
        "certificate": cert.number,
        "organization": {"name": cert.organization.name, "slug": cert.organization.slug},
        "model": {
            "name": content.get("model", {}).get("name", ""),
            "slug": content.get("model", {}).get("slug", ""),
            "hub_repo_id": cert.hub_repo_id,
        },
        "release": {
            "version": cert.release.version,
            "hub_revision": cert.hub_revision,
            "documentation_revision": revision.number,
            "documentation_sha256": revision.sha256,
        },
        "tier": cert.tier,
        "rules": fired_rules(content, fv.rules, cert.tier),
        "framework_version": fv.version,
        "framework_digest": fv.digest,
        "audit_summary": reports.audit_summary(app),
        "review_summary": review_services.review_summary(app),
        "renews": previous,
        "issued_at": iso(cert.issued_at),
        "expires_at": iso(cert.expires_at),
    }
    # Only when declared: a certificate without upstreams signs exactly the predicate it always did.
    upstreams = lineage.resource_descriptors(cert)
    if upstreams:
        predicate["upstreams"] = upstreams
    return predicate, statement_subjects(content, revision.number, revision.sha256)


def sign_certificate(cert: Certificate, force: bool = False) -> bool:
    """Build, sign and store the certificate's envelope. Returns False when it
    was already signed (and ``force`` is off): signing is idempotent."""
    if cert.attestation and not force:
        return False
    predicate, subjects = build_predicate(cert)
    payload = attestations.build_statement([(s["path"], s["sha256"]) for s in subjects], predicate)
    key, keyid = keys.load_signing_key()
    data = attestations.envelope_bytes(attestations.sign_envelope(payload, key))
    with transaction.atomic():
        updated = Certificate.objects.filter(pk=cert.pk)
        if not force:
            updated = updated.filter(attestation__isnull=True)
        if not updated.update(attestation=data, attestation_keyid=keyid):
            return False
        CertifiedArtifact.objects.filter(certificate=cert).delete()
        CertifiedArtifact.objects.bulk_create(
            [CertifiedArtifact(certificate=cert, path=s["path"], size=s["size"], sha256=s["sha256"]) for s in subjects]
        )
        audit.log("certification.certificate.signed", obj=cert, organization=cert.organization,
                  payload={"keyid": keyid, "sha256": hashlib.sha256(data).hexdigest()})
    cert.attestation, cert.attestation_keyid = data, keyid
    return True


def envelope_of(cert: Certificate) -> bytes | None:
    return bytes(cert.attestation) if cert.attestation is not None else None


# --- the signed revocation list -------------------------------------------------------------------


def revocation_list(validity: dt.timedelta | None = None, now: dt.datetime | None = None) -> bytes:
    """A DSSE envelope listing every revoked and suspended certificate, with the
    latest published audit-chain head (DESIGN §3, §7).

    ``as_of`` is the latest status change of any certificate, so the bytes stay
    the same until something changes (Ed25519 signatures are deterministic) and
    the ETag works. With ``validity`` (the static export's list, the CRL pattern)
    the body also says when it was issued and ``next_update``, after which a
    verifier must not rely on it."""
    rows = list(Certificate.objects.filter(status__in=[C.REVOKED, C.SUSPENDED]).order_by("number")
                .values_list("number", "status", "updated_at"))
    as_of = Certificate.objects.aggregate(t=Max("updated_at"))["t"] or keys.EPOCH
    head = audit.latest_publication()
    body = {
        "_type": REVOCATIONS_TYPE,
        "as_of": iso(as_of),
        "audit_head": {"seq": head.seq, "hash": head.hash, "published_at": iso(head.published_at)} if head else None,
        "certificates": [{"number": n, "status": s, "since": iso(t)} for n, s, t in rows],
    }
    if validity is not None:
        now = now or timezone.now()
        body["issued_at"], body["next_update"] = iso(now), iso(now + validity)
    key, _keyid = keys.load_signing_key()
    envelope = attestations.sign_envelope(canonical_json(body), key, payload_type=REVOCATIONS_PAYLOAD_TYPE)
    return attestations.envelope_bytes(envelope)
