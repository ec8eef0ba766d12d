"""The append-only, hash-chained audit log (DESIGN §3).

Each entry's hash is sha256(prev_hash || canonical JSON of its fields). Appends
lock the single ``AuditChainHead`` row, so concurrent appends queue up and the
chain never forks. The head is published daily; ``verify_chain`` finds edited,
deleted or inserted rows and a chain cut below a published head.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.canonical import canonical_json
from portal.models import AuditChainHead, AuditEntry, AuditHeadPublication, Organization

GENESIS = "0" * 64
# Payload keys under this name are for staff eyes only (e.g. conflict details).
STAFF_ONLY_KEY = "staff_only"


def client_ip(request) -> str | None:
    """The client's address in the form the database gives it back (so the hash
    computed before the insert matches the row read later), or None."""
    if request is None:
        return None
    raw = (request.META.get("REMOTE_ADDR") or "").strip()
    if getattr(settings, "BEHIND_PROXY", False):
        # Behind our own proxy the socket address is the proxy's: the client is the
        # last address it appended (earlier ones are whatever the client sent).
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            raw = forwarded[-1]
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # PostgreSQL's inet and Django's IPv6 cleaning both spell these ::ffff:a.b.c.d.
        return f"::ffff:{address.ipv4_mapped}"
    return address.compressed


def _json_roundtrip(payload: dict | None) -> dict:
    """The payload as the JSON column will return it (tuples as lists, datetimes
    and decimals as strings), so the stored row hashes to the stored hash."""
    return json.loads(json.dumps(payload or {}, cls=DjangoJSONEncoder))


def entry_material(entry: AuditEntry) -> dict:
    return {
        "seq": entry.seq,
        "created_at": entry.created_at,
        "actor": entry.actor_id,
        "actor_label": entry.actor_label,
        "actor_is_staff": entry.actor_is_staff,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "object_repr": entry.object_repr,
        "organization": entry.organization_id,
        "ip": entry.ip,
        "payload": entry.payload,
    }


def compute_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_json(entry_material(entry))).hexdigest()


def describe(obj: models.Model | None) -> str:
    """How the entry names its object. People are named by pseudonym: the log is
    append-only and must not keep a name or address after an account is deleted."""
    from portal.models import Membership, User

    if obj is None:
        return ""
    if isinstance(obj, User):
        return f"user {obj.pseudonym}"
    if isinstance(obj, Membership):
        return f"membership of user {obj.user.pseudonym} in {obj.organization}"[:300]
    return str(obj)[:300]


def log(
    action: str,
    *,
    actor=None,
    obj: models.Model | None = None,
    organization: Organization | None = None,
    request=None,
    payload: dict | None = None,
) -> AuditEntry:
    """Append one entry. Call it inside the transaction of the state change it records.

    Steps: lock the single head row (appends queue behind each other), build the
    entry with values normalized the way the database returns them, hash it onto
    the previous head, insert it, move the head.
    """
    if "." not in action:
        raise ValueError(f"audit action codes are dotted, like portal.organization.created: {action!r}")
    with transaction.atomic():
        # The row normally exists (data migration); flushed test databases re-create it.
        AuditChainHead.objects.get_or_create(pk=1)
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        user = getattr(request, "user", None)
        if actor is None and user is not None and user.is_authenticated:
            actor = user
        real_actor = actor if actor is not None and getattr(actor, "pk", None) else None
        entry = AuditEntry(
            seq=head.seq + 1,
            created_at=timezone.now(),
            actor=real_actor,
            actor_label=real_actor.pseudonym if real_actor is not None else "system",
            actor_is_staff=bool(real_actor is not None and real_actor.is_alliance_staff),
            action=action,
            object_type=obj._meta.label_lower if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            object_repr=describe(obj),
            organization=organization,
            ip=client_ip(request),
            payload=_json_roundtrip(payload),
            prev_hash=head.hash,
        )
        entry.hash = compute_hash(head.hash, entry)
        entry.save()
        AuditChainHead.objects.filter(pk=1).update(seq=entry.seq, hash=entry.hash)
        return entry


def publish_head() -> AuditHeadPublication | None:
    """Record the current head (seq and hash) as published; None while the chain is empty.

    The publication itself is then logged, so the chain also says when each head
    went out; the published head is the one just before that entry.
    """
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None or head.seq == 0:
            return None
        publication = AuditHeadPublication.objects.create(seq=head.seq, hash=head.hash)
        log("portal.audit.head_published", obj=publication, payload={"seq": head.seq, "hash": head.hash})
    return publication


def latest_publication() -> AuditHeadPublication | None:
    return AuditHeadPublication.objects.order_by("-seq", "-published_at").first()


@dataclass
class ChainReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(batch_size: int = 2000) -> ChainReport:
    """Walk the chain in seq order, recomputing each hash.

    Reports: a gap in seq (deleted row), a prev_hash that does not match the
    previous entry (inserted or deleted row), a hash that does not match the
    content (edited row), a stored head that disagrees with the last entry, and
    a chain that ends below, or disagrees with, the last published head.
    """
    report = ChainReport()
    prev_hash, prev_seq = GENESIS, 0
    hashes_by_seq: dict[int, str] = {}
    publications = {p.seq: p.hash for p in AuditHeadPublication.objects.all()}
    qs = AuditEntry.objects.order_by("seq")
    last_seq = 0
    while True:
        chunk = list(qs.filter(seq__gt=last_seq)[:batch_size])
        if not chunk:
            break
        for entry in chunk:
            report.checked += 1
            if entry.seq != prev_seq + 1:
                report.problems.append(f"entries {prev_seq + 1}..{entry.seq - 1} are missing (deleted rows)")
            if entry.prev_hash != prev_hash:
                report.problems.append(f"entry {entry.seq} does not follow entry {prev_seq} (inserted or deleted row)")
            expected = compute_hash(entry.prev_hash, entry)
            if expected != entry.hash:
                report.problems.append(f"entry {entry.seq} was edited: its hash does not match its content")
            if entry.seq in publications:
                hashes_by_seq[entry.seq] = entry.hash
            prev_hash, prev_seq = entry.hash, entry.seq
        last_seq = chunk[-1].seq
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None and prev_seq:
        report.problems.append("the stored head row is missing")
    if head is not None and (head.seq, head.hash) != (prev_seq, prev_hash):
        report.problems.append(f"the stored head (entry {head.seq}) does not match the last entry ({prev_seq})")
    for seq, published_hash in sorted(publications.items()):
        if seq > prev_seq:
            report.problems.append(f"the chain ends at entry {prev_seq}, below the published head {seq} (truncated)")
        elif hashes_by_seq.get(seq) != published_hash:
            report.problems.append(f"entry {seq} does not match the head published for it")
    return report


def redact_for_organization(entry: AuditEntry) -> dict:
    """What an organization admin may see of an entry: no staff IPs, no conflict details."""
    payload = {k: v for k, v in (entry.payload or {}).items() if k != STAFF_ONLY_KEY}
    return {
        "seq": entry.seq,
        "created_at": entry.created_at,
        "actor": _("Alliance staff") if entry.actor_is_staff else (entry.actor.display_name if entry.actor else entry.actor_label),
        "action": entry.action,
        "object_repr": entry.object_repr,
        "ip": None if entry.actor_is_staff else entry.ip,
        "payload": payload,
    }
