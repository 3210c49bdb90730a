"""Fulfilment under concurrency on PostgreSQL: real threads, real row locks. Skipped on SQLite."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import PartnerFactory, SellerFactory
from backoffice.timers import process_due_timers
from core.actors import Actor
from core.errors import TransitionRefused
from core.testing import run_in_threads
from fulfillment.models import Reservation, Shipment, ShipmentEvent, Stock
from fulfillment.services import (
    shipment_hand_over,
    shipment_label,
    shipment_pack,
    shipment_record_carrier_event,
    shipment_start_picking,
)
from fulfillment.tests.factories import CarrierFactory, make_labelled_order, make_sku, tracking_number, warehouse_actor
from orders.models import Order, OrderEvent, OrderStatus
from orders.services import order_cancel
from orders.tests.factories import make_ready_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    seller = SellerFactory(code="RACE")
    return PartnerFactory(name="Racer", sellers=[seller]), seller


def _packed(partner, seller, lines):
    order = make_ready_order(partner=partner, seller=seller, lines=lines)
    actor = warehouse_actor()
    shipment_start_picking(order_id=order.pk, actor=actor)
    shipment_pack(order_id=order.pk, actor=actor)
    return order


def test_two_workers_labelling_one_parcel_ship_its_stock_once(shop):
    partner, seller = shop
    sku = make_sku(seller=seller, code="L", on_hand=10)
    carrier = CarrierFactory(code="racer")
    order = _packed(partner, seller, [("L", 3)])
    actor = warehouse_actor()

    def label(i):
        try:
            shipment_label(
                order_id=order.pk,
                carrier=carrier,
                tracking_number=tracking_number(i % 2),
                handover_method="pickup",
                actor=actor,
            )
            return "labelled"
        except TransitionRefused as exc:
            return exc.code

    results, errors = run_in_threads(6, label)

    assert errors == []
    assert results.count("already_labelled") == 3, "the other number's three callers see it taken"
    stock = Stock.objects.get(sku=sku)
    assert (stock.on_hand, stock.reserved) == (7, 0)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.SHIPPED
    assert OrderEvent.objects.filter(order=order, action="mark_shipped").count() == 1
    assert ShipmentEvent.objects.filter(action="labelled").count() == 1


def test_cancel_racing_the_label_leaves_one_outcome_and_consistent_stock(shop):
    partner, seller = shop
    sku = make_sku(seller=seller, code="C", on_hand=100)
    carrier = CarrierFactory(code="racer")
    orders = [_packed(partner, seller, [("C", 2)]) for _ in range(10)]
    actor = warehouse_actor()

    def act(i):
        outcomes = []
        for n, order in enumerate(orders):
            try:
                if i == 0:
                    shipment_label(
                        order_id=order.pk,
                        carrier=carrier,
                        tracking_number=tracking_number(n),
                        handover_method="pickup",
                        actor=actor,
                    )
                else:
                    order_cancel(order_id=order.pk, by="seller", reason="race", actor=Actor.for_partner(partner))
                outcomes.append("ok")
            except TransitionRefused as exc:
                outcomes.append(exc.code)
        return outcomes

    _, errors = run_in_threads(2, act)

    assert errors == []
    shipped = Order.objects.filter(pk__in=[o.pk for o in orders], status=OrderStatus.SHIPPED).count()
    cancelled = Order.objects.filter(pk__in=[o.pk for o in orders], status=OrderStatus.CANCELLED).count()
    assert shipped + cancelled == 10
    stock = Stock.objects.get(sku=sku)
    assert (stock.on_hand, stock.reserved) == (100 - 2 * shipped, 0)
    assert Shipment.objects.filter(status="cancelled").count() == cancelled
    assert Reservation.objects.filter(consumed_at__isnull=False).count() == shipped
    assert Reservation.objects.filter(released_at__isnull=False).count() == cancelled


def test_labelling_orders_that_share_skus_in_opposite_order_does_not_deadlock(shop):
    partner, seller = shop
    make_sku(seller=seller, code="A", on_hand=1000)
    make_sku(seller=seller, code="B", on_hand=1000)
    carrier = CarrierFactory(code="racer")
    orders = [_packed(partner, seller, [("A", 1), ("B", 1)] if i % 2 else [("B", 1), ("A", 1)]) for i in range(16)]
    actor = warehouse_actor()

    def label(i):
        for n, order in enumerate(orders[i::4]):
            shipment_label(
                order_id=order.pk,
                carrier=carrier,
                tracking_number=tracking_number(i * 100 + n),
                handover_method="pickup",
                actor=actor,
            )

    _, errors = run_in_threads(4, label)

    assert errors == []
    assert {(s.sku.code, s.on_hand, s.reserved) for s in Stock.objects.select_related("sku")} == {
        ("A", 984, 0),
        ("B", 984, 0),
    }


def test_parallel_timer_passes_declare_each_parcel_lost_once(shop):
    partner, seller = shop
    make_sku(seller=seller, code="T", on_hand=1000)
    carrier = CarrierFactory(code="racer")
    # Labelled 15 days ago (the transitions' conditions read the clock, so the data is moved, not "now").
    with time_machine.travel(timezone.now() - timedelta(days=15), tick=True):
        orders = [
            make_labelled_order(
                partner=partner, seller=seller, lines=[("T", 1)], carrier=carrier, number=tracking_number(n)
            )
            for n in range(30)
        ]
        for order in orders[:15]:
            shipment_hand_over(order_id=order.pk, actor=warehouse_actor())

    results, errors = run_in_threads(4, lambda i: process_due_timers())

    assert errors == []
    assert sum(r["shipments_lost"] for r in results) == 30
    assert set(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True)) == {
        OrderStatus.LOST
    }
    per_order = sorted(OrderEvent.objects.filter(action="mark_lost").values_list("order_id", flat=True))
    assert per_order == sorted(o.pk for o in orders)
    assert ShipmentEvent.objects.filter(action="lost").count() == 30
    assert Shipment.objects.filter(status="lost").count() == 30


def test_the_lost_timer_and_a_delivery_collide_with_one_outcome(shop):
    partner, seller = shop
    make_sku(seller=seller, code="D", on_hand=1000)
    carrier = CarrierFactory(code="racer")
    orders = []
    attempts_at = timezone.now() - timedelta(days=2)
    with time_machine.travel(attempts_at - timedelta(days=1), tick=True):
        for n in range(15):
            order = make_labelled_order(
                partner=partner, seller=seller, lines=[("D", 1)], carrier=carrier, number=tracking_number(n)
            )
            shipment_hand_over(order_id=order.pk, actor=warehouse_actor())
            orders.append(order)
    for order in orders:
        for attempt in range(2):
            shipment_record_carrier_event(
                order_id=order.pk,
                type="delivery_failed",
                at=attempts_at + timedelta(hours=attempt),
                actor=Actor.for_partner(partner),
            )
    # Both attempts failed, so the lost timer is due, while the carrier reports a late delivery.
    delivered_at = timezone.now() - timedelta(minutes=1)

    def act(i):
        if i == 0:
            return process_due_timers()
        outcomes = []
        for order in orders:
            try:
                shipment_record_carrier_event(
                    order_id=order.pk, type="delivered", at=delivered_at, actor=Actor.for_partner(partner)
                )
                outcomes.append("delivered")
            except TransitionRefused as exc:
                outcomes.append(exc.code)
        return outcomes

    results, errors = run_in_threads(2, act)

    assert errors == []
    lost = delivered = 0
    for order in Order.objects.filter(pk__in=[o.pk for o in orders]).select_related("shipment"):
        assert (order.status, order.shipment.status) in {
            (OrderStatus.LOST, "lost"),
            (OrderStatus.DELIVERED, "delivered"),
        }
        assert order.events.filter(action__in=["mark_lost", "mark_delivered"]).count() == 1
        lost += order.status == OrderStatus.LOST
        delivered += order.status == OrderStatus.DELIVERED
    assert results[1].count("delivered") == delivered
    assert results[1].count("event_out_of_order") == lost
    assert results[0]["shipments_lost"] == lost


def test_the_same_carrier_event_sent_at_once_is_applied_once(shop):
    partner, seller = shop
    make_sku(seller=seller, code="E", on_hand=10)
    carrier = CarrierFactory(code="racer")
    order = make_labelled_order(
        partner=partner, seller=seller, lines=[("E", 1)], carrier=carrier, number=tracking_number(1)
    )
    shipment_hand_over(order_id=order.pk, actor=warehouse_actor())
    at = timezone.now()

    _, errors = run_in_threads(
        6,
        lambda i: shipment_record_carrier_event(
            order_id=order.pk, type="delivery_failed", at=at, actor=Actor.for_partner(partner)
        ),
    )

    assert errors == []
    assert Shipment.objects.get(order=order).failed_attempts == 1
    assert ShipmentEvent.objects.filter(action="delivery_failed").count() == 1
