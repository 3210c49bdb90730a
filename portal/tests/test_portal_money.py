"""What a seller finds about their money in the portal: the wholesale cost and "Pay now" on an unpaid order,
the statement with its CSV, a bank-transfer refund with its real amount, the Requests badge and the order export."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import SellerUserFactory, UserFactory
from core.actors import Actor
from fulfillment.tests.factories import CarrierFactory, make_sku
from orders.tests.factories import make_order
from payments.services import bank_transfer_record, refund_bank_transfer_record
from returns.services.cancellations import cancellation_request_create
from returns.services.returns import return_refund_decide
from returns.tests.conftest import past_hold
from returns.tests.return_support import delivered_order, request_return, staff, to_inspected

pytestmark = pytest.mark.django_db


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.fixture
def portal(client, seller):
    client.force_login(SellerUserFactory(username="acme-clerk", seller=seller))
    return client


@pytest.fixture
def finance():
    user = UserFactory(username="finance-fiona", is_staff=True)
    user.groups.add(Group.objects.get(name="Finance"))
    return Actor.for_user(user)


def test_an_unpaid_orders_page_shows_the_wholesale_cost_and_pay_now(portal, partner, seller, sku):
    order = past_hold(partner, seller, lines=(("TSHIRT-M", 2),))

    page = portal.get(reverse("portal:order_detail", args=[order.pk]))

    assert page.context["wholesale"]["amount"] == 2500
    body = page.content.decode()
    assert "$25.00" in body and 'data-testid="pay-now"' in body
    unpaid = portal.get(page.context["wholesale"]["pay_url"].split("#")[0])
    assert [row.order.pk for row in unpaid.context["rows"] if row.checked] == [order.pk]


def test_an_order_short_of_stock_warns_before_paying(portal, partner, seller):
    make_sku(seller=seller, code="LAMP", on_hand=1)
    order = past_hold(partner, seller, lines=(("LAMP", 3),))

    page = portal.get(reverse("portal:order_detail", args=[order.pk]))

    assert page.context["wholesale"]["warnings"] == [
        "Not enough stock is reserved for this order yet, so it cannot be shipped until more stock arrives."
    ]
    assert 'data-testid="pay-now"' in page.content.decode()
    unpaid = portal.get(reverse("portal:unpaid"))
    [row] = unpaid.context["rows"]
    assert row.payable and row.warnings


def test_the_requests_tab_shows_how_many_requests_wait(portal, partner, seller, sku):
    for _ in range(2):
        order = past_hold(partner, seller)
        cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner), reason="changed_mind")

    page = portal.get(reverse("portal:orders"))

    assert 'data-testid="requests-badge"' in page.content.decode()
    assert page.wsgi_request.portal_requests_waiting == 2
    requests_page = portal.get(reverse("portal:requests")).content.decode()
    assert "Changed their mind" in requests_page and "changed_mind" not in requests_page


def test_sellers_export_the_orders_of_the_current_tab_and_search(portal, partner, seller, sku):
    paid = past_hold(partner, seller, external_id="TT-PAID-1")
    make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="TT-NEW-1")
    make_order(
        partner=partner,
        seller=seller,
        lines=[("TSHIRT-M", 1)],
        external_id="TT-NEW-2",
        buyer={"name": "=HYPERLINK(1)", "phone": "", "email": ""},
    )

    pending = _csv(portal.get(reverse("portal:order_export"), {"status": "pending_payment"}))
    searched = _csv(portal.get(reverse("portal:order_export"), {"q": "TT-PAID"}))

    assert pending[0][:4] == ["order", "marketplace order", "placed", "status"]
    assert sorted(row[1] for row in pending[1:]) == ["TT-NEW-1", "TT-NEW-2"]
    assert [row[1] for row in searched[1:]] == [paid.external_id]
    assert {row[3] for row in pending[1:]} == {"Pending payment"}
    # The buyer is masked as on the pages, and a cell that would be a formula is neutralised.
    assert {row[7] for row in pending[1:]} == {"J*** D***", "'=***"}


def test_a_bank_transfer_refund_shows_its_amount_in_the_portal_and_the_statement(portal, finance, partner, seller, sku):
    carrier = CarrierFactory()
    delivered = delivered_order(partner, seller, carrier, lines=[("TSHIRT-M", 2)])
    ret = to_inspected(request_return(delivered, type="return_and_refund", units={"TSHIRT-M": 1}), carrier)

    ret = return_refund_decide(return_id=ret.pk, amount=1250, actor=staff("Finance"))
    refund_bank_transfer_record(refund_id=ret.refund.pk, reference="BT-77", amount=1200, actor=finance)

    returns_page = portal.get(reverse("portal:returns") + "?show=all").content.decode()
    assert "$12.00 refunded to you" in returns_page
    assert "No refund to you" not in returns_page
    statement = portal.get(reverse("portal:statement"))
    [month] = statement.context["months"]
    assert (month.by_method["bank_transfer"], month.refunds, month.net) == (2500, 1200, 1300)
    entries = _csv(portal.get(reverse("portal:statement_download"), {"what": "entries"}))
    assert entries[0] == ["date", "type", "method", "amount", "reference", "orders", "description"]
    assert ["Refund", "Bank transfer", "-12.00", "BT-77"] == entries[2][1:5]
    months = _csv(portal.get(reverse("portal:statement_download")))
    assert months[1][1:] == ["0.00", "25.00", "25.00", "12.00", "13.00"]


def test_the_statement_counts_only_the_sellers_own_money(portal, finance, partner, seller, sku):
    from accounts.tests.factories import SellerFactory

    other = SellerFactory(code="OTHER")
    make_sku(seller=other, code="TSHIRT-M", on_hand=5)
    mine = past_hold(partner, seller)
    bank_transfer_record(order_id=mine.pk, reference="BT-1", actor=finance)
    partner.sellers.add(other)
    theirs = past_hold(partner, other)
    bank_transfer_record(order_id=theirs.pk, reference="BT-2", actor=finance, received_on=timezone.localdate())

    statement = portal.get(reverse("portal:statement"))

    assert [m.charges for m in statement.context["months"]] == [2500]
    assert "BT-2" not in statement.content.decode()
    assert timezone.localdate() - timedelta(days=1) < statement.context["entries"][0].day + timedelta(days=1)
