"""The OpenAPI schema's error responses, documented once for every operation.

``AutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``) adds to each operation the errors
it can really answer, with the bodies DRF sends (``portal.parsers.exception_handler``):

- 400 ``ValidationError`` on every write (a service refuses a transition with its reason under
  the field concerned, ``non_field_errors`` otherwise) and where there is a query parameter other
  than pagination: ``{"field": ["message"]}`` (nested for nested input), or ``{"detail": "..."}``
  for a body that is not JSON;
- 401 ``ErrorDetail`` where an authenticator runs (a wrong token is refused even on a public
  operation), 403 where a permission or CSRF can refuse;
- 404 where there is a path parameter or a cursor (DRF answers an invalid cursor with 404);
- 413 and 415 where there is a request body; 429 where a throttle applies.

An error an operation documents itself (``extend_schema(responses={...})``) is kept as is.
``tests/portal/test_api_fuzz.py`` checks the result against the running API.
"""

from __future__ import annotations

import uritemplate
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny

# Query parameters of the pagination classes: a bad value is ignored (page_size) or a 404 (cursor).
PAGINATION_PARAMETERS = {"cursor", "page_size"}
BODY_METHODS = {"POST", "PUT", "PATCH"}
WRITE_METHODS = BODY_METHODS | {"DELETE"}


class ErrorDetailSerializer(serializers.Serializer):
    """DRF's body for every error but a validation error."""

    detail = serializers.CharField()


class ValidationErrorSerializer(serializers.Serializer):
    """DRF's body for a 400: messages keyed by field (mapped by ``ValidationErrorSchema``)."""


class ValidationErrorSchema(OpenApiSerializerExtension):
    """Field errors have the input's field names as keys: a free object of message lists."""

    target_class = ValidationErrorSerializer

    def map_serializer(self, auto_schema, direction):
        messages = {"type": "array", "items": {"type": "string"}}
        return {
            "type": "object",
            "description": "Messages keyed by the input field at fault (`non_field_errors` for the input as a "
                           "whole); nested objects and lists for nested input. A body that cannot be parsed "
                           "gets `detail` instead.",
            "properties": {"detail": {"type": "string"}, "non_field_errors": messages},
            "additionalProperties": {
                "anyOf": [messages, {"type": "object"}, {"type": "array", "items": {"type": "object"}}],
            },
        }


def _error(description: str, serializer=ErrorDetailSerializer) -> OpenApiResponse:
    return OpenApiResponse(serializer, description=description)


ERRORS = {
    "400": _error("Invalid input, keyed by field.", ValidationErrorSerializer),
    "401": _error("Not signed in, or the API token is invalid or revoked."),
    "403": _error("Signed in but not allowed (role, two-factor setup, CSRF)."),
    "404": _error("No such object, or not visible to you (other organizations' objects are 404)."),
    "409": _error("A request with the same Idempotency-Key is still being processed; retry later."),
    "413": _error("The request body is larger than the limit."),
    "415": _error("The request's Content-Type is not accepted."),
    "422": _error("The Idempotency-Key was used for another request (method, path or body)."),
    "429": _error("Too many requests; retry after the Retry-After header."),
}

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description=gettext_lazy("Any unique string (e.g. a UUID). A retry with the same key within 24 hours returns the "
                             "first result (header Idempotent-Replayed: true) and changes nothing."),
)


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema plus the error responses the operation can return, and the
    Idempotency-Key header on every state-changing operation (portal/idempotency.py)."""

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method in WRITE_METHODS and getattr(self.view, "authentication_classes", []):
            parameters.append(IDEMPOTENCY_KEY)  # keys belong to a user: anonymous requests have none
        return parameters

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in sorted(self.error_codes(operation)):
            if code not in responses:
                responses[code] = self._get_response_for_code(ERRORS[code], code)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def error_codes(self, operation: dict) -> set[str]:
        view = self.view
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        has_body = self.method in BODY_METHODS and "requestBody" in operation
        authenticators = list(getattr(view, "authentication_classes", []))
        public = all(issubclass(p, AllowAny) for p in getattr(view, "permission_classes", []))
        codes = set()
        if self.method in WRITE_METHODS or query - PAGINATION_PARAMETERS:
            codes.add("400")
        if self.method in WRITE_METHODS and authenticators:
            codes.update({"409", "422"})
        if authenticators:
            codes.add("401")
        if not public or (has_body and any(issubclass(a, SessionAuthentication) for a in authenticators)):
            codes.add("403")
        if uritemplate.variables(self.path) or "cursor" in query:
            codes.add("404")
        if has_body:
            codes.update({"413", "415"})
        if getattr(view, "throttle_classes", []):
            codes.add("429")
        return codes
