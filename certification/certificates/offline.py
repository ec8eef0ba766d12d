"""Offline verification (DESIGN §7): an envelope against the published keys and, optionally, a
signed revocation list and a local model directory against the subjects. Used by the
``verify_attestation`` command and the README's snippet; needs no database."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from django.utils import timezone

from certification.certificates import attestations
from certification.certificates.signing import REVOCATIONS_PAYLOAD_TYPE, REVOCATIONS_TYPE
from portal.parsing import ParseError, load_json

# --- verification of files (offline command and the verify page) ---------------------------------


def parse_keys(data: bytes | str | dict) -> list[attestations.PublicKeyInfo]:
    """Keys in the shape of ``GET /api/v1/keys/``; ValueError naming what is wrong."""
    body = load_json(data, max_bytes=attestations.MAX_JSON_BYTES) if isinstance(data, (bytes, str)) else data
    entries = body.get("keys", []) if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ValueError('the keys file is not an object with a "keys" list')
    keys = []
    for number, entry in enumerate(entries, 1):
        try:
            until = entry.get("valid_until")
            keys.append(attestations.PublicKeyInfo(
                entry["keyid"], base64.b64decode(entry["public_key"], validate=True),
                dt.datetime.fromisoformat(entry["valid_from"].replace("Z", "+00:00")),
                dt.datetime.fromisoformat(until.replace("Z", "+00:00")) if until else None,
            ))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"key {number} lacks a string keyid, public_key (base64) or valid_from (ISO 8601 time): "
                             f"{type(exc).__name__} {exc}") from None
    return keys


def verify_revocation_list(data: bytes, keys: list[attestations.PublicKeyInfo], at=None) -> dict:
    """The body of a signed revocation list, or ``VerificationError``. The signing
    key must be valid at ``at`` (default now): a list is as fresh as its key."""
    at = at or timezone.now()
    payload_type, payload, signatures = attestations._parse_envelope(data)
    if payload_type != REVOCATIONS_PAYLOAD_TYPE:
        raise attestations.VerificationError(attestations.VerificationError.PAYLOAD_TYPE, payload_type)
    by_id = {k.keyid: k for k in keys}
    message = attestations.pae(payload_type, payload)
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    for keyid, sig in signatures:
        key = by_id.get(keyid)
        if key is None or not key.valid_at(at):
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key_raw).verify(sig, message)
        except InvalidSignature:
            continue
        try:
            body = load_json(payload, max_bytes=attestations.MAX_JSON_BYTES)
        except ParseError as exc:
            raise attestations.VerificationError(attestations.VerificationError.MALFORMED,
                                                 f"payload is not JSON: {exc}") from None
        if not isinstance(body, dict) or body.get("_type") != REVOCATIONS_TYPE:
            raise attestations.VerificationError(attestations.VerificationError.MALFORMED, "not a revocation list")
        return body
    raise attestations.VerificationError(attestations.VerificationError.BAD_SIGNATURE,
                                         "no valid signature by a key valid now")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class OfflineReport:
    ok: bool = False
    number: str = ""
    statement: attestations.VerifiedStatement | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def verify_offline(envelope: bytes, keys: list[attestations.PublicKeyInfo], *, revocations: bytes | None = None,
                   model_dir: Path | None = None, now: dt.datetime | None = None) -> OfflineReport:
    """Steps: (1) signature by a published key valid at the issue time; (2) not
    expired at ``now``; (3) not listed in the signed revocation list, if given;
    (4) every artifact subject present in ``model_dir`` with its sha256, if given."""
    now = now or timezone.now()
    report = OfflineReport()
    try:
        verified = attestations.verify_envelope(envelope, keys)
    except attestations.VerificationError as exc:
        report.problems.append(f"signature: {exc}")
        return report
    report.statement = verified
    predicate = verified.predicate
    report.number = str(predicate.get("certificate", ""))
    report.notes.append(f"signed by {verified.keyid}, valid at issue time {predicate.get('issued_at')}")
    try:
        expires = dt.datetime.fromisoformat(str(predicate.get("expires_at")).replace("Z", "+00:00"))
    except ValueError:
        report.problems.append("the statement has no valid expires_at")
    else:
        if expires <= now:
            report.problems.append(f"expired at {predicate.get('expires_at')}")
    if revocations is not None:
        try:
            body = verify_revocation_list(revocations, keys, now)
        except attestations.VerificationError as exc:
            report.problems.append(f"revocation list: {exc}")
        else:
            listed = {c["number"]: c["status"] for c in body.get("certificates", [])}
            if report.number in listed:
                report.problems.append(f"{listed[report.number]} according to the revocation list of {body['as_of']}")
            else:
                report.notes.append(f"not in the revocation list of {body['as_of']}")
    if model_dir is not None:
        documentation_only = all(name.startswith("documentation-revision-") for name, _sha in verified.subjects)
        if documentation_only:
            report.notes.append("the certificate lists no artifact files; nothing to compare in the model directory")
        for name, sha in verified.subjects:
            if documentation_only:
                break
            path = (model_dir / name)
            if not path.is_file():
                report.problems.append(f"{name}: missing from {model_dir}")
            elif sha256_file(path) != sha:
                report.problems.append(f"{name}: sha256 differs")
            else:
                report.notes.append(f"{name}: sha256 matches")
    report.ok = not report.problems
    return report
