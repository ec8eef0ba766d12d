"""``Idempotency-Key`` for state-changing API requests (POST, PUT, PATCH, DELETE under /api/).

A CI pipeline that retries after a timeout must not file twice. The first request with a key
claims it (a row, unique per user and key) before its view runs; a retry by the same user (token
or session) with the same key gets the first response back, byte for byte, with
``Idempotent-Replayed: true``, and nothing runs again:

- same key, another method, path or body: 422, the first request is named;
- same key while the first request still runs: 409, retry later (the unique constraint makes two
  concurrent requests unable to both claim the key, so the view never runs twice);
- a refused or failed first request (status 400 and above) keeps nothing: it changed nothing, so
  the client may fix the cause and retry with the same key;
- keys are kept ``KEEP`` (24 hours); a user's older keys are deleted when they send a new one.

A JSON body is compared as JSON (key order and spacing do not matter). A multipart body (an
upload) is not read here, as the view may limit how uploads are read: its key covers the method
and path only. Anonymous requests are not tracked.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, models, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.parsing import ParseError, load_json

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEEP = timedelta(hours=24)
MAX_KEY_LENGTH = 255
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_PREFIX = "/api/"
# Response headers a replay repeats besides the body and its type.
KEPT_HEADERS = ("Location",)


class IdempotencyKey(models.Model):
    """A claimed key and, once its request finished, the response to replay."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=MAX_KEY_LENGTH)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    fingerprint = models.CharField(max_length=64, help_text=gettext_lazy("sha256 of method, path and body"))
    created_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text=gettext_lazy("Empty while the "
                                                                                                 "request runs"))
    content_type = models.CharField(max_length=200, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    body = models.BinaryField(default=b"", blank=True)

    class Meta:
        app_label = "portal"
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]
        indexes = [models.Index(fields=["user", "created_at"], name="idempotency_key_user_created")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and all("!" <= ch <= "~" for ch in key)


def fingerprint(request) -> str:
    """sha256 of the method, the path with its query and the body (JSON compared as JSON)."""
    digest = hashlib.sha256(f"{request.method} {request.get_full_path()}\n".encode())
    if request.content_type == "multipart/form-data":
        return digest.hexdigest()
    body = request.body  # RequestDataTooBig over DATA_UPLOAD_MAX_MEMORY_SIZE: the caller passes
    if request.content_type == "application/json":
        try:
            value = load_json(body, max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        except ParseError:
            pass  # not JSON (or too deep or large): the view answers 400, compare the bytes
        else:
            body = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    digest.update(body)
    return digest.hexdigest()


def request_user(request):
    """Who sends the request, as the API will see it: a personal token first, then the session.
    None for an anonymous request or an invalid token (the API answers 401 itself)."""
    from rest_framework.exceptions import AuthenticationFailed

    from portal.api_auth import PersonalTokenAuthentication

    try:
        found = PersonalTokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return None
    if found is not None:
        return found[0]
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def _problem(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def claim(user, key: str, request, print_: str) -> tuple[IdempotencyKey | None, HttpResponse | None]:
    """Claim ``key`` for this request (the row), or the response to send instead: the replay, 409 or 422."""
    now = timezone.now()
    IdempotencyKey.objects.filter(user=user, created_at__lt=now - KEEP).delete()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                user=user, key=key, method=request.method, path=request.get_full_path()[:2000],
                fingerprint=print_, created_at=now,
            ), None
    except IntegrityError:
        pass
    first = IdempotencyKey.objects.filter(user=user, key=key).first()
    if first is None:  # released by its request a moment ago
        return None, _problem(409, _("A request with this Idempotency-Key just finished without a result to "
                                     "replay; send it again."))
    if first.fingerprint != print_:
        return None, _problem(422, _(
            "This Idempotency-Key was already used for another request (%(method)s %(path)s); "
            "use a new key for a new request."
        ) % {"method": first.method, "path": first.path})
    if first.status_code is None:
        return None, _problem(409, _("A request with this Idempotency-Key is still being processed; retry later."))
    return None, replay(first)


def replay(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(record.body), status=record.status_code, content_type=record.content_type or None)
    for name, value in record.headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def finish(record: IdempotencyKey, response: HttpResponse) -> None:
    """Keep a successful response for replays; release the key of anything else."""
    if response.streaming or response.status_code >= 400:
        record.delete()
        return
    record.status_code = response.status_code
    record.content_type = response.get("Content-Type", "")
    record.headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
    record.body = response.content
    record.save(update_fields=["status_code", "content_type", "headers", "body"])


class IdempotencyMiddleware:
    """Applies ``Idempotency-Key`` to state-changing API requests (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get(HEADER)
        if key is None or request.method not in UNSAFE_METHODS or not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if not valid_key(key):
            return _problem(400, _("The Idempotency-Key header must be 1 to %(n)d visible ASCII characters "
                                   "(a UUID is a good key).") % {"n": MAX_KEY_LENGTH})
        user = request_user(request)
        if user is None:
            return self.get_response(request)
        try:
            print_ = fingerprint(request)
        except RequestDataTooBig:
            return self.get_response(request)  # the API refuses the body (413): nothing to keep
        record, answer = claim(user, key, request, print_)
        if answer is not None:
            return answer
        try:
            response = self.get_response(request)
        except BaseException:
            record.delete()
            raise
        finish(record, response)
        return response
