"""Staff sign in with a second factor; staff without one must enrol first."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import submit, submit_button, visit
from tests.factories import PASSWORD, STAFF_TOTP_SECRET, make_staff, totp_code

pytestmark = pytest.mark.browser


def fresh_totp(secret: str) -> str:
    """A code with at least two seconds left in its 30 s window (allauth allows no drift)."""
    if time.time() % 30 > 28:
        time.sleep(30 - time.time() % 30 + 0.1)
    return totp_code(secret)


def sign_in(page, email: str, next_url: str) -> None:
    visit(page, f"/accounts/login/?next={next_url}")
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    submit(page, submit_button(page, "input[name=password]"))


def test_staff_signs_in_with_password_and_totp_and_reaches_the_staff_console(page, live_server):
    make_staff(email="root@example.org")

    sign_in(page, "root@example.org", "/staff/")
    assert "/accounts/2fa/authenticate/" in page.url

    page.locator("input[name=code]").fill(fresh_totp(STAFF_TOTP_SECRET))
    submit(page, submit_button(page, "input[name=code]"))
    assert page.url == f"{live_server.url}/staff/"
    assert page.get_by_role("link", name="Staff console").is_visible()


def test_staff_sign_in_refuses_a_wrong_totp_code(page, live_server):
    make_staff(email="root@example.org")

    sign_in(page, "root@example.org", "/staff/")
    wrong = f"{(int(totp_code(STAFF_TOTP_SECRET)) + 1) % 1_000_000:06d}"
    page.locator("input[name=code]").fill(wrong)
    submit(page, submit_button(page, "input[name=code]"))
    assert "/accounts/2fa/authenticate/" in page.url
    # Still not signed in: the staff console sends the visitor back into the login stages.
    visit(page, "/staff/")
    assert page.url.startswith(f"{live_server.url}/accounts/")


def test_staff_without_totp_must_set_it_up_before_reaching_the_dashboard(page, live_server):
    user = make_staff(mfa=False, email="newstaff@example.org")

    sign_in(page, "newstaff@example.org", "/dashboard/")
    # The portal refuses the dashboard; allauth asks for the password again
    # before adding an authenticator (MFA_REAUTHENTICATION_REQUIRED).
    assert page.url.startswith(f"{live_server.url}/accounts/reauthenticate/")
    page.locator("input[name=password]").fill(PASSWORD)
    submit(page, submit_button(page, "input[name=password]"))
    assert page.url == f"{live_server.url}/accounts/2fa/totp/activate/"
    visit(page, "/dashboard/")
    assert page.url == f"{live_server.url}/accounts/2fa/totp/activate/"

    secret = page.locator("#authenticator_secret").input_value()
    assert len(secret) >= 16
    page.locator("input[name=code]").fill(fresh_totp(secret))
    submit(page, submit_button(page, "input[name=code]"))
    assert user.authenticator_set.filter(type="totp").exists()

    visit(page, "/dashboard/")
    assert page.url == f"{live_server.url}/dashboard/"
