"""Cards on file through a real SetupIntent (localstripe), and the Auto Checkout switch."""

import pytest
from djstripe.models import Customer, PaymentMethod

from accounts.tests.factories import SellerFactory, SellerUserFactory
from core.actors import Actor
from core.errors import InvalidInput, NotFound, PermissionRefused
from orders.models import OrderStatus
from payments.models import AutoCheckout, PaymentEvent
from payments.selectors import seller_cards, seller_default_card
from payments.services import (
    auto_checkout_set,
    card_remove,
    card_set_default,
    card_setup_complete,
    card_setup_start,
)
from payments.tests.conftest import SYSTEM, TEST_CARDS, add_card, awaiting_order

pytestmark = pytest.mark.django_db


def test_a_card_saved_through_a_setup_intent_is_listed_and_becomes_the_default(emulator, shop):
    _, seller, _ = shop
    setup = card_setup_start(seller=seller, actor=SYSTEM)
    assert setup.client_secret.startswith(setup.setup_intent_id)
    assert setup.publishable_key.startswith("pk_test_")
    assert setup.js_url == f"{emulator.url}/js.stripe.com/v3/"

    emulator.confirm_setup(setup, TEST_CARDS["ok"])
    card = card_setup_complete(seller=seller, setup_intent_id=setup.setup_intent_id, actor=SYSTEM)

    assert (card.last4, card.is_default, card.exp_year) == ("4242", True, 2034)
    assert seller_cards(seller=seller) == [card]
    customer = Customer.objects.get(subscriber=seller)
    assert customer.default_payment_method_id == card.id
    # Only Stripe ids and what is printed on the card are kept, never the number.
    stored = PaymentMethod.objects.get(id=card.id).stripe_data
    assert TEST_CARDS["ok"] not in str(stored)
    # Completing the same setup again changes nothing.
    again = card_setup_complete(seller=seller, setup_intent_id=setup.setup_intent_id, actor=SYSTEM)
    assert again == card and len(seller_cards(seller=seller)) == 1
    assert PaymentEvent.objects.filter(seller=seller, action="card_added").count() == 1


def test_an_unfinished_setup_is_refused(emulator, shop):
    _, seller, _ = shop
    setup = card_setup_start(seller=seller, actor=SYSTEM)
    with pytest.raises(InvalidInput) as exc:
        card_setup_complete(seller=seller, setup_intent_id=setup.setup_intent_id, actor=SYSTEM)
    assert exc.value.code == "setup_not_complete"
    assert seller_cards(seller=seller) == []


def test_a_seller_cannot_claim_another_sellers_setup(emulator, shop):
    _, seller, _ = shop
    other = SellerFactory(code="OTHER")
    theirs = card_setup_start(seller=other, actor=SYSTEM)
    emulator.confirm_setup(theirs, TEST_CARDS["ok"])
    card_setup_start(seller=seller, actor=SYSTEM)  # the seller has a customer too
    with pytest.raises(NotFound):
        card_setup_complete(seller=seller, setup_intent_id=theirs.setup_intent_id, actor=SYSTEM)


def test_a_seller_user_manages_only_their_own_cards(emulator, shop):
    _, seller, _ = shop
    intruder = SellerUserFactory(seller=SellerFactory(code="INTRUDER"))
    with pytest.raises(PermissionRefused):
        card_setup_start(seller=seller, actor=Actor.for_user(intruder))
    owner = SellerUserFactory(seller=seller)
    assert card_setup_start(seller=seller, actor=Actor.for_user(owner)).client_secret


def test_switching_the_default_and_removing_cards(emulator, shop):
    _, seller, _ = shop
    first = add_card(emulator, seller)
    second = add_card(emulator, seller, "declines_charges")
    assert seller_default_card(seller=seller).id == first.id

    card_set_default(seller=seller, payment_method_id=second.id, actor=SYSTEM)
    assert seller_default_card(seller=seller).id == second.id
    assert [c.id for c in seller_cards(seller=seller)] == [second.id, first.id]

    # Removing the default hands it to the remaining card.
    card_remove(seller=seller, payment_method_id=second.id, actor=SYSTEM)
    assert [(c.id, c.is_default) for c in seller_cards(seller=seller)] == [(first.id, True)]
    with pytest.raises(NotFound):
        card_remove(seller=seller, payment_method_id=second.id, actor=SYSTEM)


def test_auto_checkout_needs_a_default_card_and_goes_off_with_the_last_card(emulator, shop):
    _, seller, _ = shop
    with pytest.raises(InvalidInput) as exc:
        auto_checkout_set(seller=seller, enabled=True, actor=SYSTEM)
    assert exc.value.code == "default_card_required"

    card = add_card(emulator, seller)
    assert auto_checkout_set(seller=seller, enabled=True, actor=SYSTEM).auto_checkout is True

    card_remove(seller=seller, payment_method_id=card.id, actor=SYSTEM)
    seller.refresh_from_db()
    assert seller.auto_checkout is False
    assert seller_default_card(seller=seller) is None
    assert (
        list(PaymentEvent.objects.filter(seller=seller).values_list("action", flat=True)).count("auto_checkout_off")
        == 1
    )


def test_turning_auto_checkout_on_pays_the_orders_already_waiting(emulator, shop, django_capture_on_commit_callbacks):
    _, seller, _ = shop
    waiting = [awaiting_order(shop), awaiting_order(shop)]
    add_card(emulator, seller)

    with django_capture_on_commit_callbacks(execute=True):
        auto_checkout_set(seller=seller, enabled=True, actor=SYSTEM)

    for order in waiting:
        order.refresh_from_db()
        assert order.status == OrderStatus.READY_TO_FULFILL
    assert AutoCheckout.objects.filter(order__in=waiting, next_attempt_at__isnull=True).count() == 2


def test_the_same_card_cannot_be_saved_twice(emulator, shop):
    """Stripe's fingerprint of the card number tells a second copy of a saved card apart from a new card."""
    from payments.tests.conftest import TEST_CARDS

    _, seller, _ = shop
    saved = add_card(emulator, seller)
    setup = card_setup_start(seller=seller, actor=SYSTEM)
    assert emulator.confirm_setup(setup, TEST_CARDS["ok"])["status"] == "succeeded"

    with pytest.raises(InvalidInput) as refused:
        card_setup_complete(seller=seller, setup_intent_id=setup.setup_intent_id, actor=SYSTEM)

    assert refused.value.code == "card_already_saved"
    assert "already saved (Visa ending in 4242" in refused.value.detail
    assert [c.id for c in seller_cards(seller=seller)] == [saved.id]
