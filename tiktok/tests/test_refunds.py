"""A TikTok cancellation after the seller's checkout gives the wholesale payment back (R7), through Stripe."""

import pytest

from orders.models import CancelledBy, Order, OrderStatus
from payments.models import PaymentStatus, Refund, RefundKind, RefundStatus
from payments.services import checkout_orders
from payments.tests.conftest import SYSTEM, add_card

pytestmark = pytest.mark.django_db


def test_a_tiktok_cancellation_after_our_checkout_is_refunded(
    tiktok, shop, emulator, client, django_capture_on_commit_callbacks
):
    tt = tiktok.order(shop.tiktok_id, status="AWAITING_SHIPMENT")
    tiktok.deliver(client, capture=django_capture_on_commit_callbacks)
    order = Order.objects.get(external_id=tt["id"])
    assert order.status == OrderStatus.AWAITING_CHECKOUT

    add_card(emulator, shop.seller)
    with django_capture_on_commit_callbacks(execute=True):
        result = checkout_orders(seller=shop.seller, order_ids=[order.pk], actor=SYSTEM)
    assert result.payment.status == PaymentStatus.SUCCEEDED
    order.refresh_from_db()
    assert order.status == OrderStatus.READY_TO_FULFILL

    tiktok.control(f"orders/{tt['id']}/cancel", {"initiator": "BUYER", "reason": "Ordered by mistake"})
    tiktok.deliver(client, capture=django_capture_on_commit_callbacks)

    order.refresh_from_db()
    assert (order.status, order.cancelled_by) == (OrderStatus.CANCELLED, CancelledBy.BUYER)
    refund = Refund.objects.get()
    assert (refund.kind, refund.amount, refund.status) == (RefundKind.ORDER_CANCELLED, 1300, RefundStatus.SUCCEEDED)
    result.payment.refresh_from_db()
    assert result.payment.status == PaymentStatus.REFUNDED
