"""Stock exceptions are resolved, never shipped around: no picking, remap a line, allocate arriving stock."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.actors import Actor
from core.errors import InvalidInput, TransitionRefused
from core.testing import run_in_threads
from fulfillment.models import Stock
from fulfillment.services import (
    line_shortfalls,
    order_line_remap,
    shipment_label,
    shipment_pack,
    shipment_start_picking,
    stock_import_csv,
)
from fulfillment.tests.factories import CarrierFactory, make_sku, tracking_number, warehouse_actor
from orders.models import Order, OrderAction, OrderStatus
from orders.tests.factories import make_order, make_ready_order

HEADER = "seller,sku,name,wholesale_cost,on_hand\n"
IMPORT = Actor.system("import_stock")


def _stock(sku) -> tuple[int, int]:
    stock = Stock.objects.get(sku=sku)
    return stock.on_hand, stock.reserved


def _reserved(order) -> list[int]:
    return [line.reservation.quantity for line in order.lines.select_related("reservation").order_by("pk")]


@pytest.mark.django_db
def test_an_order_with_a_stock_exception_cannot_start_picking(partner, seller, sku):
    short = make_sku(seller=seller, code="SHORT", on_hand=1)
    order = make_ready_order(partner=partner, seller=seller, lines=[("SHORT", 3)])
    unknown = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1), ("NO-SUCH-SKU", 1)])

    for flagged in (order, unknown):
        with pytest.raises(TransitionRefused) as refused:
            shipment_start_picking(order_id=flagged.pk, actor=warehouse_actor())
        assert refused.value.code == "stock_exception"
        flagged.refresh_from_db()
        assert flagged.status == OrderStatus.READY_TO_FULFILL and not hasattr(flagged, "shipment")
    assert _stock(short) == (1, 1)
    reasons = [s.reason for s in line_shortfalls(Order.objects.get(pk=unknown.pk))]
    assert reasons == ["NO-SUCH-SKU is not in the seller's catalogue: match it to one of their SKUs."]
    assert [s.reason for s in line_shortfalls(Order.objects.get(pk=order.pk))] == [
        "Only 1 of 3 reserved: not enough stock."
    ]


@pytest.mark.django_db
def test_a_remapped_line_reserves_stock_and_the_exception_clears(partner, seller, sku):
    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1), ("TSHRIT-M", 2)])
    assert Order.objects.get(pk=order.pk).stock_exception

    line = order_line_remap(
        line_id=order.lines.get(sku_code="TSHRIT-M").pk,
        sku_code="TSHIRT-M",
        note="typo in the marketplace listing",
        actor=warehouse_actor(),
    )

    order.refresh_from_db()
    assert (line.sku_id, line.sku_code, line.reservation.quantity) == (sku.pk, "TSHIRT-M", 2)
    assert not order.stock_exception
    assert _stock(sku) == (10, 3)
    remapped = order.events.get(action=OrderAction.LINE_REMAPPED)
    assert remapped.note == "TSHRIT-M → TSHIRT-M; typo in the marketplace listing"
    assert remapped.actor == "staff:warehouse-lead"
    assert order.events.filter(action=OrderAction.STOCK_ALLOCATED).exists()
    # The warehouse can now pick, pack and label it.
    actor = warehouse_actor()
    shipment_start_picking(order_id=order.pk, actor=actor)
    shipment_pack(order_id=order.pk, actor=actor)
    shipment_label(
        order_id=order.pk,
        carrier=CarrierFactory(),
        tracking_number=tracking_number(7),
        handover_method="pickup",
        actor=actor,
    )


@pytest.mark.django_db
def test_a_line_can_only_be_remapped_to_a_sku_of_the_same_seller(partner, seller, sku):
    from accounts.tests.factories import SellerFactory

    other = make_sku(seller=SellerFactory(code="OTHER"), code="FOREIGN", on_hand=50)
    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1), ("NOPE", 1)])

    with pytest.raises(InvalidInput) as refused:
        order_line_remap(line_id=order.lines.get(sku_code="NOPE").pk, sku_code="FOREIGN", actor=warehouse_actor())

    assert refused.value.code == "unknown_sku"
    assert _stock(other) == (50, 0)
    assert Order.objects.get(pk=order.pk).stock_exception


@pytest.mark.django_db
def test_arriving_stock_goes_to_the_oldest_waiting_orders_first(partner, seller):
    """Three orders wait for a SKU with no stock; two units arrive: the two oldest get them."""
    make_sku(seller=seller, code="LAMP", on_hand=0)
    now = timezone.now()
    newest = make_order(partner=partner, seller=seller, lines=[("LAMP", 1)], placed_at=now - timedelta(hours=1))
    oldest = make_order(partner=partner, seller=seller, lines=[("LAMP", 1)], placed_at=now - timedelta(hours=3))
    middle = make_order(partner=partner, seller=seller, lines=[("LAMP", 1)], placed_at=now - timedelta(hours=2))

    result = stock_import_csv(text=HEADER + f"{seller.code},LAMP,Desk lamp,11.75,2\n", actor=IMPORT)

    assert result.orders_cleared == 2
    flags = {o.pk: Order.objects.get(pk=o.pk).stock_exception for o in (oldest, middle, newest)}
    assert flags == {oldest.pk: False, middle.pk: False, newest.pk: True}
    assert _reserved(Order.objects.get(pk=oldest.pk)) == [1]
    assert Stock.objects.get(sku__code="LAMP").reserved == 2


@pytest.mark.django_db
def test_an_import_that_fails_allocates_nothing(partner, seller):
    make_sku(seller=seller, code="LAMP", on_hand=0)
    order = make_order(partner=partner, seller=seller, lines=[("LAMP", 1)])

    with pytest.raises(InvalidInput):
        stock_import_csv(text=HEADER + f"{seller.code},LAMP,Desk lamp,11.75,2\n{seller.code},,x,1,1\n", actor=IMPORT)

    assert Order.objects.get(pk=order.pk).stock_exception
    assert Stock.objects.get(sku__code="LAMP").on_hand == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_import_and_new_intakes_at_once_never_oversell(partner, seller):
    lamp = make_sku(seller=seller, code="LAMP", on_hand=0)
    waiting = [make_order(partner=partner, seller=seller, lines=[("LAMP", 2)]) for _ in range(3)]

    def act(i):
        if i == 0:
            return stock_import_csv(text=HEADER + f"{seller.code},LAMP,Desk lamp,11.75,5\n", actor=IMPORT)
        return [make_order(partner=partner, seller=seller, lines=[("LAMP", 1)]) for _ in range(2)]

    _, errors = run_in_threads(4, act)

    assert errors == []
    stock = Stock.objects.get(sku=lamp)
    reserved = sum(
        line.reservation.quantity
        for line in lamp.order_lines.select_related("reservation")
        if getattr(line, "reservation", None) is not None
    )
    assert stock.on_hand == 5 and stock.reserved == reserved <= 5
    fully = [o for o in Order.objects.filter(lines__sku=lamp).distinct() if not o.stock_exception]
    assert sum(o.lines.get().quantity for o in fully) <= 5
    # The oldest waiting order is served before any order placed after the import began.
    assert not Order.objects.get(pk=waiting[0].pk).stock_exception


@pytest.mark.django_db
def test_the_console_lists_flagged_orders_with_the_reason_per_line_and_staff_remap_one(client, partner, seller, sku):
    from accounts.tests.factories import make_staff_user

    order = make_ready_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1), ("TSHRIT-M", 1)])
    client.force_login(make_staff_user("Warehouse"))

    page = client.get("/admin/fulfillment/shipment/console/", {"stage": "needs_stock"})

    assert page.status_code == 200
    [row] = page.context["rows"]
    assert row["order"].pk == order.pk
    [missing] = row["shortfalls"]
    assert missing["reason"] == "TSHRIT-M is not in the seller's catalogue: match it to one of their SKUs."
    assert "Needs stock (1)" in page.content.decode()
    form = client.get(missing["remap_url"])
    assert form.status_code == 200
    done = client.post(
        "/admin/fulfillment/shipment/console/remap/",
        {"line": missing["line"].pk, "sku": "TSHIRT-M", "note": "typo", "next": "/admin/fulfillment/shipment/console/"},
    )
    assert done.status_code == 302
    assert not Order.objects.get(pk=order.pk).stock_exception
    assert client.get("/admin/fulfillment/shipment/console/", {"stage": "needs_stock"}).context["rows"] == []
