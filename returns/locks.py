"""Row locks of the reverse flows.

Lock order, everywhere: the order (``orders.locks.lock_order``) first, then its
cancellation request or return, then whatever the order's services lock after
it (shipment, stock rows by pk). A request is only ever locked by a
transaction that already holds its order, so requests never take part in a
lock cycle, whatever else those transactions lock.
"""

from __future__ import annotations

from returns.models import CancellationRequest, CancellationStatus, ReturnRequest


def lock_cancellation_request(request_id: int) -> CancellationRequest | None:
    """Lock one cancellation request and return it re-read (None if it does not exist).

    Precondition: inside ``transaction.atomic()`` with the request's order already locked.
    """
    return CancellationRequest.objects.select_for_update(of=("self",)).filter(pk=request_id).first()


def lock_pending_cancellation_requests(order) -> list[CancellationRequest]:
    """Lock the order's pending cancellation request (a constraint allows one), as a list.

    Precondition: inside ``transaction.atomic()`` with ``order`` locked.
    """
    return list(
        CancellationRequest.objects.select_for_update(of=("self",))
        .filter(order_id=order.pk, status=CancellationStatus.PENDING)
        .order_by("pk")
    )


def lock_return(return_id: int) -> ReturnRequest | None:
    """Lock one return and return it re-read (None if it does not exist).

    Precondition: inside ``transaction.atomic()`` with the return's order already locked.
    """
    return (
        ReturnRequest.objects.select_for_update(of=("self",))
        .select_related("return_carrier")
        .filter(pk=return_id)
        .first()
    )
