"""The demo story loaded by ``make run`` (idempotent).

This module creates the people and organizations; every app above the portal adds its part of
the story as a step registered in its ``AppConfig.ready()`` (``register_step``), run in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.db import transaction

from portal import audit
from portal.accounts import staff_group
from portal.models import Membership, Organization, User

DEMO_PASSWORD = "demo-pass-2025"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: str
    totp_secret: str | None = None


DEMO_USERS = [
    DemoUser("staff@demo.example", "Sam Staff", "Alliance staff", "JBSWY3DPEHPK3PXPSTAFF234"),
    DemoUser("staff2@demo.example", "Tess Twoeyes", "Alliance staff (second approver)", "JBSWY3DPEHPK3PXPSTAFF567"),
    DemoUser("admin@acme.example", "Ada Admin", "organization admin (Acme AI)"),
    DemoUser("member@acme.example", "Max Member", "organization member (Acme AI)"),
    DemoUser("auditor@audits.example", "Aud Itor", "auditor", "JBSWY3DPEHPK3PXPAUDIT234"),
    DemoUser("evaluator@research.example", "Eve Evaluator", "community evaluator"),
    DemoUser("admin@othermodels.example", "Olga Other", "organization admin (Other Models Lab)"),
]


@dataclass(frozen=True)
class DemoStory:
    """What every step of the story starts from."""

    users: dict[str, User]  # by email
    staff: User
    second_staff: User
    organizations: dict[str, Organization]  # by slug

    @property
    def admins(self) -> dict[str, User]:
        """The admin of each demo organization, by organization slug."""
        return {"acme-ai": self.users["admin@acme.example"], "other-models": self.users["admin@othermodels.example"]}


DemoStep = Callable[[DemoStory], None]
_steps: dict[str, tuple[int, DemoStep]] = {}


def register_step(name: str, order: int, step: DemoStep) -> None:
    """Add a part of the story; steps run by ascending ``order`` (idempotent by name)."""
    _steps[name] = (order, step)


def ensure_user(spec: DemoUser) -> User:
    user = User.objects.filter(email=spec.email).first()
    if user is None:
        user = User.objects.create_user(spec.email, DEMO_PASSWORD, name=spec.name)
    EmailAddress.objects.get_or_create(user=user, email=spec.email, defaults={"verified": True, "primary": True})
    if spec.totp_secret and not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, spec.totp_secret)
        RecoveryCodes.activate(user)
    return user


def ensure_org(name: str, slug: str, **fields) -> Organization:
    org, _ = Organization.objects.get_or_create(slug=slug, defaults={"name": name, **fields})
    return org


@transaction.atomic
def load() -> list[DemoUser]:
    users = {spec.email: ensure_user(spec) for spec in DEMO_USERS}
    staff = users["staff@demo.example"]
    staff.groups.add(staff_group())
    second_staff = users["staff2@demo.example"]
    second_staff.groups.add(staff_group())

    acme = ensure_org(
        "Acme AI", "acme-ai", legal_name="Acme AI, Inc.", website="https://acme.example", country="US",
        is_alliance_member=True,
    )
    other = ensure_org("Other Models Lab", "other-models", legal_name="Other Models Lab GmbH", country="DE")
    for org, email, role in [
        (acme, "admin@acme.example", Membership.Role.ADMIN),
        (acme, "member@acme.example", Membership.Role.MEMBER),
        (other, "admin@othermodels.example", Membership.Role.ADMIN),
    ]:
        _, created = Membership.objects.get_or_create(organization=org, user=users[email], defaults={"role": role})
        if created:
            audit.log(
                "portal.organization.member_added", actor=staff, obj=org, organization=org,
                payload={"user": users[email].pseudonym, "role": role, "source": "demo"},
            )
    story = DemoStory(users=users, staff=staff, second_staff=second_staff,
                      organizations={"acme-ai": acme, "other-models": other})
    for _order, step in sorted(_steps.values(), key=lambda item: item[0]):
        step(story)
    return DEMO_USERS
