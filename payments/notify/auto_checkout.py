"""The email Auto Checkout sends when it stops charging orders: retries used up, or the bank wants the seller."""

from __future__ import annotations

import logging

from accounts.emails import SellerMessage, portal_url, seller_message
from orders.models import Order
from payments.notify.checkout import pay_url
from payments.notify.waiting import waiting_orders

logger = logging.getLogger(__name__)


def auto_checkout_failed_message(*, order_ids: list[int], reason: str) -> SellerMessage | None:
    """The failure email for ``order_ids`` (one seller's), or None if none of them still waits for payment."""
    first = Order.objects.select_related("seller").filter(pk__in=order_ids).order_by("pk").first()
    if first is None:
        return None
    seller = first.seller
    waiting = waiting_orders(seller=seller, order_ids=order_ids)
    if not waiting:
        return None
    count = "1 order" if waiting.count == 1 else f"{waiting.count} orders"
    return seller_message(
        seller=seller,
        template="auto_checkout_failed",
        subject=f"Auto Checkout could not pay {count}: action needed",
        # The payment page holds the cards and the Auto Checkout switch.
        context={"waiting": waiting, "reason": reason, "pay_url": pay_url(), "cards_url": portal_url("portal:payment")},
    )


def notify_auto_checkout_failed(*, order_ids: list[int], reason: str) -> None:
    """Tell the seller Auto Checkout could not pay these orders, why, and where to pay them by hand.

    Called after commit. Orders paid or cancelled in the meantime are left out;
    if none is left, nothing is sent.
    """
    message = auto_checkout_failed_message(order_ids=order_ids, reason=reason)
    if message is None:
        logger.info("auto checkout failure for orders %s: nothing waits any more, no email", order_ids)
        return
    message.send()
    logger.info("auto checkout failure email sent to %s for orders %s", message.to, order_ids)
