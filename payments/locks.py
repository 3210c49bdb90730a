"""Every row lock the payments app takes goes through here.

Order of locks, always: orders (in pk order) → payment → refund / Auto Checkout
row. Orders come first as everywhere else in the codebase (``orders.locks``),
so a cancellation (which holds the order and then reaches for the payment to
refund it) and the recording of a charge (orders, then the payment) can never
wait on each other in a cycle. Every function needs ``transaction.atomic()``.
"""

from __future__ import annotations

from collections.abc import Iterable

from accounts.models import Seller
from orders.models import Order
from payments.models import AutoCheckout, Payment, Refund


def lock_orders(order_ids: Iterable[int], *, seller: Seller | None = None) -> list[Order]:
    """Lock orders in pk order and return them re-read; ``seller`` limits them to that seller's orders."""
    queryset = Order.objects.select_for_update(of=("self",)).select_related("seller").filter(pk__in=set(order_ids))
    if seller is not None:
        queryset = queryset.filter(seller=seller)
    return list(queryset.order_by("pk"))


def lock_payment(payment_id: int) -> Payment:
    return Payment.objects.select_for_update(of=("self",)).select_related("seller").get(pk=payment_id)


def lock_refund(refund_id: int) -> Refund:
    return Refund.objects.select_for_update(of=("self",)).get(pk=refund_id)


def lock_auto_checkout(order_id: int) -> AutoCheckout | None:
    return AutoCheckout.objects.select_for_update(of=("self",)).filter(order_id=order_id).first()


def lock_seller(seller_id: int) -> Seller:
    return Seller.objects.select_for_update().get(pk=seller_id)
