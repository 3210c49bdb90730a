"""Accounts in the console: sellers and their portal users, partners, and API keys shown once."""

import pytest
from django.contrib.messages import get_messages
from django.test import RequestFactory
from django.urls import reverse
from rest_framework.exceptions import AuthenticationFailed

from accounts.authentication import ApiKeyAuthentication
from accounts.models import Partner, PartnerApiKey, Seller, SellerMembership
from accounts.tests.factories import PartnerFactory, SellerFactory, UserFactory, make_api_key, make_staff_user

pytestmark = pytest.mark.django_db

MEMBERSHIPS_EMPTY = {
    "memberships-TOTAL_FORMS": "0",
    "memberships-INITIAL_FORMS": "0",
    "memberships-MIN_NUM_FORMS": "0",
    "memberships-MAX_NUM_FORMS": "1000",
}


@pytest.fixture
def admin_user(client):
    user = make_staff_user(superuser=True, username="root")
    client.force_login(user)
    return user


def authenticate(raw_key):
    request = RequestFactory().get("/api/v1/orders/", HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return ApiKeyAuthentication().authenticate(request)


# --- sellers ------------------------------------------------------------------------------


def test_adding_a_seller_goes_through_the_same_checks_as_the_command(client, admin_user):
    add_url = reverse("admin:accounts_seller_add")

    bad = client.post(add_url, {"code": "has space", "name": "X", "email": "nope", **MEMBERSHIPS_EMPTY})
    good = client.post(add_url, {"code": "NEW", "name": "New Seller", "email": "new@example.com", **MEMBERSHIPS_EMPTY})

    assert bad.status_code == 200
    assert set(bad.context["adminform"].form.errors) == {"code", "email"}
    assert good.status_code == 302
    seller = Seller.objects.get()
    assert (seller.code, seller.name, seller.email) == ("NEW", "New Seller", "new@example.com")


def test_a_seller_code_cannot_change_but_its_name_can(client, admin_user):
    seller = SellerFactory(code="ACME", name="Acme")
    change_url = reverse("admin:accounts_seller_change", args=[seller.pk])

    response = client.post(
        change_url,
        {
            "code": "RENAMED",
            "name": "Acme Goods",
            "email": "ops@acme.example",
            "auto_checkout": "on",
            **MEMBERSHIPS_EMPTY,
        },
    )

    assert response.status_code == 302
    seller.refresh_from_db()
    # Auto Checkout is not a form field: it is switched through its own service (see payments' admin tests).
    assert (seller.code, seller.name, seller.email, seller.auto_checkout) == (
        "ACME",
        "Acme Goods",
        "ops@acme.example",
        False,
    )


def test_portal_users_are_added_on_the_seller_page_but_staff_are_refused(client, admin_user):
    seller = SellerFactory(code="ACME")
    portal_user = UserFactory(username="shopkeeper")
    staff_user = make_staff_user()
    change_url = reverse("admin:accounts_seller_change", args=[seller.pk])
    form = {"name": seller.name, "email": seller.email, **MEMBERSHIPS_EMPTY, "memberships-TOTAL_FORMS": "1"}

    refused = client.post(change_url, {**form, "memberships-0-user": staff_user.pk})
    added = client.post(change_url, {**form, "memberships-0-user": portal_user.pk})

    assert refused.status_code == 200
    assert "Staff accounts cannot be portal users" in refused.content.decode()
    assert added.status_code == 302
    assert list(SellerMembership.objects.values_list("user__username", "seller__code")) == [("shopkeeper", "ACME")]


def test_a_portal_user_is_removed_from_the_seller_page(client, admin_user):
    seller = SellerFactory(code="ACME")
    membership = SellerMembership.objects.create(user=UserFactory(), seller=seller)
    form = {
        "name": seller.name,
        "email": seller.email,
        **MEMBERSHIPS_EMPTY,
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-0-id": membership.pk,
        "memberships-0-seller": seller.pk,
        "memberships-0-DELETE": "on",
    }

    response = client.post(reverse("admin:accounts_seller_change", args=[seller.pk]), form)

    assert response.status_code == 302
    assert not SellerMembership.objects.exists()


# --- partners and keys --------------------------------------------------------------------


def test_adding_a_partner_links_its_sellers_and_points_to_the_key_button(client, admin_user):
    acme, beta = SellerFactory(code="ACME"), SellerFactory(code="BETA")

    response = client.post(
        reverse("admin:accounts_partner_add"),
        {
            "name": "Connector B",
            "sellers": [acme.pk, beta.pk],
            "is_active": "on",
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        },
    )

    partner = Partner.objects.get(name="Connector B")
    assert response.status_code == 302
    assert response.url == reverse("admin:accounts_partner_change", args=[partner.pk])
    assert set(partner.sellers.all()) == {acme, beta}
    assert not partner.api_keys.exists()
    assert any("Issue new API key" in str(m) for m in get_messages(response.wsgi_request))


def test_a_new_key_is_shown_once_and_stored_as_a_digest(client, admin_user, partner):
    issue_url = reverse("admin:accounts_partner_issue_key", args=[partner.pk])
    change_url = reverse("admin:accounts_partner_change", args=[partner.pk])

    assert issue_url in client.get(change_url).content.decode()
    assert client.get(issue_url).status_code == 200
    assert not partner.api_keys.exists()  # the confirmation page issues nothing
    response = client.post(issue_url, {"label": "staging"})

    assert response.status_code == 200
    raw_key = response.context["raw_key"]
    assert raw_key in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert list(get_messages(response.wsgi_request)) == []  # not parked in a cookie or the session
    key = PartnerApiKey.objects.get(partner=partner)
    assert (key.label, key.digest) == ("staging", PartnerApiKey.digest_for(raw_key))
    assert authenticate(raw_key)[0] == partner
    page = client.get(change_url).content.decode()
    assert key.prefix in page
    assert raw_key not in page


def test_a_revoked_key_stops_working(client, admin_user, partner):
    raw_key = make_api_key(partner)
    key = PartnerApiKey.objects.get(partner=partner)
    revoke_url = reverse("admin:accounts_partnerapikey_revoke", args=[key.pk])

    assert revoke_url in client.get(reverse("admin:accounts_partner_change", args=[partner.pk])).content.decode()
    assert client.get(revoke_url).status_code == 200
    key.refresh_from_db()
    assert key.revoked_at is None  # the confirmation page revokes nothing
    response = client.post(revoke_url)

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    with pytest.raises(AuthenticationFailed):
        authenticate(raw_key)


def test_revoke_action_on_the_key_list(client, admin_user):
    partner = PartnerFactory()
    keep, drop = make_api_key(partner), make_api_key(partner)
    drop_row = PartnerApiKey.objects.get(prefix=drop.split(".")[0])

    response = client.post(
        reverse("admin:accounts_partnerapikey_changelist"),
        {"action": "revoke_selected", "_selected_action": [drop_row.pk], "index": 0},
    )

    assert response.status_code == 302
    assert authenticate(keep)[0] == partner
    with pytest.raises(AuthenticationFailed):
        authenticate(drop)


def test_support_can_see_partners_but_not_issue_or_revoke_keys(client, partner):
    make_api_key(partner)
    key = PartnerApiKey.objects.get(partner=partner)
    client.force_login(make_staff_user("Support"))

    assert client.get(reverse("admin:accounts_partner_change", args=[partner.pk])).status_code == 200
    assert client.post(reverse("admin:accounts_partner_issue_key", args=[partner.pk])).status_code == 403
    assert client.post(reverse("admin:accounts_partnerapikey_revoke", args=[key.pk])).status_code == 403
    assert PartnerApiKey.objects.filter(partner=partner, revoked_at=None).count() == 1
