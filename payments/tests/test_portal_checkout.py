"""The portal's Unpaid, checkout result and Payment pages through Django's test client, against localstripe."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import PartnerFactory, SellerFactory, SellerUserFactory, UserFactory
from fulfillment.tests.factories import make_sku
from orders.models import OrderStatus
from orders.services import order_cancel
from orders.tests.factories import make_order
from payments.models import AutoCheckout, Payment, PaymentStatus
from payments.selectors import seller_cards, seller_customer, seller_default_card
from payments.services import auto_checkout_set, checkout_orders
from payments.tests.conftest import SYSTEM, TEST_CARDS, add_card, awaiting_order, held_order

pytestmark = pytest.mark.django_db

UNPAID_URL = reverse("portal:unpaid")
QUOTE_URL = reverse("portal:unpaid_quote")
PAYMENT_URL = reverse("portal:payment")
AUTO_URL = reverse("portal:auto_checkout")
DECLINED = "Your bank declined the charge. Try another card, or ask your bank why."


@pytest.fixture
def clerk(shop):
    _, seller, _ = shop
    return SellerUserFactory(username="payer-clerk", seller=seller)


@pytest.fixture
def portal(client, clerk):
    client.force_login(clerk)
    return client


@pytest.fixture
def other_shop(db):
    """Another seller with an order waiting for checkout and a card of its own."""
    seller = SellerFactory(code="RIVAL", name="Rival Goods")
    partner = PartnerFactory(name="Rival Connector", sellers=[seller])
    sku = make_sku(seller=seller, code="MUG", wholesale_cost=900)
    return partner, seller, sku


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def listed(response) -> list[int]:
    return [row.order.pk for row in response.context["rows"]]


def pay(portal, orders, *, card, expected_total, **extra):
    data = {"order": [o.pk for o in orders], "card": card, "expected_total": expected_total, **extra}
    return portal.post(UNPAID_URL, data)


def card_customer(seller) -> str:
    return seller_customer(seller=seller).id


def browser_setup(portal, emulator, number: str) -> str:
    """What the card form's script does: ask us for a SetupIntent, then let Stripe.js confirm the card."""
    response = portal.post(reverse("portal:card_setup"))
    assert response.status_code == 200
    body = response.json()
    setup = SimpleNamespace(
        setup_intent_id=body["setup_intent"],
        client_secret=body["client_secret"],
        publishable_key=settings.STRIPE_PUBLISHABLE_KEY,
    )
    assert emulator.confirm_setup(setup, number)["status"] == "succeeded"
    return body["setup_intent"]


# --- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["unpaid", "payment"])
def test_pages_need_a_seller_login(client, name):
    url = reverse(f"portal:{name}")
    assert client.get(url)["Location"] == f"{reverse('portal:login')}?next={url}"
    client.force_login(UserFactory(username="staff-sam", is_staff=True))
    assert client.get(url).status_code == 403


def test_posts_are_csrf_protected(clerk, shop):
    client = Client(enforce_csrf_checks=True)
    client.force_login(clerk)
    order = awaiting_order(shop)
    page = client.get(UNPAID_URL)
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()
    for url, data in [
        (UNPAID_URL, {"order": [order.pk], "card": "new", "expected_total": 2500}),
        (AUTO_URL, {"enabled": "on"}),
        (reverse("portal:card_setup"), {}),
        (reverse("portal:card_add"), {"setup_intent": "seti_x"}),
    ]:
        assert client.post(url, data).status_code == 403, url
    assert not Payment.objects.exists()


def test_navigation_links_to_the_new_pages(portal):
    content = portal.get(UNPAID_URL).content.decode()
    assert f'href="{UNPAID_URL}" aria-current="page">Unpaid' in content
    assert f'href="{PAYMENT_URL}">Payment' in content


# --- the Unpaid list ------------------------------------------------------------------------------


def test_unpaid_lists_only_the_sellers_orders_on_hold_or_awaiting_checkout(portal, shop, other_shop, emulator):
    partner, seller, sku = shop
    on_hold = held_order(shop, quantity=1)
    awaiting = awaiting_order(shop, quantity=3)
    buyer_unpaid = make_order(partner=partner, seller=seller, lines=[(sku.code, 1)])
    paid = awaiting_order(shop)
    add_card(emulator, seller)
    checkout_orders(seller=seller, order_ids=[paid.pk], actor=SYSTEM)
    cancelled = held_order(shop)
    order_cancel(order_id=cancelled.pk, by="buyer", reason="changed mind", actor=SYSTEM)
    theirs = awaiting_order(other_shop)

    response = portal.get(UNPAID_URL)

    assert response.status_code == 200
    assert listed(response) == [awaiting.pk, on_hold.pk]  # oldest first
    content = response.content.decode()
    assert theirs.external_id not in content and buyer_unpaid.external_id not in content
    rows = {row.order.pk: row for row in response.context["rows"]}
    assert (rows[awaiting.pk].amount, rows[on_hold.pk].amount) == (3 * 1250, 1250)
    assert "Hold ends in" in rows[on_hold.pk].deadline_phrase
    assert "$37.50" in content
    assert response["Cache-Control"].startswith("max-age=0")


def test_an_order_that_cannot_be_paid_is_listed_but_not_selectable(portal, shop):
    partner, seller, _ = shop
    paid_at = timezone.now() - timedelta(minutes=5)
    broken = make_order(partner=partner, seller=seller, lines=[("NO-SUCH-SKU", 1)], placed_at=paid_at, paid_at=paid_at)

    response = portal.get(UNPAID_URL, {"order": broken.pk})

    [row] = response.context["rows"]
    assert (row.order.pk, row.payable, row.checked) == (broken.pk, False, False)
    assert "match it to one of your SKUs" in row.problem
    assert f'value="{broken.pk}" id="order-{broken.pk}"' in response.content.decode()
    assert response.context["selection_total"] == 0


def test_preselected_orders_show_the_servers_total(portal, shop):
    first, second, third = awaiting_order(shop, quantity=1), awaiting_order(shop, quantity=2), held_order(shop)

    response = portal.get(UNPAID_URL, {"order": [first.pk, third.pk, "junk", "99999999999999999999999"]})

    assert response.status_code == 200
    assert [row.order.pk for row in response.context["rows"] if row.checked] == [first.pk, third.pk]
    assert response.context["selection_total"] == 1250 + 2500
    assert 'name="expected_total" value="3750"' in response.content.decode()
    everything = portal.get(UNPAID_URL, {"all": "1"})
    assert everything.context["selection_total"] == 1250 + 2500 + 2500
    assert second.pk in [row.order.pk for row in everything.context["rows"] if row.checked]


def test_the_live_quote_is_computed_by_the_server_for_the_sellers_orders_only(portal, shop, other_shop):
    mine = [awaiting_order(shop, quantity=1), held_order(shop, quantity=2)]
    theirs = awaiting_order(other_shop, quantity=5)

    quote = portal.get(QUOTE_URL, {"order": [mine[0].pk, mine[1].pk, theirs.pk]}).json()

    assert (quote["total"], quote["total_display"], quote["count"], quote["count_display"]) == (
        3750,
        "$37.50",
        2,
        "2 orders",
    )
    assert quote["not_payable"] == [{"order_id": theirs.pk, "message": "This order is not one of yours."}]
    bad = portal.get(QUOTE_URL, {"order": ["12", "DROP TABLE"]})
    assert bad.status_code == 400 and "not order numbers" in bad.json()["error"]
    assert portal.get(QUOTE_URL).json()["total"] == 0


# --- paying -----------------------------------------------------------------------------------------


def test_paying_selected_orders_with_the_saved_card_moves_them_on(portal, shop, emulator):
    _, seller, _ = shop
    card = add_card(emulator, seller)
    first, second = awaiting_order(shop, quantity=2), awaiting_order(shop, quantity=1)
    on_hold, left_alone = held_order(shop, quantity=1), awaiting_order(shop, quantity=1)
    page = portal.get(UNPAID_URL)
    assert page.context["card_choice"] == card.id

    response = pay(portal, [first, second, on_hold], card=card.id, expected_total=2500 + 1250 + 1250)

    payment = Payment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:checkout_result", args=[payment.pk])
    assert (payment.status, payment.amount, payment.stripe_payment_method_id) == (
        PaymentStatus.SUCCEEDED,
        5000,
        card.id,
    )
    for order in (first, second, on_hold, left_alone):
        order.refresh_from_db()
    assert (first.status, second.status) == (OrderStatus.READY_TO_FULFILL, OrderStatus.READY_TO_FULFILL)
    assert on_hold.status == OrderStatus.ON_HOLD and on_hold.seller_paid_at is not None
    assert left_alone.seller_paid_at is None

    result = portal.get(response["Location"])
    content = result.content.decode()
    assert [(row["order"].pk, row["outcome"]) for row in result.context["rows"]] == [
        (first.pk, "paid"),
        (second.pk, "paid"),
        (on_hold.pk, "paid"),
    ]
    assert "Paid $50.00" in content and "Visa ending in 4242" in content
    assert "it goes to the warehouse when the hold ends" in content
    assert "Paid: ready to fulfil." in content
    assert listed(portal.get(UNPAID_URL)) == [left_alone.pk]
    [intent] = emulator.payment_intents(payment.stripe_customer_id)
    assert (intent["amount"], intent["status"]) == (5000, "succeeded")


def test_a_total_the_seller_did_not_see_is_shown_again_and_nothing_is_charged(portal, shop, emulator):
    _, seller, _ = shop
    card = add_card(emulator, seller)
    first, second = awaiting_order(shop, quantity=1), awaiting_order(shop, quantity=2)

    response = pay(portal, [first, second], card=card.id, expected_total=1250)  # the page showed one order

    assert response.status_code == 200
    assert not Payment.objects.exists()
    assert "The total for the 2 orders you can pay is $37.50. Check it and press Pay again." in messages_of(response)[0]
    assert [row.order.pk for row in response.context["rows"] if row.checked] == [first.pk, second.pk]
    assert 'name="expected_total" value="3750"' in response.content.decode()

    confirmed = pay(portal, [first, second], card=card.id, expected_total=3750)
    assert confirmed.status_code == 302
    assert Payment.objects.get().amount == 3750


def test_a_declining_card_shows_the_reason_in_plain_words(portal, shop, emulator):
    _, seller, _ = shop
    card = add_card(emulator, seller, "declines_charges")
    order = awaiting_order(shop)

    response = pay(portal, [order], card=card.id, expected_total=2500)
    result = portal.get(response["Location"])

    content = result.content.decode()
    assert result.context["outcome"] == "declined"
    assert f'data-testid="decline-reason">{DECLINED}<' in content.replace("&#x27;", "'")
    assert [(row["order"].pk, row["label"]) for row in result.context["rows"]] == [(order.pk, "Declined")]
    assert result.context["retry_url"] == f"{UNPAID_URL}?order={order.pk}"
    order.refresh_from_db()
    assert (order.status, order.seller_paid_at) == (OrderStatus.AWAITING_CHECKOUT, None)
    assert listed(portal.get(UNPAID_URL)) == [order.pk]


def test_orders_skipped_by_the_checkout_say_why_on_the_result_page(portal, shop, emulator):
    partner, seller, _ = shop
    card = add_card(emulator, seller)
    payable = awaiting_order(shop)
    paid_at = timezone.now() - timedelta(minutes=5)
    broken = make_order(partner=partner, seller=seller, lines=[("NO-SUCH-SKU", 1)], placed_at=paid_at, paid_at=paid_at)

    response = pay(portal, [payable, broken], card=card.id, expected_total=2500)
    result = portal.get(response["Location"])

    outcomes = {(row.get("order").pk if row.get("order") else row["order_id"]): row for row in result.context["rows"]}
    assert outcomes[payable.pk]["outcome"] == "paid"
    assert outcomes[broken.pk]["outcome"] == "skipped"
    assert "match it to one of your SKUs" in outcomes[broken.pk]["message"]
    # Selecting only orders that cannot be paid charges nothing and says why.
    nothing = pay(portal, [broken], card=card.id, expected_total=0)
    assert nothing.status_code == 400
    assert any("match it to one of your SKUs" in text for text in messages_of(nothing))
    assert Payment.objects.count() == 1


def test_another_sellers_order_id_is_refused_and_nothing_is_charged(portal, shop, other_shop, emulator):
    _, seller, _ = shop
    card = add_card(emulator, seller)
    mine, theirs = awaiting_order(shop), awaiting_order(other_shop)

    response = pay(portal, [mine, theirs], card=card.id, expected_total=2500 + 900)

    assert response.status_code == 400
    assert messages_of(response) == [f"Nothing was charged: #{theirs.pk} is not one of your orders."]
    assert not Payment.objects.exists()
    assert emulator.payment_intents(card_customer(seller)) == []
    theirs.refresh_from_db()
    assert theirs.seller_paid_at is None


@pytest.mark.parametrize(
    "orders, expected",
    [
        (["abc", "1"], "These are not order numbers: abc."),
        (["99999999999999999999999"], "These are not order numbers: 99999999999999999999…."),
        ([], "Select at least one order to pay."),
        (["-4"], "These are not order numbers: -4."),
    ],
)
def test_bad_order_ids_get_a_clear_message(portal, shop, emulator, orders, expected):
    _, seller, _ = shop
    card = add_card(emulator, seller)
    response = portal.post(UNPAID_URL, {"order": orders, "card": card.id, "expected_total": 0})
    assert response.status_code == 400
    assert expected in messages_of(response)
    assert not Payment.objects.exists()


def test_too_many_orders_at_once_are_refused(portal, shop, emulator):
    _, seller, _ = shop
    card = add_card(emulator, seller)
    response = portal.post(UNPAID_URL, {"order": [str(n) for n in range(1, 502)], "card": card.id, "expected_total": 0})
    assert response.status_code == 400
    assert "Pay at most 500 orders at once." in messages_of(response)


def test_another_sellers_card_cannot_pay(portal, shop, other_shop, emulator):
    theirs = add_card(emulator, other_shop[1])
    add_card(emulator, shop[1])
    order = awaiting_order(shop)

    response = pay(portal, [order], card=theirs.id, expected_total=2500)

    assert response.status_code == 400
    assert messages_of(response) == ["That card is not on file. Choose one of your cards."]
    assert not Payment.objects.exists()


def test_paying_with_a_card_added_on_the_spot(portal, shop, emulator):
    _, seller, _ = shop
    order = awaiting_order(shop)
    assert portal.get(UNPAID_URL).context["card_choice"] == "new"  # no card yet: the card form is open
    missing = pay(portal, [order], card="new", expected_total=2500)
    assert missing.status_code == 400 and "Enter the new card's details first." in messages_of(missing)

    setup_intent = browser_setup(portal, emulator, TEST_CARDS["ok"])
    response = pay(portal, [order], card="new", setup_intent=setup_intent, make_default="on", expected_total=2500)

    assert response.status_code == 302
    [card] = seller_cards(seller=seller)
    assert (card.last4, card.is_default) == ("4242", True)
    payment = Payment.objects.get()
    assert (payment.status, payment.stripe_payment_method_id) == (PaymentStatus.SUCCEEDED, card.id)
    assert "Visa ending in 4242, expires 12/2034 is saved." in messages_of(portal.get(response["Location"]))


def test_a_card_setup_that_was_not_finished_is_not_used(portal, shop, emulator):
    order = awaiting_order(shop)
    started = portal.post(reverse("portal:card_setup")).json()["setup_intent"]

    response = pay(portal, [order], card="new", setup_intent=started, expected_total=2500)

    assert response.status_code == 400
    assert "The card was not saved" in messages_of(response)[0]
    assert not Payment.objects.exists()
    assert seller_cards(seller=shop[1]) == []


# --- the bank's confirmation ---------------------------------------------------------------------


def _authenticate(emulator, payment, *, success: bool):
    """What localstripe's Stripe.js does when the seller answers the bank's 3-D Secure window."""
    response = requests.post(
        f"{emulator.url}/v1/payment_intents/{payment.stripe_payment_intent_id}/_authenticate",
        params={"success": "true" if success else "false"},
        json={"key": settings.STRIPE_PUBLISHABLE_KEY, "client_secret": payment.client_secret},
        timeout=10,
    )
    assert response.ok, response.text


def test_a_payment_the_bank_wants_confirmed_is_confirmed_with_stripe_js_then_read_back(portal, shop, emulator):
    _, seller, _ = shop
    card = add_card(emulator, seller, "needs_authentication")
    order = awaiting_order(shop)

    response = pay(portal, [order], card=card.id, expected_total=2500)
    payment = Payment.objects.get()
    result = portal.get(response["Location"])

    content = result.content.decode()
    assert result.context["outcome"] == "requires_action"
    assert f'data-client-secret="{payment.client_secret}"' in content
    assert f'<script src="{settings.STRIPE_JS_URL}"></script>' in content
    assert f'data-publishable-key="{settings.STRIPE_PUBLISHABLE_KEY}"' in content
    unpaid_row = portal.get(UNPAID_URL).context["rows"][0]
    assert (unpaid_row.checkout_status, unpaid_row.payable) == ("requires_action", False)

    _authenticate(emulator, payment, success=True)
    refreshed = portal.post(reverse("portal:checkout_refresh", args=[payment.pk]), follow=True)

    assert refreshed.context["outcome"] == "paid"
    assert "Payment confirmed: $25.00 paid." in messages_of(refreshed)
    order.refresh_from_db()
    assert order.status == OrderStatus.READY_TO_FULFILL


def test_a_failed_confirmation_is_shown_as_declined(portal, shop, emulator):
    _, seller, _ = shop
    card = add_card(emulator, seller, "needs_authentication")
    order = awaiting_order(shop)
    pay(portal, [order], card=card.id, expected_total=2500)
    payment = Payment.objects.get()

    _authenticate(emulator, payment, success=False)
    refreshed = portal.post(reverse("portal:checkout_refresh", args=[payment.pk]), follow=True)

    assert refreshed.context["outcome"] == "declined"
    assert refreshed.context["payment"].failure_message in messages_of(refreshed)[0]
    order.refresh_from_db()
    assert order.seller_paid_at is None


def test_a_confirmation_can_be_cancelled_to_pay_another_way(portal, shop, emulator):
    _, seller, _ = shop
    card = add_card(emulator, seller, "needs_authentication")
    order = awaiting_order(shop)
    pay(portal, [order], card=card.id, expected_total=2500)
    payment = Payment.objects.get()

    response = portal.post(reverse("portal:checkout_cancel", args=[payment.pk]))

    assert response["Location"] == f"{UNPAID_URL}?order={order.pk}"
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == (PaymentStatus.FAILED, "abandoned")
    row = portal.get(response["Location"]).context["rows"][0]
    assert (row.order.pk, row.payable, row.checked) == (order.pk, True, True)


def test_another_sellers_payment_is_not_found(portal, shop, other_shop, emulator):
    _, other, _ = other_shop
    add_card(emulator, other)
    theirs = checkout_orders(seller=other, order_ids=[awaiting_order(other_shop).pk], actor=SYSTEM).payment

    assert portal.get(reverse("portal:checkout_result", args=[theirs.pk])).status_code == 404
    assert portal.post(reverse("portal:checkout_refresh", args=[theirs.pk])).status_code == 404
    assert portal.post(reverse("portal:checkout_cancel", args=[theirs.pk])).status_code == 404
    assert portal.get(reverse("portal:checkout_refresh", args=[theirs.pk])).status_code == 405


# --- the Payment page: cards and Auto Checkout ----------------------------------------------------


def test_auto_checkout_without_a_default_card_is_refused_with_a_clear_message(portal, shop):
    _, seller, _ = shop

    response = portal.post(AUTO_URL, {"enabled": "on"}, follow=True)

    assert messages_of(response) == ["Add a card first: Auto Checkout charges your default card."]
    assert response.context["auto_checkout"] is False
    seller.refresh_from_db()
    assert seller.auto_checkout is False
    assert portal.post(AUTO_URL, {"enabled": "maybe"}, follow=True).context["auto_checkout"] is False


def test_turning_auto_checkout_on_charges_the_waiting_orders_and_off_again(
    portal, shop, emulator, django_capture_on_commit_callbacks
):
    _, seller, _ = shop
    add_card(emulator, seller)
    waiting = awaiting_order(shop)

    with django_capture_on_commit_callbacks(execute=True):
        response = portal.post(AUTO_URL, {"enabled": "on"}, follow=True)

    assert response.context["auto_checkout"] is True
    assert "Auto Checkout is on." in messages_of(response)[0]
    waiting.refresh_from_db()
    assert waiting.status == OrderStatus.READY_TO_FULFILL
    off = portal.post(AUTO_URL, {"enabled": "off"}, follow=True)
    assert off.context["auto_checkout"] is False
    seller.refresh_from_db()
    assert seller.auto_checkout is False


def test_saving_a_card_from_the_payment_page(portal, shop, emulator):
    _, seller, _ = shop
    setup_intent = browser_setup(portal, emulator, TEST_CARDS["ok"])

    response = portal.post(reverse("portal:card_add"), {"setup_intent": setup_intent}, follow=True)

    assert messages_of(response) == ["Visa ending in 4242, expires 12/2034 is saved as your default card."]
    content = response.content.decode()
    assert "Visa •••• 4242" in content and "Expires 12/2034" in content
    assert [(c.last4, c.is_default) for c in response.context["cards"]] == [("4242", True)]
    bad = portal.post(reverse("portal:card_add"), {"setup_intent": "../../customers"}, follow=True)
    assert messages_of(bad) == ["The card form sent something unexpected. Enter the card again."]
    unfinished = portal.post(reverse("portal:card_setup")).json()["setup_intent"]
    refused = portal.post(reverse("portal:card_add"), {"setup_intent": unfinished}, follow=True)
    assert "The card was not saved" in messages_of(refused)[0]
    assert len(seller_cards(seller=seller)) == 1


def test_making_a_card_the_default_and_removing_cards(portal, shop, emulator):
    _, seller, _ = shop
    first = add_card(emulator, seller)
    second = add_card(emulator, seller, "declines_charges")

    response = portal.post(reverse("portal:card_default", args=[second.id]), follow=True)
    assert seller_default_card(seller=seller).id == second.id
    assert messages_of(response) == ["Visa ending in 0341, expires 12/2034 is now your default card."]

    confirm = portal.get(reverse("portal:card_remove", args=[second.id]))
    assert confirm.status_code == 200
    assert "Visa ending in 4242, expires 12/2034 becomes your default card" in confirm.content.decode()
    assert seller_default_card(seller=seller).id == second.id  # asking is not removing

    removed = portal.post(reverse("portal:card_remove", args=[second.id]), follow=True)
    assert [c.id for c in removed.context["cards"]] == [first.id]
    assert seller_default_card(seller=seller).id == first.id
    assert "Visa ending in 0341, expires 12/2034 is removed." in messages_of(removed)


def test_removing_the_last_card_warns_that_auto_checkout_goes_off(portal, shop, emulator):
    _, seller, _ = shop
    card = add_card(emulator, seller)
    auto_checkout_set(seller=seller, enabled=True, actor=SYSTEM)

    confirm = portal.get(reverse("portal:card_remove", args=[card.id]))
    assert "Auto Checkout is turned off" in confirm.content.decode()
    removed = portal.post(reverse("portal:card_remove", args=[card.id]), follow=True)

    assert "Auto Checkout is off: there is no card left to charge." in messages_of(removed)
    assert removed.context["auto_checkout"] is False and removed.context["cards"] == []


def test_another_sellers_card_is_never_acted_on(portal, shop, other_shop, emulator):
    _, other, _ = other_shop
    theirs = add_card(emulator, other)
    add_card(emulator, shop[1])

    assert portal.post(reverse("portal:card_default", args=[theirs.id])).status_code == 404
    assert portal.get(reverse("portal:card_remove", args=[theirs.id])).status_code == 404
    assert portal.post(reverse("portal:card_remove", args=[theirs.id])).status_code == 404
    assert portal.post(reverse("portal:card_remove", args=["pm_doesnotexist"])).status_code == 404
    assert [(c.id, c.is_default) for c in seller_cards(seller=other)] == [(theirs.id, True)]
    assert theirs.id not in portal.get(PAYMENT_URL).content.decode()


def test_orders_auto_checkout_gave_up_on_are_explained_with_a_link_to_pay_them(
    portal, shop, emulator, django_capture_on_commit_callbacks
):
    _, seller, _ = shop
    add_card(emulator, seller, "needs_authentication")
    auto_checkout_set(seller=seller, enabled=True, actor=SYSTEM)
    with django_capture_on_commit_callbacks(execute=True):
        order = awaiting_order(shop)
    assert AutoCheckout.objects.get(order=order).gave_up_at is not None

    page = portal.get(PAYMENT_URL)

    [failure] = page.context["failures"]
    assert failure.order_id == order.pk
    content = page.content.decode()
    assert "Your bank wants you to confirm this payment. Pay the order by hand in the portal." in content
    pay_link = f"{UNPAID_URL}?order={order.pk}"
    assert f'href="{pay_link}">Pay by hand' in content
    unpaid = portal.get(pay_link)
    [row] = unpaid.context["rows"]
    assert (row.order.pk, row.checked) == (order.pk, True)
    assert row.auto_note.startswith("Auto Checkout stopped: Your bank wants you to confirm")
    # The Auto Checkout charge it gave up on is listed as cancelled, never as waiting for the seller.
    assert [item["outcome"] for item in page.context["recent"]] == ["cancelled"]


def test_card_setup_answers_json_for_the_card_form(portal, shop, emulator):
    body = portal.post(reverse("portal:card_setup")).json()
    assert body["setup_intent"].startswith("seti_") and body["client_secret"].startswith(body["setup_intent"])
    assert portal.get(reverse("portal:card_setup")).status_code == 405
