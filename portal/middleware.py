"""Per-request user time zone, and the MFA requirement for staff and auditors."""

from __future__ import annotations

import zoneinfo

from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

# While a staff member or auditor has no TOTP authenticator, only these stay open.
MFA_SETUP_ALLOWED_PREFIXES = (
    "/accounts/2fa/",
    "/accounts/logout/",
    "/accounts/reauthenticate/",
    "/static/",
    "/healthz",
    "/i18n/",
)


class UserLanguageMiddleware:
    """A signed-in user's saved language (``User.language``) over the browser's: LocaleMiddleware,
    above, runs before the user is known and picks the language cookie or Accept-Language; this
    one, after authentication, replaces it when the user chose one. Its ``Content-Language``
    and ``Vary`` are set on the way out by LocaleMiddleware, with the language active here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        chosen = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
        if chosen and chosen != request.LANGUAGE_CODE and translation.check_for_language(chosen):
            translation.activate(chosen)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


class UserTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        tz_name = getattr(user, "time_zone", None) if user is not None and user.is_authenticated else None
        if tz_name:
            try:
                timezone.activate(zoneinfo.ZoneInfo(tz_name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            # The zone is thread-local: do not let it leak into whatever this thread runs next.
            timezone.deactivate()


class MFARequiredMiddleware:
    """Staff and auditors reach only MFA setup and logout until they enrol (DESIGN §3)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(MFA_SETUP_ALLOWED_PREFIXES)
            and user.requires_mfa
            and not user.has_mfa
        ):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"detail": _("Set up two-factor authentication before using the portal.")}, status=403
                )
            return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)
