"""Personal API tokens for DRF, the default permission, and token scopes.

Scopes (``TokenScopes``, in DEFAULT_PERMISSION_CLASSES): a request authenticated by a token needs
``read`` for a safe method and ``write`` for the others, unless its view, or its viewset action,
names another with ``token_scope = "staff"`` or ``"attest"`` (a class attribute, or an attribute of
the action function: ``@requires_scope("staff")``). The browser session is not limited by scopes."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
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
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        raw = header[1].decode(errors="replace")
        token = (
            ApiToken.objects.filter(revoked_at__isnull=True).select_related("user")
            .filter(key_hash=hash_secret(raw)).first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        if token.is_expired:
            raise exceptions.AuthenticationFailed(_("This token has expired; create a new one at /account/tokens/."))
        # At most one write a minute per token keeps reads cheap.
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return "Bearer"


class IsAuthenticatedAndMFACompliant(permissions.IsAuthenticated):
    """Signed in; staff and auditors also need TOTP set up."""

    message = gettext_lazy("Authentication required; staff and auditors must set up two-factor authentication.")

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        user = request.user
        return not (user.requires_mfa and not user.has_mfa)


def requires_scope(scope: str):
    """Mark a view method or viewset action as needing ``scope`` instead of read/write."""
    if scope not in ApiToken.SCOPES:
        raise ValueError(f"unknown token scope {scope!r}")

    def decorate(func):
        func.token_scope = scope
        return func

    return decorate


def required_scope(request, view) -> str:
    """The scope a token needs for this request: the action's, the view's, else read or write."""
    handler = getattr(view, getattr(view, "action", None) or "", None) or getattr(
        view, request.method.lower(), None
    )
    scope = getattr(handler, "token_scope", None) or getattr(view, "token_scope", None)
    if scope:
        return scope
    return ApiToken.READ if request.method in permissions.SAFE_METHODS else ApiToken.WRITE


class TokenScopes(permissions.BasePermission):
    """A token does only what its scopes allow; a session (the browser) is not limited by them."""

    def has_permission(self, request, view):
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        scope = required_scope(request, view)
        if scope in token.scopes:
            return True
        self.message = _(
            "This token lacks the '%(scope)s' scope needed for %(method)s on this endpoint (it has: %(scopes)s). "
            "Create a token with the '%(scope)s' scope at /account/tokens/."
        ) % {"scope": scope, "method": request.method, "scopes": ", ".join(token.scopes) or _("none")}
        return False


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api_auth.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token created at /account/tokens/ (shown once).",
        }
