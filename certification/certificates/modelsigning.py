"""OpenSSF model-signing bundles of certificates (issue 18).

A downstream user checks "are these the files that were certified?" with the tool the ML
ecosystem uses for it: ``model_signing verify key --signature <number>.sig --public_key
alliance.pub ./model-dir``. For that every certificate gets, beside its own attestation, a
bundle in the byte format the tool (model-signing 1.1.1) writes and reads:

- a Sigstore bundle (``mediaType`` ``BUNDLE_MEDIA_TYPE``) with no transparency-log entry and
  ``verificationMaterial.publicKey.hint`` = hex sha256 of the signing key's PEM (the tool refuses a
  key whose hash differs); it holds
- a DSSE envelope (``application/vnd.in-toto+json``) with one signature: base64 DER ECDSA P-256
  SHA-256 over the DSSE pre-authentication encoding of the payload, ``keyid`` empty as the tool
  writes it; whose payload is
- an in-toto Statement v1, predicate type ``PREDICATE_TYPE``: the predicate lists every certified
  artifact as a resource ``{"name": path, "algorithm": "sha256", "digest"}`` sorted by name, plus
  the ``serialization`` the tool hashes a directory with; the one subject is named after the
  certificate and its sha256 is the sha256 of the resources' raw digests concatenated in order.

The payload is canonical JSON (RFC 8785), so the same artifacts always give the same bytes (the
fixed vector in tests/certification/ pins them); ECDSA signatures differ from run to run, so a
signature is checked by verifying it. The bundle is stored as issued (``ModelSignature``) and
served byte for byte. A release certified on its documentation alone (no files) gets no bundle:
there is nothing on disk to check.

Pure functions first (build, sign, verify), then the database side (issue, find the
certificates a verified bundle certifies).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import transaction

from certification.certificates import keys
from certification.certificates.attestations import PAYLOAD_TYPE, STATEMENT_TYPE, VerificationError, pae
from certification.certificates.models import Certificate, ModelSignature
from portal import audit
from portal.canonical import canonical_json
from portal.parsing import ParseError, load_json

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
# What the tool skips when it hashes a directory, unless a certified file is among them.
DEFAULT_IGNORE_PATHS = (".gitattributes", ".git", ".gitignore", ".github")
# A bundle lists every file of a release (~200 bytes each): room for tens of thousands.
MAX_BUNDLE_BYTES = 8 * 1024 * 1024
MAX_BUNDLE_DEPTH = 8  # bundle > envelope/material > ... ; the payload is parsed on its own
MAX_PAYLOAD_DEPTH = 8  # statement > predicate > resources > resource

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


# --- building and signing -------------------------------------------------------------------------


def subject_digest(resources: list[tuple[str, str]]) -> str:
    """sha256 of the resources' raw 32-byte digests concatenated in the listed order."""
    return hashlib.sha256(b"".join(bytes.fromhex(digest) for _name, digest in resources)).hexdigest()


def ignore_paths(names: list[str]) -> list[str]:
    """The tool's default ignored paths, minus any that would hide a certified file
    (a Hub repository's ``.gitattributes`` may be listed as an artifact)."""
    return [p for p in DEFAULT_IGNORE_PATHS if not any(n == p or n.startswith(p + "/") for n in names)]


def build_payload(subject_name: str, artifacts: list[tuple[str, str]]) -> bytes:
    """The in-toto Statement of a bundle as canonical JSON bytes: resources sorted by name."""
    if not artifacts:
        raise ValueError("a model-signing bundle needs at least one file")
    resources = sorted((name, digest.lower()) for name, digest in artifacts)
    names = [name for name, _ in resources]
    if len(set(names)) != len(names):
        raise ValueError("file names must be unique")
    for name, digest in resources:
        if not isinstance(name, str) or not name:
            raise ValueError("a file needs a name")
        if not _SHA256_HEX.fullmatch(digest):
            raise ValueError(f"file {name!r}: sha256 must be 64 hex digits")
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": {"sha256": subject_digest(resources)}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": False,
                "ignore_paths": ignore_paths(names),
            },
            "resources": [{"algorithm": "sha256", "name": name, "digest": digest} for name, digest in resources],
        },
    }
    return canonical_json(statement)


def key_hint(public_key_pem: bytes) -> str:
    """What the tool writes as ``verificationMaterial.publicKey.hint``."""
    return hashlib.sha256(public_key_pem).hexdigest()


def sign_bundle(payload: bytes, private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The bundle bytes (canonical JSON), signed over the DSSE PAE of ``payload``."""
    signature = private_key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": key_hint(keys.public_key_pem(private_key))},
            "tlogEntries": [],
        },
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode("ascii"), "keyid": ""}],
        },
    }
    return canonical_json(bundle)


# --- verifying ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedBundle:
    """What a bundle signed by a portal key says."""

    keyid: str
    payload: bytes
    subject_name: str
    subject_sha256: str
    resources: list[tuple[str, str]]


def _malformed(detail: str) -> VerificationError:
    return VerificationError(VerificationError.MALFORMED, detail)


def _b64(value: Any, what: str) -> bytes:
    """Standard padded base64 only: one byte string has one accepted spelling."""
    if not isinstance(value, str):
        raise _malformed(f"{what} is not a string")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed(f"{what} is not base64") from None
    if base64.b64encode(decoded).decode("ascii") != value:
        raise _malformed(f"{what} is not canonical base64")
    return decoded


def _json(data: bytes | str, what: str, max_depth: int) -> Any:
    try:
        return load_json(data, max_bytes=MAX_BUNDLE_BYTES, max_depth=max_depth, unique_keys=True)
    except ParseError as exc:
        raise _malformed(f"{what} is not JSON: {exc}") from None


def _parse_bundle(data: bytes | str) -> tuple[str | None, bytes, bytes]:
    """(key hint, payload, signature) of a bundle, refusing any other shape."""
    bundle = _json(data, "the file", MAX_BUNDLE_DEPTH)
    if not isinstance(bundle, dict) or bundle.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise _malformed(f"not a Sigstore bundle (mediaType {BUNDLE_MEDIA_TYPE})")
    material = bundle.get("verificationMaterial")
    envelope = bundle.get("dsseEnvelope")
    if not isinstance(material, dict) or not isinstance(envelope, dict):
        raise _malformed("a bundle has verificationMaterial and dsseEnvelope")
    if material.get("tlogEntries", []) != []:
        raise _malformed("a key-signed bundle has no transparency-log entries")
    public_key = material.get("publicKey")
    hint = public_key.get("hint") if isinstance(public_key, dict) else None
    if hint is not None and not isinstance(hint, str):
        raise _malformed("publicKey.hint is not a string")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise VerificationError(VerificationError.PAYLOAD_TYPE, f"payloadType {envelope.get('payloadType')!r}")
    payload = _b64(envelope.get("payload"), "payload")
    signatures = envelope.get("signatures")
    # The tool checks the first signature only: so does this.
    if not isinstance(signatures, list) or len(signatures) != 1 or not isinstance(signatures[0], dict):
        raise _malformed("a bundle has exactly one signature")
    return hint or None, payload, _b64(signatures[0].get("sig"), "sig")


def _parse_payload(payload: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    statement = _json(payload, "the payload", MAX_PAYLOAD_DEPTH)
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise _malformed("the payload is not an in-toto Statement v1")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise _malformed(f"the predicate type is not {PREDICATE_TYPE}")
    subjects = statement.get("subject")
    subject = subjects[0] if isinstance(subjects, list) and len(subjects) == 1 else None
    digest = subject.get("digest") if isinstance(subject, dict) else None
    sha256 = digest.get("sha256") if isinstance(digest, dict) else None
    name = subject.get("name") if isinstance(subject, dict) else None
    if not isinstance(name, str) or not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
        raise _malformed("the statement needs one subject with a name and a sha256 digest")
    predicate = statement.get("predicate")
    raw = predicate.get("resources") if isinstance(predicate, dict) else None
    if not isinstance(raw, list) or not raw:
        raise _malformed("the predicate lists no resources")
    resources = []
    for entry in raw:
        if (not isinstance(entry, dict) or entry.get("algorithm") != "sha256" or not isinstance(entry.get("name"), str)
                or not isinstance(entry.get("digest"), str) or not _SHA256_HEX.fullmatch(entry["digest"])):
            raise _malformed("a resource lacks a name or a sha256 digest")
        resources.append((entry["name"], entry["digest"]))
    if subject_digest(resources) != sha256:
        raise _malformed("the subject digest is not the digest of the resources")
    return name, sha256, resources


def verify_bundle(data: bytes | str, published: list[keys.ModelSigningKey]) -> VerifiedBundle:
    """Check a bundle against the portal's model-signing keys; return what it says or raise
    ``attestations.VerificationError``.

    Steps:
    1. parse the bundle strictly (media type, one signature, canonical base64);
    2. take the key its hint names (every key when it has none; none of ours: unknown key);
    3. verify the ECDSA signature over the PAE of the payload;
    4. only then parse the signed statement, and recompute its subject digest from its resources.
    Whether the key was valid when the bundle was issued is checked against the certificate
    (``certificates_for``): the bundle itself carries no time.
    """
    hint, payload, signature = _parse_bundle(data)
    candidates = [k for k in published if hint is None or key_hint(k.public_key_pem) == hint]
    if not candidates:
        raise VerificationError(VerificationError.UNKNOWN_KEY, "the bundle names a key the portal does not publish")
    message = pae(PAYLOAD_TYPE, payload)
    for key in candidates:
        try:
            key.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            continue
        name, sha256, resources = _parse_payload(payload)
        return VerifiedBundle(key.keyid, payload, name, sha256, resources)
    raise VerificationError(VerificationError.BAD_SIGNATURE, "the signature does not verify")


# --- the database side ----------------------------------------------------------------------------


def certified_files(cert: Certificate) -> list[tuple[str, str]]:
    """The files of the certified revision (as the attestation's subjects); empty when the
    release was certified on its documentation alone."""
    revision = cert.application.revisions.order_by("-number").first()
    content = revision.content if revision is not None else {}
    return [(a["path"], a["sha256"].lower()) for a in content.get("artifacts", [])]


def issue_bundle(cert: Certificate, force: bool = False) -> bool:
    """Build, sign and store the certificate's bundle. False when it already has one (and
    ``force`` is off) or certifies no file. Never replaces a bundle unless forced."""
    files = certified_files(cert)
    if not files:
        return False
    if not force and ModelSignature.objects.filter(certificate=cert).exists():
        return False
    key, keyid = keys.load_model_signing_key()
    payload = build_payload(cert.number, files)
    data = sign_bundle(payload, key)
    digest = subject_digest(sorted(files))
    with transaction.atomic():
        if force:
            ModelSignature.objects.filter(certificate=cert).delete()
        _row, created = ModelSignature.objects.get_or_create(
            certificate=cert, defaults={"bundle": data, "keyid": keyid, "subject_sha256": digest})
        if not created:
            return False
        audit.log("certification.certificate.model_signature_issued", obj=cert, organization=cert.organization,
                  payload={"keyid": keyid, "sha256": hashlib.sha256(data).hexdigest()})
    return True


def bundle_of(cert: Certificate) -> bytes | None:
    row = ModelSignature.objects.filter(certificate=cert).only("bundle").first()
    return bytes(row.bundle) if row is not None else None


def certificates_for(verified: VerifiedBundle, published: list[keys.ModelSigningKey]) -> list[Certificate]:
    """The certificates whose stored bundle certifies exactly the bundle's files and was signed by
    the key that signed it, while that key was valid. The bundle's own certificate (its subject
    name) first, then any other (a renewal certifying the same files), newest first."""
    by_keyid = {k.keyid: k for k in published}
    key = by_keyid[verified.keyid]
    wanted = sorted(verified.resources)
    rows = (ModelSignature.objects.filter(subject_sha256=verified.subject_sha256, keyid=verified.keyid)
            .select_related("certificate__organization", "certificate__release__ai_model",
                            "certificate__framework_version")
            .prefetch_related("certificate__subjects")
            .order_by("-certificate__issued_at"))
    matches = []
    for row in rows:
        certified = sorted((s.path, s.sha256) for s in row.certificate.subjects.all())
        if key.valid_at(row.created_at) and certified == wanted:
            matches.append(row.certificate)
    matches.sort(key=lambda c: c.number != verified.subject_name)
    return matches
