"""Factories and the named personas of the test suite (STYLE §11)."""

from __future__ import annotations

import factory
from allauth.account.models import EmailAddress
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.utils import timezone

from auditors.models import Accreditation
from portal.accounts import staff_group
from portal.models import Membership, Organization, User

PASSWORD = "correct-horse-battery-9"
# Base32 secrets: browser tests compute codes from them with allauth's own TOTP code.
STAFF_TOTP_SECRET = "JBSWY3DPEHPK3PXPTESTSTAF"
AUDITOR_TOTP_SECRET = "JBSWY3DPEHPK3PXPTESTAUDT"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    name = factory.Faker("name")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])
            EmailAddress.objects.get_or_create(user=obj, email=obj.email, defaults={"verified": True, "primary": True})


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    country = "FR"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MEMBER


class AccreditationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Accreditation

    user = factory.SubFactory(UserFactory)
    role = Accreditation.Role.AUDITOR
    firm = "Audit Firm"
    status = Accreditation.Status.APPROVED
    approved_at = factory.LazyFunction(timezone.now)
    valid_until = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=730))


def enrol_totp(user: User, secret: str) -> None:
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    user.__dict__.pop("has_mfa", None)


def make_staff(mfa: bool = True, **kwargs) -> User:
    user = UserFactory(**kwargs)
    user.groups.add(staff_group())
    if mfa:
        enrol_totp(user, STAFF_TOTP_SECRET)
    return user


def make_auditor(mfa: bool = True, **kwargs) -> User:
    user = UserFactory(**kwargs)
    AccreditationFactory(user=user, role=Accreditation.Role.AUDITOR)
    if mfa:
        enrol_totp(user, AUDITOR_TOTP_SECRET)
    return user


def make_evaluator(**kwargs) -> User:
    user = UserFactory(**kwargs)
    AccreditationFactory(user=user, role=Accreditation.Role.EVALUATOR, firm="University")
    return user


def totp_code(secret: str) -> str:
    """The current code for a secret, computed the way allauth checks it."""
    import time

    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def mark_reauthenticated(client, user, method: str = "password") -> None:
    """Record in the client's session that the user just re-authenticated (allauth's record)."""
    import time

    session = client.session
    session["account_authentication_methods"] = [{"method": method, "at": time.time(), "reauthenticated": True}]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()
