"""An approved cancellation request refunds the seller's wholesale payment through Stripe (localstripe), R5 + R7."""

from datetime import timedelta

import pytest
import time_machine

from backoffice.timers import process_due_timers
from core.actors import Actor
from fulfillment.models import Stock
from orders.models import OrderStatus
from payments.models import PaymentStatus, Refund, RefundKind, RefundStatus
from payments.selectors import order_checkout
from payments.services import checkout_orders
from payments.tests.conftest import SYSTEM, add_card, awaiting_order
from returns.models import CancellationStatus
from returns.services.cancellations import cancellation_request_approve, cancellation_request_create

pytestmark = pytest.mark.django_db


def _paid_and_requested(emulator, shop):
    partner, seller, sku = shop
    order = awaiting_order(shop, quantity=2)
    add_card(emulator, seller)
    payment = checkout_orders(seller=seller, order_ids=[order.pk], actor=SYSTEM).payment
    assert payment.status == PaymentStatus.SUCCEEDED
    request, _ = cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner), reason="too late")
    return order, payment, request


def test_auto_approval_at_48h01_puts_the_stock_back_and_refunds_the_seller(
    emulator, shop, django_capture_on_commit_callbacks
):
    order, payment, request = _paid_and_requested(emulator, shop)
    sku = shop[2]
    assert Stock.objects.get(sku=sku).reserved == 2

    with time_machine.travel(request.respond_by - timedelta(minutes=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            process_due_timers()
    assert not Refund.objects.exists()

    with time_machine.travel(request.respond_by + timedelta(minutes=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            counts = process_due_timers()

    assert counts["cancellation_requests_auto_approved"] == 1
    request.refresh_from_db()
    order.refresh_from_db()
    assert request.status == CancellationStatus.AUTO_APPROVED
    assert (order.status, order.cancelled_by) == (OrderStatus.CANCELLED, "buyer")
    assert Stock.objects.get(sku=sku).reserved == 0
    refund = Refund.objects.get()
    assert (refund.kind, refund.amount, refund.status) == (RefundKind.ORDER_CANCELLED, 2500, RefundStatus.SUCCEEDED)
    assert refund.stripe_refund_id.startswith("re_")
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, 2500)
    assert order_checkout(order).status == "refunded"


def test_seller_approval_refunds_once(emulator, shop, django_capture_on_commit_callbacks):
    order, payment, request = _paid_and_requested(emulator, shop)

    with django_capture_on_commit_callbacks(execute=True):
        cancellation_request_approve(request_id=request.pk, actor=SYSTEM)
        cancellation_request_approve(request_id=request.pk, actor=SYSTEM)

    refund = Refund.objects.get()
    assert (refund.amount, refund.status) == (2500, RefundStatus.SUCCEEDED)
    payment.refresh_from_db()
    assert payment.amount_refunded == 2500
