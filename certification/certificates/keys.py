"""The portal's Ed25519 signing key and the published verification keys (DESIGN §7).

The private key never touches the database. It comes from, in this order:

- ``SIGNING_KEY_FILE`` (a Django setting or environment variable): path of an
  unencrypted PKCS#8 PEM file, which should be readable by the portal only;
- ``SIGNING_KEY`` (setting or environment variable): the PEM text itself, or
  the base64 of the raw 32-byte Ed25519 seed;
- in development only (``DEBUG`` on and neither set): ``VAR_DIR/signing-key.pem``,
  generated with mode 0600 on first use and reused afterwards.

With ``DEBUG`` off and neither set, loading fails loudly. Setting both is an
error too, so there is never a doubt about which key signs.

Older keys (rotation). ``SIGNING_KEYS_DIR`` (setting or environment variable;
in development it defaults to ``VAR_DIR/signing-keys``) holds:

- ``keys.json``: ``{"<keyid>": {"valid_from": "<ISO 8601>", "valid_until":
  "<ISO 8601>" | null}}``, one entry per key that has ever signed, the current
  one included once it has been rotated in;
- ``<hex>.pem``: the public key (SubjectPublicKeyInfo PEM) of every retired
  key, where ``<hex>`` is its keyid without the ``sha256:`` prefix.

The published keys (``verification_keys``) are the current key plus every key
listed in ``keys.json``. A current key with no entry is valid from the epoch:
a deployment that never rotated needs no keys directory at all. ``rotate_key``
keeps all of this consistent; do not edit the directory by hand except to
restore it. Retired private keys are not kept anywhere.

The model-signing key (ECDSA P-256) signs the OpenSSF model-signing bundle of
every certificate (``modelsigning.py``): the tool's key method takes elliptic
curve keys, not Ed25519. It is managed the same way under its own names:
``MODEL_SIGNING_KEY_FILE`` or ``MODEL_SIGNING_KEY`` (the PEM, or the base64 of
the 32-byte private scalar), ``VAR_DIR/model-signing-key.pem`` in development,
and its retired public keys in ``<SIGNING_KEYS_DIR>/model-signing/`` (one keys
directory to keep and back up). Its keyid is ``sha256:`` + the hex sha256 of
its SubjectPublicKeyInfo PEM: the ``hint`` the tool writes into a bundle, so a
bundle names the published key that signed it. ``rotate_signing_key
--model-signing`` rotates it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from certification.certificates.attestations import PublicKeyInfo, keyid_for, public_key_raw

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
DEV_KEY_NAME = "signing-key.pem"
VALIDITY_FILE = "keys.json"


def _config(name: str) -> str:
    """A setting if the project defines it, else the environment variable."""
    return str(getattr(settings, name, "") or os.environ.get(name, "")).strip()


# --- the private key ----------------------------------------------------------------


def _private_key_from_pem(data: bytes, source: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{source}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{source}: the signing key must be Ed25519")
    return key


def _private_key_from_env(value: str) -> Ed25519PrivateKey:
    if "-----BEGIN" in value:
        return _private_key_from_pem(value.encode("ascii"), "SIGNING_KEY")
    try:
        seed = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured("SIGNING_KEY must be a PEM or the base64 of a 32-byte seed") from None
    if len(seed) != 32:
        raise ImproperlyConfigured(f"SIGNING_KEY seed must have 32 bytes, not {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def private_key_pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(
    key: Ed25519PrivateKey | Ed25519PublicKey | ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey,
) -> bytes:
    """SubjectPublicKeyInfo PEM of either kind of key."""
    if isinstance(key, (Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _write_new_file(directory: Path, data: bytes, mode: int) -> Path:
    """Write ``data`` to a fresh temporary file in ``directory``, flushed to disk,
    so that a rename or link puts it in place whole or not at all."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return Path(name)


def _write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = _write_new_file(path.parent, data, mode)
    os.replace(tmp, path)


def _generate_dev_key(path: Path, generate: Callable[[], Any] = Ed25519PrivateKey.generate,
                      load: Callable[[bytes, str], Any] | None = None):
    """Create the development key unless another process just did; return the one on disk."""
    load = load or _private_key_from_pem
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_new_file(path.parent, private_key_pem(generate()), 0o600)
    try:
        # link() never overwrites: of two processes racing, the first key wins
        # and both go on to read the same file.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return load(path.read_bytes(), str(path))


def _configured_key_file(file_name: str, value_name: str, dev_name: str) -> Path | None:
    key_file, key_value = _config(file_name), _config(value_name)
    if key_file and key_value:
        raise ImproperlyConfigured(f"set {file_name} or {value_name}, not both")
    if key_file:
        return Path(key_file)
    if key_value:
        return None
    if settings.DEBUG:
        return Path(settings.VAR_DIR) / dev_name
    raise ImproperlyConfigured(f"{file_name} or {value_name} must be set when DEBUG is off")


def configured_key_file() -> Path | None:
    """The file the signing key lives in, or None when it comes from ``SIGNING_KEY``."""
    return _configured_key_file("SIGNING_KEY_FILE", "SIGNING_KEY", DEV_KEY_NAME)


def load_signing_key() -> tuple[Ed25519PrivateKey, str]:
    """The current signing key and its keyid, read afresh on every call so that a
    rotation takes effect without a restart."""
    path = configured_key_file()
    if path is None:
        key = _private_key_from_env(_config("SIGNING_KEY"))
    elif path.exists():
        key = _private_key_from_pem(path.read_bytes(), str(path))
    elif settings.DEBUG and not _config("SIGNING_KEY_FILE"):
        key = _generate_dev_key(path)
    else:
        raise ImproperlyConfigured(f"SIGNING_KEY_FILE {path} does not exist")
    return key, keyid_for(public_key_raw(key))


def public_key_info(
    private_key: Ed25519PrivateKey, valid_from: dt.datetime, valid_until: dt.datetime | None = None
) -> PublicKeyInfo:
    raw = public_key_raw(private_key)
    return PublicKeyInfo(keyid_for(raw), raw, valid_from, valid_until)


# --- the published keys ---------------------------------------------------------------


def keys_dir() -> Path | None:
    configured = _config("SIGNING_KEYS_DIR")
    if configured:
        return Path(configured)
    if settings.DEBUG:
        return Path(settings.VAR_DIR) / "signing-keys"
    return None


def _parse_time(value, where: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{where}: {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ImproperlyConfigured(f"{where}: {value!r} has no time zone")
    return parsed


def read_validity(directory: Path) -> dict[str, tuple[dt.datetime, dt.datetime | None]]:
    path = directory / VALIDITY_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ImproperlyConfigured(f"{path}: expected an object keyed by keyid")
    validity = {}
    for keyid, entry in data.items():
        if not isinstance(entry, dict):
            raise ImproperlyConfigured(f"{path}: {keyid}: expected valid_from and valid_until")
        until = entry.get("valid_until")
        validity[keyid] = (
            _parse_time(entry.get("valid_from"), f"{path}: {keyid}"),
            _parse_time(until, f"{path}: {keyid}") if until is not None else None,
        )
    return validity


def _write_validity(directory: Path, validity: dict[str, tuple[dt.datetime, dt.datetime | None]]) -> None:
    data = {
        keyid: {
            "valid_from": start.isoformat(),
            "valid_until": end.isoformat() if end is not None else None,
        }
        for keyid, (start, end) in sorted(validity.items(), key=lambda item: item[1][0])
    }
    _write_atomically(directory / VALIDITY_FILE, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def _pem_path(directory: Path, keyid: str) -> Path:
    return directory / f"{keyid.removeprefix('sha256:')}.pem"


def _load_public_key(path: Path, keyid: str) -> bytes:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise ImproperlyConfigured(f"{path}: public key of {keyid} is missing") from None
    except ValueError as exc:
        raise ImproperlyConfigured(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ImproperlyConfigured(f"{path}: not an Ed25519 key")
    raw = public_key_raw(key)
    if keyid_for(raw) != keyid:
        raise ImproperlyConfigured(f"{path}: the key in this file is not {keyid}")
    return raw


def verification_keys(directory: Path | None = None) -> list[PublicKeyInfo]:
    """Every key that may have signed a certificate, oldest first: the current key
    and the retired keys of the keys directory."""
    directory = directory if directory is not None else keys_dir()
    validity = read_validity(directory) if directory is not None else {}
    current, current_id = load_signing_key()
    keys = [public_key_info(current, *validity.get(current_id, (EPOCH, None)))]
    for keyid, (start, end) in validity.items():
        if keyid != current_id:
            keys.append(PublicKeyInfo(keyid, _load_public_key(_pem_path(directory, keyid), keyid), start, end))
    return sorted(keys, key=lambda key: key.valid_from)


def rotate_key(directory: Path, key_file: Path | None = None, now: dt.datetime | None = None) -> str:
    """Replace the signing key by a new one; return the new keyid.

    Steps:
    1. load the current key from ``key_file`` (default: the configured file;
       a key given in ``SIGNING_KEY`` cannot be rotated from here);
    2. write its public key into ``directory`` and record it as valid until now;
    3. record the new key as valid from now;
    4. put the new private key in place of the old one (an atomic rename).
    A crash before step 4 leaves the old key signing after its recorded end:
    run the rotation again.
    """
    now = now or timezone.now()
    if key_file is None:
        key_file = configured_key_file()
        if key_file is None:
            raise ImproperlyConfigured(
                "the signing key comes from SIGNING_KEY: put a new key there and record the old "
                "one in SIGNING_KEYS_DIR, or use SIGNING_KEY_FILE"
            )
    return _rotate(directory, key_file, now, Ed25519PrivateKey.generate(), _private_key_from_pem,
                   lambda key: keyid_for(public_key_raw(key)), public_key_pem)


def _rotate(directory: Path, key_file: Path, now: dt.datetime, new_key, load_old: Callable[[bytes, str], Any],
            keyid_of: Callable[[Any], str], public_pem: Callable[[Any], bytes]) -> str:
    """Steps 2 to 4 of ``rotate_key``, for either kind of key."""
    directory.mkdir(parents=True, exist_ok=True)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    validity = read_validity(directory)
    new_id = keyid_of(new_key)
    tmp_key = _write_new_file(key_file.parent, private_key_pem(new_key), 0o600)
    try:
        if key_file.exists():
            old_key = load_old(key_file.read_bytes(), str(key_file))
            old_id = keyid_of(old_key)
            _write_atomically(_pem_path(directory, old_id), public_pem(old_key))
            validity[old_id] = (validity.get(old_id, (EPOCH, None))[0], now)
        validity[new_id] = (now, None)
        _write_validity(directory, validity)
        os.replace(tmp_key, key_file)
    except BaseException:
        tmp_key.unlink(missing_ok=True)
        raise
    return new_id


# --- the model-signing key (ECDSA P-256) ------------------------------------------------------

MODEL_DEV_KEY_NAME = "model-signing-key.pem"
MODEL_KEYS_SUBDIR = "model-signing"
MODEL_SIGNING_ALGORITHM = "ecdsa-p256-sha256"


def model_keyid_for(public_pem: bytes) -> str:
    """``sha256:`` + the sha256 of the SubjectPublicKeyInfo PEM: the tool's key ``hint``."""
    return "sha256:" + hashlib.sha256(public_pem).hexdigest()


def _ec_private_key_from_pem(data: bytes, source: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{source}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ImproperlyConfigured(f"{source}: the model-signing key must be ECDSA P-256 (prime256v1)")
    return key


def _ec_private_key_from_env(value: str) -> ec.EllipticCurvePrivateKey:
    if "-----BEGIN" in value:
        return _ec_private_key_from_pem(value.encode("ascii"), "MODEL_SIGNING_KEY")
    try:
        scalar = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(
            "MODEL_SIGNING_KEY must be a PEM or the base64 of a 32-byte P-256 private scalar") from None
    if len(scalar) != 32:
        raise ImproperlyConfigured(f"MODEL_SIGNING_KEY scalar must have 32 bytes, not {len(scalar)}")
    try:
        return ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    except ValueError:
        raise ImproperlyConfigured("MODEL_SIGNING_KEY is not a valid P-256 private scalar") from None


def _generate_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def configured_model_key_file() -> Path | None:
    """The file the model-signing key lives in, or None when it comes from ``MODEL_SIGNING_KEY``."""
    return _configured_key_file("MODEL_SIGNING_KEY_FILE", "MODEL_SIGNING_KEY", MODEL_DEV_KEY_NAME)


def load_model_signing_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """The current model-signing key and its keyid, read afresh on every call (as ``load_signing_key``)."""
    path = configured_model_key_file()
    if path is None:
        key = _ec_private_key_from_env(_config("MODEL_SIGNING_KEY"))
    elif path.exists():
        key = _ec_private_key_from_pem(path.read_bytes(), str(path))
    elif settings.DEBUG and not _config("MODEL_SIGNING_KEY_FILE"):
        key = _generate_dev_key(path, _generate_ec_key, _ec_private_key_from_pem)
    else:
        raise ImproperlyConfigured(f"MODEL_SIGNING_KEY_FILE {path} does not exist")
    return key, model_keyid_for(public_key_pem(key))


@dataclass(frozen=True)
class ModelSigningKey:
    """A published model-signing key (P-256, PEM) and the time range in which it may sign."""

    keyid: str
    public_key_pem: bytes
    valid_from: dt.datetime
    valid_until: dt.datetime | None = None

    def __post_init__(self) -> None:
        # A keyid that does not name its key would let a list of keys lie.
        if self.keyid != model_keyid_for(self.public_key_pem):
            raise ValueError(f"keyid {self.keyid} does not match its public key")
        for value in (self.valid_from, self.valid_until):
            if value is not None and value.tzinfo is None:
                raise ValueError("key validity times must be timezone-aware")

    def valid_at(self, at: dt.datetime) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        key = serialization.load_pem_public_key(self.public_key_pem)
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return key

    def as_json(self) -> dict[str, Any]:
        """The key as listed by ``GET /api/v1/keys/`` under ``model_signing_keys``."""
        return {
            "keyid": self.keyid,
            "algorithm": MODEL_SIGNING_ALGORITHM,
            "public_key_pem": self.public_key_pem.decode("ascii"),
            "valid_from": _iso(self.valid_from),
            "valid_until": _iso(self.valid_until) if self.valid_until else None,
        }


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def model_keys_dir() -> Path | None:
    """Retired model-signing keys: a subdirectory of the keys directory, backed up with it."""
    directory = keys_dir()
    return directory / MODEL_KEYS_SUBDIR if directory is not None else None


def _load_ec_public_key(path: Path, keyid: str) -> bytes:
    try:
        data = path.read_bytes()
        key = serialization.load_pem_public_key(data)
    except FileNotFoundError:
        raise ImproperlyConfigured(f"{path}: public key of {keyid} is missing") from None
    except ValueError as exc:
        raise ImproperlyConfigured(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ImproperlyConfigured(f"{path}: not an ECDSA P-256 key")
    pem = public_key_pem(key)
    if model_keyid_for(pem) != keyid:
        raise ImproperlyConfigured(f"{path}: the key in this file is not {keyid}")
    return pem


def model_verification_keys(directory: Path | None = None) -> list[ModelSigningKey]:
    """Every model-signing key that may have signed a bundle, oldest first."""
    directory = directory if directory is not None else model_keys_dir()
    validity = read_validity(directory) if directory is not None else {}
    current, current_id = load_model_signing_key()
    keys = [ModelSigningKey(current_id, public_key_pem(current), *validity.get(current_id, (EPOCH, None)))]
    for keyid, (start, end) in validity.items():
        if keyid != current_id:
            keys.append(ModelSigningKey(keyid, _load_ec_public_key(_pem_path(directory, keyid), keyid), start, end))
    return sorted(keys, key=lambda key: key.valid_from)


def rotate_model_key(directory: Path, key_file: Path | None = None, now: dt.datetime | None = None) -> str:
    """Replace the model-signing key by a new one; return the new keyid (steps of ``rotate_key``)."""
    now = now or timezone.now()
    if key_file is None:
        key_file = configured_model_key_file()
        if key_file is None:
            raise ImproperlyConfigured(
                "the model-signing key comes from MODEL_SIGNING_KEY: put a new key there and record the old "
                f"one in SIGNING_KEYS_DIR/{MODEL_KEYS_SUBDIR}, or use MODEL_SIGNING_KEY_FILE"
            )
    return _rotate(directory, key_file, now, _generate_ec_key(), _ec_private_key_from_pem,
                   lambda key: model_keyid_for(public_key_pem(key)), public_key_pem)


def published() -> dict[str, Any]:
    """Every published key, as ``GET /api/v1/keys/`` and the static export's ``keys.json`` list them."""
    return {"keys": [key.as_json() for key in verification_keys()],
            "model_signing_keys": [key.as_json() for key in model_verification_keys()]}
