"""allauth glue: adapters, the anonymizing account deletion, and MFA helpers."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.models import EmailAddress
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import audit
from portal.models import STAFF_GROUP, ApiToken, Membership, User, hash_secret


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # Without django.contrib.sites allauth names the site after the request's
        # host ("Hello from localhost!"); name it after the portal instead.
        site = SimpleNamespace(name=settings.SITE_NAME, domain=urlsplit(settings.SITE_URL).netloc)
        super().send_mail(template_prefix, email, {**context, "current_site": site})


class MFAAdapter(DefaultMFAAdapter):
    def get_totp_label(self, user) -> str:
        return user.email

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        # Staff and auditors must keep TOTP (DESIGN §3); they may still regenerate recovery codes.
        if authenticator.type == Authenticator.Type.TOTP and authenticator.user.requires_mfa:
            return False
        return super().can_delete_authenticator(authenticator)


def session_passed_mfa(request) -> bool:
    """True when this session was authenticated (or re-authenticated) with a second factor."""
    return any(r.get("method") == "mfa" for r in get_authentication_records(request, request.user))


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


def create_api_token(user: User, name: str, request=None) -> tuple[ApiToken, str]:
    """A new personal token; returns the row and the raw key, which is shown once and never stored."""
    raw = ApiToken.generate_key()
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name, key_hash=hash_secret(raw), hint=raw[:10])
        audit.log("portal.api_token.created", actor=user, obj=token, request=request, payload={"name": name})
    return token, raw


def revoke_api_token(token: ApiToken, actor: User, request=None) -> bool:
    """Revoke once; a second click changes nothing and logs nothing."""
    with transaction.atomic():
        if not ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            return False
        audit.log("portal.api_token.revoked", actor=actor, obj=token, request=request)
    return True


def staff_group() -> Group:
    group, _ = Group.objects.get_or_create(name=STAFF_GROUP)
    return group


__all__ = [
    "AccountAdapter",
    "MFAAdapter",
    "anonymize_user",
    "create_api_token",
    "revoke_api_token",
    "session_passed_mfa",
    "settings",
]
