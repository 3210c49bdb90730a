"""Repeated failed logins lock the admin and the portal login for a while (django-axes)."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.services import seller_user_create
from accounts.tests.factories import make_staff_user
from core.actors import Actor

pytestmark = pytest.mark.django_db

STAFF = Actor.system("test-staff")
LOGINS = {"admin": "/admin/login/", "portal": "/portal/login/"}


@pytest.fixture
def staff():
    user = make_staff_user(superuser=True)
    user.set_password("right-password-1")
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def seller_login(seller):
    return seller_user_create(
        seller=seller, username="acme-shop", email="shop@acme.example", password="right-password-1", actor=STAFF
    )


def attempt(client, url, username, password):
    return client.post(url, {"username": username, "password": password})


@pytest.mark.parametrize("site", ["admin", "portal"])
def test_repeated_wrong_passwords_lock_the_login(client, staff, seller_login, settings, site):
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    url = LOGINS[site]
    staff = staff if site == "admin" else seller_login
    start = timezone.now()

    with time_machine.travel(start, tick=False):
        wrong = [attempt(client, url, staff.username, f"guess-{n}").status_code for n in range(5)]
        right_while_locked = attempt(client, url, staff.username, "right-password-1")
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        right_later = attempt(client, url, staff.username, "right-password-1")

    assert wrong == [200, 200, 200, 200, 429]
    assert right_while_locked.status_code == 429
    assert right_while_locked["Retry-After"] == "900"
    assert b"Try again in 15 minutes" in right_while_locked.content
    assert right_later.status_code == 302


def test_a_lockout_is_for_one_username_from_one_address(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    other = get_user_model().objects.create_user("other-staff", password="other-password-1", is_staff=True)
    for n in range(3):
        attempt(client, LOGINS["admin"], staff.username, f"guess-{n}")

    from_elsewhere = client.post(
        LOGINS["admin"], {"username": staff.username, "password": "right-password-1"}, REMOTE_ADDR="192.0.2.7"
    )
    other_user = attempt(client, LOGINS["admin"], other.username, "other-password-1")

    assert from_elsewhere.status_code == 302
    assert other_user.status_code == 302


def test_a_successful_login_clears_the_count(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(2):
        attempt(client, LOGINS["admin"], staff.username, f"guess-{n}")
    assert attempt(client, LOGINS["admin"], staff.username, "right-password-1").status_code == 302
    client.logout()

    again = [attempt(client, LOGINS["admin"], staff.username, f"again-{n}").status_code for n in range(2)]

    assert again == [200, 200]
