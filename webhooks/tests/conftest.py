"""Fixtures of the webhook tests: a receiver on loopback, a partner sending to it, a stopped clock."""

import pytest
import time_machine

from core.actors import Actor
from webhooks.services import partner_webhook_configure
from webhooks.tests.support import START, Receiver

STAFF = Actor.system("test-staff")


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def hooked(partner, receiver):
    """``partner`` sending to ``receiver``; returns (partner, secret)."""
    return partner_webhook_configure(partner_id=partner.pk, url=receiver.url, actor=STAFF)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller
