"""Offline verification (DESIGN §7): an envelope against the published keys and, optionally, a
signed revocation list and a local model directory against the subjects. Used by the
``verify_attestation`` command and the README's snippet; needs no database."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
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


def verify_signed(data: bytes, keys: list[attestations.PublicKeyInfo], at, payload_type: str, type_: str,
                  what: str) -> dict:
    """The JSON body of a DSSE envelope of ``payload_type`` signed by a key valid at ``at`` and
    whose ``_type`` is ``type_``, or ``VerificationError``."""
    found_type, payload, signatures = attestations._parse_envelope(data)
    if found_type != payload_type:
        raise attestations.VerificationError(attestations.VerificationError.PAYLOAD_TYPE, found_type)
    by_id = {k.keyid: k for k in keys}
    message = attestations.pae(found_type, payload)
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
        if not isinstance(body, dict) or body.get("_type") != type_:
            raise attestations.VerificationError(attestations.VerificationError.MALFORMED, f"not {what}")
        return body
    raise attestations.VerificationError(attestations.VerificationError.BAD_SIGNATURE,
                                         "no valid signature by a key valid now")


def _time(value) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("no time zone")
    return parsed


def verify_revocation_list(data: bytes, keys: list[attestations.PublicKeyInfo], at=None) -> dict:
    """The body of a signed revocation list, or ``VerificationError``. The signing
    key must be valid at ``at`` (default now): a list is as fresh as its key. A list
    with ``next_update`` (the static export's) must not be past it: then it cannot
    confirm anything (the CRL rule)."""
    at = at or timezone.now()
    body = verify_signed(data, keys, at, REVOCATIONS_PAYLOAD_TYPE, REVOCATIONS_TYPE, "a revocation list")
    if "next_update" in body:
        try:
            next_update = _time(body["next_update"])
        except ValueError:
            raise attestations.VerificationError(attestations.VerificationError.MALFORMED,
                                                 "next_update is not an ISO 8601 time") from None
        if next_update <= at:
            raise attestations.VerificationError(
                attestations.VerificationError.STALE,
                f"cannot confirm: the list was due to be replaced at {body['next_update']} (issued "
                f"{body.get('issued_at')}); fetch a fresh one")
    return body


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


# --- verification against the static export (issue 15 §3) ----------------------------------------

VERSION_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,80}")
MAX_EXPORT_FILE_BYTES = attestations.MAX_JSON_BYTES


class ExportError(ValueError):
    """A file of the export that cannot be read or does not match its signed manifest."""


class ExportSource:
    """The files of a static export (``export.py``): under an ``http(s)://`` URL or in a local
    directory (a copy of the export, or the exporter's own ``REGISTRY_EXPORT_DIR``)."""

    def __init__(self, where: str):
        self.where = str(where)
        self.is_url = self.where.startswith(("http://", "https://"))
        if self.is_url:
            self.base = self.where.rstrip("/") + "/"
        else:
            self.root = Path(self.where)
            if not self.root.is_dir():
                raise ExportError(f"{self.where} is neither an http(s):// URL nor a directory")

    def read(self, path: str) -> bytes:
        if not self.is_url:
            try:
                return (self.root / path).read_bytes()
            except FileNotFoundError:
                raise ExportError(f"{path}: not in the export") from None
            except OSError as exc:
                raise ExportError(f"{path}: cannot be read ({exc})") from None
        request = urllib.request.Request(self.base + urllib.parse.quote(path), headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                data = response.read(MAX_EXPORT_FILE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise ExportError(f"{path}: not in the export (HTTP {exc.code})") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ExportError(f"{path}: cannot be fetched from {self.base} ({exc})") from None
        if len(data) > MAX_EXPORT_FILE_BYTES:
            raise ExportError(f"{path}: larger than {MAX_EXPORT_FILE_BYTES} bytes")
        return data


def _json_object(data: bytes, what: str) -> dict:
    try:
        body = load_json(data, max_bytes=MAX_EXPORT_FILE_BYTES)
    except ParseError as exc:
        raise ExportError(f"{what} is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ExportError(f"{what} is not a JSON object")
    return body


def verify_from_export(source: ExportSource, number: str, *, keys: list[attestations.PublicKeyInfo] | None = None,
                       model_dir: Path | None = None, now: dt.datetime | None = None) -> OfflineReport:
    """Verify certificate ``number`` with nothing but the static export:

    1. ``current.json`` names the published version; its ``manifest.json`` must be signed by a
       key of the export's ``keys.json`` (or of ``keys``, when the verifier pins its own) valid now;
    2. every file read next must have the sha256 the manifest (through its shard list) gives;
    3. the revocation list must be signed and not past its ``next_update`` ("cannot confirm");
    4. the certificate's attestation, from its file, goes through ``verify_offline`` (signature at
       issue time, expiry, the revocation list, the model directory), and the export's record of
       it must not say superseded, suspended or revoked."""
    from certification.certificates import export

    now = now or timezone.now()
    number = number.strip().upper()
    report = OfflineReport(number=number)
    try:
        pointer = _json_object(source.read(export.POINTER), export.POINTER)
        version = pointer.get("version")
        if not isinstance(version, str) or not VERSION_NAME.fullmatch(version):
            raise ExportError(f"{export.POINTER} names no valid version")
        base = f"{export.VERSIONS}/{version}/"
        keys_data = source.read(base + "keys.json")
        key_list = keys if keys is not None else parse_keys(keys_data)
        manifest = verify_signed(source.read(base + export.MANIFEST), key_list, now, export.MANIFEST_PAYLOAD_TYPE,
                                 export.MANIFEST_TYPE, "an export manifest")
        if manifest.get("version") != version or not isinstance(manifest.get("files"), dict):
            raise ExportError(f"the signed manifest is not the one of version {version}")
        top = manifest["files"]

        def checked(path: str, expected: str | None) -> bytes:
            if expected is None:
                raise ExportError(f"{path}: not listed in the signed manifest")
            data = source.read(base + path)
            if hashlib.sha256(data).hexdigest() != expected:
                raise ExportError(f"{path}: its sha256 differs from the signed manifest's")
            return data

        checked("keys.json", top.get("keys.json"))
        revocations = checked("revocations.json", top.get("revocations.json"))
        path = export.certificate_path(number)
        shard_path = export.shard_list_path(path)
        shard = _json_object(checked(shard_path, top[shard_path]), shard_path) if shard_path in top else {}
        if not isinstance(shard.get("files"), dict) or path not in shard["files"]:
            raise ExportError(f"no certificate {number} in the export of {manifest.get('issued_at')}")
        record = _json_object(checked(path, shard["files"][path]), path)
    except (ExportError, ValueError) as exc:
        report.problems.append(f"export: {exc}")
        return report
    except attestations.VerificationError as exc:
        report.problems.append(f"export manifest: {exc}")
        return report
    envelope = record.get("attestation")
    if not isinstance(envelope, dict):
        report.problems.append(f"the export has no attestation for {number}")
        return report
    result = verify_offline(json.dumps(envelope).encode(), key_list, revocations=revocations,
                            model_dir=model_dir, now=now)
    result.notes.insert(0, f"export version {version}, manifest signed at {manifest.get('issued_at')}")
    if result.number and result.number != number:
        result.problems.append(f"the attestation in {path} is the one of {result.number}")
    status = record.get("status")
    if status in ("superseded", "suspended", "revoked") and not any(status in p for p in result.problems):
        result.problems.append(f"{status} according to the export of {manifest.get('issued_at')}")
    result.number = number
    result.ok = not result.problems
    return result
