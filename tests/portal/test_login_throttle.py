"""Failed sign-in throttling (portal.accounts.AccountAdapter, ACCOUNT_RATE_LIMITS).

Strict per client address + account (and per address across accounts); per account from
any address only at a much higher ceiling, which emails the owner once per lockout window.
A stranger's wrong passwords must not keep the owner out.
"""

from __future__ import annotations

import re
import time as real_time

import pytest
from allauth.core.internal import ratelimit as allauth_ratelimit
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from portal import tasks
from portal.models import DigestItem, Notification, NotificationPreference, OutboxEmail
from tests import factories as f

pytestmark = pytest.mark.django_db

# The documented values (README, accounts section).
PER_ADDRESS_AND_ACCOUNT = 5  # per 5 minutes (and 10 an hour)
PER_ADDRESS = 10  # per minute, across accounts
CEILING = 100  # per account, per hour, from any address

WRONG = "not-the-password-7"
REFUSED = "Too many failed login attempts"
KIND = "login-throttled"


def sign_in(login: str, password: str, address: str, client: Client | None = None, **extra):
    client = client or Client()
    return client.post(reverse("account_login"), {"login": login, "password": password}, REMOTE_ADDR=address, **extra)


def fail(login: str, address: str, times: int = 1, **extra) -> None:
    for _ in range(times):
        response = sign_in(login, WRONG, address, **extra)
        assert response.status_code == 200
        assert REFUSED not in response.content.decode(), f"{address} was refused before its limit"


def signed_in_ok(response) -> bool:
    return response.status_code == 302 and response["Location"] == reverse("portal:dashboard")


def refused(response) -> bool:
    return response.status_code == 200 and REFUSED in response.content.decode()


def trip_ceiling(login: str, failures: int = CEILING) -> None:
    """``failures`` wrong passwords for one account, from as many addresses as the strict
    per-address limit requires (192.0.2.1, 192.0.2.2, ...)."""
    for n in range(failures):
        fail(login, f"192.0.2.{n // PER_ADDRESS_AND_ACCOUNT + 1}")


@pytest.fixture
def queued(monkeypatch):
    calls: list[list[int]] = []
    monkeypatch.setattr(tasks.deliver_outbox, "delay", lambda ids: calls.append(list(ids)))
    return calls


@pytest.fixture
def clock(monkeypatch):
    """Move allauth's rate-limit clock forward: ``clock.advance(seconds)``."""

    class Clock:
        offset = 0.0

        def time(self):
            return real_time.time() + self.offset

        monotonic = staticmethod(real_time.monotonic)
        sleep = staticmethod(real_time.sleep)

        def advance(self, seconds: float) -> None:
            self.offset += seconds

    fake = Clock()
    monkeypatch.setattr(allauth_ratelimit, "time", fake)
    return fake


def test_the_configured_limits():
    limits = django_settings.ACCOUNT_RATE_LIMITS
    assert limits["login_failed"] == "10/m/ip,5/5m/key,10/h/key"
    assert limits["login_failed_account"] == "100/h/key"


# --- per address + account: strict --------------------------------------------------


def test_a_strangers_wrong_passwords_lock_only_the_strangers_address(org_member):
    fail(org_member.email, "203.0.113.5", PER_ADDRESS_AND_ACCOUNT)
    # From the stranger's address even the right password is refused now...
    assert refused(sign_in(org_member.email, f.PASSWORD, "203.0.113.5"))
    # ...but the owner, from another address, signs in.
    owner = Client()
    assert signed_in_ok(sign_in(org_member.email, f.PASSWORD, "198.51.100.7", owner))
    assert owner.get("/dashboard/").context["user"] == org_member
    # Nobody was emailed: the account itself is not locked.
    assert not OutboxEmail.objects.exists()
    assert not Notification.objects.filter(kind=KIND).exists()


def test_the_address_lock_holds_whatever_the_letter_case(org_member):
    fail(org_member.email.upper(), "203.0.113.5", PER_ADDRESS_AND_ACCOUNT)
    assert refused(sign_in(org_member.email, f.PASSWORD, "203.0.113.5"))


def test_one_address_gets_ten_failures_an_hour_for_one_account(org_member, clock):
    fail(org_member.email, "203.0.113.5", PER_ADDRESS_AND_ACCOUNT)
    assert refused(sign_in(org_member.email, WRONG, "203.0.113.5"))
    clock.advance(6 * 60)
    fail(org_member.email, "203.0.113.5", PER_ADDRESS_AND_ACCOUNT)
    clock.advance(6 * 60)
    # The 5-minute window is clear again, the hourly one (10) is not.
    assert refused(sign_in(org_member.email, f.PASSWORD, "203.0.113.5"))
    clock.advance(50 * 60)
    assert signed_in_ok(sign_in(org_member.email, f.PASSWORD, "203.0.113.5"))


def test_staff_still_need_their_second_factor_from_another_address(staff):
    fail(staff.email, "203.0.113.5", PER_ADDRESS_AND_ACCOUNT)
    owner = Client()
    response = sign_in(staff.email, f.PASSWORD, "198.51.100.7", owner)
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert owner.get("/dashboard/")["Location"].startswith(reverse("account_login"))
    response = owner.post(
        reverse("mfa_authenticate"), {"code": f.totp_code(f.STAFF_TOTP_SECRET)}, REMOTE_ADDR="198.51.100.7"
    )
    assert response["Location"] == reverse("portal:dashboard")
    assert owner.get("/dashboard/").context["user"] == staff


# --- per address, across accounts ----------------------------------------------------


def test_one_address_is_limited_across_accounts(org_member):
    # A few failures on each of several accounts, none reaching its own limit.
    for n in range(PER_ADDRESS):
        fail(f"someone{n // 2}@example.org", "203.0.113.5")
    # The address is spent: even the right password of another account is refused from it.
    assert refused(sign_in(org_member.email, f.PASSWORD, "203.0.113.5"))
    assert signed_in_ok(sign_in(org_member.email, f.PASSWORD, "198.51.100.7"))


def test_right_passwords_do_not_count_as_failures(org_member):
    for _ in range(PER_ADDRESS + 2):
        assert signed_in_ok(sign_in(org_member.email, f.PASSWORD, "203.0.113.5"))


# --- per account: a high ceiling that emails the owner ---------------------------------


def test_the_account_ceiling_blocks_everyone_and_emails_the_owner_once(
    org_member, queued, django_capture_on_commit_callbacks
):
    trip_ceiling(org_member.email, CEILING - 1)
    assert not OutboxEmail.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        fail(org_member.email, "192.0.2.250")  # the failure that fills the ceiling
    row = OutboxEmail.objects.get()
    assert row.to == org_member.email
    assert row.subject == "Sign-in to your account is paused after many failed attempts"
    assert "up to 60 minutes" in row.body_text
    assert reverse("account_reset_password") in row.body_html
    assert row.notification.user == org_member and row.notification.kind == KIND
    assert queued == [[row.pk]]  # delivered at once, through the outbox

    # Now the owner is refused too, from an address that never failed...
    assert refused(sign_in(org_member.email, f.PASSWORD, "198.51.100.7"))
    # ...and more attempts from fresh addresses are refused without another email.
    for n in range(20):
        assert refused(sign_in(org_member.email, WRONG, f"198.51.100.{100 + n}"))
    assert OutboxEmail.objects.count() == 1
    assert Notification.objects.filter(kind=KIND).count() == 1
    # Other accounts are not affected, from any of those addresses.
    other = f.UserFactory()
    assert signed_in_ok(sign_in(other.email, f.PASSWORD, "192.0.2.1"))


def test_the_ceiling_email_ignores_a_digest_preference(org_member):
    NotificationPreference.objects.create(
        user=org_member, kind=KIND, delivery=NotificationPreference.Delivery.DIGEST
    )
    trip_ceiling(org_member.email)
    assert OutboxEmail.objects.filter(to=org_member.email).count() == 1
    assert not DigestItem.objects.exists()


def test_a_refused_attempt_emails_when_the_window_notice_is_gone(org_member):
    """Once per lockout window: when the window's notice has expired and the account is
    still locked, the next refused attempt emails again (once)."""
    from django.core.cache import cache

    from portal.accounts import _throttle_notice_key

    trip_ceiling(org_member.email)
    assert OutboxEmail.objects.count() == 1
    cache.delete(_throttle_notice_key(org_member.email))  # the window's notice expired
    assert refused(sign_in(org_member.email, WRONG, "198.51.100.7"))
    assert refused(sign_in(org_member.email, WRONG, "198.51.100.8"))
    assert OutboxEmail.objects.count() == 2


def test_the_ceiling_counts_failures_not_successful_sign_ins(org_member):
    trip_ceiling(org_member.email, CEILING - 1)
    # The owner signs in several times: those are not failures.
    for n in range(3):
        assert signed_in_ok(sign_in(org_member.email, f.PASSWORD, f"198.51.100.{n + 1}"))
    assert not OutboxEmail.objects.exists()


def test_the_ceiling_lifts_after_its_hour(org_member, clock):
    trip_ceiling(org_member.email)
    assert refused(sign_in(org_member.email, f.PASSWORD, "198.51.100.7"))
    clock.advance(61 * 60)
    assert signed_in_ok(sign_in(org_member.email, f.PASSWORD, "198.51.100.7"))


def test_retrying_during_the_lock_does_not_lock_the_owners_address(org_member, clock):
    trip_ceiling(org_member.email)
    clock.advance(30 * 60)
    # Half an hour later the owner retries, twice, as often as their address may fail (10 an hour).
    for _ in range(2):
        for _ in range(PER_ADDRESS_AND_ACCOUNT):
            assert refused(sign_in(org_member.email, f.PASSWORD, "198.51.100.7"))
        clock.advance(6 * 60)
    clock.advance(19 * 60)  # the ceiling's hour is over; the owner's retries are less than an hour old
    assert signed_in_ok(sign_in(org_member.email, f.PASSWORD, "198.51.100.7"))


def test_unknown_accounts_are_throttled_but_email_nobody(db):
    trip_ceiling("nobody@example.org")
    assert refused(sign_in("nobody@example.org", WRONG, "198.51.100.7"))
    assert not OutboxEmail.objects.exists()


def test_a_password_reset_lifts_the_account_lock(org_member):
    trip_ceiling(org_member.email)
    owner = Client()
    assert refused(sign_in(org_member.email, f.PASSWORD, "198.51.100.7", owner))
    response = owner.post(reverse("account_reset_password"), {"email": org_member.email}, REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 302
    reset = [m for m in mail.outbox if "/accounts/password/reset/key/" in m.body]
    assert len(reset) == 1
    reset_url = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", reset[0].body).group(1)
    form_url = owner.get(reset_url, REMOTE_ADDR="198.51.100.7")["Location"]
    new_password = "a-fresh-passphrase-42"
    response = owner.post(
        form_url, {"password1": new_password, "password2": new_password}, REMOTE_ADDR="198.51.100.7"
    )
    assert response.status_code == 302
    assert signed_in_ok(sign_in(org_member.email, new_password, "198.51.100.9"))


# --- the client address ----------------------------------------------------------------


def test_behind_the_proxy_the_last_forwarded_address_is_counted(settings, org_member):
    settings.BEHIND_PROXY = True
    proxy = "10.0.0.2"
    # The stranger varies the hops it controls (the first ones); the proxy appends the real one.
    for n in range(PER_ADDRESS_AND_ACCOUNT):
        fail(org_member.email, proxy, HTTP_X_FORWARDED_FOR=f"198.18.0.{n}, 203.0.113.5")
    assert refused(sign_in(org_member.email, f.PASSWORD, proxy, HTTP_X_FORWARDED_FOR="198.18.0.99, 203.0.113.5"))
    # The owner comes through the same proxy from another address and signs in.
    assert signed_in_ok(sign_in(org_member.email, f.PASSWORD, proxy, HTTP_X_FORWARDED_FOR="198.51.100.7"))


def test_without_the_proxy_setting_forwarded_addresses_are_ignored(settings, org_member):
    settings.BEHIND_PROXY = False
    for n in range(PER_ADDRESS_AND_ACCOUNT):
        fail(org_member.email, "203.0.113.5", HTTP_X_FORWARDED_FOR=f"198.18.0.{n}")
    assert refused(sign_in(org_member.email, f.PASSWORD, "203.0.113.5", HTTP_X_FORWARDED_FOR="198.51.100.7"))


def test_ipv4_mapped_addresses_count_as_their_ipv4_address(org_member):
    # allauth groups IPv6 clients by /64; the mapped form must not lump all IPv4 clients together.
    fail(org_member.email, "::ffff:203.0.113.5", PER_ADDRESS_AND_ACCOUNT)
    assert refused(sign_in(org_member.email, f.PASSWORD, "203.0.113.5"))
    assert signed_in_ok(sign_in(org_member.email, f.PASSWORD, "::ffff:198.51.100.7"))
