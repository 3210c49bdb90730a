"""Never charge an order twice: manual checkout, Auto Checkout tasks and a timer pass collide on PostgreSQL.

Real threads, real row locks, a real Stripe emulator. Skipped on SQLite.
"""

from collections import Counter

import pytest
from django.utils import timezone

from accounts.models import Seller
from backoffice.timers import process_due_timers
from core.testing import run_in_threads
from orders.models import OrderStatus
from payments.models import AutoCheckout, Payment, PaymentOrder, PaymentStatus
from payments.selectors import seller_customer
from payments.services import auto_checkout_charge, checkout_orders
from payments.tests.conftest import SYSTEM, add_card, awaiting_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_manual_checkout_and_two_auto_checkout_workers_and_a_timer_charge_each_order_once(emulator, shop):
    _, seller, _ = shop
    add_card(emulator, seller)
    orders = [awaiting_order(shop, quantity=q) for q in (1, 2, 3, 1, 2)]
    ids = [o.pk for o in orders]
    # Auto Checkout is switched on behind the services' back, so nothing is charged before the threads start.
    Seller.objects.filter(pk=seller.pk).update(auto_checkout=True)
    now = timezone.now()
    AutoCheckout.objects.bulk_create([AutoCheckout(order_id=pk, seller=seller, next_attempt_at=now) for pk in ids])

    def act(i):
        if i == 0:
            return checkout_orders(seller=seller, order_ids=ids, actor=SYSTEM)
        if i == 3:
            return process_due_timers()
        return [auto_checkout_charge(order_id=pk, actor=SYSTEM) for pk in (ids if i == 1 else reversed(ids))]

    results, errors = run_in_threads(4, act)

    assert errors == []
    succeeded = PaymentOrder.objects.filter(order_id__in=ids, payment__status=PaymentStatus.SUCCEEDED)
    assert Counter(succeeded.values_list("order_id", flat=True)) == Counter(ids)  # every order paid exactly once
    assert (
        not PaymentOrder.objects.filter(order_id__in=ids, active=True)
        .exclude(payment__status=PaymentStatus.SUCCEEDED)
        .exists()
    )
    for order in orders:
        order.refresh_from_db()
        assert order.status == OrderStatus.READY_TO_FULFILL
    intents = emulator.payment_intents(seller_customer(seller=seller).id)
    payments = Payment.objects.filter(seller=seller)
    assert len(intents) == payments.count()  # one PaymentIntent per payment row, none made twice
    assert sum(pi["amount"] for pi in intents if pi["status"] == "succeeded") == 9 * 1250
    manual = results[0]
    assert {r.outcome for r in manual.orders} <= {"paid", "skipped"}
    assert all(r.code == "already_paid" or r.code == "in_progress" for r in manual.orders if r.outcome == "skipped")


def test_parallel_timer_passes_charge_each_due_order_once(emulator, shop):
    _, seller, _ = shop
    add_card(emulator, seller)
    ids = [awaiting_order(shop, quantity=1).pk for _ in range(12)]
    Seller.objects.filter(pk=seller.pk).update(auto_checkout=True)
    now = timezone.now()
    AutoCheckout.objects.bulk_create([AutoCheckout(order_id=pk, seller=seller, next_attempt_at=now) for pk in ids])

    results, errors = run_in_threads(4, lambda i: process_due_timers())

    assert errors == []
    assert sum(r["auto_checkout_charges"] for r in results) == 12
    assert Counter(
        PaymentOrder.objects.filter(payment__status=PaymentStatus.SUCCEEDED).values_list("order_id", flat=True)
    ) == Counter(ids)
    assert len(emulator.payment_intents(seller_customer(seller=seller).id)) == 12
    assert set(AutoCheckout.objects.values_list("attempts", flat=True)) == {1}
