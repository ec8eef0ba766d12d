"""Settings, read from the environment.

With no environment set the portal runs on its embedded defaults (DESIGN §9):
SQLite under ``var/`` in WAL mode, Celery on kombu's ``filesystem://``
transport, emails written to ``var/mail/``. ``DATABASE_URL`` and ``REDIS_URL``
switch to PostgreSQL and Redis. With ``DEBUG`` off, ``SECRET_KEY`` and
``ALLOWED_HOSTS`` are required and the secure-transport settings are on.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


VAR_DIR = Path(env("PORTAL_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = envbool("DEBUG", "true")
# Demo conveniences (fixed TOTP secrets for demo users) exist only when asked for.
DEMO_MODE = envbool("DEMO_MODE", "false")

SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS")
if not DEBUG:
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off")
else:
    SECRET_KEY = SECRET_KEY or "django-insecure-development-only-key-never-use-in-production"
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["localhost", "127.0.0.1", "[::1]", "testserver"]

SITE_URL = env("SITE_URL", "http://localhost:8000").rstrip("/")
SITE_NAME = env("SITE_NAME", "Responsible Release Certification Portal")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "portal",
    "certification",
    "auditors",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response, static files included (see the CSP block).
    "csp.middleware.CSPMiddleware",
    # A cached verify answer is the same for everyone: answered here, before sessions and the rest.
    "certification.certificates.middleware.VerifyCacheMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.outages.OutageMiddleware",  # above the session and user middleware: see its docstring
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "portal.middleware.UserLanguageMiddleware",  # a signed-in user's saved language over Accept-Language
    "portal.middleware.UserTimezoneMiddleware",
    "portal.middleware.MFARequiredMiddleware",
    "portal.idempotency.IdempotencyMiddleware",  # Idempotency-Key on state-changing API requests
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"
AUTH_USER_MODEL = "portal.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=envint("CONN_MAX_AGE", 60),
        # A persistent connection that PostgreSQL dropped (restart, failover) is replaced at the
        # first query of the next request instead of failing it (tests/portal/test_faults.py).
        conn_health_checks=True,
    )}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "portal.sqlite3",
            "OPTIONS": {
                # Immediate transactions take the write lock up front, so the web
                # process and the worker queue behind each other instead of
                # failing with "database is locked" on lock upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

# --- Cache (allauth rate limits live here, so it is shared by all processes) --
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "portal.cache.RedisCache",  # one client per pool (portal/cache.py)
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", "portal"),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Celery ---------------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest task (and the longest retry countdown), so a
        # slow task is not redelivered while it runs.
        "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 3600),
        # Without a socket timeout a publish to a broker that accepts the TCP
        # connection but never answers (frozen, failing over, half-open) waits
        # forever inside the web request that committed. With it the publish
        # fails in seconds and the outbox row waits for the periodic drain.
        "socket_connect_timeout": envint("CELERY_BROKER_CONNECTION_TIMEOUT", 2),
        "socket_timeout": envint("CELERY_BROKER_SOCKET_TIMEOUT", 3),
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    _queue_dir = VAR_DIR / "celery" / "queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
        # kombu's default is ./control, relative to whatever directory the process runs in.
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish that cannot reach the broker gives up quickly: the outbox row stays
# and the periodic drain delivers it later (DESIGN §8).
CELERY_BROKER_CONNECTION_TIMEOUT = envint("CELERY_BROKER_CONNECTION_TIMEOUT", 2)
# No publish retry on top of redis-py's own reconnect of a stale pooled connection:
# each retry against a frozen broker costs another socket timeout (measured: one
# retry turns a 3 s give-up into 9 s). tests/portal/test_celery_worker.py checks it.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 0, "interval_start": 0, "interval_step": 0.5}
# Rows the deadline sweep locks and handles in one transaction.
DEADLINE_SWEEP_BATCH = envint("DEADLINE_SWEEP_BATCH", 500)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "drain-outbox": {
        "task": "portal.tasks.drain_outbox",
        "schedule": timedelta(seconds=envint("OUTBOX_DRAIN_SECONDS", 60)),
    },
    "publish-audit-head": {"task": "portal.tasks.publish_audit_head", "schedule": timedelta(days=1)},
    "sweep-deadlines": {
        "task": "portal.tasks.sweep_deadlines",
        "schedule": timedelta(seconds=envint("DEADLINE_SWEEP_SECONDS", 300)),
    },
    # One email per user from the notifications they moved to the daily digest.
    "send-digests": {
        "task": "portal.tasks.send_digests",
        "schedule": crontab(minute=0, hour=envint("DIGEST_HOUR", 7)),
    },
    # The transparency report's rollups (staff can also refresh them on demand).
    "refresh-report-rollups": {
        "task": "certification.transparency.tasks.refresh_report_rollups",
        "schedule": crontab(minute=30, hour=envint("REPORT_REFRESH_HOUR", 2)),
    },
}
# The static signed registry export (certification/certificates/export.py): written into this
# local directory (a CDN origin, or synced to a bucket) after every status change, at most once
# per REGISTRY_EXPORT_DEBOUNCE_SECONDS, and re-signed by beat well before its revocation list's
# next_update (REGISTRY_EXPORT_VALIDITY_SECONDS after it was issued). Unset: no export.
REGISTRY_EXPORT_DIR = env("REGISTRY_EXPORT_DIR")
REGISTRY_EXPORT_VALIDITY_SECONDS = envint("REGISTRY_EXPORT_VALIDITY_SECONDS", 3600)
REGISTRY_EXPORT_DEBOUNCE_SECONDS = envint("REGISTRY_EXPORT_DEBOUNCE_SECONDS", 10)
REGISTRY_EXPORT_KEEP = envint("REGISTRY_EXPORT_KEEP", 3)
if REGISTRY_EXPORT_DIR:
    CELERY_BEAT_SCHEDULE["refresh-registry-export"] = {
        "task": "certification.certificates.tasks.refresh_registry_export",
        "schedule": timedelta(seconds=max(60, REGISTRY_EXPORT_VALIDITY_SECONDS // 4)),
    }
# No task may run longer than the broker's visibility timeout, or Redis would hand
# the still-running (late-acknowledged) message to a second worker. The hard limit
# kills a stuck task; the outbox and the claims make the redo safe.
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 1800)
if REDIS_URL and CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must be longer than CELERY_TASK_TIME_LIMIT")

# --- Email ----------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Certification Portal <noreply@localhost>")
SERVER_EMAIL = env("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
EMAIL_HOST = env("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = envint("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "true")
    EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", "false")
    EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 20)
else:
    EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    EMAIL_FILE_PATH = str(Path(env("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))))

# --- Security ---------------------------------------------------------------------
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
# Behind a reverse proxy that terminates TLS and sets X-Forwarded-Proto.
BEHIND_PROXY = envbool("BEHIND_PROXY", "false")
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", "true")
    CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", "true")
    LANGUAGE_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", "true")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "true")
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", "true")
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "true")
    # /healthz is probed over plain HTTP by load balancers.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Content-Security-Policy (django-csp) -------------------------------------------
# Every response carries this policy (tests/portal/test_csp.py checks the exact header; the
# browser tests fail on any violation). Every script and stylesheet is a file under static/:
# no inline <script>, no on*= handler, no style= attribute, no CDN; the API docs load their
# initializer from static/js/swagger-init.js. The one relaxation is per view: /api/redoc/ accepts
# the <style> elements Redoc makes at run time (portal/urls.py, REDOC_STYLE_SRC). To relax a
# directive, prefer one view (csp.decorators.csp_update) to the whole site, write beside the
# source which page needs it and why, and update the expected policy in tests/portal/test_csp.py.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # data: for the small icons that the CSS of the self-hosted Swagger UI inlines.
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        # Also said by X_FRAME_OPTIONS; browsers that know CSP follow this one.
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# --- allauth ------------------------------------------------------------------------
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Certification Portal] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
ACCOUNT_ADAPTER = "portal.accounts.AccountAdapter"
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    # Failed sign-ins (portal.accounts.AccountAdapter): per client address across accounts,
    # and per client address + account ("key"), strictly; per account from any address only
    # at a much higher ceiling, which emails the owner. A stranger cannot lock the owner out.
    "login_failed": "10/m/ip,5/5m/key,10/h/key",
    "login_failed_account": "100/h/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reauthenticate": "10/m/user",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Certification Portal"
MFA_TOTP_TOLERANCE = 1  # a code typed as the 30-second step turns over is still accepted
MFA_ADAPTER = "portal.accounts.MFAAdapter"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "portal:dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "portal:home"

# --- REST framework and OpenAPI ---------------------------------------------------
REST_FRAMEWORK = {
    # Throttles identify clients by address: trust X-Forwarded-For only behind our own proxy,
    # otherwise anyone could dodge a throttle by sending the header.
    "NUM_PROXIES": 1 if BEHIND_PROXY else 0,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api_auth.PersonalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Token scopes (read, write, attest, staff) after the usual check: see portal/api_auth.py.
    "DEFAULT_PERMISSION_CLASSES": ["portal.api_auth.IsAuthenticatedAndMFACompliant", "portal.api_auth.TokenScopes"],
    "DEFAULT_SCHEMA_CLASS": "portal.schema.AutoSchema",  # documents every operation's error responses
    # JSON read with size and depth limits; Django's refusal of a body answered in JSON (portal/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "portal.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "portal.parsers.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "portal.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", "60/minute"),
        "user": env("API_THROTTLE_USER", "600/minute"),
        "classify": env("API_THROTTLE_CLASSIFY", "30/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Certification Portal API",
    "DESCRIPTION": "Public and authenticated API of the responsible-release certification portal.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No deep links: Swagger UI puts them as <a> inside each operation's <button> (axe: nested-interactive).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "role" or "kind" field with different choices: name them apart.
    "ENUM_NAME_OVERRIDES": {
        "AccreditationRoleEnum": "auditors.models.Accreditation.Role",
        "AccreditationKindEnum": "auditors.models.Accreditation.Kind",
        "DeclineReasonEnum": "auditors.models.Offer.DeclineReason",
        "MembershipRoleEnum": "portal.models.Membership.Role",
        # A certificate's status as read, "expired" included (computed, not stored).
        "CertificateStatusEnum": ["valid", "suspended", "revoked", "expired", "superseded"],
        "UpstreamRelationEnum": "certification.releases.models.Upstream.Relation",
        # How an upstream is named: the declaration's "kind", the verify answer's "named_by".
        "UpstreamKindEnum": "certification.releases.models.Upstream.Kind",
        "LineageFlagEnum": ["suspended", "revoked", "lower_tier"],
        "IncidentStatusEnum": "certification.certificates.models.ConcernReport.Status",
        "IncidentSeverityEnum": "certification.certificates.models.ConcernReport.Severity",
        "IncidentResolutionEnum": "certification.certificates.models.ConcernReport.Resolution",
    },
}

# --- Internationalization ---------------------------------------------------------
LANGUAGE_CODE = "en"
# Each language named in itself: the switcher offers "Français" to a reader who cannot read "French".
# Every language is switched on; a new one joins ALL_LANGUAGES with its whole catalogue (locale/<code>,
# tests/portal/test_catalogue.py) and passes the walk of every page in it (tests/portal/test_visible_text.py).
ALL_LANGUAGES = [("en", "English"), ("fr", "Français")]
LANGUAGES = ALL_LANGUAGES
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Private files (evidence, finding attachments, audit reports): outside any URL, streamed only by
# access-checking views (portal/storage.py). The local folder by default; with STORAGE_URL
# (s3://bucket/prefix) an S3-compatible bucket, credentials from boto3's usual sources
# (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the machine's role), never from settings.
PRIVATE_STORAGE_ROOT = Path(env("PRIVATE_STORAGE_ROOT", str(VAR_DIR / "private")))
MEDIA_ROOT = PRIVATE_STORAGE_ROOT
STORAGE_URL = env("STORAGE_URL")
STORAGE_ENDPOINT_URL = env("STORAGE_ENDPOINT_URL")


def private_storage_setting(url: str, endpoint_url: str = "") -> dict:
    """The "private" entry of STORAGES for a STORAGE_URL (the tests build theirs with it too)."""
    if not url:
        return {"BACKEND": "portal.storage.PrivateFileSystemStorage"}
    bucket = urlsplit(url)
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": bucket.netloc,
        "location": bucket.path.strip("/"),
        "endpoint_url": endpoint_url or None,
        # S3-compatible stores on their own endpoint (MinIO, Ceph, moto) answer path-style requests.
        "addressing_style": "path" if endpoint_url else None,
        "default_acl": None,  # the bucket's own: private; nothing is ever made public
        "file_overwrite": False,
        "max_memory_size": 1024 * 1024,  # a download being streamed spills to a temporary file past 1 MB
    }}


STORAGES["private"] = private_storage_setting(STORAGE_URL, STORAGE_ENDPOINT_URL)

# --- Portal ---------------------------------------------------------------------------
INVITATION_VALIDITY = timedelta(days=envint("INVITATION_VALIDITY_DAYS", 7))
OUTBOX_CLAIM_TIMEOUT = timedelta(minutes=10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
