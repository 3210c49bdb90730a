"""The two emails about orders waiting for the seller's payment by hand: the reminder and the daily digest."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from accounts.emails import SellerMessage, portal_url, seller_message
from accounts.models import Seller
from core.money import money
from payments.notify.waiting import WaitingOrders, waiting_orders


def pay_url() -> str:
    """The portal's Unpaid page, where the seller selects orders and pays them (the order list until it exists)."""
    return portal_url("portal:unpaid")


def _due(waiting: WaitingOrders) -> str:
    return f" ({money(waiting.total, waiting.currency)} due)" if waiting.total else ""


def reminder_message(*, seller: Seller, order_ids: Iterable[int]) -> SellerMessage | None:
    """Orders that just started waiting for the seller's payment; None if none of them still waits."""
    waiting = waiting_orders(seller=seller, order_ids=order_ids)
    if not waiting:
        return None
    if waiting.count == 1:
        subject = f"Order {waiting.orders[0].label} is waiting for your payment{_due(waiting)}"
    else:
        subject = f"{waiting.count} new orders are waiting for your payment{_due(waiting)}"
    return seller_message(
        seller=seller, template="checkout_reminder", subject=subject, context={"waiting": waiting, "pay_url": pay_url()}
    )


def digest_message(*, seller: Seller, order_ids: Iterable[int], day: date) -> SellerMessage | None:
    """Every order still waiting for the seller's payment on ``day``; None if there is none."""
    waiting = waiting_orders(seller=seller, order_ids=order_ids)
    if not waiting:
        return None
    orders = "1 order is" if waiting.count == 1 else f"{waiting.count} orders are"
    subject = f"Daily reminder: {orders} waiting for your payment{_due(waiting)}"
    return seller_message(
        seller=seller,
        template="checkout_digest",
        subject=subject,
        context={"waiting": waiting, "pay_url": pay_url(), "day": day},
    )
