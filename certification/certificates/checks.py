"""The signing key, checked when any process starts (registered by ``CertificationConfig``).

With ``DEBUG`` off the key must be configured and loadable, and the published keys readable,
or certificates cannot be signed and ``/api/v1/keys/`` and ``/api/v1/revocations/`` answer
500. Each is an Error naming the variable, so the web process and the workers refuse to start
(``portal.checks.refuse_to_start``). With ``DEBUG`` on the development key is generated on first
use, and nothing is checked (a check has no side effect).
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


def check_signing_key(app_configs=None, **kwargs) -> list[CheckMessage]:
    if settings.DEBUG:
        return []
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
