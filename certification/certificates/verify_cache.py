"""The cached verify path (issue 15 §2): ``GET /api/v1/verify/`` answered from the shared cache
(Redis in production) after the first request.

Model hubs and download tools verify at every download, mostly the same few digests; the answer
changes only when a certificate changes status, or when one expires. So:

- Every lookup (a number, a sha256, a hub repository id) has a **version token** in the cache. A
  cached answer records the token it was computed under and counts only while the token is
  unchanged. ``invalidate(cert)`` replaces the tokens of the certificate's number, of each of its
  files' sha256 and of its hub repository id: at once, and again after the transaction commits (a
  request between the two may have read the old rows and cached them under the first new token).
  A token is random, so one evicted from the cache comes back as a new one and never revives an
  old answer.
- An answer's lifetime ends **before** the earliest ``expires_at`` of a certificate it lists that
  has not expired yet (expiry changes the status without a write), and the answer is checked
  against the clock when read, not only by the cache's own timeout.
- Answers are stored as the bytes sent, with their ETag (a hash of the bytes), so a hit is one
  cache round trip and no SQL; a client that has the bytes gets a 304. The API serves a hit
  before DRF and its per-address throttle (``api.verify_view``): the throttle guards the
  database, and a hit costs it nothing.
- The cache is an accelerator, never a gate: with Redis unreachable a lookup is answered from
  the database and a status change still commits (the failed invalidation is logged; answers
  cached before it end within ENTRY_SECONDS, and Redis restarted without persistence holds none).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Callable
from typing import NamedTuple

from django.core.cache import cache
from django.db import transaction

from certification.certificates.models import Certificate, CertifiedArtifact
from portal.outages import CACHE_ERRORS

log = logging.getLogger(__name__)

# How long an answer may stay in the shared cache at most (the invalidation makes it exact;
# the limit only bounds what an organization's rename or a lost invalidation could leave).
ENTRY_SECONDS = 300
# A version token outlives every answer computed under it.
VERSION_SECONDS = ENTRY_SECONDS + 60
# What clients and proxies may keep without asking again (never past an expiry).
MAX_AGE = 60
PREFIX = "verify:v1"


class Answer(NamedTuple):
    """A verify answer as sent; times are Unix seconds."""

    body: bytes
    etag: str
    last_modified: float | None
    # When the answer stops counting: the earliest expiry of a listed certificate not yet
    # expired when it was computed, or None when nothing listed will expire.
    next_expiry: float | None

    def max_age(self, now: float) -> int:
        """Seconds a client may keep the answer: MAX_AGE, never beyond the next expiry."""
        if self.next_expiry is None:
            return MAX_AGE
        return max(0, min(MAX_AGE, math.floor(self.next_expiry - now)))


def _digest(value: str) -> str:
    # Keys from client input: hashed, so any length or character makes a valid cache key.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _version_key(kind: str, value: str) -> str:
    return f"{PREFIX}:version:{kind}:{_digest(value)}"


def lookup_keys(kind: str, value: str) -> tuple[str, str] | None:
    """(version key, answer key) of a verify request, normalized as ``registry.verify_lookup``
    matches; None when the request is not cached (a hub repository id outside ASCII: the
    database's case-insensitive match and Python's may disagree on it)."""
    value = value.strip()
    if kind == "certificate":
        version = _version_key("certificate", value.upper())
        return version, version.replace(":version:", ":answer:", 1)
    if kind == "sha256":
        version = _version_key("sha256", value.lower())
        return version, version.replace(":version:", ":answer:", 1)
    if kind == "model":
        repo, _sep, revision = value.partition("@")
        if not repo.isascii():
            return None
        # One version for every revision of the repository: a change invalidates them all.
        return _version_key("model", repo.lower()), f"{PREFIX}:answer:model:{_digest(repo.lower() + '@' + revision)}"
    raise ValueError(kind)


Compute = Callable[[dt.datetime], tuple[bytes, list[Certificate], float | None]]


class Read(NamedTuple):
    """What the cache holds for one lookup: its keys (None: not cached), version token and
    current answer (None: a miss)."""

    keys: tuple[str, str] | None
    token: str | None
    answer: Answer | None


def read(kind: str, value: str) -> Read:
    """The lookup's version token and its stored answer if current: one cache round trip, no SQL."""
    keys = lookup_keys(kind, value)
    if keys is None:
        return Read(None, None, None)
    version_key, answer_key = keys
    try:
        found = cache.get_many(keys)
    except CACHE_ERRORS as exc:
        log.warning("verify cache unavailable, answering from the database: %s", exc)
        return Read(None, None, None)
    token, stored = found.get(version_key), found.get(answer_key)
    if token is None or stored is None or stored[0] != token:
        return Read(keys, token, None)
    current = Answer(*stored[1:])
    if current.next_expiry is not None and time.time() >= current.next_expiry:
        return Read(keys, token, None)
    return Read(keys, token, current)


def answer(kind: str, value: str, compute: Compute, known: Read | None = None) -> Answer:
    """The verify answer for one lookup, from the cache when it holds a current one.

    1. ``read`` the lookup (or take ``known``, a read just made): a stored answer under the
       current token and not past its next expiry is the answer.
    2. Otherwise make sure a token exists (before the database is read, so that a status change
       committed meanwhile replaces it and the answer computed here is never served).
    3. ``compute(at)`` runs the query and returns the body bytes (statuses as at ``at``), the
       certificates listed and their Last-Modified; its errors (a bad parameter) go to the caller.
    4. Store the answer under the token, for at most ENTRY_SECONDS and ending before the
       earliest expiry among the listed certificates.
    """
    keys, token, current = known or read(kind, value)
    if current is not None:
        return current
    if keys is None:
        return _computed(compute, time.time())
    version_key, answer_key = keys
    if token is None:
        token = secrets.token_hex(8)
        if not cache.add(version_key, token, VERSION_SECONDS):
            token = cache.get(version_key)
    now = time.time()
    result = _computed(compute, now)
    lifetime = ENTRY_SECONDS if result.next_expiry is None else min(ENTRY_SECONDS, result.next_expiry - now)
    # Whole seconds, rounded down: the cache drops the entry no later than the next expiry.
    if token is not None and lifetime >= 1:
        cache.set(answer_key, (token, *result), int(lifetime))
    return result


def _computed(compute: Compute, now: float) -> Answer:
    body, certs, last_modified = compute(dt.datetime.fromtimestamp(now, tz=dt.timezone.utc))
    # Only a valid certificate changes status by expiring.
    expiries = [c.expires_at.timestamp() for c in certs
                if c.status == Certificate.Status.VALID and c.expires_at.timestamp() > now]
    etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
    return Answer(body, etag, last_modified, min(expiries) if expiries else None)


# --- invalidation ------------------------------------------------------------------------------------


def version_keys(cert: Certificate) -> list[str]:
    """The version keys of every lookup that can list ``cert``: its number, its files' sha256
    and its hub repository id (every revision). One query, for the files."""
    keys = [_version_key("certificate", cert.number.upper())]
    digests = CertifiedArtifact.objects.filter(certificate_id=cert.pk).values_list("sha256", flat=True)
    keys += [_version_key("sha256", digest.lower()) for digest in set(digests)]
    if cert.hub_repo_id:
        keys.append(_version_key("model", cert.hub_repo_id.lower()))
    return keys


def _bump(keys: list[str]) -> None:
    try:
        cache.set_many({key: secrets.token_hex(8) for key in keys}, VERSION_SECONDS)
    except CACHE_ERRORS as exc:
        log.error("verify cache invalidation lost for %d lookups (answers cached before it end within %d s): %s",
                  len(keys), ENTRY_SECONDS, exc)


def invalidate(cert: Certificate) -> None:
    """After a status change of ``cert`` (issue, suspend, reinstate, revoke, supersede): no
    cached answer that lists it, or would now list it, is served again. New tokens now (the
    transaction's own reads and the tests see the change) and after commit (see the module)."""
    keys = version_keys(cert)
    _bump(keys)
    transaction.on_commit(lambda: _bump(keys))
