"""Buyer masking (R12): the same rules for partner responses, the seller portal and the admin."""

from types import SimpleNamespace

import pytest

from core.privacy import mask_address, mask_email, mask_name, mask_phone, masked_buyer, masked_shipping_address


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("John Doe", "J*** D***"),
        ("Cher", "C***"),
        ("  Mary   Ann  Smith ", "M*** A*** S***"),
        ("Łukasz Żółć", "Ł*** Ż***"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+1 555 010 1234", "***-***-1234"),
        ("(555) 010-9876", "***-***-9876"),
        ("+44 20 7946 0958", "***-***-0958"),
        ("12345", "***-***"),
        ("n/a", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("jane@example.com", "j***@example.com"),
        ("J.Smith+shop@mail.example.co.uk", "J***@mail.example.co.uk"),
        ("a@b.co", "a***@b.co"),
        ("not-an-email", "***"),
        ("@example.com", "***"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_email(email, masked):
    assert mask_email(email) == masked


def test_mask_address_keeps_only_city_and_region():
    full = {
        "line1": "42 Elm Street",
        "line2": "Apt 7",
        "city": "Austin",
        "region": "TX",
        "postal_code": "73301",
        "country": "US",
    }

    assert mask_address(full) == {"city": "Austin", "region": "TX"}
    assert mask_address({}) == {"city": "", "region": ""}


def test_masked_views_of_an_order():
    order = SimpleNamespace(
        buyer_name="John Doe",
        buyer_phone="+1 555 010 1234",
        buyer_email="jane@example.com",
        ship_line1="42 Elm Street",
        ship_city="Austin",
        ship_region="TX",
        ship_postal_code="73301",
    )

    assert masked_buyer(order) == {"name": "J*** D***", "phone": "***-***-1234", "email": "j***@example.com"}
    assert masked_shipping_address(order) == {"city": "Austin", "region": "TX"}
