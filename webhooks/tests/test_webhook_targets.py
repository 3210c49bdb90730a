"""Webhook URLs may not point inside our network (SSRF), when set and again at every delivery."""

import socket

import pytest

from core.errors import InvalidInput
from webhooks.models import WebhookDelivery, WebhookEvent, WebhookEventStatus
from webhooks.services import partner_webhook_configure, webhook_event_deliver
from webhooks.tests.conftest import STAFF
from webhooks.tests.support import orderless_event

# What the probe got accepted, and a few more of the same kind.
INTERNAL = [
    "https://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:5432/",
    "http://localhost:6379/",
    "http://[::1]/hooks",
    "http://10.0.0.1/hooks",
    "http://0.0.0.0/hooks",
    "https://192.168.1.20/hooks",
    "https://172.16.0.5/hooks",
    "https://100.64.0.1/hooks",  # carrier-grade NAT
    "https://[fd00::1]/hooks",  # unique local IPv6
    "https://[::ffff:127.0.0.1]/hooks",  # IPv4 loopback written as IPv6
    "https://224.0.0.1/hooks",  # multicast
]


@pytest.fixture
def strict(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    return settings


def _resolve_to(monkeypatch, address: str):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_targets_are_refused_by_default(partner, strict, url):
    with pytest.raises(InvalidInput) as refused:
        partner_webhook_configure(partner_id=partner.pk, url=url, actor=STAFF)

    assert refused.value.code == "webhook_url_internal"
    assert "internal address" in refused.value.detail
    partner.refresh_from_db()
    assert partner.webhook_url == ""


def test_a_name_that_resolves_inside_is_refused(partner, strict, monkeypatch):
    _resolve_to(monkeypatch, "10.1.2.3")

    with pytest.raises(InvalidInput, match="10.1.2.3"):
        partner_webhook_configure(partner_id=partner.pk, url="https://hooks.partner.example/in", actor=STAFF)


def test_a_public_target_is_accepted(partner, strict, monkeypatch):
    _resolve_to(monkeypatch, "93.184.215.14")

    partner, secret = partner_webhook_configure(
        partner_id=partner.pk, url="https://hooks.partner.example/in", actor=STAFF
    )

    assert partner.webhook_url == "https://hooks.partner.example/in"
    assert secret


@pytest.mark.parametrize("url", INTERNAL[:6])
def test_the_setting_allows_internal_targets_for_development(partner, settings, url):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True

    partner, _ = partner_webhook_configure(partner_id=partner.pk, url=url, actor=STAFF)

    assert partner.webhook_url == url


def test_delivery_checks_the_address_again_since_dns_can_change(partner, receiver, strict, monkeypatch):
    """Public when it was set; by delivery time the name points at the receiver on loopback: nothing is sent."""
    host_url = receiver.url.replace("127.0.0.1", "hooks.partner.example")
    _resolve_to(monkeypatch, "93.184.215.14")
    partner, _ = partner_webhook_configure(partner_id=partner.pk, url=host_url, actor=STAFF)
    event = orderless_event(partner)
    _resolve_to(monkeypatch, "127.0.0.1")

    webhook_event_deliver(event.pk)

    assert receiver.requests == []
    attempt = WebhookDelivery.objects.get(event=event)
    assert attempt.status_code is None
    assert attempt.error.startswith("not sent: hooks.partner.example is an internal address (127.0.0.1)")
    event = WebhookEvent.objects.get(pk=event.pk)
    assert event.status == WebhookEventStatus.PENDING  # retried on the usual schedule, then parked
    assert event.attempts == 1
