"""Organization services: every membership change is one function here (STYLE §3)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from portal import audit
from portal.models import STAFF_GROUP, Invitation, Membership, Organization, User, hash_secret
from portal.notifications import notify


class OrganizationError(Exception):
    """A refused organization action; the message is shown to the user."""


def get_membership(user: User, organization: Organization) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, organization=organization).first()


def unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "organization"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


PROFILE_FIELDS = frozenset({"name", "legal_name", "website", "country"})
# Recorded by Alliance staff only: the transparency report counts these organizations.
STAFF_FIELDS = frozenset({"is_alliance_member"})


def editable_fields(actor: User) -> frozenset[str]:
    return PROFILE_FIELDS | STAFF_FIELDS if actor.is_alliance_staff else PROFILE_FIELDS


def create_organization(user: User, *, name: str, request=None, **profile) -> Organization:
    """Create an organization with ``user`` as its first admin."""
    allowed = editable_fields(user)
    profile = {k: v for k, v in profile.items() if k in allowed}
    with transaction.atomic():
        org = Organization.objects.create(name=name, slug=unique_slug(name), **profile)
        Membership.objects.create(organization=org, user=user, role=Membership.Role.ADMIN)
        audit.log("portal.organization.created", actor=user, obj=org, organization=org, request=request)
    return org


def update_profile(org: Organization, actor: User, data: dict, request=None) -> Organization:
    """Save the fields the actor may edit; anything else in ``data`` is ignored."""
    allowed = editable_fields(actor)
    changed = {k: v for k, v in data.items() if k in allowed and getattr(org, k) != v}
    if not changed:
        return org
    with transaction.atomic():
        for key, value in changed.items():
            setattr(org, key, value)
        org.save(update_fields=list(changed))
        audit.log(
            "portal.organization.updated",
            actor=actor,
            obj=org,
            organization=org,
            request=request,
            payload={"fields": sorted(changed)},
        )
    return org


def invite(org: Organization, actor: User, email: str, role: str, request=None) -> tuple[Invitation, str]:
    """Create an invitation and email its link. Returns the invitation and the raw token."""
    email = email.strip().lower()
    if Membership.objects.filter(organization=org, user__email__iexact=email).exists():
        raise OrganizationError(_("%(email)s is already a member.") % {"email": email})
    if role not in Membership.Role.values:
        raise OrganizationError(_("Unknown role."))
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        # A new invitation replaces any pending one for the same address.
        Invitation.objects.pending().filter(organization=org, email__iexact=email).update(revoked_at=timezone.now())
        invitation = Invitation.objects.create(
            organization=org,
            email=email,
            role=role,
            token_hash=hash_secret(token),
            invited_by=actor,
            expires_at=timezone.now() + settings.INVITATION_VALIDITY,
        )
        audit.log(
            "portal.organization.member_invited",
            actor=actor,
            obj=invitation,
            organization=org,
            request=request,
            payload={"email": email, "role": role},
        )
        link = settings.SITE_URL + reverse("portal:invitation-accept", args=[token])
        send_invitation_email(invitation, link)
    return invitation, token


def send_invitation_email(invitation: Invitation, link: str) -> None:
    """The invitee may have no account yet, so this email goes straight to the outbox."""
    from portal.models import OutboxEmail
    from portal.notifications import enqueue_delivery, render_email

    subject, text, html = render_email(
        "invitation", {"invitation": invitation, "link": link, "organization": invitation.organization}
    )
    row = OutboxEmail.objects.create(to=invitation.email, subject=subject, body_text=text, body_html=html)
    transaction.on_commit(lambda: enqueue_delivery([row.pk]))


def find_invitation(token: str) -> Invitation | None:
    return Invitation.objects.select_related("organization").filter(token_hash=hash_secret(token)).first()


def invitation_problem(invitation: Invitation | None, user: User) -> str | None:
    """Why this user cannot accept this invitation, or None."""
    if invitation is None:
        return _("This invitation link is not valid. Ask for a new invitation.")
    if invitation.revoked_at:
        return _("This invitation was withdrawn. Ask for a new invitation.")
    if invitation.accepted_at:
        return _("This invitation has already been used.")
    if invitation.is_expired:
        return _("This invitation has expired. Ask for a new invitation.")
    if user.is_authenticated and user.email.lower() != invitation.email.lower():
        return _("This invitation was sent to %(email)s. Sign in with that address to accept it.") % {
            "email": invitation.email
        }
    return None


def accept_invitation(token: str, user: User, request=None) -> Membership:
    """Join the invitation's organization. Only a signed-in user whose address is the
    invited one can accept, once, before it expires and unless it was withdrawn."""
    if not user.is_authenticated:
        raise OrganizationError(_("Sign in with the invited address to accept this invitation."))
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().filter(token_hash=hash_secret(token)).first()
        problem = invitation_problem(invitation, user)
        if problem:
            raise OrganizationError(problem)
        # Settle a double click in the database: only one update wins.
        if not Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True).update(
            accepted_at=timezone.now(), accepted_by=user
        ):
            raise OrganizationError(_("This invitation has already been used."))
        membership, created = Membership.objects.get_or_create(
            organization=invitation.organization, user=user, defaults={"role": invitation.role}
        )
        audit.log(
            "portal.organization.member_joined",
            actor=user,
            obj=membership,
            organization=invitation.organization,
            request=request,
            payload={"role": membership.role, "invitation": invitation.pk},
        )
        admins = User.objects.filter(
            memberships__organization=invitation.organization, memberships__role=Membership.Role.ADMIN
        ).exclude(pk=user.pk)
        notify(
            admins,
            "member-joined",
            {"member": user, "organization": invitation.organization},
            url=reverse("portal:organization-members", args=[invitation.organization.slug]),
        )
    return membership


def revoke_invitation(invitation: Invitation, actor: User, request=None) -> None:
    with transaction.atomic():
        if not Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        ):
            raise OrganizationError(_("This invitation is no longer pending."))
        audit.log(
            "portal.organization.invitation_revoked",
            actor=actor,
            obj=invitation,
            organization=invitation.organization,
            request=request,
            payload={"email": invitation.email},
        )


def _lock_admins(org: Organization) -> list[Membership]:
    return list(
        Membership.objects.select_for_update().filter(organization=org, role=Membership.Role.ADMIN).order_by("pk")
    )


def change_role(membership: Membership, role: str, actor: User, request=None) -> Membership:
    if role not in Membership.Role.values:
        raise OrganizationError(_("Unknown role."))
    with transaction.atomic():
        admins = _lock_admins(membership.organization)
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.role == role:
            return membership
        if membership.role == Membership.Role.ADMIN and len(admins) <= 1:
            raise OrganizationError(_("An organization needs at least one admin. Make another member admin first."))
        old = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit.log(
            "portal.organization.member_role_changed",
            actor=actor,
            obj=membership,
            organization=membership.organization,
            request=request,
            payload={"user": membership.user.pseudonym, "from": old, "to": role},
        )
    return membership


def remove_member(membership: Membership, actor: User, request=None) -> None:
    """Remove a member (or, when actor is the member, leave). The last admin stays."""
    with transaction.atomic():
        admins = _lock_admins(membership.organization)
        membership = Membership.objects.select_for_update().filter(pk=membership.pk).first()
        if membership is None:
            raise OrganizationError(_("This person is no longer a member."))
        if membership.role == Membership.Role.ADMIN and len(admins) <= 1:
            raise OrganizationError(
                _("The last admin can neither leave nor be removed. Make another member admin first.")
            )
        leaving = membership.user_id == actor.pk
        audit.log(
            "portal.organization.member_left" if leaving else "portal.organization.member_removed",
            actor=actor,
            obj=membership,
            organization=membership.organization,
            request=request,
            payload={"user": membership.user.pseudonym, "role": membership.role},
        )
        membership.delete()


# --- people (queries the certification apps use) ----------------------------------------------------------------------


def org_admins(org: Organization):
    return User.objects.filter(memberships__organization=org, memberships__role=Membership.Role.ADMIN, is_active=True)


def staff_users():
    return User.objects.filter(groups__name=STAFF_GROUP, is_active=True)


def is_org_admin(user: User, org: Organization) -> bool:
    return Membership.objects.filter(user=user, organization=org, role=Membership.Role.ADMIN).exists()


def is_org_member(user: User, org: Organization) -> bool:
    return Membership.objects.filter(user=user, organization=org).exists()


def staff_group() -> Group:
    return Group.objects.get_or_create(name=STAFF_GROUP)[0]
