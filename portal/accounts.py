"""allauth glue: adapters, the anonymizing account deletion, and MFA helpers."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from types import SimpleNamespace
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.models import EmailAddress
from allauth.account.utils import filter_users_by_email
from allauth.core.internal import ratelimit
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from portal import audit
from portal.models import STAFF_GROUP, ApiToken, Membership, User, hash_secret

log = logging.getLogger(__name__)

# Failed sign-ins are counted in the shared cache by allauth's rate limiter, under two actions
# of ACCOUNT_RATE_LIMITS: "login_failed" (strict: per client address, and per client address +
# account) and LOGIN_FAILED_ACCOUNT (a much higher ceiling per account, from any address).
# A stranger's wrong passwords therefore lock only the stranger's address out of the account;
# only many failures from many addresses lock the account itself, and that emails the owner.
LOGIN_FAILED_ACCOUNT = "login_failed_account"
LOGIN_THROTTLED_KIND = "login-throttled"
_RL_APP = "allauth.account"


def _login_of(credentials: dict) -> str:
    """The account a sign-in names, as allauth normalizes it (the address, lower-cased)."""
    return (credentials.get("email") or credentials.get("username") or credentials.get("phone") or "").lower()


def _throttle_notice_key(login: str) -> str:
    return "portal:login-throttled:" + hashlib.sha256(login.encode()).hexdigest()


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # Without django.contrib.sites allauth names the site after the request's
        # host ("Hello from localhost!"); name it after the portal instead.
        site = SimpleNamespace(name=settings.SITE_NAME, domain=urlsplit(settings.SITE_URL).netloc)
        super().send_mail(template_prefix, email, {**context, "current_site": site})

    # --- client address and failed sign-in throttling -----------------------------------

    def get_client_ip(self, request) -> str:
        """The address the audit log records (behind our proxy: the last X-Forwarded-For hop),
        so allauth's per-address rate limits count clients, not the proxy."""
        ip = audit.client_ip(request)
        if ip is None:
            return super().get_client_ip(request)
        address = ipaddress.ip_address(ip)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # allauth truncates IPv6 addresses to their /64, which would lump every
            # IPv4-mapped client together: count them as the IPv4 address they are.
            return str(address.ipv4_mapped)
        return ip

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        # The "key" of allauth's login_failed limit (its default is host + login, which
        # let anyone lock the account for everyone): client address + login. The host is
        # left out on purpose, since a client chooses the Host header (and its port).
        return f"{ratelimit.get_ip(request)}:{_login_of(credentials)}"

    def pre_authenticate(self, request, **credentials) -> None:
        # Strict limits first: an address refused there does not count against the account.
        super().pre_authenticate(request, **credentials)
        login = _login_of(credentials)
        usage = ratelimit.consume(request, app=_RL_APP, action=LOGIN_FAILED_ACCOUNT, key=login)
        if not usage:
            # No password was tried, so this is no failure of this address: give its share
            # back, or an owner retrying during the lock would lock their own address too.
            self._rollback_login_failed_rl_usage()
            self._account_throttled(request, login)
            raise self.validation_error("too_many_login_attempts")
        # allauth rolls this usage back when the password is right (a successful sign-in
        # is not a failure); the account's share goes back with it.
        self._login_failed_rl_usage.usage.extend(usage.usage)

    def authentication_failed(self, request, **credentials) -> None:
        super().authentication_failed(request, **credentials)
        login = _login_of(credentials)
        # This failure may have filled the account's ceiling: the next attempt, the
        # owner's included, will be refused, so tell the owner now.
        if not ratelimit.consume(request, app=_RL_APP, action=LOGIN_FAILED_ACCOUNT, key=login, dry_run=True):
            self._account_throttled(request, login)

    def _delete_login_attempts_cached_email(self, request, **credentials) -> None:
        # Called by allauth after a successful password reset: the owner proved control of
        # the address, so lift the account's lock too (allauth clears only its own keys).
        super()._delete_login_attempts_cached_email(request, **credentials)
        login = _login_of(credentials)
        ratelimit.clear(request, app=_RL_APP, action=LOGIN_FAILED_ACCOUNT, key=login)
        cache.delete(_throttle_notice_key(login))

    def _account_throttled(self, request, login: str) -> None:
        """Email the owner once per lockout window (however many attempts are refused)."""
        rates = ratelimit.get_rates(app=_RL_APP, action=LOGIN_FAILED_ACCOUNT)
        window = max((rate.duration for rate in rates), default=0)
        if not login or not window:
            return
        marker = _throttle_notice_key(login)
        if not cache.add(marker, True, timeout=window):
            return
        try:
            users = filter_users_by_email(login, is_active=True, prefer_verified=True)
            if users:
                notify_login_throttled(users[0], minutes=max(1, round(window / 60)))
        except Exception:  # noqa: BLE001 - a failed notice must not break the sign-in page
            cache.delete(marker)  # the next refused attempt tries again
            log.exception("could not notify the owner of a throttled account")


class MFAAdapter(DefaultMFAAdapter):
    def get_totp_label(self, user) -> str:
        return user.email

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        # Staff and auditors must keep TOTP (DESIGN §3); they may still regenerate recovery codes.
        if authenticator.type == Authenticator.Type.TOTP and authenticator.user.requires_mfa:
            return False
        return super().can_delete_authenticator(authenticator)


def notify_login_throttled(user: User, *, minutes: int) -> None:
    """The in-app notification and an immediate email (through the outbox, like every portal
    email). A security notice must not wait for the daily digest, whatever the user chose
    for other kinds, so the outbox row is written here rather than by ``notify()``'s email."""
    from portal.models import OutboxEmail
    from portal.notifications import enqueue_delivery, notify, render_email

    url = reverse("account_reset_password")
    context = {"minutes": minutes}
    with transaction.atomic():
        notes = notify(user, LOGIN_THROTTLED_KIND, context, url=url, email=False)
        if not notes:  # an inactive account gets nothing
            return
        note = notes[0]
        with translation.override(user.language or settings.LANGUAGE_CODE):
            _subject, _text, html = render_email(LOGIN_THROTTLED_KIND, {"user": user, "url": url, **context})
        row = OutboxEmail.objects.create(
            notification=note, to=user.email, subject=note.subject, body_text=note.body, body_html=html
        )
        transaction.on_commit(lambda: enqueue_delivery([row.pk]))


def session_passed_mfa(request) -> bool:
    """True when this session was authenticated (or re-authenticated) with a second factor."""
    return any(r.get("method") == "mfa" for r in get_authentication_records(request, request.user))


def session_recently_passed_mfa(request) -> bool:
    """True when the second factor was given (at sign-in or re-authentication) within allauth's
    re-authentication timeout: what creating an attest token asks of an account with TOTP."""
    from allauth.account import app_settings as account_settings

    now = time.time()
    return any(
        r.get("method") == "mfa" and now - r.get("at", 0) < account_settings.REAUTHENTICATION_TIMEOUT
        for r in get_authentication_records(request, request.user)
    )


class AccountDeletionError(Exception):
    pass


def anonymize_user(user: User, request=None) -> None:
    """Delete an account by anonymizing it (DESIGN §3).

    1. Lock the admin memberships of every organization the user administers and
       refuse if the user is the last admin of one that has other members.
    2. Remove memberships (one audit entry per organization), email addresses,
       authenticators; revoke API tokens; leave the staff group.
    3. Replace name and email, keep the pseudonym, make sign-in impossible
       (changing the password hash also ends the user's other sessions).
    4. Audit entries and filed attestations stay and keep pointing at the
       pseudonymous user; the deletion entry is written after the change so
       it does not copy the old name into the append-only log.
    """
    from portal.organizations import _lock_admins

    with transaction.atomic():
        admin_of = (
            Membership.objects.filter(user=user, role=Membership.Role.ADMIN)
            .select_related("organization")
            .order_by("organization_id")
        )
        blocked = []
        for membership in admin_of:
            org = membership.organization
            others_admin = [m for m in _lock_admins(org) if m.user_id != user.pk]
            others = Membership.objects.filter(organization=org).exclude(user=user).exists()
            if others and not others_admin:
                blocked.append(org.name)
        if blocked:
            raise AccountDeletionError(
                _(
                    "You are the last admin of %(orgs)s, which has other members. "
                    "Make another member admin first, then delete your account."
                )
                % {"orgs": ", ".join(blocked)}
            )
        for membership in Membership.objects.filter(user=user).select_related("organization"):
            audit.log(
                "portal.organization.member_account_deleted",
                actor=user,
                obj=membership,
                organization=membership.organization,
                request=request,
                payload={"user": user.pseudonym},
            )
        Membership.objects.filter(user=user).delete()
        EmailAddress.objects.filter(user=user).delete()
        Authenticator.objects.filter(user=user).delete()
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        user.groups.remove(*Group.objects.filter(name=STAFF_GROUP))
        user.email = f"deleted-{user.pseudonym}@invalid.example"
        user.name = _("Deleted user %(pseudonym)s") % {"pseudonym": user.pseudonym}
        user.set_unusable_password()
        user.is_active = False
        user.is_staff = False
        user.is_superuser = False
        user.anonymized_at = timezone.now()
        user.save()
        for cached in ("is_alliance_staff", "accredited_roles", "has_mfa"):
            user.__dict__.pop(cached, None)
        audit.log("portal.user.deleted", actor=user, obj=user, request=request, payload={"pseudonym": user.pseudonym})


class ApiTokenError(ValueError):
    """Scopes a token may not have; the message is shown to the user (field ``scopes``)."""


def check_token_scopes(user: User, scopes, *, fresh_authentication: bool = False) -> list[str]:
    """The scopes, in canonical order, or ``ApiTokenError``: ``staff`` for staff only, ``attest``
    only from a session that just re-authenticated (the page checks that, with MFA where the
    account has it; the API and a token never can)."""
    unknown = sorted({str(s) for s in scopes} - set(ApiToken.SCOPES))
    if unknown:
        raise ApiTokenError(_("Unknown scope: %(s)s.") % {"s": ", ".join(unknown)})
    chosen = [s for s in ApiToken.SCOPES if s in scopes]
    if not chosen:
        raise ApiTokenError(_("Choose at least one scope."))
    if ApiToken.STAFF in chosen and not user.is_alliance_staff:
        raise ApiTokenError(_("Only Alliance staff can create a token with the staff scope."))
    if ApiToken.ATTEST in chosen and not fresh_authentication:
        raise ApiTokenError(
            _("An attest token needs a fresh authentication: create it on the API tokens page of the portal.")
        )
    return chosen


def create_api_token(
    user: User, name: str, request=None, *, scopes=(ApiToken.READ,), fresh_authentication: bool = False
) -> tuple[ApiToken, str]:
    """A new personal token; returns the row and the raw key, which is shown once and never stored.
    An ``attest`` token expires after ``ApiToken.ATTEST_LIFETIME``."""
    chosen = check_token_scopes(user, scopes, fresh_authentication=fresh_authentication)
    raw = ApiToken.generate_key()
    now = timezone.now()
    expires_at = now + ApiToken.ATTEST_LIFETIME if ApiToken.ATTEST in chosen else None
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name, key_hash=hash_secret(raw), hint=raw[:10],
                                        scopes=chosen, created_at=now, expires_at=expires_at)
        payload = {"name": name, "scopes": chosen, "expires_at": expires_at.isoformat() if expires_at else None}
        audit.log("portal.api_token.created", actor=user, obj=token, request=request, payload=payload)
    return token, raw


def revoke_api_token(token: ApiToken, actor: User, request=None) -> bool:
    """Revoke once; a second click changes nothing and logs nothing."""
    with transaction.atomic():
        if not ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            return False
        audit.log("portal.api_token.revoked", actor=actor, obj=token, request=request)
    return True


def save_profile(form, request=None) -> User:
    """Save a valid ``ProfileForm`` (name, time zone) and log the fields that changed: the profile
    page and ``PATCH /api/v1/account/profile/``."""
    with transaction.atomic():
        user = form.save()
        audit.log("portal.user.profile_updated", actor=user, obj=user, request=request,
                  payload={"fields": form.changed_data})
    return user


def staff_group() -> Group:
    group, _ = Group.objects.get_or_create(name=STAFF_GROUP)
    return group


__all__ = [
    "AccountAdapter",
    "ApiTokenError",
    "MFAAdapter",
    "anonymize_user",
    "check_token_scopes",
    "create_api_token",
    "notify_login_throttled",
    "revoke_api_token",
    "save_profile",
    "session_passed_mfa",
    "session_recently_passed_mfa",
    "settings",
]
