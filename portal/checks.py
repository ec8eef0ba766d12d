"""Production settings checks, and the start-up gate of the web process and the workers.

With ``DEBUG`` off every setting a deployment needs is checked when any process
starts (``manage.py check``, ``check --deploy``, every management command, the
WSGI/ASGI application, the Celery worker and beat): a missing or bad one is an
Error naming the environment variable to set, so the portal refuses to start
instead of failing at the first request that needs it. With ``DEBUG`` on (the
embedded default of ``make run`` and the tests) none of them fires.

The checks of the portal's own settings are here, registered by ``PortalConfig``;
apps above register their own (the signing key: ``certification.certificates.checks``).
``refuse_to_start`` runs every registered check, whatever app registered it.
"""

from __future__ import annotations

import logging
import os
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, run_checks
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port, validate_host

logger = logging.getLogger(__name__)

# Tag of the production checks: `manage.py check --tag production` runs only them.
TAG = "production"

# Email backends that never deliver a message (DEBUG on: the embedded default writes files).
NON_DELIVERING_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}
SMTP_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
# One URL serves as the Celery broker and Django's Redis cache: schemes both understand.
REDIS_SCHEMES = {"redis", "rediss", "unix"}


def check_production_settings(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Every portal setting a deployment needs (DEBUG off); nothing with DEBUG on."""
    if settings.DEBUG:
        return []
    return [
        *_site_url(),
        *_email(),
        *_broker(),
        *_database(),
        *_private_storage(),
    ]


def _site_url() -> list[CheckMessage]:
    site_url = settings.SITE_URL
    parts = urlsplit(site_url)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment or "@" in parts.netloc:
        return [Error(
            f"SITE_URL must be the absolute https:// URL of the portal, not {site_url!r}.",
            hint="Set SITE_URL, e.g. SITE_URL=https://portal.example.org: links in emails, "
                 "badges and certificates are built from it.",
            id="portal.E001",
        )]
    host, _port = split_domain_port(parts.netloc)
    if not validate_host(host, settings.ALLOWED_HOSTS):
        return [Error(
            f"The host of SITE_URL ({parts.netloc}) is not in ALLOWED_HOSTS: every link "
            "the portal sends would be refused with a 400.",
            hint="Add it to ALLOWED_HOSTS or correct SITE_URL.",
            id="portal.E002",
        )]
    return []


def _email() -> list[CheckMessage]:
    errors = []
    backend = settings.EMAIL_BACKEND
    if backend in NON_DELIVERING_EMAIL_BACKENDS:
        errors.append(Error(
            f"Emails are not delivered: EMAIL_BACKEND is {backend}"
            + ("." if settings.EMAIL_HOST else " (EMAIL_HOST is not set)."),
            hint="Set EMAIL_HOST (and EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD) to send "
                 "through SMTP, or EMAIL_BACKEND to a delivering backend.",
            id="portal.E003",
        ))
    elif backend == SMTP_EMAIL_BACKEND and not settings.EMAIL_HOST:
        errors.append(Error(
            "EMAIL_BACKEND is SMTP but EMAIL_HOST is not set.",
            hint="Set EMAIL_HOST to the SMTP server, e.g. EMAIL_HOST=smtp.example.org.",
            id="portal.E003",
        ))
    if backend == SMTP_EMAIL_BACKEND and settings.EMAIL_USE_TLS and settings.EMAIL_USE_SSL:
        errors.append(Error(
            "EMAIL_USE_TLS and EMAIL_USE_SSL are both on: every email would fail to send.",
            hint="EMAIL_USE_TLS is on by default (STARTTLS, port 587); for implicit TLS (port 465) "
                 "set EMAIL_USE_SSL=true together with EMAIL_USE_TLS=false.",
            id="portal.E004",
        ))
    _name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    domain = address.rpartition("@")[2].lower()
    if "@" not in address or domain in {"", "localhost"} or domain.endswith(".localhost"):
        errors.append(Error(
            f"DEFAULT_FROM_EMAIL ({settings.DEFAULT_FROM_EMAIL!r}) is not an address of the "
            "portal's domain: mail servers reject or junk its emails.",
            hint='Set DEFAULT_FROM_EMAIL, e.g. DEFAULT_FROM_EMAIL="Certification Portal '
                 '<noreply@portal.example.org>".',
            id="portal.E005",
        ))
    return errors


def _broker() -> list[CheckMessage]:
    redis_url = getattr(settings, "REDIS_URL", "")
    if not redis_url:
        return [Error(
            "REDIS_URL is not set: the Celery broker is the embedded filesystem:// transport and "
            "the cache (rate limits) a local directory, neither shared between hosts.",
            hint="Set REDIS_URL, e.g. REDIS_URL=redis://redis:6379/0.",
            id="portal.E006",
        )]
    scheme = urlsplit(redis_url).scheme
    if scheme not in REDIS_SCHEMES:
        return [Error(
            f"REDIS_URL must be a redis://, rediss:// or unix:// URL, not {scheme or redis_url!r}.",
            hint="Set REDIS_URL, e.g. REDIS_URL=redis://redis:6379/0.",
            id="portal.E006",
        )]
    return []


def _database() -> list[CheckMessage]:
    if not getattr(settings, "DATABASE_URL", ""):
        return [Error(
            "DATABASE_URL is not set: the portal would run on the embedded SQLite database "
            f"{settings.DATABASES['default']['NAME']}.",
            hint="Set DATABASE_URL, e.g. DATABASE_URL=postgres://portal@db:5432/portal.",
            id="portal.E007",
        )]
    return []


def _private_storage() -> list[CheckMessage]:
    """Evidence, audit reports and finding attachments live under PRIVATE_STORAGE_ROOT, or in
    the bucket of STORAGE_URL: either must be chosen on purpose (shared by every web process and
    worker, backed up) and usable, or uploads fail at the first request."""
    if getattr(settings, "STORAGE_URL", ""):
        return _object_storage()
    root = Path(settings.PRIVATE_STORAGE_ROOT)
    embedded_default = Path(settings.VAR_DIR) / "private"
    if not os.environ.get("PRIVATE_STORAGE_ROOT") and root == embedded_default:
        return [Error(
            f"PRIVATE_STORAGE_ROOT is not set: evidence files would be stored under {root}.",
            hint="Set PRIVATE_STORAGE_ROOT to a persistent directory outside the code, shared by "
                 "every web process and worker, e.g. PRIVATE_STORAGE_ROOT=/srv/portal/private.",
            id="portal.E008",
        )]
    if not root.is_absolute():
        return [Error(
            f"PRIVATE_STORAGE_ROOT must be an absolute path, not {str(root)!r}.",
            hint="Set PRIVATE_STORAGE_ROOT, e.g. PRIVATE_STORAGE_ROOT=/srv/portal/private.",
            id="portal.E009",
        )]
    # The directory is created on the first upload: it, or the nearest existing parent, must be
    # a directory this process can write to.
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        where = "it" if existing == root else f"its parent {existing}"
        return [Error(
            f"PRIVATE_STORAGE_ROOT {root} cannot be written to: {where} is not a directory "
            "this process can write to.",
            hint="Create the directory and give the portal's user write access, or set "
                 "PRIVATE_STORAGE_ROOT to one that it can write to.",
            id="portal.E009",
        )]
    return []


def _object_storage() -> list[CheckMessage]:
    """STORAGE_URL names an S3-compatible bucket: its form, the endpoint's, and credentials boto3
    can find (the variables, or the machine's role). The bucket itself is not contacted here:
    a store that is down at start-up is a fault (503 on upload), not a configuration error."""
    url = urlsplit(settings.STORAGE_URL)
    if url.scheme != "s3" or not url.netloc or "@" in url.netloc or ":" in url.netloc or url.query or url.fragment:
        return [Error(
            f"STORAGE_URL must be s3://bucket or s3://bucket/prefix, not {settings.STORAGE_URL!r}.",
            hint="Set STORAGE_URL, e.g. STORAGE_URL=s3://portal-private/files, or unset it to keep files "
                 "under PRIVATE_STORAGE_ROOT.",
            id="portal.E010",
        )]
    endpoint = urlsplit(settings.STORAGE_ENDPOINT_URL or "")
    if settings.STORAGE_ENDPOINT_URL and (endpoint.scheme not in ("https", "http") or not endpoint.hostname):
        return [Error(
            f"STORAGE_ENDPOINT_URL must be the http(s):// URL of the S3 API, not {settings.STORAGE_ENDPOINT_URL!r}.",
            hint="Set STORAGE_ENDPOINT_URL, e.g. STORAGE_ENDPOINT_URL=https://s3.example.org, or unset it for AWS.",
            id="portal.E010",
        )]
    from botocore.exceptions import BotoCoreError
    from botocore.session import Session

    try:
        credentials = Session().get_credentials()
    except BotoCoreError as exc:
        credentials, problem = None, str(exc)
    else:
        problem = "none were found"
    if credentials is None:
        return [Error(
            f"STORAGE_URL is set but the object store's credentials cannot be loaded: {problem}.",
            hint="Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (both), or give the machine a role "
                 "that may read and write the bucket.",
            id="portal.E011",
        )]
    return []


# --- the start-up gate ---------------------------------------------------------------------


class StartupCheckFailed(ImproperlyConfigured):
    """The configuration has errors: the process must not start."""


def startup_errors() -> list[CheckMessage]:
    """The errors of every registered check, deployment checks included (the silenced ones
    left out). Warnings are logged when DEBUG is off, and do not stop anything."""
    messages = [m for m in run_checks(include_deployment_checks=True) if not m.is_silenced()]
    if not settings.DEBUG:
        for message in messages:
            if not message.is_serious():
                logger.warning("%s", format_message(message))
    return [m for m in messages if m.is_serious()]


def format_message(message: CheckMessage) -> str:
    text = f"({message.id}) {message.msg}"
    if message.obj is not None:
        text = f"{message.obj}: {text}"
    if message.hint:
        text += f"\n    HINT: {message.hint}"
    return text


def refuse_to_start(process: str) -> None:
    """Raise ``StartupCheckFailed`` listing every error when the configuration has one."""
    errors = startup_errors()
    if errors:
        lines = "\n".join(f"  {format_message(e)}" for e in errors)
        raise StartupCheckFailed(
            f"{process} refuses to start: the configuration has {len(errors)} error(s) "
            f"(`manage.py check --deploy` lists them too):\n{lines}"
        )
