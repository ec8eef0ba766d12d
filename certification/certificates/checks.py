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

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from certification.certificates import keys

CREATE_KEY_HINT = (
    "Create a key once with `openssl genpkey -algorithm ed25519 -out /srv/portal/keys/signing-key.pem` "
    "(readable by the portal only) and set SIGNING_KEY_FILE to its path (README: Running in production)."
)


def _configured(name: str) -> str:
    """A setting if the project defines it, else the environment variable (as ``keys`` reads them)."""
    return str(getattr(settings, name, "") or os.environ.get(name, "")).strip()


CREATE_MODEL_KEY_HINT = (
    "Create a key once with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
    "-out /srv/portal/keys/model-signing-key.pem` (readable by the portal only) and set MODEL_SIGNING_KEY_FILE "
    "to its path (README: Running in production)."
)


def check_signing_key(app_configs=None, **kwargs) -> list[CheckMessage]:
    if settings.DEBUG:
        return []
    return _check_ed25519_key() + check_model_signing_key()


def _check_ed25519_key() -> list[CheckMessage]:
    key_file, key_value = _configured("SIGNING_KEY_FILE"), _configured("SIGNING_KEY")
    if not key_file and not key_value:
        return [Error(
            "No certificate signing key: set SIGNING_KEY_FILE (path of an Ed25519 private key in "
            "PEM) or SIGNING_KEY (the PEM itself or the base64 of a 32-byte seed).",
            hint=CREATE_KEY_HINT,
            id="certification.E001",
        )]
    source = " and ".join(name for name, value in (("SIGNING_KEY_FILE", key_file), ("SIGNING_KEY", key_value))
                          if value)
    try:
        keys.load_signing_key()
    except (ImproperlyConfigured, OSError) as exc:
        return [Error(
            f"The certificate signing key cannot be loaded from {source}: {exc}",
            hint=CREATE_KEY_HINT,
            id="certification.E002",
        )]
    try:
        keys.verification_keys()
    except (ImproperlyConfigured, OSError) as exc:
        return [Error(
            f"The published verification keys in SIGNING_KEYS_DIR cannot be read: {exc}",
            hint="SIGNING_KEYS_DIR is the directory `manage.py rotate_signing_key` keeps the retired "
                 "public keys in: restore it, or point SIGNING_KEYS_DIR at it.",
            id="certification.E003",
        )]
    return []


def check_model_signing_key(app_configs=None, **kwargs) -> list[CheckMessage]:
    if settings.DEBUG:
        return []
    key_file, key_value = _configured("MODEL_SIGNING_KEY_FILE"), _configured("MODEL_SIGNING_KEY")
    if not key_file and not key_value:
        return [Error(
            "No model-signing key: set MODEL_SIGNING_KEY_FILE (path of an ECDSA P-256 private key in PEM) "
            "or MODEL_SIGNING_KEY (the PEM itself or the base64 of the 32-byte private scalar).",
            hint=CREATE_MODEL_KEY_HINT,
            id="certification.E004",
        )]
    source = " and ".join(name for name, value in (("MODEL_SIGNING_KEY_FILE", key_file),
                                                   ("MODEL_SIGNING_KEY", key_value)) if value)
    try:
        keys.load_model_signing_key()
    except (ImproperlyConfigured, OSError) as exc:
        return [Error(
            f"The model-signing key cannot be loaded from {source}: {exc}",
            hint=CREATE_MODEL_KEY_HINT,
            id="certification.E005",
        )]
    try:
        keys.model_verification_keys()
    except (ImproperlyConfigured, OSError) as exc:
        return [Error(
            f"The published model-signing keys in SIGNING_KEYS_DIR/{keys.MODEL_KEYS_SUBDIR} cannot be read: {exc}",
            hint="`manage.py rotate_signing_key --model-signing` keeps the retired model-signing keys there: "
                 "restore it, or point SIGNING_KEYS_DIR at the directory that holds it.",
            id="certification.E006",
        )]
    return []
