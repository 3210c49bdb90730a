"""Reads for checkout: what an order costs the seller, cards on file, payment state for the portal and the API.

Nothing here calls Stripe; cards are read from dj-stripe's rows, which the
services (and dj-stripe's webhooks) keep in step with Stripe.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from djstripe.models import Customer, PaymentMethod

from accounts.models import Seller
from orders.models import Order, OrderLine, OrderStatus
from payments.hooks import orders_with_pending_cancellation
from payments.models import MONEY_TAKEN, AutoCheckout, Payment, PaymentOrder, PaymentStatus

# Orders a seller can pay for: the buyer has paid, and nothing is shipped (R4).
PAYABLE_STATUSES = (OrderStatus.ON_HOLD, OrderStatus.AWAITING_CHECKOUT)

PROBLEM_MESSAGES = {
    "not_found": "This order is not one of yours.",
    "buyer_not_paid": "The buyer has not paid for this order yet.",
    "not_payable": "This order does not need paying.",
    "already_paid": "This order is already paid.",
    "in_progress": "A payment for this order is already under way.",
    "stock_exception": (
        "An item on this order is not in your catalogue, so its cost is unknown; staff must match it to one of "
        "your SKUs before it can be paid."
    ),
    "nothing_to_charge": "This order costs nothing to fulfil, so there is nothing to charge.",
    "cancellation_pending": (
        "The buyer asked to cancel this order. Answer the request first, or confirm that you want to pay anyway."
    ),
}
# Not a reason to refuse a charge, but the seller is told before paying.
WARNING_MESSAGES = {
    "short_stock": (
        "Not enough stock is reserved for this order yet, so it cannot be shipped until more stock arrives."
    ),
    "cancellation_pending": "The buyer asked to cancel this order; you chose to pay it anyway.",
}


def currency() -> str:
    return settings.CURRENCY.lower()


# --- cards --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """A saved card as the portal shows it: Stripe's id and the printed facts, never the number."""

    id: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    is_default: bool

    @property
    def label(self) -> str:
        expiry = f", expires {self.exp_month:02d}/{self.exp_year}" if self.exp_month and self.exp_year else ""
        return f"{self.brand.title()} ending in {self.last4}{expiry}"


def seller_customer(*, seller: Seller) -> Customer | None:
    """The seller's Stripe customer, if one was created (the first one, should a race have made two)."""
    return (
        Customer.objects.filter(subscriber=seller, livemode=settings.STRIPE_LIVE_MODE, date_purged__isnull=True)
        .order_by("djstripe_id")
        .first()
    )


def seller_default_card_ids(*, seller: Seller) -> tuple[str, str] | None:
    """(Stripe customer id, default card id) to charge, or None without a default card; one light query."""
    row = (
        Customer.objects.filter(subscriber=seller, livemode=settings.STRIPE_LIVE_MODE, date_purged__isnull=True)
        .order_by("djstripe_id")
        .values_list("id", "default_payment_method_id")
        .first()
    )
    return row if row and row[1] else None


def _card(pm: PaymentMethod, default_id: str | None) -> Card:
    card = pm.stripe_data.get("card") or {}
    return Card(
        id=pm.id,
        brand=card.get("brand") or pm.type or "card",
        last4=card.get("last4") or "",
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
        is_default=pm.id == default_id,
    )


def seller_cards(*, seller: Seller) -> list[Card]:
    """The seller's saved cards, the default first, then newest first."""
    customer = seller_customer(seller=seller)
    if customer is None:
        return []
    return seller_cards_of(customer)


def seller_cards_of(customer: Customer) -> list[Card]:
    """The cards saved on a Stripe customer, the default first, then newest first."""
    default_id = customer.default_payment_method_id
    methods = PaymentMethod.objects.filter(customer=customer).order_by("-created", "-djstripe_id")
    cards = [_card(pm, default_id) for pm in methods if pm.type == "card"]
    return sorted(cards, key=lambda c: not c.is_default)


def seller_default_card(*, seller: Seller) -> Card | None:
    return next((card for card in seller_cards(seller=seller) if card.is_default), None)


# --- what orders cost ----------------------------------------------------------------------


@dataclass(frozen=True)
class OrderCost:
    order_id: int
    amount: int
    problem: str = ""  # a PROBLEM_MESSAGES key when the order cannot be charged as it is
    short: bool = False  # every SKU is known, but not every line is reserved yet (a stock exception)


def order_costs(orders: Iterable[Order]) -> dict[int, OrderCost]:
    """What each order costs the seller: Σ quantity × SKU wholesale cost, plus ``FULFILMENT_FEE``.

    An order with a line whose SKU we do not know cannot be charged (its price
    is unknown): it gets a problem. An order whose SKUs are known but not all
    reserved (stock ran short) can be paid; ``short`` says so, for a warning.
    One query for all the orders.
    """
    orders = list(orders)
    totals: dict[int, int] = defaultdict(int)
    unknown: set[int] = set()
    lines = OrderLine.objects.filter(order__in=[o.pk for o in orders]).values_list(
        "order_id", "quantity", "sku__wholesale_cost"
    )
    for order_id, quantity, cost in lines:
        if cost is None:
            unknown.add(order_id)
        else:
            totals[order_id] += quantity * cost
    costs = {}
    for order in orders:
        amount = totals[order.pk] + settings.FULFILMENT_FEE
        problem = ""
        if order.pk in unknown:
            problem = "stock_exception"
        elif amount <= 0:
            problem = "nothing_to_charge"
        short = order.stock_exception and order.pk not in unknown
        costs[order.pk] = OrderCost(order_id=order.pk, amount=amount, problem=problem, short=short)
    return costs


@dataclass(frozen=True)
class QuoteLine:
    order_id: int
    external_id: str
    amount: int
    problem: str
    message: str
    # What the seller should know before paying: WARNING_MESSAGES keys (short stock, a pending request).
    warnings: tuple[str, ...] = ()
    cancellation_pending: bool = False


@dataclass(frozen=True)
class Quote:
    """What paying for a selection of orders would charge, before the seller confirms."""

    total: int
    currency: str
    lines: list[QuoteLine]

    @property
    def payable_order_ids(self) -> list[int]:
        return [line.order_id for line in self.lines if not line.problem]


def active_allocations(order_ids: Iterable[int]) -> dict[int, PaymentOrder]:
    """The active payment share of each order that has one (at most one each, by constraint)."""
    rows = PaymentOrder.objects.filter(order_id__in=list(order_ids), active=True).select_related("payment")
    return {row.order_id: row for row in rows}


def order_payment_problem(
    order: Order,
    *,
    seller: Seller,
    allocation: PaymentOrder | None,
    cancellation_pending: bool = False,
    pay_despite_cancellation: bool = False,
) -> str:
    """Why ``order`` cannot be paid now, or "" when it can. The cost is checked separately.

    An order whose buyer asked to cancel (R5) is not charged unless the seller
    confirmed it (``pay_despite_cancellation``): approving the request would
    refund it at once, and both cost the seller Stripe's fee.
    """
    if order.seller_id != seller.pk:
        return "not_found"
    if order.seller_paid_at is not None:
        return "already_paid"
    if allocation is not None:
        return "already_paid" if allocation.payment.status in MONEY_TAKEN else "in_progress"
    if order.status == OrderStatus.PENDING_PAYMENT:
        return "buyer_not_paid"
    if order.status not in PAYABLE_STATUSES:
        return "not_payable"
    if cancellation_pending and not pay_despite_cancellation:
        return "cancellation_pending"
    return ""


def checkout_warnings(cost: OrderCost, *, cancellation_pending: bool) -> tuple[str, ...]:
    """What the seller is told before paying an order that can be paid (``WARNING_MESSAGES`` keys)."""
    return tuple(
        key for key, applies in (("short_stock", cost.short), ("cancellation_pending", cancellation_pending)) if applies
    )


def checkout_quote(*, seller: Seller, order_ids: Iterable[int], pay_despite_cancellation: bool = False) -> Quote:
    """The total and each order's share for paying ``order_ids`` now; orders that cannot be paid say why.

    Orders whose buyer asked to cancel are left out of the total unless ``pay_despite_cancellation``.
    """
    wanted = list(dict.fromkeys(order_ids))
    orders = {o.pk: o for o in Order.objects.filter(pk__in=wanted, seller=seller)}
    costs = order_costs(orders.values())
    allocations = active_allocations(orders)
    pending = orders_with_pending_cancellation(orders)
    lines, total = [], 0
    for order_id in wanted:
        order = orders.get(order_id)
        if order is None:
            lines.append(QuoteLine(order_id, "", 0, "not_found", PROBLEM_MESSAGES["not_found"]))
            continue
        cost = costs[order_id]
        problem = (
            order_payment_problem(
                order,
                seller=seller,
                allocation=allocations.get(order_id),
                cancellation_pending=order_id in pending,
                pay_despite_cancellation=pay_despite_cancellation,
            )
            or cost.problem
        )
        if not problem:
            total += cost.amount
        lines.append(
            QuoteLine(
                order_id,
                order.external_id,
                cost.amount,
                problem,
                PROBLEM_MESSAGES.get(problem, ""),
                warnings=checkout_warnings(cost, cancellation_pending=order_id in pending),
                cancellation_pending=order_id in pending,
            )
        )
    return Quote(total=total, currency=currency(), lines=lines)


def unpaid_orders(*, seller: Seller) -> QuerySet[Order]:
    """The portal's "Unpaid" tab: orders on hold or awaiting checkout that the seller has not paid, oldest first.

    Each order carries ``active_payment_allocations`` (the payment under way, if
    any) and its Auto Checkout row, so the page can say what is happening without
    a query per row.
    """
    return (
        Order.objects.filter(seller=seller, status__in=PAYABLE_STATUSES, seller_paid_at__isnull=True)
        .select_related("auto_checkout")
        .prefetch_related(_active_allocations_prefetch())
        .order_by("placed_at", "id")
    )


def auto_checkout_failures(*, seller: Seller) -> QuerySet[AutoCheckout]:
    """Orders Auto Checkout gave up on that still wait for the seller's payment, with the reason."""
    return (
        AutoCheckout.objects.filter(
            seller=seller,
            gave_up_at__isnull=False,
            order__status=OrderStatus.AWAITING_CHECKOUT,
            order__seller_paid_at__isnull=True,
        )
        .select_related("order", "last_payment")
        .order_by("-gave_up_at")
    )


def seller_payments(*, seller: Seller) -> QuerySet[Payment]:
    """The seller's charge history, newest first, with the orders each payment covered."""
    return (
        Payment.objects.filter(seller=seller)
        .prefetch_related(Prefetch("allocations", queryset=PaymentOrder.objects.select_related("order")), "refunds")
        .order_by("-created_at", "-id")
    )


def seller_payment_get(*, seller: Seller, payment_id: int) -> Payment | None:
    return seller_payments(seller=seller).filter(pk=payment_id).first()


# --- the ``checkout`` block of an order ------------------------------------------------------


def _active_allocations_prefetch() -> Prefetch:
    return Prefetch(
        "payment_allocations",
        queryset=PaymentOrder.objects.filter(active=True).select_related("payment"),
        to_attr="active_payment_allocations",
    )


def prefetch_order_checkout(orders: Iterable[Order]) -> None:
    """Load the checkout facts of many orders in one query (for API lists)."""
    orders = [o for o in orders if not hasattr(o, "active_payment_allocations")]
    if orders:
        prefetch_related_objects(orders, _active_allocations_prefetch())


@dataclass(frozen=True)
class OrderCheckout:
    """The seller's wholesale payment for one order, as the API and the portal show it.

    ``status``: ``unpaid``, ``processing``, ``requires_action`` (the seller's
    bank wants them to confirm), ``paid`` or ``refunded`` (its share went back,
    e.g. after a cancellation).
    """

    status: str
    paid_at: datetime | None
    payment_id: int | None


def order_checkout(order: Order) -> OrderCheckout:
    if not hasattr(order, "active_payment_allocations"):
        prefetch_order_checkout([order])
    allocation = order.active_payment_allocations[0] if order.active_payment_allocations else None
    if allocation is not None:
        payment = allocation.payment
        if payment.status == PaymentStatus.PROCESSING:
            status = "processing"
        elif payment.status == PaymentStatus.REQUIRES_ACTION:
            status = "requires_action"
        elif allocation.amount_refunded and allocation.amount_refunded >= allocation.amount:
            status = "refunded"
        else:
            status = "paid"
        return OrderCheckout(status=status, paid_at=order.seller_paid_at or payment.succeeded_at, payment_id=payment.pk)
    if order.seller_paid_at is not None:
        return OrderCheckout(status="paid", paid_at=order.seller_paid_at, payment_id=None)
    return OrderCheckout(status="unpaid", paid_at=None, payment_id=None)
