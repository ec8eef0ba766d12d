"""Cached verify answers before the rest of the middleware stack.

A hit of ``/api/v1/verify/`` in the shared cache (``verify_cache``) is the same bytes for
everyone: no session, user, language, messages or CSRF token plays a part in it. Listed right
after the security and CSP middleware (``MIDDLEWARE`` in portal/settings.py), this answers such
a hit with those headers set and skips the rest (sessions, locale, authentication, messages...),
which cost most of a hit's time. The host is still checked against ``ALLOWED_HOSTS``. A miss,
or any other request, goes on down the stack, and the verify view reuses the read made here.
"""

from __future__ import annotations

from django.urls import reverse

from certification.certificates.api import read_verify_cache, verify_response


class VerifyCacheMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.path = None

    def __call__(self, request):
        if self.path is None:
            self.path = reverse("registry-api:verify")
        if request.path_info == self.path and request.method == "GET":
            request.get_host()  # DisallowedHost (a 400) for a host the portal does not serve
            cache_read = read_verify_cache(request)
            if cache_read is not None and cache_read.answer is not None:
                return verify_response(request, cache_read.answer)
            request.verify_cache_read = cache_read
        return self.get_response(request)
