"""What every database has after migrate, including one a test flushed: the carriers staff start with."""

import pytest

from backoffice.setup import after_migrate
from fulfillment.carriers import DEFAULT_CARRIERS
from fulfillment.models import Carrier
from tiktok.marketplace import TIKTOK_LOGISTICS_CARRIER

pytestmark = pytest.mark.django_db

DEFAULT_CODES = {carrier["code"] for carrier in DEFAULT_CARRIERS}


def test_a_fresh_database_has_the_common_carriers_and_tiktok_shipping():
    codes = set(Carrier.objects.values_list("code", flat=True))
    assert DEFAULT_CODES <= codes
    assert TIKTOK_LOGISTICS_CARRIER in codes


def test_a_flushed_database_gets_both_back():
    Carrier.objects.all().delete()

    after_migrate(sender=None)

    codes = set(Carrier.objects.values_list("code", flat=True))
    assert codes == DEFAULT_CODES | {TIKTOK_LOGISTICS_CARRIER}


def test_the_marketplace_carrier_alone_does_not_stop_the_common_ones():
    # The TikTok migration creates its carrier before the first post-migrate seeding runs.
    Carrier.objects.exclude(code=TIKTOK_LOGISTICS_CARRIER).delete()

    after_migrate(sender=None)

    assert DEFAULT_CODES <= set(Carrier.objects.values_list("code", flat=True))


def test_staff_own_list_is_left_alone():
    Carrier.objects.exclude(code="ups").delete()
    Carrier.objects.filter(code="ups").update(name="UPS (our account)")

    after_migrate(sender=None)

    assert set(Carrier.objects.values_list("code", flat=True)) == {"ups", TIKTOK_LOGISTICS_CARRIER}
    assert Carrier.objects.get(code="ups").name == "UPS (our account)"
