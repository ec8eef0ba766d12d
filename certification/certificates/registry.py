"""The public registry: certificate queries, keyset pagination and the public
shapes of a certificate, shared by the pages and the JSON API (DESIGN §7, §7.1).

Only certificates are public, and a certificate exists only for a certified
application: drafts, rejected and withdrawn applications never appear here.
Lists never count their rows: a page fetches one row more than it shows to
know whether there is a next page.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from certification.certificates.models import Certificate, CertifiedArtifact
from certification.framework import tiers
from certification.releases.models import Upstream
from portal.parsing import load_json

PAGE_SIZE = 25
API_PAGE_SIZE = 50
STATUSES = ("valid", "suspended", "revoked", "expired", "superseded")
# Best first: ``verify`` reports the best status among several matches.
STATUS_RANK = {"valid": 0, "suspended": 1, "expired": 2, "superseded": 3, "revoked": 4}
SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class BadQuery(ValueError):
    """A filter or cursor that cannot be understood; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def base_queryset() -> QuerySet[Certificate]:
    # One query for everything a row shows.
    return Certificate.objects.select_related("organization", "release__ai_model", "framework_version")


# The columns ``summary`` and the registry rows read. Lists and verify load only
# these: the framework's rules (tens of kilobytes of JSON), the releases' and
# models' JSON fields and the attestation would otherwise be fetched and decoded
# once per row (measured by bench/registry_bench.py: most of a registry page).
ROW_FIELDS = (
    "id", "number", "tier", "status", "issued_at", "expires_at", "updated_at", "hub_repo_id", "hub_revision",
    "organization__name", "organization__slug", "release__version", "release__ai_model__name",
    "release__ai_model__slug", "framework_version__version",
)


def row_queryset() -> QuerySet[Certificate]:
    """``base_queryset`` restricted to ``ROW_FIELDS``: one query, small rows."""
    return base_queryset().only(*ROW_FIELDS)


# The registry page's rows as plain values (no model instances: a third of the page's time).
PAGE_ROW_VALUES = {
    "fields": ("id", "number", "tier", "status", "expires_at", "hub_repo_id"),
    "expressions": {"organization_name": F("organization__name"), "model_name": F("release__ai_model__name"),
                    "release_version": F("release__version"), "framework": F("framework_version__version")},
}


class Row(dict):
    """A registry row of plain values: ``row.number`` in Python, a dict lookup in templates.
    ``Certificate.effective_status(row)`` works on it (it reads status and expires_at)."""

    __slots__ = ()
    Status = Certificate.Status

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def effective_status(self, at: dt.datetime | None = None) -> str:
        return Certificate.effective_status(self, at)


# The widest offsets in use are UTC-12:00 and UTC+14:00; PostgreSQL refuses some larger ones.
MAX_UTC_OFFSET = dt.timedelta(hours=14)
MAX_ID = 2**63 - 1
_TIME_EXAMPLE = "2025-06-01T00:00:00Z"


def parse_time(field: str, value: str) -> dt.datetime:
    """An ISO 8601 time given by a client, in UTC (a time without offset is UTC), or
    BadQuery naming ``field``: not a time, an offset beyond +-14:00, or out of range in UTC."""
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:  # well formed but not a date, e.g. month 13
        parsed = None
    if parsed is None:
        raise BadQuery(field, _("%(field)s is an ISO 8601 time, e.g. %(example)s")
                       % {"field": field, "example": _TIME_EXAMPLE})
    if timezone.is_naive(parsed):
        return parsed.replace(tzinfo=dt.timezone.utc)
    offset = parsed.utcoffset()
    if abs(offset) > MAX_UTC_OFFSET:
        raise BadQuery(field, _("%(field)s has a UTC offset beyond +-14:00; e.g. %(example)s")
                       % {"field": field, "example": _TIME_EXAMPLE})
    try:
        return parsed.astimezone(dt.timezone.utc)
    except OverflowError:
        raise BadQuery(field, _("%(field)s is out of range (years 1 to 9999 in UTC)") % {"field": field}) from None


def _no_nul(field: str, value: str) -> str:
    # PostgreSQL cannot compare text with a NUL character (a ValueError, so a 500 without this).
    if "\x00" in value:
        raise BadQuery(field, _("%(field)s contains a NUL character") % {"field": field})
    return value


def search(params, at: dt.datetime | None = None) -> QuerySet[Certificate]:
    """Apply the registry filters: ``q``, ``organization`` (slug), ``tier``,
    ``status`` (as read, ``expired`` included), ``framework_version``, ``updated_since``,
    ``built_on`` (a certificate number, hub repository id or file sha256 of an upstream model)."""
    at = at or timezone.now()
    qs = row_queryset()
    for name in ("q", "organization", "framework_version", "built_on"):
        _no_nul(name, params.get(name) or "")
    q = (params.get("q") or "").strip()
    if q:
        qs = qs.filter(
            Q(number__iexact=q) | Q(organization__name__icontains=q) | Q(release__ai_model__name__icontains=q)
            | Q(hub_repo_id__icontains=q) | Q(release__version__iexact=q)
        )
    if params.get("organization"):
        qs = qs.filter(organization__slug=params["organization"])
    tier = params.get("tier")
    if tier:
        if tier not in ("1", "2", "3", "4"):
            raise BadQuery("tier", _("tier is 1, 2, 3 or 4"))
        qs = qs.filter(tier=int(tier))
    status = params.get("status")
    if status:
        if status not in STATUSES:
            raise BadQuery("status", _("status is one of %(statuses)s") % {"statuses": ", ".join(STATUSES)})
        qs = qs.with_effective_status(status, at)
    if params.get("framework_version"):
        qs = qs.filter(framework_version__version=params["framework_version"])
    upstream = (params.get("built_on") or "").strip()
    if upstream:
        qs = qs.filter(built_on(upstream_certificates(upstream)))
    since = params.get("updated_since")
    if since:
        qs = qs.filter(updated_at__gte=parse_time("updated_since", since))
    return qs


def upstream_certificates(value: str) -> QuerySet[Certificate]:
    """The certificates a ``built_on`` value names (a number, a hub repository id or a file's sha256),
    with every other certificate of their releases (a renewal answers for the certificate it renews)."""
    value = value.strip()
    if SHA256.fullmatch(value):
        named = Certificate.objects.filter(subjects__sha256=value.lower())
    else:
        named = Certificate.objects.filter(Q(number=value.upper()) | Q(hub_repo_id__iexact=value))
    return Certificate.objects.filter(release_id__in=named.values("release_id"))


def built_on(targets: QuerySet[Certificate]) -> Q:
    """A filter on certificates whose release declares one of ``targets`` as an upstream: by its
    number, its repository id or one of its files' sha256 (subqueries: one query in all)."""
    upstreams = Upstream.objects.annotate(repo=Lower("value")).filter(
        Q(kind=Upstream.Kind.CERTIFICATE, value__in=targets.values("number"))
        | Q(kind=Upstream.Kind.MODEL,
            repo__in=targets.exclude(hub_repo_id="").annotate(repo=Lower("hub_repo_id")).values("repo"))
        | Q(kind=Upstream.Kind.SHA256,
            value__in=CertifiedArtifact.objects.filter(certificate__in=targets).values("sha256")))
    return Q(release_id__in=upstreams.values("release_id"))


# --- keyset pagination ----------------------------------------------------------------------------


@dataclass
class Page:
    rows: list[Certificate]
    next_cursor: str | None


def _encode(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str) -> dict:
    bad = BadQuery("cursor", _("the cursor is not valid; start again from the first page"))
    try:
        data = load_json(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), max_bytes=1024, max_depth=1)
    except (binascii.Error, ValueError):
        raise bad from None
    identifier = data.get("id") if isinstance(data, dict) else None
    if type(identifier) is not int or not 0 <= identifier <= MAX_ID:
        raise bad
    return data


def paginate(qs: QuerySet[Certificate], cursor: str | None, size: int, change_feed: bool = False,
             values: dict | None = None) -> Page:
    """Newest first on the id; or, for the change feed (``updated_since``), oldest
    change first on (updated_at, id) so an integrator can resume where it stopped.
    With ``values`` (``PAGE_ROW_VALUES``) the rows are ``Row`` dicts, not certificates."""
    if change_feed:
        qs = qs.order_by("updated_at", "id")
        if cursor:
            data = _decode(cursor)
            try:
                at = parse_time("cursor", str(data.get("u", "")))
            except BadQuery:
                raise BadQuery("cursor", _("the cursor is not valid; start again from the first page")) from None
            qs = qs.filter(Q(updated_at__gt=at) | Q(updated_at=at, id__gt=data["id"]))
    else:
        qs = qs.order_by("-id")
        if cursor:
            qs = qs.filter(id__lt=_decode(cursor)["id"])
    if values:
        if change_feed:
            raise ValueError("the change feed pages certificates, not values")
        rows = [Row(r) for r in qs.values(*values["fields"], **values["expressions"])[: size + 1]]
    else:
        rows = list(qs[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = _encode({"id": last.id, "u": last.updated_at.isoformat()} if change_feed else {"id": last.id})
    return Page(rows, next_cursor)


# --- public shapes ---------------------------------------------------------------------------------


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def summary(cert: Certificate, at: dt.datetime | None = None) -> dict:
    """The public fields of a certificate that need no query beyond ``base_queryset``."""
    from django.urls import reverse

    model = cert.release.ai_model
    return {
        "number": cert.number,
        "status": cert.effective_status(at),
        "tier": cert.tier,
        "framework_version": cert.framework_version.version,
        "organization": {"name": cert.organization.name, "slug": cert.organization.slug},
        "model": {"name": model.name, "slug": model.slug, "hub_repo_id": cert.hub_repo_id},
        "release": {"version": cert.release.version, "hub_revision": cert.hub_revision},
        "issued_at": iso(cert.issued_at),
        "expires_at": iso(cert.expires_at),
        "updated_at": iso(cert.updated_at),
        "url": settings.SITE_URL + reverse("certification:certificate-detail", args=[cert.number]),
    }


def detail(cert: Certificate, at: dt.datetime | None = None) -> dict:
    """The ``GET /api/v1/certificates/<number>/`` body; the attestation is the
    stored envelope, parsed (its payload stays the signed base64)."""
    data = summary(cert, at)
    data["artifacts"] = [{"path": s.path, "size": s.size, "sha256": s.sha256} for s in cert.subjects.all()]
    envelope = bytes(cert.attestation) if cert.attestation is not None else None
    data["attestation"] = json.loads(envelope) if envelope else None
    return data


def last_modified(certs, at: dt.datetime | None = None) -> dt.datetime | None:
    """The latest change of what these rows show: a status change, or the moment
    a certificate expired (expiry changes the status without a write)."""
    at = at or timezone.now()
    times = []
    for cert in certs:
        times.append(cert.updated_at)
        if cert.expires_at <= at:
            times.append(cert.expires_at)
    return max(times) if times else None


# --- verify -----------------------------------------------------------------------------------------


def verify_lookup(certificate: str = "", sha256: str = "", model: str = "") -> list[Certificate]:
    """Certificates matching one of: a number, an artifact sha256, a hub repo id
    with an optional ``@revision``. One query each (the attestation is not loaded)."""
    qs = row_queryset()
    for name, value in (("certificate", certificate), ("sha256", sha256), ("model", model)):
        _no_nul(name, value or "")
    if certificate:
        # Unique: no ORDER BY (the model's default ordering costs planning time here).
        return list(qs.filter(number=certificate.strip().upper()).order_by())
    if sha256:
        value = sha256.strip().lower()
        if not SHA256.fullmatch(value):
            raise BadQuery("sha256", _("sha256 is 64 hexadecimal digits"))
        return list(qs.filter(subjects__sha256=value).distinct().order_by("-id"))
    if model:
        repo, _sep, revision = model.strip().partition("@")
        if not repo:
            raise BadQuery("model", _("model is a hub repository id such as acme/acme-7b, optionally @revision"))
        qs = qs.filter(hub_repo_id__iexact=repo)
        if revision:
            qs = qs.filter(hub_revision=revision)
        return list(qs.order_by("-id"))
    raise BadQuery("certificate", _("give one of certificate, sha256 or model"))


def verify_result(certs: list[Certificate], at: dt.datetime | None = None) -> dict:
    at = at or timezone.now()
    summaries = [summary(c, at) for c in certs]
    statuses = sorted((s["status"] for s in summaries), key=STATUS_RANK.__getitem__)
    best = statuses[0] if statuses else "not_found"
    return {"verified": best == "valid", "status": best, "certificates": summaries}


# --- the public model card --------------------------------------------------------------------------

# Requirements of these kinds are shown only to engaged auditors and enrolled evaluators
# (DESIGN §6), never in public.
PRIVATE_KINDS = {"access_instructions"}


def private_sections(rules: dict) -> set[str]:
    """The ids of the version's sections that stay private."""
    return {r["id"] for r in rules.get("requirements", []) if tiers.check_kind(r) in PRIVATE_KINDS}


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _value(value) -> dict:
    if isinstance(value, bool):
        return {"text": "yes" if value else "no"}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        headers = list(dict.fromkeys(k for v in value for k in v))
        return {"table": {"headers": [_label(h) for h in headers],
                          "rows": [[_text(v.get(h)) for h in headers] for v in value]}}
    if isinstance(value, dict):
        return {"pairs": [(_label(k), _text(v)) for k, v in value.items()]}
    return {"text": _text(value)}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{_label(k)}: {_text(v)}" for k, v in value.items())
    return str(value)


def public_sections(content: dict, rules: dict) -> list[dict]:
    """Every documentation section of the frozen revision, in the framework's
    order, as titled label/value rows for the certificate page."""
    titles = {r["id"]: r["title"] for r in rules.get("requirements", [])}
    order = [r["id"] for r in rules.get("requirements", [])]
    sections = content.get("sections", {}) or {}
    keys = [k for k in order if k in sections] + sorted(k for k in sections if k not in order)
    private = private_sections(rules)
    result = []
    for key in keys:
        if key in private or not sections[key]:
            continue
        data = sections[key]
        fields = [{"label": _label(k), **_value(v)} for k, v in data.items()] if isinstance(data, dict) else [
            {"label": "", **_value(data)}]
        result.append({"id": key, "title": titles.get(key, _label(key)), "fields": fields})
    return result
