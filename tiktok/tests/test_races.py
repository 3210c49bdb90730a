"""On PostgreSQL: a webhook's task and the poller reconciling the same new order at once make one order."""

import pytest

from core.testing import run_in_threads
from orders.models import Order, OrderEvent
from returns.models import CancellationRequest
from tiktok.models import EventStatus, TikTokEvent, TikTokOrder
from tiktok.services import event_process, shop_poll

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_webhook_task_and_poller_on_the_same_new_order_make_one_order(tiktok, shop, client):
    tt = tiktok.order(shop.tiktok_id, status="AWAITING_SHIPMENT")
    tiktok.deliver(client)  # stored; its task is run below, beside the poll
    event = TikTokEvent.objects.get()

    for _ in range(3):
        results, errors = run_in_threads(
            4, lambda i: event_process(event_id=event.pk) if i % 2 == 0 else shop_poll(shop_id=shop.pk)
        )
        assert errors == []
        TikTokEvent.objects.filter(pk=event.pk).update(status=EventStatus.RECEIVED)

    order = Order.objects.get()
    assert order.external_id == tt["id"]
    assert TikTokOrder.objects.get().order == order
    assert OrderEvent.objects.filter(order=order, action="intake").count() == 1
    assert OrderEvent.objects.filter(order=order, action="mark_buyer_paid").count() == 1
    assert OrderEvent.objects.filter(order=order, action="end_hold_early").count() == 1
    stock = order.lines.get().sku.stock
    stock.refresh_from_db()
    assert stock.reserved == 2


def test_two_polls_and_webhooks_on_a_cancellation_request_make_one_request(tiktok, shop, client):
    tt = tiktok.order(shop.tiktok_id, status="AWAITING_SHIPMENT")
    tiktok.control(f"orders/{tt['id']}/cancellations", {"reason": "Late"})
    tiktok.deliver(client)
    events = list(TikTokEvent.objects.order_by("pk").values_list("pk", flat=True))

    results, errors = run_in_threads(
        4, lambda i: event_process(event_id=events[i % 2]) if i < 2 else shop_poll(shop_id=shop.pk)
    )

    assert errors == []
    assert Order.objects.count() == 1
    assert CancellationRequest.objects.count() == 1


def test_workers_sending_the_same_call_at_once_ship_the_package_once(tiktok, shop, client, staff, carrier, monkeypatch):
    """Two task copies (a retry, a timer pass) racing on one call: one claims it, the other finds nothing."""
    from fulfillment.services import shipment_label, shipment_pack, shipment_start_picking
    from payments.services.bank import bank_transfer_record
    from tiktok.models import CallStatus, TikTokCall
    from tiktok.services.outbox import call_send

    tt = tiktok.order(shop.tiktok_id, status="AWAITING_SHIPMENT")
    tiktok.deliver(client)  # its task runs at the commit (tasks run inline here)
    order = Order.objects.get(external_id=tt["id"])
    bank_transfer_record(order_id=order.pk, reference="BANK-1", actor=staff)
    shipment_start_picking(order_id=order.pk, actor=staff)
    shipment_pack(order_id=order.pk, actor=staff)
    shipment_label(
        order_id=order.pk, carrier="trk", tracking_number="TRK00000042", handover_method="pickup", actor=staff
    )
    call = TikTokCall.objects.get(order=order)

    results, errors = run_in_threads(4, lambda i: call_send(call.pk))

    assert errors == []
    call.refresh_from_db()
    assert (call.status, call.attempts) == (CallStatus.SUCCEEDED, 1)
    ships = [c for c in tiktok.control("calls?path=/fulfillment/", method="GET")["calls"] if c["method"] == "POST"]
    assert len(ships) == 1
    order.refresh_from_db()
    assert order.status == "shipped"
