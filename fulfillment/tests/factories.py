"""factory_boy factories for fulfilment: SKUs with stock, carriers, and orders taken through the warehouse."""

import factory

from accounts.tests.factories import SellerFactory, UserFactory
from core.actors import Actor
from fulfillment.models import SKU, Stock
from fulfillment.services import shipment_label, shipment_pack, shipment_start_picking
from orders.tests.factories import make_ready_order


class SKUFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SKU

    seller = factory.SubFactory(SellerFactory)
    code = factory.Sequence(lambda n: f"SKU-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    wholesale_cost = 1250


def make_sku(*, seller=None, code=None, on_hand=10, wholesale_cost=1250) -> SKU:
    kwargs = {"wholesale_cost": wholesale_cost}
    if seller is not None:
        kwargs["seller"] = seller
    if code is not None:
        kwargs["code"] = code
    sku = SKUFactory(**kwargs)
    Stock.objects.create(sku=sku, on_hand=on_hand)
    return sku


class CarrierFactory(factory.django.DjangoModelFactory):
    """A carrier whose tracking numbers are ``TRK`` plus eight digits (see ``tracking_number``)."""

    class Meta:
        model = "fulfillment.Carrier"
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"carrier{n}")
    name = factory.Sequence(lambda n: f"Carrier {n}")
    tracking_pattern = r"^TRK\d{8}$"
    tracking_example = "TRK followed by 8 digits, such as TRK00000001"
    tracking_url = "https://track.example.com/{tracking_number}"
    handover = "both"
    active = True


def tracking_number(n: int) -> str:
    """A tracking number ``CarrierFactory`` carriers accept."""
    return f"TRK{n:08d}"


def warehouse_actor():
    """A staff member with every permission, as an Actor for the fulfilment services."""
    return Actor.for_user(UserFactory(is_staff=True, is_superuser=True, username="warehouse-lead"))


def make_labelled_order(*, partner, seller, lines, carrier, number: str, handover_method: str = "pickup", **kwargs):
    """A ready order taken through picking, packing and labelling; returns the order re-read."""
    order = make_ready_order(partner=partner, seller=seller, lines=lines, **kwargs)
    actor = warehouse_actor()
    shipment_start_picking(order_id=order.pk, actor=actor)
    shipment_pack(order_id=order.pk, actor=actor)
    shipment_label(
        order_id=order.pk, carrier=carrier, tracking_number=number, handover_method=handover_method, actor=actor
    )
    order.refresh_from_db()
    return order
