"""Personal API tokens for DRF, and the default permission."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from portal.models import ApiToken, hash_secret


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer rrp_...`` (or ``Token rrp_...``)."""

    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header.")
        raw = header[1].decode(errors="replace")
        token = (
            ApiToken.objects.active().select_related("user").filter(key_hash=hash_secret(raw)).first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        # At most one write a minute per token keeps reads cheap.
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return "Bearer"


class IsAuthenticatedAndMFACompliant(permissions.IsAuthenticated):
    """Signed in; staff and auditors also need TOTP set up."""

    message = "Authentication required; staff and auditors must set up two-factor authentication."

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        user = request.user
        return not (user.requires_mfa and not user.has_mfa)


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api_auth.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token created at /account/tokens/ (shown once).",
        }
