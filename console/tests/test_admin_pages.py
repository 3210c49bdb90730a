"""Every console page of the order, stock and account admins renders, with data in it, for each staff group."""

import pytest
from django.urls import reverse

from accounts.models import Partner, PartnerApiKey, Seller
from accounts.tests.factories import make_api_key, make_staff_user
from fulfillment.models import SKU, Reservation, Stock
from orders.models import Order
from orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

MODELS = [Order, SKU, Stock, Reservation, Seller, Partner, PartnerApiKey]


@pytest.fixture
def data(partner, seller, sku):
    make_api_key(partner)
    make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 2), ("NO-SUCH-SKU", 1)])


@pytest.mark.parametrize("who", ["superuser", "Warehouse", "Support", "Finance"])
def test_list_and_detail_pages_render(client, data, who):
    user = make_staff_user(superuser=True) if who == "superuser" else make_staff_user(who)
    client.force_login(user)

    assert client.get("/admin/").status_code == 200
    for model in MODELS:
        opts = model._meta
        can_view = user.has_perm(f"{opts.app_label}.view_{opts.model_name}")
        listed = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        detail = client.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[model.objects.first().pk])
        )
        assert (listed.status_code, detail.status_code) == ((200, 200) if can_view else (403, 403)), model
