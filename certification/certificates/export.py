"""The static signed registry export (issue 15 §3): the public registry as files that any static
host or CDN serves with no portal behind it (``manage.py export_registry DIR``, and the debounced
task ``tasks.refresh_registry_export`` after every status change).

Layout of ``DIR`` (a local directory; a CDN origin is this directory, or a bucket synced from it)::

    current.json                              {"version", "manifest"}: the published version
    versions/<version>/
        keys.json                             as GET /api/v1/keys/
        revocations.json                      signed revocation list with issued_at and next_update
        certificates/<ab>/<NUMBER>.json       public record (as verify shows it) + DSSE attestation
        certificates/<ab>/<NUMBER>.sig        the model-signing bundle, as issued (when there is one)
        sha256/<ab>/<digest>.json             verify by artifact sha256: {"verified", "status", "certificates"}
        models/<ab>/<sha256 of repo id>.json  verify by hub repository id (lower case), every revision
        manifest/<area>-<ab>.json             {path: sha256} of every file of one shard
        manifest.json                         signed: {path: sha256} of the top files and the shard lists
    .state.json                               the exporter's own bookkeeping (not part of the export)

``<ab>`` is the first two hex digits of the sha256 of the name (of the digest itself under
``sha256/``): 256 shards per area, so 100,000 certificates make about 800 files a directory.

**Atomic and incremental.** Each run writes a new version directory. A file whose bytes are the
previous version's (compared by sha256 with the previous manifest; for certificate files, by a
fingerprint of everything they show, so unchanged attestations are never read from the database)
is carried over by a hard link (a copy where links are not possible), not written. The signed
manifest is written last, then ``current.json`` is replaced by an atomic rename, so a reader that
starts from the pointer never sees a half-written version. The newest ``REGISTRY_EXPORT_KEEP``
complete versions are kept (a reader that fetched the pointer just before a switch can finish),
older ones and abandoned partial ones are removed.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models.functions import Length
from django.utils import timezone

from certification.certificates import attestations, keys, registry, signing
from certification.certificates.models import Certificate, CertifiedArtifact, ModelSignature
from portal.canonical import canonical_json

MANIFEST_PAYLOAD_TYPE = "application/vnd.responsible-release.export-manifest+json"
MANIFEST_TYPE = "https://certification.responsible-release.org/export-manifest/v1"
POINTER = "current.json"
VERSIONS = "versions"
STATE = ".state.json"
LOCK = ".lock"
MANIFEST = "manifest.json"
AREAS = ("certificates", "sha256", "models")
CHUNK = 2000


# --- layout (shared with the verifier, offline.py) --------------------------------------------------


def _shard(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:2]


def certificate_path(number: str, suffix: str = ".json") -> str:
    number = number.strip().upper()
    return f"certificates/{_shard(number)}/{number}{suffix}"


def sha256_path(digest: str) -> str:
    digest = digest.strip().lower()
    return f"sha256/{digest[:2]}/{digest}.json"


def model_key(repo_id: str) -> str:
    return hashlib.sha256(repo_id.strip().lower().encode("utf-8")).hexdigest()


def model_path(repo_id: str) -> str:
    key = model_key(repo_id)
    return f"models/{key[:2]}/{key}.json"


def shard_list_path(path: str) -> str:
    """The shard list (``manifest/<area>-<ab>.json``) that holds the sha256 of ``path``."""
    area, shard, _name = path.split("/", 2)
    return f"manifest/{area}-{shard}.json"


def dumps(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


# --- writing a version --------------------------------------------------------------------------------


@dataclass
class Result:
    version: str
    path: Path
    written: int = 0
    linked: int = 0
    bytes: int = 0
    certificates: int = 0
    removed: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)


class _Writer:
    """Puts files into the new version: a write when the bytes are new, a hard link to the
    previous version's file when they are not."""

    def __init__(self, root: Path, previous: Path | None, previous_files: dict[str, str], result: Result):
        self.root, self.previous, self.previous_files, self.result = root, previous, previous_files, result
        self._dirs: set[Path] = set()

    def _target(self, path: str) -> Path:
        target = self.root / path
        if target.parent not in self._dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(target.parent)
        return target

    def carry(self, path: str) -> bool:
        """Link the previous version's ``path`` into the new one; False when there is none."""
        sha = self.previous_files.get(path)
        if sha is None or self.previous is None:
            return False
        source, target = self.previous / path, self._target(path)
        try:
            os.link(source, target)
        except FileNotFoundError:
            return False
        except OSError:  # no hard links here (another file system, a store that lacks them): copy
            shutil.copyfile(source, target)
        self.result.files[path] = sha
        self.result.linked += 1
        self.result.bytes += source.stat().st_size
        return True

    def put(self, path: str, data: bytes) -> None:
        sha = hashlib.sha256(data).hexdigest()
        if self.previous_files.get(path) == sha and self.carry(path):
            return
        self._target(path).write_bytes(data)
        self.result.files[path] = sha
        self.result.written += 1
        self.result.bytes += len(data)


def _fingerprint(record: dict, attestation_id: tuple) -> str:
    return hashlib.sha256(dumps([record, list(attestation_id)])).hexdigest()[:32]


def _read_json(path: Path):
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def previous_version(root: Path) -> tuple[str | None, dict[str, str]]:
    """The published version and its files' sha256 (from its manifest and shard lists), or (None, {})."""
    pointer = _read_json(root / POINTER)
    if not isinstance(pointer, dict) or not isinstance(pointer.get("version"), str):
        return None, {}
    directory = root / VERSIONS / pointer["version"]
    envelope = _read_json(directory / MANIFEST)
    try:
        body = json.loads(attestations._parse_envelope(envelope)[1])
    except (attestations.VerificationError, ValueError, TypeError):
        return None, {}
    files = dict(body.get("files", {}))
    for path in [p for p in files if p.startswith("manifest/")]:
        shard = _read_json(directory / path)
        if isinstance(shard, dict):
            files.update(shard.get("files", {}))
    return pointer["version"], files


def _certificate_rows(at: dt.datetime):
    """(certificate, public record without the attestation, attestation id) of every certificate,
    in chunks: the attestation and bundle bytes stay in the database."""
    subjects = defaultdict(list)
    for cert_id, path, size, sha in (CertifiedArtifact.objects.order_by("certificate_id", "path")
                                     .values_list("certificate_id", "path", "size", "sha256").iterator(CHUNK)):
        subjects[cert_id].append({"path": path, "size": size, "sha256": sha})
    bundles = dict(ModelSignature.objects.values_list("certificate_id", "keyid"))
    rows = (registry.row_queryset().only(*registry.ROW_FIELDS, "attestation_keyid")
            .annotate(attestation_length=Length("attestation")).order_by("id"))
    for cert in rows.iterator(CHUNK):
        record = registry.summary(cert, at)
        record["artifacts"] = subjects.get(cert.id, [])
        record["model_signature"] = f"{cert.number}.sig" if cert.id in bundles else None
        yield cert, record, (cert.attestation_keyid, cert.attestation_length, bundles.get(cert.id))


def _verify_index(key: str, value: str, entries: list[dict]) -> dict:
    entries = sorted(entries, key=lambda e: e["number"])
    statuses = sorted((e["status"] for e in entries), key=registry.STATUS_RANK.__getitem__)
    best = statuses[0] if statuses else "not_found"
    return {key: value, "verified": best == "valid", "status": best, "certificates": entries}


def _write_version(writer: _Writer, fingerprints: dict, at: dt.datetime, validity: dt.timedelta) -> dict:
    """Every file of the version but the manifest; returns the certificates' new fingerprints."""
    by_sha, by_model, new_fingerprints, changed = defaultdict(list), defaultdict(list), {}, []
    for cert, record, attestation_id in _certificate_rows(at):
        writer.result.certificates += 1
        path = certificate_path(cert.number)
        fingerprint = new_fingerprints[cert.number] = _fingerprint(record, attestation_id)
        entry = {k: record[k] for k in ("number", "status", "tier", "organization", "model", "release",
                                        "issued_at", "expires_at", "updated_at", "url")}
        entry["file"] = path
        for sha in {a["sha256"] for a in record["artifacts"]}:
            by_sha[sha].append(entry)
        if cert.hub_repo_id:
            by_model[cert.hub_repo_id.lower()].append(entry)
        unchanged = fingerprints.get(cert.number) == fingerprint and writer.carry(path)
        if unchanged and record["model_signature"]:
            unchanged = writer.carry(certificate_path(cert.number, ".sig"))
        if not unchanged:
            changed.append((cert.pk, cert.number, record))
        if len(changed) >= CHUNK:
            _write_certificates(writer, changed)
            changed = []
    _write_certificates(writer, changed)
    for sha, entries in by_sha.items():
        writer.put(sha256_path(sha), dumps(_verify_index("sha256", sha, entries)))
    for repo, entries in by_model.items():
        writer.put(model_path(repo), dumps(_verify_index("model", repo, entries)))
    writer.put("keys.json", dumps(keys.published()))
    writer.put("revocations.json", signing.revocation_list(validity, at))
    return new_fingerprints


def _write_certificates(writer: _Writer, changed: list[tuple[int, str, dict]]) -> None:
    if not changed:
        return
    ids = [pk for pk, _number, _record in changed]
    envelopes = dict(Certificate.objects.filter(pk__in=ids).values_list("pk", "attestation"))
    bundles = dict(ModelSignature.objects.filter(certificate_id__in=ids).values_list("certificate_id", "bundle"))
    for pk, number, record in changed:
        envelope = envelopes.get(pk)
        # As issued: the stored envelope, parsed (its payload stays the signed base64).
        record["attestation"] = json.loads(bytes(envelope)) if envelope is not None else None
        writer.put(certificate_path(number), dumps(record))
        if pk in bundles:
            writer.put(certificate_path(number, ".sig"), bytes(bundles[pk]))


def _sign_manifest(writer: _Writer, version: str, at: dt.datetime) -> bytes:
    """The shard lists, then the signed top manifest over them and the top files."""
    shards, top = defaultdict(dict), {}
    for path, sha in writer.result.files.items():
        if path.split("/", 1)[0] in AREAS:
            shards[shard_list_path(path)][path] = sha
        else:
            top[path] = sha
    for path, files in sorted(shards.items()):
        writer.put(path, dumps({"files": dict(sorted(files.items()))}))
        top[path] = writer.result.files[path]
    body = {"_type": MANIFEST_TYPE, "version": version, "issued_at": signing.iso(at),
            "certificates": writer.result.certificates, "files": dict(sorted(top.items()))}
    key, _keyid = keys.load_signing_key()
    envelope = attestations.sign_envelope(canonical_json(body), key, payload_type=MANIFEST_PAYLOAD_TYPE)
    return attestations.envelope_bytes(envelope)


def _replace(path: Path, data: bytes) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _prune(root: Path, current: str, keep: int) -> list[str]:
    """Remove all but the newest ``keep`` complete versions (the current one always stays) and
    any partial version an interrupted run left behind."""
    versions = sorted((p for p in (root / VERSIONS).iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    complete = [p for p in versions if (p / MANIFEST).exists()]
    kept = {p.name for p in complete[:max(1, keep)]} | {current}
    removed = []
    for path in versions:
        if path.name not in kept:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def export(root: Path | str, *, now: dt.datetime | None = None, validity: dt.timedelta | None = None,
           keep: int | None = None, full: bool = False) -> Result:
    """Write a new version of the export under ``root`` and publish it (see the module).
    ``full`` ignores the previous version and writes every file."""
    root = Path(root)
    at = now or timezone.now()
    validity = validity or dt.timedelta(seconds=settings.REGISTRY_EXPORT_VALIDITY_SECONDS)
    keep = settings.REGISTRY_EXPORT_KEEP if keep is None else keep
    (root / VERSIONS).mkdir(parents=True, exist_ok=True)
    with (root / LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one export at a time (the task and the command)
        previous, previous_files = (None, {}) if full else previous_version(root)
        state = _read_json(root / STATE) or {}
        fingerprints = state.get("fingerprints", {}) if previous and state.get("version") == previous else {}
        version = at.strftime("%Y%m%dT%H%M%S") + f"{at.microsecond // 1000:03d}Z-" + secrets.token_hex(3)
        directory = root / VERSIONS / version
        directory.mkdir()
        result = Result(version, directory)
        writer = _Writer(directory, root / VERSIONS / previous if previous else None, previous_files, result)
        new_fingerprints = _write_version(writer, fingerprints, at, validity)
        manifest = _sign_manifest(writer, version, at)
        (directory / MANIFEST).write_bytes(manifest)  # last: the version is complete
        result.written += 1
        result.bytes += len(manifest)
        _replace(root / STATE, dumps({"version": version, "fingerprints": new_fingerprints}))
        _replace(root / POINTER, dumps({"version": version, "manifest": f"{VERSIONS}/{version}/{MANIFEST}",
                                        "published_at": signing.iso(at)}))
        result.removed = _prune(root, version, keep)
    return result


def refresh() -> Result | None:
    """The export into ``REGISTRY_EXPORT_DIR``; None (nothing done) when it is not set."""
    directory = getattr(settings, "REGISTRY_EXPORT_DIR", "")
    if not directory:
        return None
    return export(directory)
