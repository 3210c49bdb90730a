"""django-q2 entry points. They call services and nothing else; each returns a short status for the task log."""

import logging

from django.utils import timezone

from core.actors import Actor
from payments import services
from payments.reminders import checkout_digests_queue
from payments.reminders import seller_email_send as send_seller_email

logger = logging.getLogger(__name__)

AUTO_CHECKOUT = Actor.system("auto_checkout")
PAYMENTS = Actor.system("payments")


def auto_checkout_charge(order_id: int) -> str:
    return services.auto_checkout_charge(order_id=order_id, actor=AUTO_CHECKOUT)


def auto_checkout_charge_many(order_ids: list[int]) -> dict[int, str]:
    """Charge several due orders one after the other; one failing does not stop the others."""
    results = {}
    for order_id in order_ids:
        try:
            results[order_id] = services.auto_checkout_charge(order_id=order_id, actor=AUTO_CHECKOUT)
        except Exception:  # the lease brings it back on the next timer pass
            logger.exception("auto checkout charge of order %s failed", order_id)
            results[order_id] = "error"
    return results


def payment_settle(payment_id: int) -> str:
    return services.payment_settle(payment_id=payment_id, actor=PAYMENTS).status


def payment_cancel_intent(payment_id: int) -> None:
    services.payment_cancel_intent(payment_id=payment_id)


def refund_send(refund_id: int) -> str:
    return services.refund_send(refund_id=refund_id, actor=PAYMENTS).status


def seller_email_send(email_id: int) -> str:
    """Send one checkout email to a seller (enqueued on commit by the reminders and digest passes)."""
    return send_seller_email(email_id=email_id)


def checkout_digests_send() -> int:
    """The daily schedule: today's digest of waiting orders for every seller who has some."""
    return checkout_digests_queue(now=timezone.now())
