"""A database or cache outage answered as 503 with ``Retry-After`` (issue 13 §5), never a 500.

PostgreSQL restarting, refusing connections or dropping them, and the Redis cache (rate limits,
TOTP "code used" marks) being unreachable are passing conditions: the person may simply try
again. Pages get ``templates/503.html``, rendered without context processors (they would query
the database that is down); ``/api/`` gets a JSON body like DRF's errors. Each one is logged.

The middleware sits above the session and authentication middleware, not at the end of the
list: loading the session or the user (the time-zone and MFA middleware do) is often the first
query of a request, and an exception raised in a middleware never reaches ``process_exception``.
Django turns it into a 500 where it happens; ``got_request_exception`` marks the request with
the outage and ``__call__`` replaces that 500 on the way out. Views' exceptions are caught
earlier by ``process_exception``. Django reconnects by itself on the next request
(``CONN_HEALTH_CHECKS`` in settings), so nothing needs restarting.
"""

from __future__ import annotations

import logging
import sys

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils import translation
from django.utils.translation import gettext as _
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
CACHE_ERRORS = (RedisConnectionError, RedisTimeoutError)
OUTAGE_ERRORS = DATABASE_ERRORS + CACHE_ERRORS
RETRY_AFTER_SECONDS = 30


def is_outage(exc: BaseException | None) -> bool:
    return isinstance(exc, OUTAGE_ERRORS)


def outage_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The 503 for ``request``: JSON under /api/, the HTML page elsewhere."""
    service = "database" if isinstance(exc, DATABASE_ERRORS) else "cache"
    log.error("503 for %s %s: the %s is unavailable (%s: %s)", request.method, request.path, service,
              type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    # Above LocaleMiddleware: the reader's language from the cookie or Accept-Language (no database).
    with translation.override(translation.get_language_from_request(request)):
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({
                "detail": _("The service is briefly unavailable. Try again in %(n)s seconds.")
                % {"n": RETRY_AFTER_SECONDS},
                "code": "service_unavailable",
            }, status=503)
        else:
            html = loader.get_template("503.html").render({"retry_after": RETRY_AFTER_SECONDS})
            response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


@receiver(got_request_exception, dispatch_uid="portal.outages.mark")
def _mark_outage(sender, request=None, **kwargs) -> None:
    """Remember an outage that a middleware raised (Django answers it with a 500 on the spot)."""
    exc = sys.exc_info()[1]
    if request is not None and is_outage(exc):
        request._portal_outage = exc


class OutageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = self.get_response(request)
        except OUTAGE_ERRORS as exc:
            # Raised while Django rendered the 500 of an earlier one (its handler failed too).
            return outage_response(request, exc)
        exc = getattr(request, "_portal_outage", None)
        if exc is not None and response.status_code == 500:
            return outage_response(request, exc)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_outage(exception):
            return outage_response(request, exception)
        return None
