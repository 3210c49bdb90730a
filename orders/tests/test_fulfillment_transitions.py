"""The order's fulfilment transitions on the model: named sources, guards, and the SLA columns."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django_fsm import TransitionNotAllowed, can_proceed

from fulfillment.models import Shipment
from fulfillment.tests.factories import CarrierFactory
from orders.models import Order, OrderStatus
from orders.tests.factories import make_order, make_ready_order

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def order_in(partner, seller, sku):
    """An order put straight into ``status`` (test set-up only: real orders get there through services).

    The transitions are pure, so calling them here checks the model's rules alone.
    """

    def make(status: str, **fields) -> Order:
        order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=START)
        Order.objects.filter(pk=order.pk).update(status=status, **fields)
        return Order.objects.get(pk=order.pk)

    return make


@pytest.mark.parametrize(
    "status",
    [
        OrderStatus.PENDING_PAYMENT,
        OrderStatus.ON_HOLD,
        OrderStatus.AWAITING_CHECKOUT,
        OrderStatus.READY_TO_FULFILL,
        OrderStatus.IN_FULFILLMENT,
    ],
)
def test_the_seller_may_cancel_anything_not_labelled(status, order_in):
    order = order_in(status)
    order.cancel_by_seller(by="seller", reason="damaged")
    assert order.status == OrderStatus.CANCELLED


@pytest.mark.parametrize(
    "status",
    [OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED, OrderStatus.COMPLETED, OrderStatus.LOST],
)
def test_nobody_cancels_after_the_label(status, order_in):
    with pytest.raises(TransitionNotAllowed):
        order_in(status).cancel_by_seller(by="staff", reason="too late")


def test_picking_starts_only_from_ready_to_fulfill(order_in):
    for status in (OrderStatus.ON_HOLD, OrderStatus.AWAITING_CHECKOUT, OrderStatus.IN_FULFILLMENT):
        assert not can_proceed(order_in(status).start_fulfillment)
    order = order_in(OrderStatus.READY_TO_FULFILL)
    order.start_fulfillment()
    assert order.status == OrderStatus.IN_FULFILLMENT


def test_a_stock_exception_blocks_the_label(order_in):
    assert not can_proceed(order_in(OrderStatus.IN_FULFILLMENT, stock_exception=True).mark_shipped)
    order = order_in(OrderStatus.IN_FULFILLMENT)
    order.mark_shipped(at=START)
    assert (order.status, order.shipped_at) == (OrderStatus.SHIPPED, START)
    assert not can_proceed(order_in(OrderStatus.READY_TO_FULFILL).mark_shipped), "picking comes first"


def test_delivery_opens_the_return_window_and_completion_waits_for_it(clock, settings, order_in):
    settings.RETURN_WINDOW = timedelta(days=7)
    order = order_in(OrderStatus.IN_TRANSIT)
    order.mark_delivered(at=START)
    assert order.return_window_ends_at == START + timedelta(days=7)
    assert not can_proceed(order.complete)
    clock.move_to(START + timedelta(days=7))
    assert can_proceed(order.complete)
    order.complete()
    assert (order.status, order.completed_at) == (OrderStatus.COMPLETED, START + timedelta(days=7))


@pytest.mark.parametrize("status", [OrderStatus.SHIPPED, OrderStatus.IN_TRANSIT])
def test_lost_only_once_the_parcel_left(status, clock, order_in):
    order = order_in(status)
    order.mark_lost()
    assert (order.status, order.lost_at) == (OrderStatus.LOST, START)


@pytest.mark.parametrize(
    "status", [OrderStatus.IN_FULFILLMENT, OrderStatus.DELIVERED, OrderStatus.COMPLETED, OrderStatus.CANCELLED]
)
def test_lost_is_refused_elsewhere(status, order_in):
    assert not can_proceed(order_in(status).mark_lost)


def test_marketplace_statuses_of_the_fulfilment_states(order_in):
    assert {
        s: order_in(s).marketplace_status
        for s in (
            OrderStatus.IN_FULFILLMENT,
            OrderStatus.SHIPPED,
            OrderStatus.IN_TRANSIT,
            OrderStatus.DELIVERED,
            OrderStatus.COMPLETED,
            OrderStatus.LOST,
        )
    } == {
        OrderStatus.IN_FULFILLMENT: "AWAITING_SHIPMENT",
        OrderStatus.SHIPPED: "AWAITING_COLLECTION",
        OrderStatus.IN_TRANSIT: "IN_TRANSIT",
        OrderStatus.DELIVERED: "DELIVERED",
        OrderStatus.COMPLETED: "COMPLETED",
        OrderStatus.LOST: None,
    }


def test_intake_sets_the_sla_deadlines_from_placement(partner, seller, sku, clock, settings):
    settings.SHIP_BY_WINDOW = timedelta(hours=48)
    placed = START - timedelta(hours=5)
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], placed_at=placed)
    order.refresh_from_db()
    assert order.ship_by == placed + timedelta(hours=48)
    assert order.tracking_due == placed + timedelta(hours=72)
    assert order.deliver_by == placed + timedelta(days=11)


def test_the_database_refuses_a_labelled_parcel_without_tracking(partner, seller, sku, clock):
    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    shipment = Shipment.objects.create(order=order)
    with pytest.raises(IntegrityError), transaction.atomic():
        Shipment.objects.filter(pk=shipment.pk).update(status="labelled", carrier=CarrierFactory(), labelled_at=START)


def test_one_parcel_per_order(partner, seller, sku, clock):
    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    Shipment.objects.create(order=order)
    with pytest.raises(IntegrityError), transaction.atomic():
        Shipment.objects.create(order=order)
