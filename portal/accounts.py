"""allauth glue: adapters, the anonymizing account deletion, and MFA helpers."""

from __future__ import annotations

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

from . import audit
from .models import STAFF_GROUP, ApiToken, Membership, User


class AccountAdapter(DefaultAccountAdapter):
    def get_login_redirect_url(self, request):
        return super().get_login_redirect_url(request)


class MFAAdapter(DefaultMFAAdapter):
    def get_totp_label(self, user) -> str:
        return user.email


def session_passed_mfa(request) -> bool:
    """True when this session was authenticated (or re-authenticated) with a second factor."""
    return any(r.get("method") == "mfa" for r in get_authentication_records(request, request.user))


class AccountDeletionError(Exception):
    pass


def anonymize_user(user: User, request=None) -> None:
    """Delete an account by anonymizing it (DESIGN §3): name and email replaced,
    the pseudonymous id kept, sign-in disabled; audit entries and filed
    attestations keep pointing at the pseudonym."""
    last_admin_of = [
        m.organization.name
        for m in Membership.objects.filter(user=user, role=Membership.Role.ADMIN).select_related("organization")
        if not Membership.objects.filter(organization=m.organization, role=Membership.Role.ADMIN)
        .exclude(user=user)
        .exists()
        and Membership.objects.filter(organization=m.organization).exclude(user=user).exists()
    ]
    if last_admin_of:
        raise AccountDeletionError(
            _("You are the last admin of %(orgs)s. Make another member admin first.")
            % {"orgs": ", ".join(last_admin_of)}
        )
    with transaction.atomic():
        audit.log("portal.user.deleted", actor=user, obj=user, request=request, payload={"pseudonym": user.pseudonym})
        Membership.objects.filter(user=user).delete()
        EmailAddress.objects.filter(user=user).delete()
        Authenticator.objects.filter(user=user).delete()
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        user.groups.remove(*Group.objects.filter(name=STAFF_GROUP))
        user.email = f"deleted-{user.pseudonym}@invalid.example"
        user.name = f"Deleted user {user.pseudonym}"
        user.set_unusable_password()
        user.is_active = False
        user.is_staff = False
        user.is_superuser = False
        user.anonymized_at = timezone.now()
        user.save()


def staff_group() -> Group:
    group, _ = Group.objects.get_or_create(name=STAFF_GROUP)
    return group


__all__ = ["AccountAdapter", "MFAAdapter", "anonymize_user", "session_passed_mfa", "settings"]
