"""Reads of the reverse flows, for the partner API, the portal and the admin.

Partner reads are scoped to the partner's orders and portal reads to one
seller: another tenant's request is simply not found (404).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet, Sum

from accounts.models import Partner, Seller
from orders.models import Order
from payments.models import MONEY_TAKEN, PaymentOrder, PaymentStatus, Refund, RefundStatus
from returns.models import (
    RETURN_OPEN,
    CancellationRequest,
    CancellationStatus,
    ReturnLine,
    ReturnRequest,
    ReturnStatus,
)

# --- cancellation requests (R5) -------------------------------------------------------------


def cancellation_request_list(*, partner: Partner) -> QuerySet[CancellationRequest]:
    """The cancellation requests on ``partner``'s orders, with what a response shows joined in."""
    return CancellationRequest.objects.filter(order__partner=partner).select_related("order", "seller")


def cancellation_request_get(*, partner: Partner, request_id: int) -> CancellationRequest | None:
    """One of the partner's requests, or None when it does not exist or is another partner's."""
    return cancellation_request_list(partner=partner).filter(pk=request_id).first()


def partner_order_id(*, partner: Partner, order_id: int | None = None, external_id: str | None = None) -> int | None:
    """The id of the partner's order given by our id or by its marketplace id, or None."""
    orders = Order.objects.filter(partner=partner)
    if order_id is not None:
        orders = orders.filter(pk=order_id)
    if external_id is not None:
        orders = orders.filter(external_id=external_id)
    return orders.values_list("pk", flat=True).first()


def seller_requests_waiting(*, seller: Seller) -> int:
    """How many buyers' requests (cancellations and returns) wait for the seller's answer, in one query."""
    cancellations = (
        CancellationRequest.objects.filter(seller=seller, status=CancellationStatus.PENDING).order_by().values("pk")
    )
    returns = ReturnRequest.objects.filter(seller=seller, status=ReturnStatus.REQUESTED).order_by().values("pk")
    return cancellations.union(returns, all=True).count()


def seller_pending_cancellation_requests(*, seller: Seller) -> QuerySet[CancellationRequest]:
    """The seller's requests waiting for an answer, the most urgent (earliest auto-approval) first."""
    return (
        CancellationRequest.objects.filter(seller=seller, status=CancellationStatus.PENDING)
        .select_related("order")
        .order_by("respond_by", "pk")
    )


def orders_with_pending_cancellation(order_ids) -> set[int]:
    """Which of ``order_ids`` have a cancellation request waiting for the seller (for ``payments.hooks``)."""
    return set(
        CancellationRequest.objects.filter(order_id__in=list(order_ids), status=CancellationStatus.PENDING)
        .values_list("order_id", flat=True)
        .distinct()
    )


def order_pending_cancellation_request(order: Order) -> CancellationRequest | None:
    """The order's pending request, if any (a constraint allows one)."""
    return CancellationRequest.objects.filter(order=order, status=CancellationStatus.PENDING).first()


# --- returns (R11) --------------------------------------------------------------------------

# Returns whose units do not count as returned: refused ones, and ones closed before the parcel came back.
RETURN_REJECTED = [ReturnStatus.REJECTED, ReturnStatus.REJECTED_AFTER_INSPECTION]


def _with_return_details(queryset: QuerySet[ReturnRequest]) -> QuerySet[ReturnRequest]:
    """What a return response or page shows, loaded in a fixed number of queries whatever the count."""
    return queryset.select_related("order__partner", "seller", "return_carrier", "refund").prefetch_related(
        Prefetch("lines", queryset=ReturnLine.objects.select_related("order_line__sku").order_by("pk"))
    )


def return_list(*, partner: Partner) -> QuerySet[ReturnRequest]:
    """The returns on ``partner``'s orders."""
    return _with_return_details(ReturnRequest.objects.filter(order__partner=partner))


def return_get(*, partner: Partner, return_id: int) -> ReturnRequest | None:
    """One of the partner's returns, or None when it does not exist or is another partner's."""
    return return_list(partner=partner).filter(pk=return_id).first()


def seller_returns(*, seller: Seller, open_only: bool = False) -> QuerySet[ReturnRequest]:
    """The seller's returns, newest first; ``open_only`` keeps those still being handled."""
    queryset = ReturnRequest.objects.filter(seller=seller)
    if open_only:
        queryset = queryset.filter(status__in=RETURN_OPEN)
    return _with_return_details(queryset).order_by("-requested_at", "-pk")


def seller_pending_returns(*, seller: Seller) -> QuerySet[ReturnRequest]:
    """The seller's return requests waiting for an answer, the earliest auto-approval first."""
    return _with_return_details(ReturnRequest.objects.filter(seller=seller, status=ReturnStatus.REQUESTED)).order_by(
        "respond_by", "pk"
    )


def returned_quantities(*, order_id: int) -> dict[int, int]:
    """Units of each order line (by id) already claimed by the order's returns.

    Every return counts except rejected ones and ones closed without a
    resolution (the buyer never sent the parcel), whose units never came back.
    """
    rows = (
        ReturnLine.objects.filter(return_request__order_id=order_id)
        .exclude(return_request__status__in=RETURN_REJECTED)
        .exclude(return_request__status=ReturnStatus.CLOSED, return_request__resolved_at=None)
        .values("order_line_id")
        .annotate(units=Sum("quantity"))
    )
    return {row["order_line_id"]: row["units"] for row in rows}


def return_units(ret: ReturnRequest, lines: list[ReturnLine] | None = None) -> dict[int, int]:
    """Units per return line (by id) that the return's outcome is about: what was received for a
    parcel, what was claimed for ``refund_only`` (nothing comes back)."""
    lines = list(ret.lines.all()) if lines is None else lines
    if not ret.ships_back:
        return {line.pk: line.quantity for line in lines}
    return {line.pk: line.received_quantity or 0 for line in lines}


@dataclass(frozen=True)
class RefundShare:
    """What Finance may give the seller back for a return, in minor units.

    ``refundable`` is what is left of the order's share of the Stripe payment
    that paid it (its share, less refunds made or under way); ``suggested`` is
    the wholesale cost of the return's units (``return_units``) at today's SKU
    cost, capped at ``refundable``; the fulfilment fee is not part of it, since
    the work was done. ``problem`` is an error code when no Stripe refund is
    possible (``detail`` says why in words), else "".
    """

    payment_id: int | None
    refundable: int
    suggested: int
    problem: str = ""
    detail: str = ""
    method: str = "card"  # how the seller paid, so how the refund goes back (``payments.models.LedgerMethod``)


def return_refund_share(ret: ReturnRequest) -> RefundShare:
    order = ret.order
    allocation = (
        PaymentOrder.objects.filter(order=order, active=True, payment__status__in=MONEY_TAKEN)
        .select_related("payment")
        .first()
    )
    if allocation is None:
        if ReturnRequest.objects.filter(replacement_order=order).exists():
            problem, detail = (
                "replacement_not_charged",
                (
                    f"Order {order.pk} is a free replacement: the seller was never charged for it, so there is "
                    "nothing to "
                    "refund. Record the decision with amount 0."
                ),
            )
        elif order.seller_paid_at is not None:
            problem, detail = (
                "paid_outside_stripe",
                (
                    f"The seller's payment for order {order.pk} (reference {order.seller_payment_reference or 'none'}) "
                    "is not in the payments ledger, so no refund can be recorded against it. Refund it by bank "
                    "transfer and record the decision here with amount 0 and the transfer reference in the note."
                ),
            )
        else:
            problem, detail = "not_paid", f"The seller has not paid for order {order.pk}; there is nothing to refund."
        return RefundShare(payment_id=None, refundable=0, suggested=0, problem=problem, detail=detail)
    payment = allocation.payment

    def outstanding(**where) -> int:
        return Refund.objects.filter(**where).exclude(status=RefundStatus.FAILED).aggregate(t=Sum("amount"))["t"] or 0

    refundable = 0
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED):
        refundable = max(
            min(allocation.amount - outstanding(allocation=allocation), payment.amount - outstanding(payment=payment)),
            0,
        )
    lines = list(ret.lines.select_related("order_line__sku"))
    units = return_units(ret, lines)
    cost = sum(units[line.pk] * (line.order_line.sku.wholesale_cost if line.order_line.sku_id else 0) for line in lines)
    if refundable <= 0:
        return RefundShare(
            payment_id=payment.pk,
            refundable=0,
            suggested=0,
            problem="nothing_to_refund",
            detail=f"Order {order.pk}'s share of payment {payment.pk} has already been refunded in full.",
        )
    return RefundShare(
        payment_id=payment.pk, refundable=refundable, suggested=min(cost, refundable), method=payment.method
    )
