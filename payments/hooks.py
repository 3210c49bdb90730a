"""What checkout needs to know from the layers above payments, plugged in once at start-up.

``payments`` sits below ``returns`` and never imports it, yet no order may be
charged while its buyer waits for an answer to a cancellation request (R5):
the charge and its refund would both cost the seller Stripe's fee. The project
connects the question here (``backoffice.wiring``), and every checkout path
asks it with the orders locked, so a request cannot slip in between the
question and the charge (a request is only created with its order locked).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.core.exceptions import ImproperlyConfigured

PendingCancellations = Callable[[Iterable[int]], set[int]]

_pending_cancellations: PendingCancellations | None = None


def connect(*, pending_cancellations: PendingCancellations) -> None:
    """Plug in the question; called once at start-up. Calling it again replaces what was there."""
    global _pending_cancellations
    _pending_cancellations = pending_cancellations


def orders_with_pending_cancellation(order_ids: Iterable[int]) -> set[int]:
    """Which of ``order_ids`` have a cancellation request waiting for the seller's answer.

    Precondition for a decision that charges: the caller holds the orders' locks.
    """
    if _pending_cancellations is None:
        raise ImproperlyConfigured("payments.hooks.connect() was not called: the project did not start its wiring.")
    ids = [pk for pk in order_ids if pk is not None]
    return _pending_cancellations(ids) if ids else set()
