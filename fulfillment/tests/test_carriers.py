"""The carrier list staff keep (R10): validated patterns, seeded carriers, and the partner API."""

import pytest

from accounts.tests.factories import UserFactory, make_staff_user
from core.actors import Actor
from core.errors import InvalidInput, PermissionRefused
from fulfillment.models import Carrier
from fulfillment.services import carrier_create, carrier_update
from fulfillment.tests.factories import CarrierFactory


@pytest.fixture
def staff(db):
    return Actor.for_user(make_staff_user("Warehouse"))


@pytest.mark.parametrize(
    ("code", "number"),
    [
        ("usps", "9400111899223856924290"),
        ("usps", "420787019400111899223856924290"),
        ("usps", "EC123456789US"),
        ("ups", "1Z999AA10123456784"),
        ("fedex", "123456789012"),
        ("fedex", "012345678901234"),
        ("dhl", "1234567890"),
        ("ontrac", "C11111111111111"),
    ],
)
def test_seeded_carriers_accept_their_real_numbers(db, code, number):
    assert Carrier.objects.get(code=code).tracking_number_matches(number)


@pytest.mark.parametrize(
    ("code", "number"),
    [("usps", "1Z999AA10123456784"), ("ups", "9400111899223856924290"), ("fedex", "12345"), ("dhl", "JJD12")],
)
def test_seeded_carriers_refuse_other_numbers(db, code, number):
    assert not Carrier.objects.get(code=code).tracking_number_matches(number)


def test_seeds_offer_pickup_and_dropoff_where_the_carrier_does(db):
    handover = dict(Carrier.objects.values_list("code", "handover"))
    assert handover["ups"] == "both" and handover["ontrac"] == "pickup"


def test_a_pattern_that_is_not_a_regex_is_refused(staff):
    with pytest.raises(InvalidInput) as refused:
        carrier_create(code="broken", name="Broken", tracking_pattern="^(TRK[0-9", handover="both", actor=staff)
    assert refused.value.code == "invalid_carrier"
    assert "tracking pattern: Not a valid regular expression" in refused.value.detail
    assert not Carrier.objects.filter(code="broken").exists()


def test_staff_add_and_change_carriers(staff):
    carrier = carrier_create(
        code="lasership", name="LaserShip", tracking_pattern=r"^1LS\d{12}$", handover="pickup", actor=staff
    )
    assert carrier.tracking_number_matches("1LS123456789012")
    with pytest.raises(InvalidInput) as refused:
        carrier_create(code="lasership", name="Again", tracking_pattern="x", handover="both", actor=staff)
    assert refused.value.code == "carrier_code_taken"
    with pytest.raises(InvalidInput):
        carrier_update(carrier_id=carrier.pk, tracking_pattern="[", actor=staff)
    carrier = carrier_update(carrier_id=carrier.pk, handover="both", active=False, actor=staff)
    assert (carrier.handover, carrier.active) == ("both", False)
    with pytest.raises(InvalidInput):
        carrier_update(carrier_id=carrier.pk, code="renamed", actor=staff)


def test_finance_cannot_change_the_carrier_list(db):
    finance = Actor.for_user(make_staff_user("Finance"))
    with pytest.raises(PermissionRefused):
        carrier_create(code="x", name="X", tracking_pattern="x", handover="both", actor=finance)


def test_the_api_lists_active_carriers(api):
    CarrierFactory(code="retired", active=False)
    CarrierFactory(code="zz-courier", name="ZZ Courier", handover="dropoff", tracking_pattern=r"^ZZ\d{6}$")
    response = api.get("/api/v1/carriers/")
    assert response.status_code == 200
    body = response.json()
    codes = [c["code"] for c in body["results"]]
    assert codes == sorted(codes)
    assert {"usps", "ups", "fedex", "dhl", "zz-courier"} <= set(codes)
    assert "retired" not in codes
    assert body["results"][-1] == {
        "code": "zz-courier",
        "name": "ZZ Courier",
        "tracking_pattern": r"^ZZ\d{6}$",
        "tracking_example": "TRK followed by 8 digits, such as TRK00000001",
        "tracking_url": "https://track.example.com/{tracking_number}",
        "handover": "dropoff",
    }


def test_the_carrier_list_needs_an_api_key(client, db):
    assert client.get("/api/v1/carriers/").status_code == 401


def test_superusers_keep_the_list_too(db):
    root = Actor.for_user(UserFactory(is_staff=True, is_superuser=True))
    carrier_create(code="local", name="Local", tracking_pattern=r"^L\d+$", handover="dropoff", actor=root)
