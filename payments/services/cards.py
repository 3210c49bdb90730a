"""Cards on file and the Auto Checkout switch.

Stripe holds the cards. We keep dj-stripe's Customer (one per seller, linked
through ``Customer.subscriber``) and PaymentMethod rows, which hold Stripe ids
and what Stripe tells us is printed on the card (brand, last 4, expiry).
Saving a card is a SetupIntent confirmed in the seller's browser by Stripe.js;
the portal then calls ``card_setup_complete`` with the SetupIntent's id.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from djstripe.models import Customer, PaymentMethod

from accounts.models import Seller
from core.actors import Actor
from core.errors import InvalidInput, NotFound
from core.tasks import enqueue_on_commit
from orders.models import Order, OrderStatus
from payments import stripe_client
from payments.locks import lock_seller
from payments.models import AutoCheckout
from payments.selectors import Card, seller_cards, seller_cards_of, seller_customer
from payments.services.common import payment_event_record, require_seller_access
from payments.stripe_client import StripeDeclined, StripeUnavailable


def _unavailable(exc: StripeUnavailable) -> InvalidInput:
    return InvalidInput(
        "The card processor cannot be reached right now. Try again in a minute.", code="stripe_unavailable"
    )


def _stripe_key() -> str:
    return settings.STRIPE_SECRET_KEY


def _sync_customer(data: dict) -> Customer:
    return Customer.sync_from_stripe_data(data, api_key=_stripe_key())


def seller_customer_get_or_create(*, seller: Seller, actor: Actor) -> Customer:
    """The seller's Stripe customer, created at Stripe the first time it is needed.

    The idempotency key makes two concurrent first calls create one customer at
    Stripe; the local row is linked to the seller through dj-stripe's
    ``subscriber`` (the ``djstripe_subscriber`` metadata).
    """
    customer = seller_customer(seller=seller)
    if customer is not None:
        return customer
    try:
        data = stripe_client.customer_create(
            email=seller.email,
            name=seller.name,
            metadata={"djstripe_subscriber": str(seller.pk), "seller_code": seller.code},
            idempotency_key=f"seller-{seller.pk}-customer",
        )
    except StripeUnavailable as exc:
        raise _unavailable(exc) from exc
    customer = _sync_customer(data)
    payment_event_record(seller=seller, action="stripe_customer_created", actor=actor, note=customer.id)
    return seller_customer(seller=seller) or customer


@dataclass(frozen=True)
class CardSetup:
    """What the portal's card form needs: Stripe.js confirms ``client_secret`` with ``publishable_key``."""

    setup_intent_id: str
    client_secret: str
    publishable_key: str
    js_url: str


def card_setup_start(*, seller: Seller, actor: Actor) -> CardSetup:
    """Start saving a card: a SetupIntent for the seller's customer, to confirm in the browser with Stripe.js."""
    require_seller_access(seller, actor)
    customer = seller_customer_get_or_create(seller=seller, actor=actor)
    try:
        intent = stripe_client.setup_intent_create(customer_id=customer.id, metadata={"seller_code": seller.code})
    except StripeUnavailable as exc:
        raise _unavailable(exc) from exc
    except StripeDeclined as exc:
        raise InvalidInput(exc.message, code="card_setup_refused") from exc
    return CardSetup(
        setup_intent_id=intent["id"],
        client_secret=intent["client_secret"],
        publishable_key=settings.STRIPE_PUBLISHABLE_KEY,
        js_url=settings.STRIPE_JS_URL,
    )


def card_setup_complete(*, seller: Seller, setup_intent_id: str, actor: Actor, make_default: bool = False) -> Card:
    """Record the card a confirmed SetupIntent saved; the seller's first card becomes the default.

    The SetupIntent is read back from Stripe, so a browser cannot claim a card
    it did not save, nor another seller's. Calling it twice returns the same card.
    """
    require_seller_access(seller, actor)
    customer = seller_customer(seller=seller)
    if customer is None:
        raise NotFound("No card setup was started for this seller.", code="setup_not_found")
    try:
        intent = stripe_client.setup_intent_retrieve(setup_intent_id)
    except StripeDeclined as exc:
        raise NotFound("That card setup does not exist.", code="setup_not_found") from exc
    except StripeUnavailable as exc:
        raise _unavailable(exc) from exc
    if intent.get("customer") != customer.id:
        raise NotFound("That card setup does not exist.", code="setup_not_found")
    if intent.get("status") != "succeeded":
        raise InvalidInput(
            "The card was not saved: the form was not completed or the bank refused it.", code="setup_not_complete"
        )
    pm_id = intent.get("payment_method")
    pm_id = pm_id.get("id") if isinstance(pm_id, dict) else pm_id
    try:
        method = stripe_client.payment_method_retrieve(pm_id)
        owner = method.get("customer")
        owner = owner.get("id") if isinstance(owner, dict) else owner
        if owner is None:
            # Stripe attaches it when the SetupIntent succeeds; an emulator may not.
            method = stripe_client.payment_method_attach(pm_id, customer_id=customer.id)
        elif owner != customer.id:
            raise NotFound("That card setup does not exist.", code="setup_not_found")
    except StripeDeclined as exc:
        raise InvalidInput(exc.message, code="card_refused") from exc
    except StripeUnavailable as exc:
        raise _unavailable(exc) from exc
    is_new = not PaymentMethod.objects.filter(id=pm_id, customer=customer).exists()
    if is_new:
        _refuse_a_card_saved_twice(customer, method)
    PaymentMethod.sync_from_stripe_data(method, api_key=_stripe_key())
    customer.refresh_from_db()
    if make_default or not customer.default_payment_method_id:
        _set_default_at_stripe(customer, pm_id)
    if is_new:
        payment_event_record(seller=seller, action="card_added", actor=actor, note=pm_id)
    return next(card for card in seller_cards(seller=seller) if card.id == pm_id)


def _refuse_a_card_saved_twice(customer: Customer, method: dict) -> None:
    """The same card (Stripe's fingerprint of its number) is on file already: take the new copy off the
    customer at Stripe and say which saved card it is, so a seller never sees (and pays with) a card twice."""
    fingerprint = (method.get("card") or {}).get("fingerprint")
    if not fingerprint:
        return
    for saved in PaymentMethod.objects.filter(customer=customer).exclude(id=method.get("id")):
        if (saved.stripe_data.get("card") or {}).get("fingerprint") == fingerprint:
            try:
                stripe_client.payment_method_detach(method["id"])
            except (StripeDeclined, StripeUnavailable):
                pass  # not attached, or Stripe unreachable: it is not on file here either way
            card = next((c for c in seller_cards_of(customer) if c.id == saved.id), None)
            label = card.label if card else "This card"
            raise InvalidInput(
                f"This card is already saved ({label}). Choose it from your saved cards.", code="card_already_saved"
            )


def _set_default_at_stripe(customer: Customer, payment_method_id: str | None) -> None:
    try:
        data = stripe_client.customer_set_default_payment_method(customer.id, payment_method_id)
    except StripeUnavailable as exc:
        raise _unavailable(exc) from exc
    except StripeDeclined as exc:
        raise InvalidInput(exc.message, code="card_refused") from exc
    _sync_customer(data)


def _own_method(seller: Seller, payment_method_id: str) -> tuple[Customer, PaymentMethod]:
    customer = seller_customer(seller=seller)
    method = PaymentMethod.objects.filter(id=payment_method_id, customer=customer).first() if customer else None
    if method is None:
        raise NotFound("No such card on file.", code="card_not_found")
    return customer, method


def card_set_default(*, seller: Seller, payment_method_id: str, actor: Actor) -> Card:
    """Make a saved card the one Auto Checkout and "pay" use.

    With Auto Checkout on, orders it gave up on get a fresh start on the new card.
    """
    require_seller_access(seller, actor)
    customer, _ = _own_method(seller, payment_method_id)
    if customer.default_payment_method_id != payment_method_id:
        _set_default_at_stripe(customer, payment_method_id)
        payment_event_record(seller=seller, action="card_default_set", actor=actor, note=payment_method_id)
        with transaction.atomic():
            seller = lock_seller(seller.pk)
            if seller.auto_checkout:
                _auto_checkout_schedule_waiting(seller=seller, retry_given_up=True)
    return next(card for card in seller_cards(seller=seller) if card.id == payment_method_id)


def card_remove(*, seller: Seller, payment_method_id: str, actor: Actor) -> None:
    """Remove a card from the seller's account at Stripe.

    If it was the default, the newest other card takes over; with no card left,
    Auto Checkout is switched off, since it would have nothing to charge.
    """
    require_seller_access(seller, actor)
    customer, method = _own_method(seller, payment_method_id)
    was_default = customer.default_payment_method_id == payment_method_id
    try:
        detached = stripe_client.payment_method_detach(payment_method_id)
    except StripeUnavailable as exc:
        raise _unavailable(exc) from exc
    except StripeDeclined:
        detached = None  # already gone at Stripe; forget it here too
    if detached:
        PaymentMethod.sync_from_stripe_data(detached, api_key=_stripe_key())
    PaymentMethod.objects.filter(pk=method.pk).update(customer=None)
    payment_event_record(seller=seller, action="card_removed", actor=actor, note=payment_method_id)
    if not was_default:
        return
    remaining = [card for card in seller_cards(seller=seller) if card.id != payment_method_id]
    _set_default_at_stripe(customer, remaining[0].id if remaining else None)
    if not remaining:
        with transaction.atomic():
            locked = lock_seller(seller.pk)
            if locked.auto_checkout:
                _auto_checkout_switch(locked, enabled=False, actor=actor, note="no card left on file")


# --- the Auto Checkout switch -----------------------------------------------------------------


def auto_checkout_set(*, seller: Seller, enabled: bool, actor: Actor) -> Seller:
    """Turn Auto Checkout on or off for a seller. Turning it on needs a default card.

    Turning it on also schedules the orders already awaiting checkout, so the
    seller does not have to pay those by hand; turning it off stops every
    scheduled charge (a charge already sent to Stripe finishes).
    """
    require_seller_access(seller, actor)
    customer = seller_customer(seller=seller)
    if enabled and (customer is None or not customer.default_payment_method_id):
        raise InvalidInput("Add a card first: Auto Checkout charges your default card.", code="default_card_required")
    with transaction.atomic():
        locked = lock_seller(seller.pk)
        if locked.auto_checkout != enabled:
            _auto_checkout_switch(locked, enabled=enabled, actor=actor)
    return locked


def _auto_checkout_switch(seller: Seller, *, enabled: bool, actor: Actor, note: str = "") -> None:
    """Precondition: ``seller`` is locked."""
    seller.auto_checkout = enabled
    seller.save(update_fields=["auto_checkout"])
    payment_event_record(
        seller=seller, action="auto_checkout_on" if enabled else "auto_checkout_off", actor=actor, note=note
    )
    if enabled:
        _auto_checkout_schedule_waiting(seller=seller, retry_given_up=True)
    else:
        AutoCheckout.objects.filter(seller=seller, next_attempt_at__isnull=False).update(
            next_attempt_at=None, updated_at=timezone.now()
        )


def _auto_checkout_schedule_waiting(*, seller: Seller, retry_given_up: bool) -> int:
    """Schedule a charge now for every order of ``seller`` awaiting checkout and not yet paid.

    Orders Auto Checkout gave up on start again when ``retry_given_up``.
    Precondition: inside ``transaction.atomic()``, seller locked; the charges are enqueued on commit.
    """
    now = timezone.now()
    waiting = list(
        Order.objects.filter(
            seller=seller, status=OrderStatus.AWAITING_CHECKOUT, seller_paid_at__isnull=True
        ).values_list("pk", flat=True)
    )
    if not waiting:
        return 0
    existing = {ac.order_id: ac for ac in AutoCheckout.objects.filter(order_id__in=waiting)}
    AutoCheckout.objects.bulk_create(
        [AutoCheckout(order_id=pk, seller=seller, next_attempt_at=now) for pk in waiting if pk not in existing]
    )
    rearm = AutoCheckout.objects.filter(order_id__in=list(existing))
    if not retry_given_up:
        rearm = rearm.filter(gave_up_at__isnull=True)
    rearm.update(next_attempt_at=now, gave_up_at=None, attempts=0, updated_at=now)
    scheduled = list(
        AutoCheckout.objects.filter(order_id__in=waiting, next_attempt_at=now).values_list("order_id", flat=True)
    )
    for order_id in scheduled:
        enqueue_on_commit("payments.tasks.auto_checkout_charge", order_id)
    return len(scheduled)
