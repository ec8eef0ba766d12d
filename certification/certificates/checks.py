"""The signing keys, checked when any process starts (registered by ``CertificationConfig``).

With ``DEBUG`` off the key must be configured and loadable, and the published keys readable,
or certificates cannot be signed and ``/api/v1/keys/`` and ``/api/v1/revocations/`` answer
500. Each is an Error naming the variable, so the web process and the workers refuse to start
(``portal.checks.refuse_to_start``). With ``DEBUG`` on the development key is generated on first
use, and nothing is checked (a check has no side effect).

The model-signing key (ECDSA P-256, the OpenSSF model-signing bundles) is checked the same way,
with its own ids (E004-E006), by the same registered check: a process that can sign
certificates can sign their bundles.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from certification.certificates import keys

CREATE_KEY_HINT = (
    "Create a key once with `openssl genpkey -algorithm ed25519 -out /srv/portal/keys/signing-key.pem` "
    "(readable by the portal only) and set SIGNING_KEY_FILE to its path (README: Running in production)."
)
CREATE_MODEL_KEY_HINT = (
    "Create a key once with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
    "-out /srv/portal/keys/model-signing-key.pem` (readable by the portal only) and set MODEL_SIGNING_KEY_FILE "
    "to its path (README: Running in production)."
)


@dataclass(frozen=True)
class KeySpec:
    """One signing key: where it is configured, how it loads, and the ids of its three errors
    (missing, unloadable, published keys unreadable)."""

    what: str
    file_setting: str
    value_setting: str
    formats: str
    create_hint: str
    load: Callable[[], object]
    published: Callable[[], object]
    published_where: str
    published_hint: str
    ids: tuple[str, str, str]


ED25519 = KeySpec(
    what="certificate signing key",
    file_setting="SIGNING_KEY_FILE",
    value_setting="SIGNING_KEY",
    formats="path of an Ed25519 private key in PEM) or SIGNING_KEY (the PEM itself or the base64 of a 32-byte seed",
    create_hint=CREATE_KEY_HINT,
    load=lambda: keys.load_signing_key(),
    published=lambda: keys.verification_keys(),
    published_where="The published verification keys in SIGNING_KEYS_DIR",
    published_hint="SIGNING_KEYS_DIR is the directory `manage.py rotate_signing_key` keeps the retired "
                   "public keys in: restore it, or point SIGNING_KEYS_DIR at it.",
    ids=("certification.E001", "certification.E002", "certification.E003"),
)
MODEL_SIGNING = KeySpec(
    what="model-signing key",
    file_setting="MODEL_SIGNING_KEY_FILE",
    value_setting="MODEL_SIGNING_KEY",
    formats="path of an ECDSA P-256 private key in PEM) or MODEL_SIGNING_KEY (the PEM itself or the base64 of "
            "the 32-byte private scalar",
    create_hint=CREATE_MODEL_KEY_HINT,
    load=lambda: keys.load_model_signing_key(),
    published=lambda: keys.model_verification_keys(),
    published_where=f"The published model-signing keys in SIGNING_KEYS_DIR/{keys.MODEL_KEYS_SUBDIR}",
    published_hint="`manage.py rotate_signing_key --model-signing` keeps the retired model-signing keys there: "
                   "restore it, or point SIGNING_KEYS_DIR at the directory that holds it.",
    ids=("certification.E004", "certification.E005", "certification.E006"),
)


def _configured(name: str) -> str:
    """A setting if the project defines it, else the environment variable (as ``keys`` reads them)."""
    return str(getattr(settings, name, "") or os.environ.get(name, "")).strip()


def check_signing_key(app_configs=None, **kwargs) -> list[CheckMessage]:
    if settings.DEBUG:
        return []
    return _check_key(ED25519) + _check_key(MODEL_SIGNING)


def _check_key(spec: KeySpec) -> list[CheckMessage]:
    missing, unloadable, unpublished = spec.ids
    given = [name for name in (spec.file_setting, spec.value_setting) if _configured(name)]
    if not given:
        return [Error(f"No {spec.what}: set {spec.file_setting} ({spec.formats}).",
                      hint=spec.create_hint, id=missing)]
    try:
        spec.load()
    except (ImproperlyConfigured, OSError) as exc:
        return [Error(f"The {spec.what} cannot be loaded from {' and '.join(given)}: {exc}",
                      hint=spec.create_hint, id=unloadable)]
    try:
        spec.published()
    except (ImproperlyConfigured, OSError) as exc:
        return [Error(f"{spec.published_where} cannot be read: {exc}", hint=spec.published_hint, id=unpublished)]
    return []
