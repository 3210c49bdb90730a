"""Cancellation requests under concurrency on PostgreSQL: real threads, real row locks (skipped on SQLite)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import PartnerFactory, SellerFactory, SellerUserFactory
from backoffice.timers import process_due_timers
from core.actors import Actor
from core.errors import DomainError
from core.testing import run_in_threads
from fulfillment.models import Stock
from fulfillment.services import shipment_label, shipment_pack, shipment_start_picking
from fulfillment.tests.factories import CarrierFactory, make_sku, tracking_number, warehouse_actor
from orders.models import Order, OrderEvent, OrderStatus
from orders.tests.factories import make_ready_order
from returns.models import CancellationRequest, CancellationRequestEvent, CancellationStatus
from returns.services.cancellations import cancellation_request_approve, cancellation_request_create
from returns.tests.conftest import past_hold

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 6


@pytest.fixture
def shop():
    seller = SellerFactory(code="RACE")
    partner = PartnerFactory(name="Racer", sellers=[seller])
    sku = make_sku(seller=seller, code="R", on_hand=100)
    clerk = Actor.for_user(SellerUserFactory(username="race-clerk", seller=seller))
    return partner, seller, sku, clerk


def _packed_with_request(partner, seller):
    """A packed parcel waiting for its label, and the buyer's pending request on the order."""
    order = make_ready_order(partner=partner, seller=seller, lines=[("R", 2)])
    actor = warehouse_actor()
    shipment_start_picking(order_id=order.pk, actor=actor)
    shipment_pack(order_id=order.pk, actor=actor)
    request, _ = cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner), reason="race")
    return order, request


def test_seller_approval_racing_the_label_leaves_exactly_one_outcome(shop):
    partner, seller, sku, clerk = shop
    carrier = CarrierFactory(code="racepost", name="Race Post")
    pairs = [_packed_with_request(partner, seller) for _ in range(ROUNDS)]
    worker = warehouse_actor()

    def act(i):
        outcomes = []
        for n, (order, request) in enumerate(pairs):
            try:
                if i == 0:
                    cancellation_request_approve(request_id=request.pk, actor=clerk)
                else:
                    shipment_label(
                        order_id=order.pk,
                        carrier=carrier,
                        tracking_number=tracking_number(n + 1),
                        handover_method="pickup",
                        actor=worker,
                    )
                outcomes.append("ok")
            except DomainError as exc:
                outcomes.append(exc.code)
        return outcomes

    results, errors = run_in_threads(2, act)

    assert errors == []
    approvals, labels = results
    for n, (order, request) in enumerate(pairs):
        order.refresh_from_db()
        request.refresh_from_db()
        if order.status == OrderStatus.CANCELLED:
            assert (approvals[n], labels[n]) == ("ok", "not_packed")
            assert request.status == CancellationStatus.APPROVED
            assert order.shipment.status == "cancelled"
        else:
            assert order.status == OrderStatus.SHIPPED
            assert labels[n] == "ok" and approvals[n] in ("already_shipped",)
            assert request.status == CancellationStatus.REJECTED
        assert request.events.count() == 2  # requested, then one answer
    cancelled = Order.objects.filter(pk__in=[o.pk for o, _ in pairs], status=OrderStatus.CANCELLED).count()
    shipped = ROUNDS - cancelled
    stock = Stock.objects.get(sku=sku)
    assert (stock.on_hand, stock.reserved) == (100 - 2 * shipped, 0)


def test_parallel_timer_passes_auto_approve_each_request_once(shop):
    partner, seller, sku, _ = shop
    requests = []
    for _ in range(12):
        order = past_hold(partner, seller, lines=[("R", 1)])
        requests.append(cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner))[0])
    # Arrange the deadline in the past (as 48 hours later would be).
    CancellationRequest.objects.update(respond_by=timezone.now() - timedelta(minutes=1))

    results, errors = run_in_threads(4, lambda i: process_due_timers())

    assert errors == []
    assert sum(r["cancellation_requests_auto_approved"] for r in results) == 12
    ids = [r.pk for r in requests]
    assert set(CancellationRequest.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        CancellationStatus.AUTO_APPROVED
    }
    assert CancellationRequestEvent.objects.filter(action="auto_approved").count() == 12
    order_ids = [r.order_id for r in requests]
    cancels = OrderEvent.objects.filter(action="cancel_on_buyer_request").values_list("order_id", flat=True)
    assert sorted(cancels) == sorted(order_ids)
    assert set(Order.objects.filter(pk__in=order_ids).values_list("status", flat=True)) == {OrderStatus.CANCELLED}
    assert Stock.objects.get(sku=sku).reserved == 0


def test_the_timer_racing_the_label_leaves_exactly_one_outcome(shop):
    partner, seller, sku, _ = shop
    carrier = CarrierFactory(code="racepost", name="Race Post")
    pairs = [_packed_with_request(partner, seller) for _ in range(ROUNDS)]
    CancellationRequest.objects.update(respond_by=timezone.now() - timedelta(minutes=1))
    worker = warehouse_actor()

    def act(i):
        if i == 0:
            return [process_due_timers() for _ in range(2)]
        codes = []
        for n, (order, _) in enumerate(pairs):
            try:
                shipment_label(
                    order_id=order.pk,
                    carrier=carrier,
                    tracking_number=tracking_number(n + 1),
                    handover_method="pickup",
                    actor=worker,
                )
                codes.append("ok")
            except DomainError as exc:
                codes.append(exc.code)
        return codes

    _, errors = run_in_threads(2, act)
    assert errors == []
    process_due_timers()  # a pass that found an order busy retries it now

    for order, request in pairs:
        order.refresh_from_db()
        request.refresh_from_db()
        expected = {
            OrderStatus.CANCELLED: CancellationStatus.AUTO_APPROVED,
            OrderStatus.SHIPPED: CancellationStatus.REJECTED,
        }
        assert request.status == expected[order.status]
        assert request.events.exclude(action="requested").count() == 1
    shipped = Order.objects.filter(pk__in=[o.pk for o, _ in pairs], status=OrderStatus.SHIPPED).count()
    stock = Stock.objects.get(sku=sku)
    assert (stock.on_hand, stock.reserved) == (100 - 2 * shipped, 0)
