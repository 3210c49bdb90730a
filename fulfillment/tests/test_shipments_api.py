"""Partner API: carrier events, shipments and SLA clocks in order responses, and query counts."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import PartnerFactory, SellerFactory, make_api_key
from fulfillment.models import ShipmentEvent
from fulfillment.services import shipment_start_picking
from fulfillment.tests.factories import CarrierFactory, make_labelled_order, make_sku, tracking_number, warehouse_actor
from orders.tests.factories import make_order, make_ready_order

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def labelled(partner, seller, sku, clock):
    carrier = CarrierFactory(code="acmeship", name="AcmeShip")
    order = make_labelled_order(
        partner=partner,
        seller=seller,
        lines=[("TSHIRT-M", 1)],
        carrier=carrier,
        number=tracking_number(1),
        placed_at=START - timedelta(hours=2),
    )
    clock.move_to(START + timedelta(hours=3))
    return order


def _url(order) -> str:
    return f"/api/v1/orders/{order.pk}/shipment-events/"


def _post(api, order, type, at, **extra):
    return api.post(_url(order), {"type": type, "at": at.isoformat(), "note": "scan"}, format="json", **extra)


def test_a_pickup_event_moves_the_order_in_transit(api, labelled):
    response = _post(api, labelled, "picked_up", START + timedelta(hours=1))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["marketplace_status"]) == ("in_transit", "IN_TRANSIT")
    assert body["shipments"] == [
        {
            "carrier": "acmeship",
            "carrier_name": "AcmeShip",
            "tracking_number": "TRK00000001",
            "tracking_url": "https://track.example.com/TRK00000001",
            "status": "in_transit",
            "handover_method": "pickup",
            "labelled_at": "2026-03-02T09:00:00Z",
            "collect_by": "2026-03-04T09:00:00Z",
            "picked_up_at": "2026-03-02T10:00:00Z",
            "delivered_at": None,
            "failed_attempts": 0,
        }
    ]
    assert body["sla"]["collect_by"] == {"deadline": "2026-03-04T09:00:00Z", "state": "met"}
    event = ShipmentEvent.objects.get(action="picked_up")
    assert (event.actor, event.note) == ("partner:Connector A", "scan")


def test_out_of_order_events_answer_409_with_a_code(api, labelled):
    response = _post(api, labelled, "delivered", START + timedelta(hours=1))
    assert response.status_code == 409
    assert response.json()["code"] == "event_out_of_order"
    # In words: "The carrier's “Delivered” event cannot come now", never "A delivered event".
    assert "event cannot come now: the parcel is labelled" in response.json()["detail"]

    assert _post(api, labelled, "picked_up", START + timedelta(hours=2)).status_code == 200
    earlier = _post(api, labelled, "in_transit", START + timedelta(hours=1))
    assert earlier.status_code == 409 and earlier.json()["code"] == "event_out_of_order"
    assert api.get(f"/api/v1/orders/{labelled.pk}/").json()["status"] == "in_transit"


def test_a_repeated_event_is_ignored_and_answers_the_current_state(api, labelled):
    first = _post(api, labelled, "picked_up", START + timedelta(hours=1))
    _post(api, labelled, "in_transit", START + timedelta(hours=2))
    again = _post(api, labelled, "picked_up", START + timedelta(hours=1))
    assert again.status_code == 200
    assert again.json()["status"] == first.json()["status"] == "in_transit"
    assert ShipmentEvent.objects.filter(action="picked_up").count() == 1


def test_the_idempotency_key_replays_the_first_answer(api, labelled):
    key = {"HTTP_IDEMPOTENCY_KEY": "evt-1"}
    first = _post(api, labelled, "picked_up", START + timedelta(hours=1), **key)
    replay = _post(api, labelled, "picked_up", START + timedelta(hours=1), **key)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    reused = _post(api, labelled, "in_transit", START + timedelta(hours=2), **key)
    assert (reused.status_code, reused.json()["code"]) == (409, "idempotency_key_reused")


def test_another_partners_order_is_not_found(labelled, clock):
    from rest_framework.test import APIClient

    other_seller = SellerFactory(code="OTHER")
    other = APIClient()
    other.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {make_api_key(PartnerFactory(name='Other', sellers=[other_seller]))}"
    )
    response = _post(other, labelled, "picked_up", START + timedelta(hours=1))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert not ShipmentEvent.objects.filter(action="picked_up").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "exploded", "at": "2026-03-02T10:00:00Z"}, "type"),
        ({"type": "delivered", "at": "2026-03-09T10:00:00Z"}, "at"),
        ({"type": "delivered"}, "at"),
        ({"type": "delivered", "at": "yesterday"}, "at"),
    ],
)
def test_bad_events_are_400(api, labelled, body, field):
    response = api.post(_url(labelled), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_orders_show_their_clocks_and_an_empty_shipment_list_before_picking(api, partner, seller, sku, clock):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    body = api.get(f"/api/v1/orders/{order.pk}/").json()
    assert body["shipments"] == []
    assert body["sla"] == {
        "ship_by": {"deadline": "2026-03-05T09:00:00Z", "state": "ok"},
        "tracking_due": {"deadline": "2026-03-05T09:00:00Z", "state": "ok"},
        "collect_by": {"deadline": None, "state": "not_started"},
        "deliver_by": {"deadline": "2026-03-13T09:00:00Z", "state": "ok"},
    }
    clock.move_to(START + timedelta(hours=61))
    assert api.get(f"/api/v1/orders/{order.pk}/").json()["sla"]["ship_by"]["state"] == "at_risk"


def test_listing_orders_with_shipments_takes_the_same_queries_whatever_the_page(api, partner, seller, clock, settings):
    make_sku(seller=seller, code="TSHIRT-M", on_hand=100)
    carrier = CarrierFactory(code="acmeship")
    actor = warehouse_actor()

    def add_orders(n, start):
        for i in range(n):
            order = make_labelled_order(
                partner=partner,
                seller=seller,
                lines=[("TSHIRT-M", 1)],
                carrier=carrier,
                number=tracking_number(start + i),
            )
            assert order.status == "shipped"
        ready = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
        shipment_start_picking(order_id=ready.pk, actor=actor)
        make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = api.get("/api/v1/orders/")
        assert response.status_code == 200
        return len(captured), len(response.json()["results"])

    add_orders(2, 0)
    small, small_count = queries()
    add_orders(8, 100)
    large, large_count = queries()
    assert (small_count, large_count) == (4, 14)
    assert large == small
    shipments = {(o["status"], len(o["shipments"])) for o in api.get("/api/v1/orders/").json()["results"]}
    assert shipments == {("shipped", 1), ("in_fulfillment", 1), ("pending_payment", 0)}
