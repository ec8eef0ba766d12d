"""Attestations: in-toto Statements in DSSE envelopes signed with Ed25519 (DESIGN §7).

Pure functions, no database. A certificate's attestation is made in three steps:

1. ``build_statement`` turns the artifacts (name, sha256) and the predicate into
   an in-toto Statement v1, serialized as canonical JSON (RFC 8785).
2. ``sign_envelope`` signs the DSSE pre-authentication encoding (``pae``) of
   those bytes and returns the envelope; ``envelope_bytes`` serializes it.
   The signed bytes are stored and served as issued, never re-serialized.
3. ``verify_envelope`` checks an envelope against the published keys, each with
   a validity window, at the certificate's issue time, so that a rotated key
   keeps the certificates it signed verifiable.

Encodings: base64 is the standard alphabet with padding, and verification
accepts only that exact form (one byte string has one accepted encoding, so
changing any character of a stored envelope makes it fail).

The predicate type ``PREDICATE_TYPE`` is a constant URI of the portal's own,
not derived from ``SITE_URL``: it names the schema of the predicate, which
must not change when the portal moves to another host. A change to the
predicate's meaning gets a new version suffix (``.../v2``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from portal.canonical import canonical_json
from portal.parsing import ParseError, load_json

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://certification.responsible-release.org/attestations/release-certification/v1"
ALGORITHM = "ed25519"

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class VerificationError(Exception):
    """An envelope that must not be trusted. ``reason`` is one of ``REASONS``."""

    MALFORMED = "malformed"
    PAYLOAD_TYPE = "payload_type"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    KEY_NOT_VALID = "key_not_valid"
    NO_ISSUE_TIME = "no_issue_time"
    # A signed list past its ``next_update`` (the static export's revocation list): it cannot confirm.
    STALE = "stale"
    REASONS = (MALFORMED, PAYLOAD_TYPE, UNKNOWN_KEY, BAD_SIGNATURE, KEY_NOT_VALID, NO_ISSUE_TIME, STALE)

    def __init__(self, reason: str, detail: str = "") -> None:
        assert reason in self.REASONS, reason
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class PublicKeyInfo:
    """A published verification key and the time range in which it may sign.

    The key is valid at ``t`` when ``valid_from <= t`` and, if ``valid_until``
    is set, ``t < valid_until`` (a rotation sets the old key's end and the new
    key's start to the same instant).
    """

    keyid: str
    public_key_raw: bytes
    valid_from: dt.datetime
    valid_until: dt.datetime | None = None

    def __post_init__(self) -> None:
        if len(self.public_key_raw) != 32:
            raise ValueError("an Ed25519 public key has 32 bytes")
        # A keyid that does not name its key would let a list of keys lie.
        if self.keyid != keyid_for(self.public_key_raw):
            raise ValueError(f"keyid {self.keyid} does not match its public key")
        for value in (self.valid_from, self.valid_until):
            if value is not None and value.tzinfo is None:
                raise ValueError("key validity times must be timezone-aware")

    def valid_at(self, at: dt.datetime) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)

    def as_json(self) -> dict[str, Any]:
        """The key as listed by ``GET /api/v1/keys/`` (DESIGN §7.1)."""
        return {
            "keyid": self.keyid,
            "algorithm": ALGORITHM,
            "public_key": base64.b64encode(self.public_key_raw).decode("ascii"),
            "valid_from": _iso(self.valid_from),
            "valid_until": _iso(self.valid_until) if self.valid_until else None,
        }


@dataclass(frozen=True)
class VerifiedStatement:
    """What a valid envelope says, and which key vouched for it at which time."""

    keyid: str
    payload: bytes
    statement: dict[str, Any]
    subjects: list[tuple[str, str]]
    predicate_type: str
    predicate: dict[str, Any]
    checked_at: dt.datetime


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature covers."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def public_key_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def keyid_for(public_key_raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(public_key_raw).hexdigest()


def build_statement(
    subjects: list[tuple[str, str]],
    predicate: dict[str, Any],
    predicate_type: str = PREDICATE_TYPE,
) -> bytes:
    """An in-toto Statement v1 as canonical JSON bytes.

    Subjects are sorted by name, so the same artifacts listed in another order
    give the same bytes; names must be unique and digests lowercase hex sha256.
    """
    if not subjects:
        raise ValueError("a statement needs at least one subject")
    names = [name for name, _ in subjects]
    if len(set(names)) != len(names):
        raise ValueError("subject names must be unique")
    for name, digest in subjects:
        if not isinstance(name, str) or not name:
            raise ValueError("a subject needs a name")
        if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
            raise ValueError(f"subject {name!r}: sha256 must be 64 lowercase hex digits")
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": digest}} for name, digest in sorted(subjects)],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    return canonical_json(statement)


def sign_envelope(
    payload: bytes, private_key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE
) -> dict[str, Any]:
    signature = private_key.sign(pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [
            {
                "keyid": keyid_for(public_key_raw(private_key)),
                "sig": base64.b64encode(signature).decode("ascii"),
            }
        ],
    }


def envelope_bytes(envelope: dict[str, Any]) -> bytes:
    """The envelope as stored and served: canonical JSON, made once at issue."""
    return canonical_json(envelope)


# --- verification -------------------------------------------------------------------


# Envelopes, statements and revocation lists as read from outside (a signed revocation list
# grows with the revoked certificates: room for far more than there will be).
MAX_JSON_BYTES = 16 * 1024 * 1024


def _loads(data: bytes | str, what: str) -> Any:
    try:
        # Duplicate keys refused: two parsers may pick different duplicates.
        return load_json(data, max_bytes=MAX_JSON_BYTES, unique_keys=True)
    except ParseError as exc:
        raise VerificationError(VerificationError.MALFORMED, f"{what} is not JSON: {exc}") from None


def _b64decode_exact(value: Any, what: str) -> bytes:
    """Decode standard padded base64, refusing any other spelling of the same bytes."""
    if not isinstance(value, str):
        raise VerificationError(VerificationError.MALFORMED, f"{what} is not a string")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(VerificationError.MALFORMED, f"{what} is not base64") from None
    if base64.b64encode(decoded).decode("ascii") != value:
        raise VerificationError(VerificationError.MALFORMED, f"{what} is not canonical base64")
    return decoded


def _parse_envelope(envelope: dict | bytes | str) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    if isinstance(envelope, (bytes, str)):
        envelope = _loads(envelope, "envelope")
    if not isinstance(envelope, dict) or set(envelope) != {"payloadType", "payload", "signatures"}:
        raise VerificationError(
            VerificationError.MALFORMED, "an envelope has exactly payloadType, payload and signatures"
        )
    payload_type = envelope["payloadType"]
    if not isinstance(payload_type, str):
        raise VerificationError(VerificationError.MALFORMED, "payloadType is not a string")
    payload = _b64decode_exact(envelope["payload"], "payload")
    raw_signatures = envelope["signatures"]
    if not isinstance(raw_signatures, list) or not raw_signatures:
        raise VerificationError(VerificationError.MALFORMED, "signatures is not a non-empty list")
    signatures = []
    for entry in raw_signatures:
        if not isinstance(entry, dict) or set(entry) != {"keyid", "sig"}:
            raise VerificationError(VerificationError.MALFORMED, "a signature has exactly keyid and sig")
        if not isinstance(entry["keyid"], str):
            raise VerificationError(VerificationError.MALFORMED, "keyid is not a string")
        signatures.append((entry["keyid"], _b64decode_exact(entry["sig"], "sig")))
    return payload_type, payload, signatures


def _parse_statement(payload: bytes) -> tuple[dict, list[tuple[str, str]]]:
    statement = _loads(payload, "payload")
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise VerificationError(VerificationError.MALFORMED, "payload is not an in-toto Statement v1")
    if not isinstance(statement.get("predicateType"), str) or not isinstance(statement.get("predicate"), dict):
        raise VerificationError(VerificationError.MALFORMED, "statement lacks predicateType or predicate")
    raw_subjects = statement.get("subject")
    if not isinstance(raw_subjects, list) or not raw_subjects:
        raise VerificationError(VerificationError.MALFORMED, "statement has no subjects")
    subjects = []
    for subject in raw_subjects:
        digest = subject.get("digest") if isinstance(subject, dict) else None
        sha256 = digest.get("sha256") if isinstance(digest, dict) else None
        name = subject.get("name") if isinstance(subject, dict) else None
        if not isinstance(name, str) or not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
            raise VerificationError(VerificationError.MALFORMED, "a subject lacks a name or a sha256 digest")
        subjects.append((name, sha256))
    return statement, subjects


def _issued_at(predicate: dict) -> dt.datetime:
    value = predicate.get("issued_at")
    if not isinstance(value, str):
        raise VerificationError(VerificationError.NO_ISSUE_TIME, "the predicate has no issued_at")
    try:
        issued_at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise VerificationError(VerificationError.NO_ISSUE_TIME, f"issued_at {value!r} is not a time") from None
    if issued_at.tzinfo is None:
        raise VerificationError(VerificationError.NO_ISSUE_TIME, "issued_at has no time zone")
    return issued_at


def verify_envelope(
    envelope: dict | bytes | str, keys: list[PublicKeyInfo], at: dt.datetime | None = None
) -> VerifiedStatement:
    """Check an envelope; return its statement or raise ``VerificationError``.

    Steps:
    1. parse the envelope strictly (exact keys, canonical base64);
    2. require the in-toto payload type;
    3. check each signature whose keyid names a known key over the PAE;
    4. only then parse the signed statement (nothing unsigned is interpreted);
    5. take the check time from ``at`` or the predicate's ``issued_at``, and
       require a key that verified a signature to be valid at that time.
    """
    if at is not None and at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    payload_type, payload, signatures = _parse_envelope(envelope)
    if payload_type != PAYLOAD_TYPE:
        raise VerificationError(VerificationError.PAYLOAD_TYPE, f"payloadType {payload_type!r}")

    by_keyid = {key.keyid: key for key in keys}
    known = [(by_keyid[keyid], sig) for keyid, sig in signatures if keyid in by_keyid]
    if not known:
        raise VerificationError(VerificationError.UNKNOWN_KEY, "no signature is by a known key")
    message = pae(payload_type, payload)
    verified_keys = []
    for key, sig in known:
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key_raw).verify(sig, message)
        except InvalidSignature:
            continue
        verified_keys.append(key)
    if not verified_keys:
        raise VerificationError(VerificationError.BAD_SIGNATURE, "no signature verifies")

    statement, subjects = _parse_statement(payload)
    checked_at = at if at is not None else _issued_at(statement["predicate"])
    for key in verified_keys:
        if key.valid_at(checked_at):
            return VerifiedStatement(
                keyid=key.keyid,
                payload=payload,
                statement=statement,
                subjects=subjects,
                predicate_type=statement["predicateType"],
                predicate=statement["predicate"],
                checked_at=checked_at,
            )
    raise VerificationError(VerificationError.KEY_NOT_VALID, f"no signing key was valid at {_iso(checked_at)}")
