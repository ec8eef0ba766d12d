"""How the API reads request bodies (``REST_FRAMEWORK`` in settings).

``JSONParser`` reads JSON through ``portal.parsing.load_json``: a body nested too deep or
not JSON is a 400 with a message in ``detail``, never a RecursionError. ``exception_handler``
answers in JSON when Django itself refuses a body (larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``:
413; too many fields or files: 400), where Django alone would send its HTML 400 page.
A 404 says DRF's translated "Not found." rather than the English of ``get_object_or_404``.
``JSONField`` is the serializer field for JSON sent as a form field.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.views import exception_handler as drf_exception_handler

from portal.parsing import ParseError, load_json

# Django's own default, for a deployment that sets DATA_UPLOAD_MAX_MEMORY_SIZE to None.
FALLBACK_MAX_BODY_BYTES = 2_621_440


def max_body_bytes() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or FALLBACK_MAX_BODY_BYTES


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = gettext_lazy("The request body is too large.")
    default_code = "request_too_large"


def _too_large() -> RequestTooLarge:
    return RequestTooLarge(_("The request body is larger than the limit of %(limit)s.")
                           % {"limit": filesizeformat(max_body_bytes())})


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the portal's limits (size: DATA_UPLOAD_MAX_MEMORY_SIZE;
    depth: ``portal.parsing.DEFAULT_MAX_DEPTH``). JSON bodies are UTF-8 (RFC 8259)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = max_body_bytes()
        data = stream.read(limit + 1) if stream is not None else b""
        try:
            return load_json(data, max_bytes=limit, allow_nan=not self.strict)
        except ParseError as exc:
            if exc.kind == ParseError.TOO_LARGE:
                raise _too_large() from None
            raise exceptions.ParseError(str(exc)) from None


class JSONField(serializers.JSONField):
    """A JSON value; sent as a form field (multipart), its text is read by ``load_json``."""

    def to_internal_value(self, data):
        if self.binary or getattr(data, "is_json_string", False):
            try:
                data = load_json(data, max_bytes=max_body_bytes())
            except ParseError as exc:
                raise serializers.ValidationError(str(exc)) from None
            return data
        return super().to_internal_value(data)


def exception_handler(exc, context):
    """DRF's handler, plus Django's refusals of a request body as JSON answers, and a 404 of
    ``get_object_or_404`` in the reader's language: Django's "No Organization matches the given
    query." is English and names a model class; DRF's "Not found." is translated."""
    if isinstance(exc, RequestDataTooBig):
        exc = _too_large()
    elif isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        exc = exceptions.ParseError(str(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    return drf_exception_handler(exc, context)
