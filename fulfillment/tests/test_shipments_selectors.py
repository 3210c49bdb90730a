"""What the warehouse console builds its pages from: the to-ship queue, pick lists and packing slips."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.tests.factories import SellerFactory
from fulfillment.selectors import packing_slips, pick_list, to_ship_queue
from fulfillment.services import shipment_label, shipment_pack, shipment_start_picking
from fulfillment.tests.factories import CarrierFactory, make_sku, tracking_number, warehouse_actor
from orders.tests.factories import make_ready_order

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def shelves(seller):
    return {code: make_sku(seller=seller, code=code, on_hand=50) for code in ("MUG", "CAP", "TEE")}


def test_the_queue_is_sorted_by_ship_by_and_filters(partner, seller, shelves, clock):
    actor = warehouse_actor()
    newest = make_ready_order(partner=partner, seller=seller, lines=[("MUG", 1)], placed_at=START - 2 * H)
    oldest = make_ready_order(partner=partner, seller=seller, lines=[("CAP", 1)], placed_at=START - 30 * H)
    middle = make_ready_order(partner=partner, seller=seller, lines=[("MUG", 2), ("TEE", 1)], placed_at=START - 10 * H)
    shipment_start_picking(order_id=middle.pk, actor=actor)
    labelled = make_ready_order(partner=partner, seller=seller, lines=[("MUG", 1)], placed_at=START - 40 * H)
    shipment_start_picking(order_id=labelled.pk, actor=actor)
    shipment_pack(order_id=labelled.pk, actor=actor)
    shipment_label(
        order_id=labelled.pk,
        carrier=CarrierFactory(code="c1"),
        tracking_number=tracking_number(1),
        handover_method="pickup",
        actor=actor,
    )
    other_seller = SellerFactory(code="OTHER")
    make_sku(seller=other_seller, code="MUG", on_hand=5)
    partner.sellers.add(other_seller)
    elsewhere = make_ready_order(partner=partner, seller=other_seller, lines=[("MUG", 1)], placed_at=START - 5 * H)

    assert list(to_ship_queue()) == [oldest, middle, elsewhere, newest], "labelled orders have left the queue"
    assert list(to_ship_queue(seller_code="ACME")) == [oldest, middle, newest]
    assert list(to_ship_queue(sku_code="TEE")) == [middle]


def test_a_pick_list_groups_the_selection_by_sku(partner, seller, shelves, clock):
    a = make_ready_order(partner=partner, seller=seller, lines=[("MUG", 2), ("TEE", 1)])
    b = make_ready_order(partner=partner, seller=seller, lines=[("MUG", 1), ("NOPE", 4)])
    make_ready_order(partner=partner, seller=seller, lines=[("CAP", 9)])  # not selected

    rows = pick_list(order_ids=[a.pk, b.pk])

    assert [(r.sku_code, r.sku_name, r.quantity, r.known) for r in rows] == [
        ("MUG", shelves["MUG"].name, 3, True),
        ("NOPE", "", 4, False),
        ("TEE", shelves["TEE"].name, 1, True),
    ]
    assert [(o.pk, q) for o, q in rows[0].orders] == [(a.pk, 2), (b.pk, 1)]


def test_packing_slips_load_in_a_fixed_number_of_queries(partner, seller, shelves, clock, django_assert_num_queries):
    ids = [make_ready_order(partner=partner, seller=seller, lines=[("MUG", 1), ("TEE", 2)]).pk for _ in range(5)]
    with django_assert_num_queries(3):
        slips = list(packing_slips(order_ids=ids))
        for order in slips:
            [(line.sku.name, line.quantity) for line in order.lines.all()]
            getattr(order, "shipment", None)
    assert [o.pk for o in slips] == ids
