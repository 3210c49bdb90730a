"""factory_boy factories shared by every app's tests."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from core.actors import Actor
from backoffice.models import Partner, PartnerApiKey, Seller, SellerMembership
from fulfillment.models import SKU, Stock


class SellerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Seller
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"SELLER{n}")
    name = factory.Sequence(lambda n: f"Seller {n}")
    email = factory.Sequence(lambda n: f"seller{n}@example.com")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    @factory.post_generation
    def password(user, create, extracted, **kwargs):
        user.set_password(extracted or "pass-word-123")
        if create:
            user.save(update_fields=["password"])


class SellerUserFactory(UserFactory):
    @factory.post_generation
    def seller(user, create, extracted, **kwargs):
        if create:
            SellerMembership.objects.get_or_create(user=user, defaults={"seller": extracted or SellerFactory()})


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Partner {n}")

    @factory.post_generation
    def sellers(partner, create, extracted, **kwargs):
        if create and extracted:
            partner.sellers.add(*extracted)


def make_api_key(partner: Partner) -> str:
    """Create a key for ``partner`` and return the raw key (as shown once to the partner)."""
    prefix, raw = PartnerApiKey.generate()
    PartnerApiKey.objects.create(partner=partner, prefix=prefix, digest=PartnerApiKey.digest_for(raw))
    return raw


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


def make_order(*, partner, seller, lines, external_id=None, placed_at=None, paid_at=None, buyer=None, address=None):
    """Create an order through the intake service, exactly as the API does.

    ``lines`` is a list of ``(sku_code, quantity)`` or ``(sku_code, quantity, unit_price)``.
    """
    from orders.services import IntakeData, IntakeLine, order_intake

    placed_at = placed_at or timezone.now()
    make_order.counter += 1
    data = IntakeData(
        external_id=external_id or f"EXT-{make_order.counter}-{timezone.now().timestamp()}",
        seller_code=seller.code,
        placed_at=placed_at,
        buyer_paid_at=paid_at,
        lines=[IntakeLine(sku=ln[0], quantity=ln[1], unit_price=ln[2] if len(ln) > 2 else 1999) for ln in lines],
        buyer=buyer or {"name": "Jane Doe", "phone": "+1 555 010 1234", "email": "jane@example.com"},
        shipping_address=address
        or {"line1": "1 Main St", "line2": "", "city": "Austin", "region": "TX", "postal_code": "73301", "country": "US"},
    )
    order, _ = order_intake(partner=partner, data=data, actor=Actor.for_partner(partner))
    return order


make_order.counter = 0

def order_request_body(**overrides) -> dict:
    """A valid ``POST /api/v1/orders/`` body for seller ``ACME`` and SKU ``TSHIRT-M`` (the conftest fixtures).

    Keyword arguments replace top-level fields; every call gets a new ``external_id``.
    """
    order_request_body.counter += 1
    body = {
        "external_id": f"TT-{order_request_body.counter}",
        "seller": "ACME",
        "placed_at": timezone.now().isoformat(),
        "buyer_payment": "pending",
        "buyer": {"name": "John Doe", "phone": "+1 555 010 1234", "email": "john.doe@example.com"},
        "shipping_address": {
            "line1": "42 Elm Street",
            "line2": "Apt 7",
            "city": "Austin",
            "region": "TX",
            "postal_code": "73301",
            "country": "US",
        },
        "lines": [{"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.99"}],
    }
    body.update(overrides)
    return body


order_request_body.counter = 0

__all__ = [
    "SellerFactory",
    "UserFactory",
    "SellerUserFactory",
    "PartnerFactory",
    "SKUFactory",
    "make_api_key",
    "make_sku",
    "make_order",
    "order_request_body",
    "timedelta",
]


def make_staff_user(*groups: str, username: str | None = None, superuser: bool = False):
    """A staff user in the named groups (Warehouse, Support, Finance; created after migrate by ``backoffice.setup``)."""
    from django.contrib.auth.models import Group

    kwargs = {"username": username} if username else {}
    user = UserFactory(is_staff=True, is_superuser=superuser, **kwargs)
    found = list(Group.objects.filter(name__in=groups))
    if len(found) != len(set(groups)):
        raise LookupError(f"missing group(s): {sorted(set(groups) - {g.name for g in found})}")
    user.groups.add(*found)
    return user


# --- fulfilment: carriers, orders ready for the warehouse, parcels ------------------------


class CarrierFactory(factory.django.DjangoModelFactory):
    """A carrier whose tracking numbers are ``TRK`` plus eight digits (see ``tracking_number``)."""

    class Meta:
        model = "fulfillment.Carrier"
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"carrier{n}")
    name = factory.Sequence(lambda n: f"Carrier {n}")
    tracking_pattern = r"^TRK\d{8}$"
    tracking_url = "https://track.example.com/{tracking_number}"
    handover = "both"
    active = True


def tracking_number(n: int) -> str:
    """A tracking number ``CarrierFactory`` carriers accept."""
    return f"TRK{n:08d}"


def make_ready_order(*, partner, seller, lines, placed_at=None, **kwargs):
    """An order in ``ready_to_fulfill``: placed (default two hours ago), paid by the buyer a minute
    later, the seller's payment recorded during the hold, and the hold ended, all through services."""
    from django.db import transaction

    from orders.locks import lock_order
    from orders.services import order_end_hold, order_record_seller_payment

    placed_at = placed_at or timezone.now() - timedelta(hours=2)
    paid_at = placed_at + timedelta(minutes=1)
    order = make_order(partner=partner, seller=seller, lines=lines, placed_at=placed_at, paid_at=paid_at, **kwargs)
    finance = UserFactory(is_staff=True, is_superuser=True, username=f"finance-{order.pk}")
    order_record_seller_payment(order_id=order.pk, reference=f"BANK-{order.pk}", actor=Actor.for_user(finance))
    with transaction.atomic():
        order = order_end_hold(order=lock_order(order.pk), actor=Actor.system("timer"))
    return order


def warehouse_actor():
    """A staff member with every permission, as an Actor for the fulfilment services."""
    return Actor.for_user(UserFactory(is_staff=True, is_superuser=True, username="warehouse-lead"))


def make_labelled_order(*, partner, seller, lines, carrier, number: str, handover_method: str = "pickup", **kwargs):
    """A ready order taken through picking, packing and labelling; returns the order re-read."""
    from fulfillment.services import shipment_label, shipment_pack, shipment_start_picking

    order = make_ready_order(partner=partner, seller=seller, lines=lines, **kwargs)
    actor = warehouse_actor()
    shipment_start_picking(order_id=order.pk, actor=actor)
    shipment_pack(order_id=order.pk, actor=actor)
    shipment_label(order_id=order.pk, carrier=carrier, tracking_number=number, handover_method=handover_method, actor=actor)
    order.refresh_from_db()
    return order
