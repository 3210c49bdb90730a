"""Fixtures of the warehouse tests: a clock stopped at ``shipping.START``, a carrier, a warehouse actor."""

import pytest
import time_machine

from fulfillment.tests.factories import CarrierFactory, warehouse_actor
from fulfillment.tests.shipping import START


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def carrier(db):
    return CarrierFactory(code="acmeship", name="AcmeShip")


@pytest.fixture
def actor(db):
    return warehouse_actor()
