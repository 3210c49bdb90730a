"""Emails the payments app sends. Plain text and HTML, through Django's email backend.

``notify_auto_checkout_failed`` is the hook Auto Checkout calls (after commit)
when it stops charging an order: retries used up, or the bank wants the seller
present. Keep its signature; the wording and layout can grow.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.html import escape

from orders.models import Order

logger = logging.getLogger(__name__)


def notify_auto_checkout_failed(*, order_ids: list[int], reason: str) -> None:
    """Tell the seller Auto Checkout could not pay these orders, why, and where to pay them by hand."""
    orders = list(Order.objects.filter(pk__in=order_ids).select_related("seller").order_by("pk"))
    if not orders:
        return
    seller = orders[0].seller
    portal = f"{settings.SITE_URL}/portal/"
    names = [f"#{o.pk} ({o.external_id})" for o in orders]
    subject = f"Auto Checkout could not pay {len(orders)} order{'s' if len(orders) > 1 else ''}"
    text = (
        f"Hello {seller.name},\n\n"
        f"Auto Checkout could not pay for these orders: {', '.join(names)}.\n"
        f"Reason: {reason}\n\n"
        f"They wait for your payment. Pay them by hand, or change your card, in the portal:\n{portal}\n"
    )
    html = (
        f"<p>Hello {escape(seller.name)},</p>"
        f"<p>Auto Checkout could not pay for these orders:</p>"
        f"<ul>{''.join(f'<li>{escape(n)}</li>' for n in names)}</ul>"
        f"<p><strong>Reason:</strong> {escape(reason)}</p>"
        f"<p>They wait for your payment. Pay them by hand, or change your card, in the "
        f'<a href="{escape(portal)}">portal</a>.</p>'
    )
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [seller.email])
    message.attach_alternative(html, "text/html")
    message.send()
    logger.info("auto checkout failure email sent to seller %s for orders %s", seller.code, order_ids)
