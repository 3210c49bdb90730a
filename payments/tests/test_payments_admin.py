"""Payments in the console: Finance's payment and refund lists, refunds through the service, the seller page."""

from urllib.parse import urlencode

import pytest
import requests
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.tests.factories import PartnerFactory, SellerFactory, make_staff_user
from fulfillment.tests.factories import make_sku
from payments.models import Payment, PaymentEvent, PaymentStatus, Refund, RefundKind, RefundStatus
from payments.services import checkout_orders
from payments.tests.conftest import SYSTEM, add_card, awaiting_order

pytestmark = pytest.mark.django_db

MEMBERSHIPS_EMPTY = {
    "memberships-TOTAL_FORMS": "0",
    "memberships-INITIAL_FORMS": "0",
    "memberships-MIN_NUM_FORMS": "0",
    "memberships-MAX_NUM_FORMS": "1000",
}


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _pay(emulator, shop, *orders, card="ok") -> Payment:
    _, seller, _ = shop
    add_card(emulator, seller, card)
    return checkout_orders(seller=seller, order_ids=[o.pk for o in orders], actor=SYSTEM).payment


@pytest.fixture
def finance(client):
    user = make_staff_user("Finance", username="fiona")
    client.force_login(user)
    return user


@pytest.fixture
def declined_shop(db):
    seller = SellerFactory(code="DECLINED", name="Declined Goods", email="declined@example.com")
    partner = PartnerFactory(name="Declined Connector", sellers=[seller])
    return partner, seller, make_sku(seller=seller, code="BOWL", on_hand=100, wholesale_cost=900)


# --- payments and refunds lists ---------------------------------------------------------------------


def test_finance_sees_every_payment_and_narrows_the_list(client, finance, emulator, shop, declined_shop):
    first, second = awaiting_order(shop, quantity=1), awaiting_order(shop, quantity=2)
    paid = _pay(emulator, shop, first, second)
    declined_order = awaiting_order(declined_shop, quantity=1)
    declined = _pay(emulator, declined_shop, declined_order, card="declines_charges")
    assert (paid.status, declined.status) == (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED)
    changelist = reverse("admin:payments_payment_changelist")

    response = client.get(changelist)
    assert response.status_code == 200
    assert [p.pk for p in response.context["cl"].result_list] == [declined.pk, paid.pk]
    page = response.content.decode()
    assert "$37.50" in page and "USD" in page and "Declined Goods" in page
    rows = {p.pk: p for p in response.context["cl"].result_list}
    assert (rows[paid.pk].order_count, rows[declined.pk].order_count) == (2, 1)
    filters = {spec.title for spec in response.context["cl"].filter_specs}
    assert {"status", "seller"} <= filters

    def listed(**params):
        found = client.get(f"{changelist}?{urlencode(params)}")
        assert found.status_code == 200
        return [p.pk for p in found.context["cl"].result_list]

    assert listed(status__exact="failed") == [declined.pk]
    assert listed(seller__id__exact=paid.seller_id) == [paid.pk]
    assert listed(q=second.external_id) == [paid.pk]
    assert listed(q=paid.stripe_payment_intent_id) == [paid.pk]
    assert listed(q=f"#{declined.pk}") == [declined.pk]

    detail = client.get(reverse("admin:payments_payment_change", args=[paid.pk])).content.decode()
    assert first.external_id in detail and second.external_id in detail  # the orders covered
    assert paid.stripe_payment_intent_id in detail
    assert "Refund…" in detail


def test_the_stripe_dashboard_link_follows_the_key_mode(settings):
    from payments.admin.charges import stripe_dashboard_url

    assert stripe_dashboard_url("pi_123") is None  # the local emulator has no dashboard
    del settings.STRIPE_API_HOST
    settings.STRIPE_LIVE_MODE = False
    assert stripe_dashboard_url("pi_123") == "https://dashboard.stripe.com/test/payments/pi_123"
    settings.STRIPE_LIVE_MODE = True
    assert stripe_dashboard_url("pi_123") == "https://dashboard.stripe.com/payments/pi_123"


# --- refunds -----------------------------------------------------------------------------------------


def test_finance_refunds_part_of_a_payment_for_one_order_through_stripe(
    client, finance, emulator, shop, django_capture_on_commit_callbacks
):
    first, second = awaiting_order(shop, quantity=1), awaiting_order(shop, quantity=2)
    payment = _pay(emulator, shop, first, second)
    refund_url = reverse("admin:payments_payment_refund", args=[payment.pk])

    form_page = client.get(refund_url)
    assert form_page.status_code == 200
    assert form_page.context["form"]["amount"].value() == pytest.approx(37.5)  # defaults to what is left
    assert "Can still be refunded" in form_page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(refund_url, {"amount": "10.00", "reason": "one mug arrived broken", "order": second.pk})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:payments_payment_change", args=[payment.pk])
    refund = Refund.objects.get()
    assert (refund.kind, refund.amount, refund.status, refund.allocation.order_id) == (
        RefundKind.MANUAL,
        1000,
        RefundStatus.SUCCEEDED,
        second.pk,
    )
    assert refund.created_by == "staff:fiona" and refund.reason == "one mug arrived broken"
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.PARTIALLY_REFUNDED, 1000)
    charge = requests.get(
        f"{emulator.url}/v1/charges/{payment.stripe_charge_id}", auth=(settings.STRIPE_SECRET_KEY, ""), timeout=10
    ).json()
    assert charge["amount_refunded"] == 1000  # really given back at Stripe
    assert any("Refund #" in m and "$10.00 requested" in m for m in _messages(response))

    # What is left is the new default; more than that is refused by the form.
    assert client.get(refund_url).context["form"]["amount"].value() == pytest.approx(27.5)
    too_much = client.post(refund_url, {"amount": "27.51", "reason": "too much"})
    assert too_much.status_code == 200
    assert "At most $27.50 can still be refunded." in too_much.content.decode()

    refunds = client.get(reverse("admin:payments_refund_changelist"))
    assert refunds.status_code == 200 and [r.pk for r in refunds.context["cl"].result_list] == [refund.pk]


def test_a_refund_the_service_refuses_is_shown_as_a_message(client, finance, emulator, shop):
    first, second = awaiting_order(shop, quantity=1), awaiting_order(shop, quantity=2)
    payment = _pay(emulator, shop, first, second)

    # 20.00 is within the payment (37.50) but more than the first order's share (12.50).
    response = client.post(
        reverse("admin:payments_payment_refund", args=[payment.pk]),
        {"amount": "20.00", "reason": "x", "order": first.pk},
    )

    assert response.status_code == 200
    assert _messages(response) == ["At most $12.50 can still be refunded."]
    assert not Refund.objects.exists()


def test_without_the_refund_permission_there_is_no_refund(client, emulator, shop):
    order = awaiting_order(shop)
    payment = _pay(emulator, shop, order)
    viewer = make_staff_user(username="viewer")
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_payment", "view_refund"]))
    client.force_login(viewer)

    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    assert page.status_code == 200
    assert "Refund…" not in page.content.decode()
    refund_url = reverse("admin:payments_payment_refund", args=[payment.pk])
    assert client.get(refund_url).status_code == 403
    assert client.post(refund_url, {"amount": "1.00", "reason": "sneaky"}).status_code == 403
    assert not Refund.objects.exists()


def test_a_failed_payment_cannot_be_refunded(client, finance, emulator, declined_shop):
    payment = _pay(emulator, declined_shop, awaiting_order(declined_shop), card="declines_charges")
    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk])).content.decode()
    assert "Refund…" not in page

    response = client.get(reverse("admin:payments_payment_refund", args=[payment.pk]))
    assert response.status_code == 302
    assert _messages(response) == [f"Payment #{payment.pk} cannot be refunded: it is failed."]


# --- the seller page ---------------------------------------------------------------------------------


def test_the_seller_page_shows_the_charge_history(client, finance, emulator, shop):
    _, seller, _ = shop
    first, second = awaiting_order(shop, quantity=1), awaiting_order(shop, quantity=2)
    one = _pay(emulator, shop, first)
    two = checkout_orders(seller=seller, order_ids=[second.pk], actor=SYSTEM).payment

    page = client.get(reverse("admin:accounts_seller_change", args=[seller.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Charge history" in html
    for payment, amount in ((one, "$12.50"), (two, "$25.00")):
        assert reverse("admin:payments_payment_change", args=[payment.pk]) in html
        assert amount in html
    assert html.index(f">#{two.pk}<") < html.index(f">#{one.pk}<")  # newest first
    full_list = f"{reverse('admin:payments_payment_changelist')}?{urlencode({'seller__id__exact': seller.pk})}"
    assert f'href="{full_list}"' in html and "All 2 payments of this seller" in html
    assert "Default card: Visa ending in 4242" in html
    assert "Turn Auto Checkout on" not in html  # Finance sees Auto Checkout, switching it is for who may change sellers


def test_auto_checkout_is_switched_through_the_service_and_needs_a_default_card(client, emulator, shop):
    _, seller, _ = shop
    admin_user = make_staff_user(superuser=True, username="root")
    client.force_login(admin_user)
    change_url = reverse("admin:accounts_seller_change", args=[seller.pk])
    switch_url = reverse("admin:accounts_seller_auto_checkout", args=[seller.pk])

    # Saving the seller form never changes the flag, whatever is posted.
    saved = client.post(
        change_url, {"name": "Payer Goods", "email": "payer@example.com", "auto_checkout": "on", **MEMBERSHIPS_EMPTY}
    )
    assert saved.status_code == 302
    seller.refresh_from_db()
    assert seller.auto_checkout is False

    page = client.get(change_url).content.decode()
    assert f'href="{switch_url}"' in page and "Turn Auto Checkout on…" in page
    confirm = client.get(switch_url)
    assert confirm.status_code == 200 and "no default card on file" in confirm.content.decode()

    refused = client.post(switch_url, {"enabled": "on"})
    assert refused.status_code == 302 and refused["Location"] == change_url
    assert _messages(refused) == [
        "Auto Checkout was not turned on: Add a card first: Auto Checkout charges your default card."
    ]
    seller.refresh_from_db()
    assert seller.auto_checkout is False

    add_card(emulator, seller)
    waiting = awaiting_order(shop)
    assert "already awaiting checkout is charged right away" in client.get(switch_url).content.decode()
    turned_on = client.post(switch_url, {"enabled": "on"})
    assert _messages(turned_on) == ["Auto Checkout is on for PAYER."]
    seller.refresh_from_db()
    assert seller.auto_checkout is True
    event = PaymentEvent.objects.get(action="auto_checkout_on")
    assert (event.actor, event.user) == ("staff:root", admin_user)
    assert waiting.auto_checkout.next_attempt_at is not None  # the service scheduled the waiting order's charge

    client.post(switch_url, {"enabled": "on"})  # the same click again changes nothing
    assert PaymentEvent.objects.filter(action__startswith="auto_checkout_o").count() == 1
    client.post(switch_url, {"enabled": "off"})
    seller.refresh_from_db()
    assert seller.auto_checkout is False


def test_who_may_not_change_sellers_cannot_switch_auto_checkout(client, finance, shop):
    _, seller, _ = shop
    switch_url = reverse("admin:accounts_seller_auto_checkout", args=[seller.pk])

    assert client.get(switch_url).status_code == 403
    assert client.post(switch_url, {"enabled": "on"}).status_code == 403
    seller.refresh_from_db()
    assert seller.auto_checkout is False


def test_finance_has_what_it_needs(finance):
    for perm in (
        "payments.view_payment",
        "payments.view_refund",
        "payments.refund_payment",
        "payments.view_selleremail",
        "accounts.view_seller",
    ):
        assert finance.has_perm(perm), perm


def test_refund_amounts_must_fit_the_currency(client, finance, emulator, shop):
    payment = _pay(emulator, shop, awaiting_order(shop))
    response = client.post(
        reverse("admin:payments_payment_refund", args=[payment.pk]), {"amount": "1.005", "reason": "x"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["amount"]
    assert not Refund.objects.exists()
