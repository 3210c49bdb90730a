"""Concurrency on PostgreSQL: real threads, real row locks. Skipped on SQLite (no row locks there)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import PartnerFactory, SellerFactory
from backoffice.timers import process_due_timers
from core.testing import run_in_threads
from fulfillment.models import Stock
from fulfillment.tests.factories import make_sku
from orders.models import Order, OrderEvent, OrderStatus
from orders.tests.factories import make_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    seller = SellerFactory(code="RACE")
    return PartnerFactory(name="Racer", sellers=[seller]), seller


def test_twenty_buyers_for_the_last_five_units(shop):
    partner, seller = shop
    sku = make_sku(seller=seller, code="LAST5", on_hand=5)

    _, errors = run_in_threads(
        20, lambda i: make_order(partner=partner, seller=seller, lines=[("LAST5", 1)], external_id=f"R-{i}")
    )

    assert errors == []
    stock = Stock.objects.get(sku=sku)
    assert (stock.on_hand, stock.reserved) == (5, 5)
    assert Order.objects.count() == 20
    assert Order.objects.filter(stock_exception=False).count() == 5
    assert Order.objects.filter(stock_exception=True).count() == 15


def test_same_external_id_at_once_creates_one_order(shop):
    partner, seller = shop
    sku = make_sku(seller=seller, code="DUP", on_hand=50)

    results, errors = run_in_threads(
        8, lambda i: make_order(partner=partner, seller=seller, lines=[("DUP", 2)], external_id="SAME")
    )

    assert errors == []
    assert Order.objects.count() == 1
    assert {r.pk for r in results} == {Order.objects.get().pk}
    assert Stock.objects.get(sku=sku).reserved == 2


def test_orders_sharing_skus_in_opposite_line_order_do_not_deadlock(shop):
    """Intake locks stock rows in pk order whatever the order of the lines, so crossing orders wait, never deadlock."""
    partner, seller = shop
    first, second = make_sku(seller=seller, code="X1", on_hand=100), make_sku(seller=seller, code="X2", on_hand=100)

    def intake(i):
        lines = [("X1", 1), ("X2", 2)] if i % 2 else [("X2", 2), ("X1", 1)]
        return make_order(partner=partner, seller=seller, lines=lines, external_id=f"X-{i}")

    _, errors = run_in_threads(12, intake)

    assert errors == []
    assert Order.objects.filter(stock_exception=False).count() == 12
    assert (Stock.objects.get(sku=first).reserved, Stock.objects.get(sku=second).reserved) == (12, 24)


def test_parallel_timer_passes_move_each_order_once(shop):
    partner, seller = shop
    make_sku(seller=seller, code="T", on_hand=1000)
    past = timezone.now() - timedelta(days=2)
    unpaid = [make_order(partner=partner, seller=seller, lines=[("T", 1)], placed_at=past).pk for _ in range(40)]
    held = [
        make_order(
            partner=partner, seller=seller, lines=[("T", 1)], placed_at=past, paid_at=past + timedelta(minutes=1)
        ).pk
        for _ in range(40)
    ]

    results, errors = run_in_threads(4, lambda i: process_due_timers())

    assert errors == []
    assert sum(r["unpaid_cancelled"] for r in results) == 40
    assert sum(r["holds_ended"] for r in results) == 40
    assert set(Order.objects.filter(pk__in=unpaid).values_list("status", flat=True)) == {OrderStatus.CANCELLED}
    assert set(Order.objects.filter(pk__in=held).values_list("status", flat=True)) == {OrderStatus.AWAITING_CHECKOUT}
    for action, ids in (("cancel_unpaid", unpaid), ("end_hold", held)):
        per_order = OrderEvent.objects.filter(action=action).values_list("order_id", flat=True)
        assert sorted(per_order) == sorted(ids), f"{action}: one event row per order"
    assert Stock.objects.get(sku__code="T").reserved == 40


def test_cancel_racing_the_hold_end_leaves_one_outcome(shop):
    """A buyer's cancel and the timer's hold end collide: exactly one wins, stock stays consistent."""
    from core.actors import Actor
    from core.errors import TransitionRefused
    from orders.services import order_cancel

    partner, seller = shop
    sku = make_sku(seller=seller, code="H", on_hand=100)
    past = timezone.now() - timedelta(hours=2)
    ids = [
        make_order(partner=partner, seller=seller, lines=[("H", 1)], placed_at=past, paid_at=past).pk for _ in range(20)
    ]

    def act(i):
        if i == 0:
            return process_due_timers()
        outcomes = []
        for pk in ids:
            try:
                order_cancel(order_id=pk, by="buyer", reason="race", actor=Actor.for_partner(partner))
                outcomes.append("cancelled")
            except TransitionRefused as exc:
                outcomes.append(exc.code)
        return outcomes

    _, errors = run_in_threads(2, act)
    assert errors == []
    for order in Order.objects.filter(pk__in=ids):
        assert order.status in (OrderStatus.CANCELLED, OrderStatus.AWAITING_CHECKOUT)
        assert order.events.exclude(action="intake").exclude(action="mark_buyer_paid").count() == 1
    cancelled = Order.objects.filter(pk__in=ids, status=OrderStatus.CANCELLED).count()
    assert Stock.objects.get(sku=sku).reserved == 20 - cancelled
