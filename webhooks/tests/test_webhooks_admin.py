"""Partner webhooks in the console: setting the URL and secret, seeing events, redelivering them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from accounts.tests.factories import make_staff_user
from core.actors import Actor
from fulfillment.notify import order_at_risk as webhook_order_at_risk
from orders.tests.factories import make_order
from webhooks.models import WebhookEventStatus
from webhooks.services import (
    webhook_event_deliver,
)
from webhooks.tests.support import START, at_risk_event, orderless_event

pytestmark = pytest.mark.django_db

STAFF = Actor.system("test-staff")


# --- the console ------------------------------------------------------------------------------


@pytest.fixture
def root(client):
    user = make_staff_user(superuser=True, username="root")
    client.force_login(user)
    return user


def test_admin_sets_the_url_and_shows_the_secret_once(client, root, partner, settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    url = reverse("admin:accounts_partner_webhook", args=[partner.pk])

    bad = client.post(url, {"url": "http://partner.example/hook"})
    assert bad.status_code == 200 and "not a usable webhook URL" in bad.content.decode()

    shown = client.post(url, {"url": "https://partner.example/hook"})
    partner.refresh_from_db()
    assert shown.status_code == 200
    assert partner.webhook_secret and partner.webhook_secret in shown.content.decode()
    assert shown.headers["Cache-Control"].startswith("max-age=0")

    page = client.get(reverse("admin:accounts_partner_change", args=[partner.pk])).content.decode()
    assert "https://partner.example/hook" in page and partner.webhook_secret not in page
    assert "Rotate webhook secret" in page

    # Changing the URL later keeps the secret and does not show it again.
    changed = client.post(url, {"url": "https://partner.example/v2"})
    assert changed.status_code == 302
    partner.refresh_from_db()
    assert partner.webhook_url == "https://partner.example/v2"

    rotate_url = reverse("admin:accounts_partner_webhook_rotate", args=[partner.pk])
    old = partner.webhook_secret
    assert client.get(rotate_url).status_code == 200 and old == type(partner).objects.get(pk=partner.pk).webhook_secret
    rotated = client.post(rotate_url)
    partner.refresh_from_db()
    assert partner.webhook_secret != old and partner.webhook_secret in rotated.content.decode()
    assert partner.webhook_previous_secret == old


def test_support_staff_cannot_configure_webhooks(client, partner):
    client.force_login(make_staff_user("Support"))
    assert (
        client.post(
            reverse("admin:accounts_partner_webhook", args=[partner.pk]), {"url": "https://x.example"}
        ).status_code
        == 403
    )
    assert client.post(reverse("admin:accounts_partner_webhook_rotate", args=[partner.pk])).status_code == 403
    partner.refresh_from_db()
    assert partner.webhook_url == ""


def _park(event, receiver, clock, settings):
    settings.WEBHOOK_RETRY_BACKOFF = []
    receiver.answers = [500]
    webhook_event_deliver(event.pk)
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PARKED


def test_support_sees_parked_events_and_redelivers_them_from_the_list(
    client, hooked, receiver, seller, sku, clock, settings, django_capture_on_commit_callbacks
):
    partner, _ = hooked
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="TT-77")
    event = at_risk_event(order)
    _park(event, receiver, clock, settings)
    client.force_login(make_staff_user("Support", username="sue"))

    index = client.get(reverse("admin:index"))
    parked_queue, retrying_queue = index.context["webhook_queues"]
    assert (parked_queue.label, parked_queue.count) == ("Parked webhooks", 1)
    assert (retrying_queue.label, retrying_queue.count) == ("Webhooks retrying", 0)
    assert f'href="{parked_queue.url}"' in index.content.decode()
    listing = client.get(parked_queue.url)
    assert list(listing.context["cl"].result_list) == [event]

    changelist = reverse("admin:webhooks_webhookevent_changelist")
    for term in (str(event.uuid), "TT-77", f"#{order.pk}"):
        found = client.get(changelist, {"q": term}).context["cl"].result_list
        assert list(found) == [event], term
    assert list(client.get(changelist, {"q": "nothing-like-it"}).context["cl"].result_list) == []

    detail = client.get(reverse("admin:webhooks_webhookevent_change", args=[event.pk])).content.decode()
    assert "HTTP 500" in detail and "Redeliver" in detail and str(event.uuid) in detail

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(changelist, {"action": "redeliver_selected", "_selected_action": [event.pk]})
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.status, event.round) == (WebhookEventStatus.DELIVERED, 2)
    assert len(receiver.requests) == 2
    assert event.history.get(action="requeue").user.username == "sue"


def test_redeliver_button_on_the_event_page(
    client, root, hooked, receiver, seller, sku, clock, settings, django_capture_on_commit_callbacks
):
    partner, _ = hooked
    event = at_risk_event(make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)]))
    _park(event, receiver, clock, settings)
    url = reverse("admin:webhooks_webhookevent_redeliver", args=[event.pk])

    assert client.get(url).status_code == 200  # a confirmation page, nothing queued yet
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PARKED
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.DELIVERED


def test_warehouse_staff_cannot_see_or_redeliver_webhooks(client, hooked, receiver, seller, sku, clock, settings):
    partner, _ = hooked
    event = at_risk_event(make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)]))
    _park(event, receiver, clock, settings)
    client.force_login(make_staff_user("Warehouse"))

    assert client.get(reverse("admin:webhooks_webhookevent_changelist")).status_code == 403
    assert client.post(reverse("admin:webhooks_webhookevent_redeliver", args=[event.pk])).status_code == 403
    index = client.get(reverse("admin:index"))
    assert "webhook_queues" not in index.context and "Parked webhooks" not in index.content.decode()
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PARKED


def test_at_risk_says_which_clock_and_whether_it_has_passed(hooked, seller, sku, clock):
    partner, _ = hooked
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])

    soon = webhook_order_at_risk(order=order, clock="ship_by", due_at=START + timedelta(hours=12))
    missed = webhook_order_at_risk(order=order, clock="tracking_due", due_at=START - timedelta(minutes=1))

    assert soon.data == {
        "status": "pending_payment",
        "marketplace_status": "UNPAID",
        "clock": "ship_by",
        "due_at": "2026-03-02T21:00:00Z",
        "late": False,
    }
    assert (missed.data["clock"], missed.data["late"]) == ("tracking_due", True)


def test_failing_events_show_as_retrying_on_the_index(client, root, hooked, receiver):
    partner, _ = hooked
    failing, fine = orderless_event(partner), orderless_event(partner)
    receiver.answers = [500]
    webhook_event_deliver(failing.pk)
    webhook_event_deliver(fine.pk)

    parked, retrying = client.get(reverse("admin:index")).context["webhook_queues"]

    assert (parked.count, retrying.count) == (0, 1)
    assert list(client.get(retrying.url).context["cl"].result_list) == [failing]


def test_the_retry_schedule_comes_from_the_environment_and_bad_limits_are_refused():
    from backoffice.tests.test_settings import run_manage

    shown = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings as s; print([int(d.total_seconds()) for d in s.WEBHOOK_RETRY_BACKOFF], "
        "s.WEBHOOK_TIMEOUT)",
        DEBUG="true",
        WEBHOOK_RETRY_BACKOFF="2m, 1h",
        WEBHOOK_TIMEOUT="5s",
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["[120,", "3600]", "0:00:05"]
