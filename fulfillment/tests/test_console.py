"""The warehouse console in the admin: the to-ship queue, its bulk actions, pick lists, packing
slips, the shipment page's carrier event and tracking forms, carriers, and the index counts."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.factories import make_staff_user
from fulfillment.models import Carrier, Shipment, ShipmentEvent, ShipmentStatus
from fulfillment.services import shipment_pack, shipment_start_picking
from fulfillment.tests.factories import CarrierFactory, make_labelled_order, make_sku, tracking_number, warehouse_actor
from orders.models import Order, OrderStatus
from orders.tests.factories import make_ready_order

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONSOLE = "/admin/fulfillment/shipment/console/"
LABEL = "/admin/fulfillment/shipment/console/label/"


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def carrier(db):
    return CarrierFactory(code="acmeship", name="AcmeShip")


@pytest.fixture
def warehouse(client):
    user = make_staff_user("Warehouse")
    client.force_login(user)
    return user


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _ready(partner, seller, *lines, hours_ago=2):
    return make_ready_order(
        partner=partner, seller=seller, lines=list(lines), placed_at=START - timedelta(hours=hours_ago)
    )


def _act(client, action, *orders, query=""):
    return client.post(CONSOLE + query, {"action": action, "_selected_action": [o.pk for o in orders]})


def _status(order):
    return Order.objects.get(pk=order.pk).status


# --- the queue ---------------------------------------------------------------------------


def test_queue_is_sorted_by_ship_by_with_at_risk_and_late_badges(client, clock, warehouse, partner, seller, sku):
    # Ship-by is placed_at + 72h and the at-risk lead 12h: placed 80h ago is late, 65h ago at risk.
    fresh = _ready(partner, seller, ("TSHIRT-M", 1), hours_ago=2)
    late = _ready(partner, seller, ("TSHIRT-M", 1), hours_ago=80)
    at_risk = _ready(partner, seller, ("TSHIRT-M", 1), hours_ago=65)
    make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=CarrierFactory(), number=tracking_number(9)
    )

    response = client.get(CONSOLE)

    assert response.status_code == 200
    rows = response.context["rows"]
    assert [row["order"].pk for row in rows] == [late.pk, at_risk.pk, fresh.pk]  # the shipped one is not here
    assert [row["badge"] and row["badge"][1] for row in rows] == ["Late", "At risk", None]
    html = response.content.decode()
    assert (
        html.index(f'data-order="{late.pk}"')
        < html.index(f'data-order="{at_risk.pk}"')
        < html.index(f'data-order="{fresh.pk}"')
    )
    assert 'class="sla-badge late"' in html and 'class="sla-badge at-risk"' in html

    assert [r["order"].pk for r in client.get(CONSOLE, {"sla": "late"}).context["rows"]] == [late.pk]
    assert [r["order"].pk for r in client.get(CONSOLE, {"sla": "at_risk"}).context["rows"]] == [at_risk.pk]


def test_queue_filters_by_seller_sku_step_and_carrier(client, clock, warehouse, partner, seller, sku):
    from accounts.tests.factories import SellerFactory

    other = SellerFactory(code="OTHER")
    partner.sellers.add(other)
    make_sku(seller=other, code="MUG", on_hand=5)
    shirt = _ready(partner, seller, ("TSHIRT-M", 1))
    mug = _ready(partner, other, ("MUG", 2))
    shipment_start_picking(order_id=mug.pk, actor=warehouse_actor())
    shipment_pack(order_id=mug.pk, actor=warehouse_actor())

    def ids(**params):
        return [r["order"].pk for r in client.get(CONSOLE, params).context["rows"]]

    assert ids(seller="OTHER") == [mug.pk]
    assert ids(sku="TSHIRT-M") == [shirt.pk]
    assert ids(step="packed") == [mug.pk]
    assert ids(step="to_pick") == [shirt.pk]

    fast, slow = CarrierFactory(code="fast"), CarrierFactory(code="slow")
    by_fast = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=fast, number=tracking_number(1)
    )
    make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=slow, number=tracking_number(2)
    )
    assert ids(stage="collection", carrier="fast") == [by_fast.pk]
    assert len(ids(stage="collection")) == 2


def test_queue_makes_the_same_number_of_queries_for_3_or_30_orders(client, clock, warehouse, partner, seller):
    make_sku(seller=seller, code="A", on_hand=200)
    make_sku(seller=seller, code="B", on_hand=200)

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(CONSOLE)
        assert response.status_code == 200
        return len(queries), len(response.context["rows"])

    orders = [_ready(partner, seller, ("A", 1), ("B", 2), hours_ago=i + 2) for i in range(3)]
    for order in orders[:2]:
        shipment_start_picking(order_id=order.pk, actor=warehouse_actor())
    small, shown = count_queries()
    assert shown == 3
    orders = [_ready(partner, seller, ("A", 1), ("B", 2), hours_ago=i + 2) for i in range(27)]
    for order in orders[:10]:
        shipment_start_picking(order_id=order.pk, actor=warehouse_actor())
    large, shown = count_queries()
    assert shown == 30
    assert large == small


def test_queue_needs_the_shipment_view_permission(client, db):
    client.force_login(make_staff_user("Finance"))
    assert client.get(CONSOLE).status_code == 403
    client.force_login(make_staff_user("Support"))  # sees the queue, but no action that writes
    response = client.get(CONSOLE)
    assert response.status_code == 200
    assert [a.name for a in response.context["actions"]] == ["pick_list", "packing_slips"]


# --- bulk actions ------------------------------------------------------------------------


def test_start_picking_moves_orders_and_shows_one_pick_list_grouped_by_sku(client, clock, warehouse, partner, seller):
    make_sku(seller=seller, code="A-SHIRT", on_hand=20)
    make_sku(seller=seller, code="B-MUG", on_hand=20)
    first = _ready(partner, seller, ("A-SHIRT", 2), ("B-MUG", 1))
    second = _ready(partner, seller, ("A-SHIRT", 3))
    cancelled = _ready(partner, seller, ("B-MUG", 4))
    from core.actors import Actor
    from orders.models import CancelledBy
    from orders.services import order_cancel

    order_cancel(order_id=cancelled.pk, by=CancelledBy.STAFF, reason="damaged", actor=Actor.system("test"))

    response = _act(client, "start_picking", first, second, cancelled)

    assert response.status_code == 200
    assert _status(first) == _status(second) == OrderStatus.IN_FULFILLMENT
    assert ShipmentEvent.objects.filter(shipment__order__in=[first, second], action="picking_started").count() == 2
    rows = {row.sku_code: row for row in response.context["rows"]}
    assert {code: row.quantity for code, row in rows.items()} == {
        "A-SHIRT": 5,
        "B-MUG": 1,
    }  # the refused order is left out
    assert sorted(o.pk for o, _ in rows["A-SHIRT"].orders) == [first.pk, second.pk]
    html = response.content.decode()
    assert "@media print" in html and 'data-sku="A-SHIRT"' in html
    notes = _messages(response)
    assert f"Order {first.pk}: picking started." in notes
    assert any(n.startswith(f"Order {cancelled.pk}:") and "only orders ready to fulfil" in n for n in notes)


def test_mark_packed_calls_the_service_and_reports_refusals(client, clock, warehouse, partner, seller, sku):
    picking = _ready(partner, seller, ("TSHIRT-M", 1))
    not_started = _ready(partner, seller, ("TSHIRT-M", 1))
    shipment_start_picking(order_id=picking.pk, actor=warehouse_actor())

    response = _act(client, "pack", picking, not_started, query="?sku=TSHIRT-M")

    assert response.status_code == 302 and response.url == CONSOLE + "?sku=TSHIRT-M"
    assert Shipment.objects.get(order=picking).status == ShipmentStatus.PACKED
    assert ShipmentEvent.objects.filter(shipment__order=picking, action="packed").exists()
    notes = _messages(response)
    assert f"Order {picking.pk}: packed." in notes
    assert f"Order {not_started.pk}: Order {not_started.pk} is not being picked." in notes


def test_label_form_labels_each_order_and_keeps_refused_numbers_on_the_form(
    client, clock, warehouse, partner, seller, sku, carrier
):
    good, bad = _ready(partner, seller, ("TSHIRT-M", 1)), _ready(partner, seller, ("TSHIRT-M", 1))
    for order in (good, bad):
        shipment_start_picking(order_id=order.pk, actor=warehouse_actor())
        shipment_pack(order_id=order.pk, actor=warehouse_actor())

    response = _act(client, "label", good, bad)
    assert response.status_code == 302 and response.url.startswith(LABEL)
    form_page = client.get(response.url)
    assert form_page.status_code == 200
    assert [o.pk for o in form_page.context["orders"]] == [good.pk, bad.pk]

    ids = f"{good.pk},{bad.pk}"
    response = client.post(
        LABEL,
        {
            "ids": ids,
            "next": CONSOLE,
            "carrier": "acmeship",
            "handover_method": "pickup",
            f"tracking_{good.pk}": tracking_number(11),
            f"tracking_{bad.pk}": "NOT-A-NUMBER",
        },
    )

    assert response.status_code == 200  # the refused one stays on the form
    assert _status(good) == OrderStatus.SHIPPED and Shipment.objects.get(order=good).tracking_number == tracking_number(
        11
    )
    assert _status(bad) == OrderStatus.IN_FULFILLMENT
    assert [o.pk for o in response.context["orders"]] == [bad.pk]
    assert "is not a valid AcmeShip tracking number" in str(response.context["form"].errors[f"tracking_{bad.pk}"])
    assert any("labelled AcmeShip" in n for n in _messages(response))

    response = client.post(
        LABEL,
        {
            "ids": str(bad.pk),
            "next": CONSOLE,
            "carrier": "acmeship",
            "handover_method": "dropoff",
            f"tracking_{bad.pk}": tracking_number(12),
        },
    )
    assert response.status_code == 302 and response.url == CONSOLE
    assert _status(bad) == OrderStatus.SHIPPED
    assert Shipment.objects.get(order=bad).handover_method == "dropoff"


def test_label_refuses_an_order_that_is_not_packed_with_a_message(
    client, clock, warehouse, partner, seller, sku, carrier
):
    order = _ready(partner, seller, ("TSHIRT-M", 1))
    response = client.post(
        LABEL,
        {
            "ids": str(order.pk),
            "next": CONSOLE,
            "carrier": "acmeship",
            "handover_method": "pickup",
            f"tracking_{order.pk}": tracking_number(5),
        },
    )
    assert response.status_code == 302
    assert _messages(response) == [f"Order {order.pk}: Order {order.pk} is not being picked."]
    assert _status(order) == OrderStatus.READY_TO_FULFILL


def test_hand_over_moves_labelled_orders_to_in_transit(client, clock, warehouse, partner, seller, sku, carrier):
    labelled = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(3)
    )
    unlabelled = _ready(partner, seller, ("TSHIRT-M", 1))

    response = _act(client, "hand_over", labelled, unlabelled, query="?stage=collection")

    assert response.status_code == 302
    assert _status(labelled) == OrderStatus.IN_TRANSIT
    assert ShipmentEvent.objects.filter(shipment__order=labelled, action="handed_over").exists()
    assert any(n.startswith(f"Order {unlabelled.pk}:") and "must be labelled" in n for n in _messages(response))


def test_bulk_actions_need_the_work_permission(client, partner, seller, sku):
    order = _ready(partner, seller, ("TSHIRT-M", 1))
    viewer = make_staff_user("Warehouse")
    viewer.groups.clear()
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_shipment"))
    client.force_login(viewer)
    assert client.get(CONSOLE).status_code == 200
    assert _act(client, "start_picking", order).status_code == 403
    assert _status(order) == OrderStatus.READY_TO_FULFILL


def test_packing_slips_show_the_buyer_in_full_only_with_the_permission(client, clock, partner, seller, sku):
    order = make_ready_order(
        partner=partner,
        seller=seller,
        lines=[("TSHIRT-M", 2)],
        buyer={"name": "Jane Doe", "phone": "+1 555 010 1234", "email": "jane@example.com"},
    )
    client.force_login(make_staff_user("Warehouse"))
    response = _act(client, "packing_slips", order)
    html = response.content.decode()
    assert response.status_code == 200 and "@media print" in html
    assert "Jane Doe" in html and "1 Main St" in html and "TSHIRT-M" in html
    # A US address as the carrier expects it: "city, region postal code", then the country.
    assert "1 Main St<br>Austin, TX 73301<br>US<br>" in html

    from django.contrib.auth.models import Permission

    clerk = make_staff_user("Warehouse")
    clerk.groups.clear()
    clerk.user_permissions.add(Permission.objects.get(codename="view_shipment"))
    client.force_login(clerk)
    html = _act(client, "packing_slips", order).content.decode()
    assert "Jane Doe" not in html and "1 Main St" not in html and "73301" not in html and "555 010" not in html
    assert "J*** D***" in html and "Austin" in html and "Buyer details are masked" in html


# --- the shipment page: carrier events and tracking corrections -------------------------------


def test_carrier_event_form_records_the_event_and_shows_refusals(
    client, clock, warehouse, partner, seller, sku, carrier
):
    order = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(4)
    )
    shipment = order.shipment
    url = reverse("admin:fulfillment_shipment_carrier_event", args=[shipment.pk])
    page = client.get(reverse("admin:fulfillment_shipment_change", args=[shipment.pk]))
    assert url in page.content.decode()

    clock.shift(timedelta(hours=3))
    response = client.post(url, {"type": "delivered", "at_0": "2026-03-02", "at_1": "11:00", "note": ""})
    assert response.status_code == 200  # delivered cannot follow a parcel still awaiting collection
    assert "cannot come now" in str(response.context["form"].non_field_errors())

    response = client.post(url, {"type": "picked_up", "at_0": "2026-03-02", "at_1": "11:00", "note": "van 7"})
    assert response.status_code == 302
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT and _status(order) == OrderStatus.IN_TRANSIT
    event = ShipmentEvent.objects.get(shipment=shipment, action="picked_up")
    assert event.note == "van 7" and event.at == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


def test_tracking_can_be_corrected_within_the_window_only(client, clock, warehouse, partner, seller, sku, carrier):
    order = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(6)
    )
    shipment = order.shipment
    url = reverse("admin:fulfillment_shipment_tracking", args=[shipment.pk])

    response = client.post(url, {"carrier": "acmeship", "tracking_number": "bogus", "reason": ""})
    assert response.status_code == 200 and response.context["form"].errors["tracking_number"]

    response = client.post(url, {"carrier": "acmeship", "tracking_number": tracking_number(7), "reason": "reprinted"})
    assert response.status_code == 302
    shipment.refresh_from_db()
    assert shipment.tracking_number == tracking_number(7)
    assert ShipmentEvent.objects.get(shipment=shipment, action="tracking_updated").data["old"][
        "tracking_number"
    ] == tracking_number(6)

    clock.shift(timedelta(hours=73))
    page = client.get(reverse("admin:fulfillment_shipment_change", args=[shipment.pk])).content.decode()
    assert url not in page
    response = client.post(url, {"carrier": "acmeship", "tracking_number": tracking_number(8), "reason": ""})
    assert response.status_code == 200 and "can only be corrected until" in str(response.context["form"].errors)


def test_order_page_shows_shipment_and_the_four_clocks(client, clock, warehouse, partner, seller, sku, carrier):
    order = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(10)
    )
    html = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert (
        "AcmeShip" in html
        and tracking_number(10) in html
        and f"https://track.example.com/{tracking_number(10)}" in html
    )
    for label in ("Ready to ship", "Tracking number", "Carrier collection", "Delivery"):
        assert label in html
    assert ">met<" in html  # ship-by met at labelling


# --- carriers ----------------------------------------------------------------------------


def test_carrier_admin_creates_and_edits_through_the_services_with_validation(client, warehouse):
    add = reverse("admin:fulfillment_carrier_add")
    response = client.post(
        add,
        {
            "code": "zip",
            "name": "Zip",
            "tracking_pattern": "([",
            "tracking_url": "",
            "handover": "both",
            "active": "on",
        },
    )
    assert response.status_code == 200 and "Not a valid regular expression" in str(
        response.context["adminform"].form.errors
    )

    response = client.post(
        add,
        {
            "code": "zip",
            "name": "Zip",
            "tracking_pattern": r"^Z\d{6}$",
            "tracking_url": "",
            "handover": "pickup",
            "active": "on",
        },
    )
    assert response.status_code == 302
    carrier = Carrier.objects.get(code="zip")
    change = reverse("admin:fulfillment_carrier_change", args=[carrier.pk])
    response = client.post(
        change,
        {
            "name": "Zip Express",
            "tracking_pattern": r"^Z\d{7}$",
            "tracking_url": "https://zip.example/{tracking_number}",
            "handover": "both",
        },
    )
    assert response.status_code == 302
    carrier.refresh_from_db()
    assert (carrier.name, carrier.tracking_pattern, carrier.active, carrier.code) == (
        "Zip Express",
        r"^Z\d{7}$",
        False,
        "zip",
    )
    assert client.post(reverse("admin:fulfillment_carrier_delete", args=[carrier.pk])).status_code == 403


# --- the admin index -----------------------------------------------------------------------


def test_admin_index_shows_the_warehouse_counts(client, clock, warehouse, partner, seller, sku, carrier):
    _ready(partner, seller, ("TSHIRT-M", 1), hours_ago=80)  # to pick, late
    packed = _ready(partner, seller, ("TSHIRT-M", 1), hours_ago=65)  # packed, at risk
    shipment_start_picking(order_id=packed.pk, actor=warehouse_actor())
    shipment_pack(order_id=packed.pk, actor=warehouse_actor())
    moving = make_labelled_order(
        partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], carrier=carrier, number=tracking_number(20)
    )
    from fulfillment.services import shipment_hand_over

    shipment_hand_over(order_id=moving.pk, actor=warehouse_actor())

    response = client.get(reverse("admin:index"))
    [warehouse] = [queues for team, _, queues in response.context["team_tiles"] if team == "Warehouse"]
    counts = {queue.label: queue.count for queue in warehouse}
    assert {k: counts[k] for k in ("To pick", "Packed", "At risk", "Late", "In transit", "Lost")} == {
        "To pick": 1,
        "Packed": 1,
        "At risk": 1,
        "Late": 1,
        "In transit": 1,
        "Lost": 0,
    }
    html = response.content.decode()
    assert f"{CONSOLE}?step=packed" in html and "sla=late" in html
    late_list = client.get(reverse("admin:orders_order_changelist"), {"sla": "late"})
    assert late_list.status_code == 200 and late_list.context["cl"].result_count == 1
