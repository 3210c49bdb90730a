"""Returns in the console: each group's buttons, receiving and inspecting line by line, the refund decision
with the full share suggested, bulk answers, and the queues — every write through the services."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from accounts.tests.factories import make_staff_user
from core.actors import Actor
from fulfillment.models import Stock
from fulfillment.tests.factories import CarrierFactory, make_sku
from orders.models import OrderStatus
from returns.models import ReturnEvent, ReturnRequest, ReturnStatus, ReturnType
from returns.services.returns import return_approve, return_inspect, return_receive
from returns.tests.return_support import delivered_order, request_return, staff, to_inspected, to_received, warehouse

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:returns_returnrequest_changelist")


def url(ret, step: str = "") -> str:
    if not step:
        return reverse("admin:returns_returnrequest_change", args=[ret.pk])
    return reverse(f"admin:returns_returnrequest_{step}", args=[ret.pk])


@pytest.fixture
def carrier(db):
    return CarrierFactory(code="backpost", name="Back Post")


@pytest.fixture
def delivered(partner, seller, sku, carrier):
    make_sku(seller=seller, code="CAP", on_hand=20, wholesale_cost=400)
    return delivered_order(partner, seller, carrier, lines=[("TSHIRT-M", 3), ("CAP", 2)])


def login(client, group: str):
    client.force_login(make_staff_user(group))
    return client


def test_the_warehouse_receives_and_inspects_line_by_line(client, delivered, carrier, sku):
    ret = request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"TSHIRT-M": 3, "CAP": 2})
    to_received(ret, carrier)  # through the services: approved, shipped back, received in full
    warehouse_client = login(client, "Warehouse")
    tshirt, cap = ret.lines.order_by("pk")
    on_hand = Stock.objects.get(sku=sku).on_hand

    page = warehouse_client.get(url(ret))
    assert page.status_code == 200
    assert [label for label, _ in page.context["return_actions"]] == ["Inspect…"]  # no Support or Finance buttons
    form = warehouse_client.get(url(ret, "inspect"))
    assert form.status_code == 200
    assert f'data-line="{tshirt.pk}"' in form.content.decode()

    wrong = warehouse_client.post(
        url(ret, "inspect"),
        {
            f"resellable_{tshirt.pk}": 3,
            f"damaged_{tshirt.pk}": 1,
            f"resellable_{cap.pk}": 2,
            f"damaged_{cap.pk}": 0,
        },
    )
    assert wrong.status_code == 200
    assert "must be the 3 received" in wrong.content.decode()
    assert ReturnRequest.objects.get(pk=ret.pk).status == ReturnStatus.RECEIVED

    done = warehouse_client.post(
        url(ret, "inspect"),
        {
            f"resellable_{tshirt.pk}": 2,
            f"damaged_{tshirt.pk}": 1,
            f"resellable_{cap.pk}": 0,
            f"damaged_{cap.pk}": 2,
            "note": "cap crushed",
        },
    )
    assert done.status_code == 302
    ret.refresh_from_db()
    assert (ret.status, ret.inspection_note) == (ReturnStatus.INSPECTED, "cap crushed")
    assert Stock.objects.get(sku=sku).on_hand == on_hand + 2
    event = ReturnEvent.objects.get(return_request=ret, action="inspect")
    assert event.actor.startswith("staff:") and event.user is not None


def test_receiving_records_what_arrived(client, delivered, carrier):
    ret = request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"TSHIRT-M": 2})
    return_approve(return_id=ret.pk, actor=staff("Support"))
    warehouse_client = login(client, "Warehouse")
    line = ret.lines.get()

    too_many = warehouse_client.post(url(ret, "receive"), {f"received_{line.pk}": 3})
    assert (
        too_many.status_code == 200
        and ReturnRequest.objects.get(pk=ret.pk).status == ReturnStatus.AWAITING_RETURN_SHIPMENT
    )
    answer = warehouse_client.post(url(ret, "receive"), {f"received_{line.pk}": 1, "note": "one missing"})

    assert answer.status_code == 302
    line.refresh_from_db()
    assert (line.return_request.status, line.received_quantity) == (ReturnStatus.RECEIVED, 1)


def test_finance_decides_the_refund_with_the_full_share_suggested_and_others_cannot(client, delivered, carrier):
    ret = to_inspected(request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"CAP": 2}), carrier)

    assert login(client, "Warehouse").get(url(ret, "refund")).status_code == 403
    finance = login(client, "Finance")
    page = finance.get(url(ret, "refund"))
    assert page.status_code == 200
    # Paid by bank transfer: the page says the refund is owed by bank transfer; the share is suggested.
    assert "paid by bank transfer" in page.content.decode()
    assert page.context["form"]["amount"].value() == "8.00"
    answer = finance.post(url(ret, "refund"), {"amount": "8.00", "note": "two caps back"})

    assert answer.status_code == 302
    ret.refresh_from_db()
    assert (ret.status, ret.refund_amount, ret.resolution_note) == (ReturnStatus.REFUNDED, 800, "two caps back")
    assert (ret.refund.method, ret.refund.status, ret.refund.amount) == ("bank_transfer", "pending", 800)


def test_support_answers_in_bulk_and_replaces_and_closes(client, delivered, carrier):
    first = request_return(delivered, type=ReturnType.REFUND_ONLY, units={"CAP": 1})
    second = request_return(delivered, type=ReturnType.REPLACEMENT, units={"TSHIRT-M": 1})
    support = login(client, "Support")

    confirm = support.post(
        CHANGELIST, {"action": "approve_selected", helpers.ACTION_CHECKBOX_NAME: [first.pk, second.pk]}
    )
    assert confirm.status_code == 200 and "Approve the return" in confirm.content.decode()
    done = support.post(
        CHANGELIST,
        {
            "action": "approve_selected",
            helpers.ACTION_CHECKBOX_NAME: [first.pk, second.pk],
            "confirm": "yes",
            "note": "",
        },
    )
    assert done.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (ReturnStatus.APPROVED, ReturnStatus.AWAITING_RETURN_SHIPMENT)

    line = second.lines.get()
    return_receive(return_id=second.pk, received={line.pk: 1}, actor=warehouse())
    return_inspect(return_id=second.pk, results={line.pk: (1, 0)}, actor=warehouse())
    assert "Create replacement order…" in [label for label, _ in support.get(url(second)).context["return_actions"]]
    assert support.post(url(second, "replace"), {"note": ""}).status_code == 302
    second.refresh_from_db()
    assert second.status == ReturnStatus.REPLACED
    assert second.replacement_order.status == OrderStatus.READY_TO_FULFILL
    assert support.post(url(second, "close"), {"note": ""}).status_code == 302
    second.refresh_from_db()
    assert second.status == ReturnStatus.CLOSED


def test_the_queue_filter_shows_who_each_return_waits_for(client, delivered, carrier):
    waiting_answer = request_return(delivered, type=ReturnType.REFUND_ONLY, units={"CAP": 1})
    to_inspect = to_received(
        request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"TSHIRT-M": 1}), carrier
    )
    support = login(client, "Support")

    def ids(queue):
        return {r.pk for r in support.get(CHANGELIST, {"queue": queue}).context["cl"].result_list}

    assert ids("answer") == {waiting_answer.pk}
    assert ids("inspection") == {to_inspect.pk}
    assert ids("decision") == set()
    assert ids("overdue") == set()


def test_the_receive_form_has_one_received_column(client, delivered, carrier):
    """The form asking what arrived showed the (still empty) "Received" column next to its own "Received" field."""
    from returns.services.returns import return_approve, return_shipment_update
    from returns.tests.return_support import staff

    ret = request_return(delivered, type=ReturnType.RETURN_AND_REFUND, units={"CAP": 2})
    return_approve(return_id=ret.pk, actor=staff("Support"))
    return_shipment_update(
        return_id=ret.pk, carrier=carrier, tracking_number="TRK00000999", actor=Actor.for_partner(ret.order.partner)
    )

    form = login(client, "Warehouse").get(url(ret, "receive"))

    assert form.status_code == 200
    table = form.content.decode().split('id="return-lines"')[1].split("</thead>")[0]
    assert re.findall(r'<th scope="col">([^<]*)</th>', table) == ["SKU", "Returned", "Received"]
