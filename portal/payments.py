"""Seller portal pages for paying the wholesale cost (DOMAIN.md R4).

* **Unpaid**: the orders on hold or awaiting checkout; the seller selects some
  or all, sees the server's total, and pays with a saved card or a new one.
* **Checkout result**: what happened to each order, and for a payment the
  seller's bank wants confirmed, Stripe.js's confirmation and a read-back.
* **Payment**: the cards on file, the Auto Checkout switch, and the orders Auto
  Checkout gave up on.

Every page acts for ``portal_seller_for_user`` only. Ids from the browser are
looked up among that seller's rows: another seller's payment or card is a 404,
another seller's order refuses the whole checkout. Writes go through
``payments.services``; their ``DomainError`` codes become messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.timesince import timeuntil
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError
from core.money import money
from orders.models import Order, OrderStatus
from payments.models import Payment, PaymentStatus, PaymentTrigger
from payments.selectors import (
    WARNING_MESSAGES,
    Card,
    Quote,
    auto_checkout_failures,
    checkout_quote,
    order_checkout,
    seller_cards,
    seller_payment_get,
    seller_payments,
    unpaid_orders,
)
from payments.services import (
    auto_checkout_set,
    card_remove,
    card_set_default,
    card_setup_complete,
    card_setup_start,
    checkout_orders,
    payment_abandon,
    payment_refresh,
)
from payments.services.charges import MAX_ORDERS_PER_CHECKOUT
from portal.auth import error_text, portal_actor, seller_required
from portal.display import current_deadline, status_label
from portal.payment_forms import (
    NEW_CARD,
    AutoCheckoutForm,
    CardAddForm,
    CheckoutForm,
    form_error_text,
    parse_order_ids,
)

# Where a DomainError's own detail is not what a seller should read.
# The checkout results kept in the session for the result page: orders that were not charged.
SKIPPED_SESSION_KEY = "portal_checkout_skipped"
SKIPPED_KEPT = 20
RECENT_PAYMENTS = 10


def _orders_text(count: int) -> str:
    return f"{count} order{'' if count == 1 else 's'}"


def _unpaid_url(order_ids: list[int] | None = None) -> str:
    url = reverse("portal:unpaid")
    return f"{url}?{urlencode({'order': order_ids}, doseq=True)}" if order_ids else url


def stripe_context() -> dict:
    """What the card and confirmation scripts need: Stripe.js's address and the publishable key."""
    return {"stripe_js_url": settings.STRIPE_JS_URL, "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY}


# --- Unpaid: select orders and pay ---------------------------------------------------------------


@dataclass(frozen=True)
class UnpaidRow:
    order: Order
    status_label: str
    deadline_phrase: str
    amount: int
    problem: str  # why it cannot be selected now, in words ("" when it can)
    payable: bool
    checked: bool
    checkout_status: str  # order_checkout: unpaid / processing / requires_action
    payment_id: int | None
    auto_note: str
    # The buyer asked to cancel (R5): never in "select all", and paying it needs the seller's confirmation.
    cancellation_pending: bool = False
    warnings: tuple[str, ...] = ()  # what the seller should know before paying it, in words


def _auto_note(order: Order, *, auto_on: bool, payable: bool, now: datetime, cancellation_pending: bool) -> str:
    """What Auto Checkout does (or did) with the order, for the Unpaid list."""
    auto = getattr(order, "auto_checkout", None)  # a missing one-to-one is an AttributeError subclass
    if auto is not None and auto.gave_up_at is not None:
        return f"Auto Checkout stopped: {auto.failure_message or 'it could not charge your card.'}"
    if not auto_on or not payable:
        return ""
    if cancellation_pending:
        return "Auto Checkout waits for your answer to the cancellation request before it charges."
    if order.status == OrderStatus.ON_HOLD:
        return "Auto Checkout charges it when the hold ends."
    if auto is not None and auto.next_attempt_at is not None:
        if auto.next_attempt_at <= now:
            return "Auto Checkout is charging it now."
        return f"Auto Checkout tries again in {timeuntil(auto.next_attempt_at, now, depth=1)}."
    return ""


def _unpaid_rows(orders: list[Order], *, quote: Quote, selected: set[int], auto_on: bool) -> list[UnpaidRow]:
    lines = {line.order_id: line for line in quote.lines}
    now = timezone.now()
    rows = []
    for order in orders:
        line = lines[order.pk]
        checkout = order_checkout(order)
        if checkout.status == "requires_action":
            problem = "Waiting for you to confirm the payment with your bank."
        elif checkout.status == "processing":
            problem = "A payment is being processed."
        else:
            problem = line.message if line.problem else ""
        deadline = current_deadline(order, now=now)
        payable = not line.problem
        rows.append(
            UnpaidRow(
                order=order,
                status_label=status_label(order.status),
                deadline_phrase=deadline.phrase if deadline else "",
                amount=line.amount,
                problem=problem,
                payable=payable,
                checked=payable and order.pk in selected,
                checkout_status=checkout.status,
                payment_id=checkout.payment_id,
                auto_note=_auto_note(
                    order, auto_on=auto_on, payable=payable, now=now, cancellation_pending=line.cancellation_pending
                ),
                cancellation_pending=line.cancellation_pending,
                warnings=tuple(WARNING_MESSAGES[w] for w in line.warnings if w != "cancellation_pending"),
            )
        )
    return rows


def _render_unpaid(
    request,
    seller,
    *,
    cards: list[Card],
    selected: list[int],
    card_choice: str = "",
    make_default: bool = False,
    pay_despite_cancellation: bool = False,
    status: int = 200,
):
    paginator = Paginator(unpaid_orders(seller=seller), MAX_ORDERS_PER_CHECKOUT)
    page = paginator.get_page(request.GET.get("page"))
    orders = list(page.object_list)
    # Every row shows what it would cost; an order with a pending cancellation request is payable only
    # with the seller's confirmation, and "select all" leaves it out.
    quote = checkout_quote(seller=seller, order_ids=[o.pk for o in orders], pay_despite_cancellation=True)
    if request.GET.get("all") == "1" and request.method == "GET":
        pending = {line.order_id for line in quote.lines if line.cancellation_pending}
        selected = [o.pk for o in orders if o.pk not in pending]
    rows = _unpaid_rows(orders, quote=quote, selected=set(selected), auto_on=seller.auto_checkout)
    chosen = [row.order.pk for row in rows if row.checked]
    selection = checkout_quote(seller=seller, order_ids=chosen, pay_despite_cancellation=pay_despite_cancellation)
    default = next((card for card in cards if card.is_default), None)
    if card_choice not in {card.id for card in cards} | {NEW_CARD}:
        card_choice = default.id if default else NEW_CARD
    context = {
        "seller": seller,
        "rows": rows,
        "page": page,
        "payable_count": sum(1 for row in rows if row.payable and not row.cancellation_pending),
        "pending_cancellations": sum(1 for row in rows if row.cancellation_pending),
        "pay_despite_cancellation": pay_despite_cancellation,
        "selection_total": selection.total,
        "selection_count": len(selection.payable_order_ids),
        "cards": cards,
        "card_choice": card_choice,
        "make_default": make_default,
        "auto_checkout": seller.auto_checkout,
        "failures_count": auto_checkout_failures(seller=seller).count(),
        "max_orders": MAX_ORDERS_PER_CHECKOUT,
        **stripe_context(),
    }
    return render(request, "portal/unpaid.html", context, status=status)


@require_http_methods(["GET", "POST"])
@seller_required
def unpaid(request, seller):
    """The Unpaid page; its form posts back here to pay for the selected orders."""
    cards = seller_cards(seller=seller)
    if request.method == "POST":
        return _checkout(request, seller, cards)
    selected, _ = parse_order_ids(request.GET.getlist("order"))
    return _render_unpaid(request, seller, cards=cards, selected=selected, card_choice=request.GET.get("card", ""))


def _checkout(request, seller, cards: list[Card]):
    """Pay for the posted selection, if the total the seller saw is still the total; then show the result.

    A new card is saved first (the seller entered it, so it stays saved even if
    the charge then fails). The amount is always the server's quote.
    """
    form = CheckoutForm(request.POST, seller=seller, cards=cards)
    posted, _ = parse_order_ids(request.POST.getlist("order"))
    again = {
        "cards": cards,
        "selected": posted,
        "card_choice": request.POST.get("card", ""),
        "make_default": bool(request.POST.get("make_default")),
        "pay_despite_cancellation": bool(request.POST.get("pay_despite_cancellation")),
    }
    if not form.is_valid():
        for text in form_error_text(form):
            messages.error(request, text)
        if form.has_error("order", "not_yours"):
            again["selected"] = []
        return _render_unpaid(request, seller, **again, status=400)
    data = form.cleaned_data
    order_ids, card_id = data["order"], data["card"]
    pay_anyway = data["pay_despite_cancellation"]
    actor = portal_actor(request)
    if card_id == NEW_CARD:
        try:
            card = card_setup_complete(
                seller=seller, setup_intent_id=data["setup_intent"], actor=actor, make_default=data["make_default"]
            )
        except DomainError as exc:
            messages.error(request, error_text(exc))
            return _render_unpaid(request, seller, **again, status=400)
        messages.success(request, f"{card.label} is saved.")
        card_id = card.id
        again.update(cards=seller_cards(seller=seller), card_choice=card_id)

    quote = checkout_quote(seller=seller, order_ids=order_ids, pay_despite_cancellation=pay_anyway)
    if not quote.payable_order_ids:
        messages.error(request, "None of the selected orders can be paid now. Nothing was charged.")
        for line in quote.lines:
            messages.warning(request, f"Order #{line.order_id}: {line.message}")
        return _render_unpaid(request, seller, **again, status=400)
    if data["expected_total"] != quote.total:
        # The page showed another amount (or none): show the real one and let the seller confirm it.
        messages.warning(
            request,
            f"The total for the {_orders_text(len(quote.payable_order_ids))} you can pay is {money(quote.total)}. "
            "Check it and press Pay again. Nothing was charged yet.",
        )
        return _render_unpaid(request, seller, **again)

    try:
        result = checkout_orders(
            seller=seller,
            order_ids=order_ids,
            actor=actor,
            payment_method_id=card_id,
            pay_despite_cancellation=pay_anyway,
        )
    except DomainError as exc:
        messages.error(request, error_text(exc))
        return _render_unpaid(request, seller, **again, status=400)
    skipped = [r for r in result.orders if r.outcome == "skipped"]
    if result.payment is None:
        messages.error(request, "Nothing was charged: none of the selected orders could be paid.")
        for r in skipped:
            messages.warning(request, f"Order #{r.order_id}: {r.message}")
        return redirect("portal:unpaid")
    _remember_skipped(request, result.payment.pk, skipped)
    return redirect("portal:checkout_result", payment_id=result.payment.pk)


@require_GET
@seller_required
def unpaid_quote(request, seller):
    """The server's total for a selection (``?order=1&order=2``), for the Unpaid page's live total."""
    ids, bad = parse_order_ids(request.GET.getlist("order"))
    if bad:
        return JsonResponse({"error": f"These are not order numbers: {', '.join(bad)}."}, status=400)
    if len(ids) > MAX_ORDERS_PER_CHECKOUT:
        return JsonResponse({"error": f"Pay at most {MAX_ORDERS_PER_CHECKOUT} orders at once."}, status=400)
    quote = checkout_quote(seller=seller, order_ids=ids, pay_despite_cancellation=request.GET.get("pay_anyway") == "1")
    count = len(quote.payable_order_ids)
    return JsonResponse(
        {
            "total": quote.total,
            "total_display": money(quote.total),
            "currency": quote.currency,
            "count": count,
            "count_display": _orders_text(count),
            "not_payable": [
                {"order_id": line.order_id, "message": line.message} for line in quote.lines if line.problem
            ],
        }
    )


# --- the checkout result -------------------------------------------------------------------------


def _remember_skipped(request, payment_id: int, skipped) -> None:
    """Keep the orders this checkout did not charge for its result page (they are not in the payment)."""
    kept = dict(request.session.get(SKIPPED_SESSION_KEY, {}))
    kept[str(payment_id)] = [[r.order_id, r.external_id, r.message] for r in skipped]
    request.session[SKIPPED_SESSION_KEY] = dict(list(kept.items())[-SKIPPED_KEPT:])


OUTCOME_LABELS = {
    "paid": "Paid",
    "declined": "Declined",
    "cancelled": "Cancelled",
    "requires_action": "Needs your confirmation",
    "processing": "Processing",
    "skipped": "Not charged",
}


def payment_outcome(payment: Payment) -> str:
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED):
        return "paid"
    if payment.status == PaymentStatus.FAILED:
        return "cancelled" if payment.failure_code in ("abandoned", "canceled") else "declined"
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        # Auto Checkout never waits for the seller: it cancels such a charge and frees the orders.
        return "cancelled" if payment.trigger == PaymentTrigger.AUTO_CHECKOUT else "requires_action"
    return "processing"


def _after_payment(order: Order, outcome: str) -> str:
    """What happens to the order next, after this payment's outcome."""
    if order.status == OrderStatus.CANCELLED:
        return "Cancelled meanwhile; any amount charged for it is refunded to your card."
    if outcome == "paid":
        if order.status == OrderStatus.ON_HOLD:
            return "Paid: it goes to the warehouse when the hold ends."
        if order.status == OrderStatus.AWAITING_CHECKOUT and order.seller_paid_at is None:
            return "Paid by another payment; this share is refunded to your card."
        return f"Paid: {status_label(order.status).lower()}."
    if outcome == "requires_action":
        return "Waiting for you to confirm the payment with your bank."
    if outcome == "processing":
        return "Waiting for the card processor's answer."
    if order.seller_paid_at is not None:
        return "Paid by another payment."
    return "Still unpaid."


@require_GET
@seller_required
def checkout_result(request, seller, payment_id: int):
    """One payment: its outcome for each order it covered, and the orders the checkout left out."""
    payment = seller_payment_get(seller=seller, payment_id=payment_id)
    if payment is None:
        raise Http404("No such payment.")
    outcome = payment_outcome(payment)
    # A payment waiting for the bank says so in the banner and in "what happens next".
    message = payment.failure_message if outcome in ("declined", "cancelled") else ""
    rows = [
        {
            "order": allocation.order,
            "amount": allocation.amount,
            "refunded": allocation.amount_refunded,
            "outcome": outcome,
            "label": OUTCOME_LABELS[outcome],
            "message": message,
            "next": _after_payment(allocation.order, outcome),
        }
        for allocation in payment.allocations.all()
    ]
    skipped = request.session.get(SKIPPED_SESSION_KEY, {}).get(str(payment.pk), [])
    for order_id, external_id, reason in skipped:
        rows.append(
            {
                "order_id": order_id,
                "external_id": external_id,
                "amount": None,
                "outcome": "skipped",
                "label": OUTCOME_LABELS["skipped"],
                "message": reason,
                "next": "",
            }
        )
    card = next((c for c in seller_cards(seller=seller) if c.id == payment.stripe_payment_method_id), None)
    order_ids = [a.order_id for a in payment.allocations.all()]
    context = {
        "seller": seller,
        "payment": payment,
        "outcome": outcome,
        "outcome_label": OUTCOME_LABELS[outcome],
        "rows": rows,
        "card": card,
        # Stripe.js finishes the bank's confirmation with this; only our own on-session payments have one.
        "client_secret": payment.client_secret
        if outcome == "requires_action" and payment.trigger == PaymentTrigger.MANUAL
        else "",
        "retry_url": _unpaid_url(order_ids) if outcome in ("declined", "cancelled") else "",
        **stripe_context(),
    }
    return render(request, "portal/checkout_result.html", context)


@require_POST
@seller_required
def checkout_refresh(request, seller, payment_id: int):
    """Read the payment back from Stripe (after the bank's confirmation in Stripe.js) and show where it stands."""
    try:
        payment = payment_refresh(seller=seller, payment_id=payment_id, actor=portal_actor(request))
    except DomainError as exc:
        if exc.status == 404:
            raise Http404(exc.detail) from exc
        messages.error(request, error_text(exc))
        return redirect("portal:checkout_result", payment_id=payment_id)
    outcome = payment_outcome(payment)
    if outcome == "paid":
        messages.success(request, f"Payment confirmed: {money(payment.amount)} paid.")
    elif outcome == "requires_action":
        messages.warning(request, "Your bank still waits for your confirmation.")
    elif outcome == "processing":
        messages.info(request, "The card processor has not answered yet. Look again in a minute.")
    else:
        messages.error(request, f"The payment did not go through: {payment.failure_message}")
    return redirect("portal:checkout_result", payment_id=payment.pk)


@require_POST
@seller_required
def checkout_cancel(request, seller, payment_id: int):
    """Give up on a payment waiting for the bank's confirmation, so the orders can be paid another way."""
    payment = seller_payment_get(seller=seller, payment_id=payment_id)
    if payment is None:
        raise Http404("No such payment.")
    order_ids = [a.order_id for a in payment.allocations.all()]
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        payment = payment_abandon(payment_id=payment.pk, actor=portal_actor(request))
    outcome = payment_outcome(payment)
    if outcome == "paid":
        messages.success(request, "Your bank had already confirmed it: the payment went through.")
        return redirect("portal:checkout_result", payment_id=payment.pk)
    if outcome == "requires_action":
        messages.error(
            request,
            "The card processor cannot be reached right now, so the payment is still open. Try again in a minute.",
        )
        return redirect("portal:checkout_result", payment_id=payment.pk)
    messages.info(request, "The payment was cancelled and nothing was charged. Choose how to pay these orders.")
    return redirect(_unpaid_url(order_ids))


# --- Payment: cards and Auto Checkout -----------------------------------------------------------


@require_GET
@seller_required
def payment_page(request, seller):
    cards = seller_cards(seller=seller)
    failures = list(auto_checkout_failures(seller=seller))
    recent = [
        {
            "payment": p,
            "outcome": payment_outcome(p),
            "label": OUTCOME_LABELS[payment_outcome(p)],
            "orders": [a.order_id for a in p.allocations.all()],
        }
        for p in seller_payments(seller=seller)[:RECENT_PAYMENTS]
    ]
    context = {
        "seller": seller,
        "cards": cards,
        "default_card": next((card for card in cards if card.is_default), None),
        "auto_checkout": seller.auto_checkout,
        "failures": failures,
        "pay_failures_url": _unpaid_url([f.order_id for f in failures]),
        "recent": recent,
        **stripe_context(),
    }
    return render(request, "portal/payment.html", context)


@require_POST
@seller_required
def card_setup(request, seller):
    """Start saving a card: a SetupIntent whose client secret Stripe.js confirms in the browser (JSON)."""
    try:
        setup = card_setup_start(seller=seller, actor=portal_actor(request))
    except DomainError as exc:
        status = 503 if exc.code == "stripe_unavailable" else exc.status
        return JsonResponse({"code": exc.code, "error": error_text(exc)}, status=status)
    return JsonResponse({"client_secret": setup.client_secret, "setup_intent": setup.setup_intent_id})


@require_POST
@seller_required
def card_add(request, seller):
    """Record the card a SetupIntent confirmed in the browser saved."""
    form = CardAddForm(request.POST)
    if not form.is_valid():
        for text in form_error_text(form):
            messages.error(request, text)
        return redirect("portal:payment")
    try:
        card = card_setup_complete(
            seller=seller,
            setup_intent_id=form.cleaned_data["setup_intent"],
            actor=portal_actor(request),
            make_default=form.cleaned_data["make_default"],
        )
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"{card.label} is saved{' as your default card' if card.is_default else ''}.")
    return redirect("portal:payment")


def _own_card(seller, card_id: str) -> Card:
    """One of the seller's cards; any other id (another seller's card included) is a 404."""
    card = next((card for card in seller_cards(seller=seller) if card.id == card_id), None)
    if card is None:
        raise Http404("No such card on file.")
    return card


@require_POST
@seller_required
def card_default(request, seller, card_id: str):
    card = _own_card(seller, card_id)
    try:
        card = card_set_default(seller=seller, payment_method_id=card.id, actor=portal_actor(request))
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        note = " Orders Auto Checkout had stopped on are tried again with it." if seller.auto_checkout else ""
        messages.success(request, f"{card.label} is now your default card.{note}")
    return redirect("portal:payment")


@require_http_methods(["GET", "POST"])
@seller_required
def card_remove_view(request, seller, card_id: str):
    """GET asks for confirmation (saying what happens to the default and Auto Checkout); POST removes."""
    card = _own_card(seller, card_id)
    others = [c for c in seller_cards(seller=seller) if c.id != card.id]
    if request.method == "POST":
        try:
            card_remove(seller=seller, payment_method_id=card.id, actor=portal_actor(request))
        except DomainError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, f"{card.label} is removed.")
            if card.is_default and others:
                messages.info(request, f"{others[0].label} is now your default card.")
            elif card.is_default and seller.auto_checkout:
                messages.warning(request, "Auto Checkout is off: there is no card left to charge.")
        return redirect("portal:payment")
    context = {
        "seller": seller,
        "card": card,
        "next_default": others[0] if card.is_default and others else None,
        "stops_auto_checkout": card.is_default and not others and seller.auto_checkout,
    }
    return render(request, "portal/card_remove.html", context)


@require_POST
@seller_required
def auto_checkout(request, seller):
    form = AutoCheckoutForm(request.POST)
    if not form.is_valid():
        for text in form_error_text(form):
            messages.error(request, text)
        return redirect("portal:payment")
    enabled = form.cleaned_data["enabled"]
    try:
        auto_checkout_set(seller=seller, enabled=enabled, actor=portal_actor(request))
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        if enabled:
            messages.success(
                request,
                "Auto Checkout is on. Orders are charged to your default card when their hold ends; "
                "orders already waiting are being charged now.",
            )
        else:
            messages.success(request, "Auto Checkout is off. Pay your orders from the Unpaid page.")
    return redirect("portal:payment")
