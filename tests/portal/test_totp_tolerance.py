"""A TOTP code typed as the 30-second step turns over is still accepted (one step of tolerance,
``MFA_TOTP_TOLERANCE``); a code two steps old is not."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.test import Client
from django.urls import reverse

from tests import factories as f

# A step boundary: 1 800 000 000 is a multiple of 30.
BOUNDARY = 1_800_000_000


def code_at(step_offset: int) -> str:
    return format_hotp_value(hotp_value(f.STAFF_TOTP_SECRET, BOUNDARY // 30 + step_offset))


def sign_in_until_second_factor(staff) -> Client:
    client = Client()
    response = client.post(reverse("account_login"), {"login": staff.email, "password": f.PASSWORD})
    assert response["Location"] == reverse("mfa_authenticate")
    return client


@pytest.fixture
def staff(db):
    return f.make_staff()


@pytest.mark.parametrize("offset_s, step, accepted", [
    (1, -1, True),    # read just before the boundary, typed just after it
    (0, 0, True),     # the current step
    (-1, 0, True),    # the clock of the phone runs a little ahead
    (1, -2, False),   # two steps old: refused
])
def test_codes_at_a_step_boundary(staff, offset_s, step, accepted):
    with time_machine.travel(dt.datetime.fromtimestamp(BOUNDARY + offset_s, tz=dt.UTC), tick=False):
        client = sign_in_until_second_factor(staff)
        response = client.post(reverse("mfa_authenticate"), {"code": code_at(step)})
        if accepted:
            assert response.status_code == 302 and response["Location"] == reverse("portal:dashboard")
        else:
            assert response.status_code == 200
            assert client.get("/dashboard/")["Location"].startswith(reverse("account_login"))


def test_the_setting_is_one_step(settings):
    from allauth.mfa import app_settings

    assert app_settings.TOTP_TOLERANCE == 1
