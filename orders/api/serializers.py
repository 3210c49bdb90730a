"""Serializers shared by the order API views: the order as partners see it, and input building blocks.

Each view keeps its own request serializer (nested in the view); the order
response is the same everywhere, so it lives here once.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from types import FunctionType
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxLengthValidator, MinLengthValidator, ProhibitNullCharactersValidator
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import Field, SkipField, empty
from rest_framework.utils.serializer_helpers import BindingDict
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from core.privacy import masked_buyer, masked_shipping_address
from fulfillment.api.serializers import ShipmentOutputSerializer, SlaOutputSerializer
from fulfillment.selectors import order_sla_clocks
from orders.models import MARKETPLACE_STATUS, CancelledBy, Order, OrderLine, OrderStatus
from payments.selectors import order_checkout, prefetch_order_checkout

# How far ahead of our clock a partner's timestamp may be: clocks drift, the future does not happen.
CLOCK_SKEW = timedelta(minutes=5)


def not_in_future(value: datetime) -> datetime:
    """Reject timestamps later than now (plus clock skew): an order cannot be placed or paid tomorrow.

    This also keeps every deadline we derive from them (``+ PAYMENT_WINDOW``,
    ``+ HOLD_PERIOD``) far away from the end of the calendar.
    """
    if value > timezone.now() + CLOCK_SKEW:
        raise serializers.ValidationError("Must not be in the future.", code="in_future")
    return value


class MinorUnitsField(serializers.DecimalField):
    """A money amount: ``"19.99"`` on the wire, ``1999`` (integer minor units) in Python and the database.

    Two decimal places, the minor unit of ``settings.CURRENCY``. The upper
    bound keeps the stored value inside a 32-bit integer column.
    """

    MAX = Decimal("9999999.99")

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", Decimal("0"))
        kwargs.setdefault("max_value", self.MAX)
        super().__init__(max_digits=9, decimal_places=2, coerce_to_string=True, **kwargs)

    def run_validation(self, data=empty):
        # The bounds are written in major units, so they are checked before the conversion.
        value = super().run_validation(data)
        return int(value.scaleb(2)) if isinstance(value, Decimal) else value

    def to_representation(self, value: int) -> str:
        return super().to_representation(Decimal(value).scaleb(-2))


class SharedFieldsMixin:
    # No class docstring: drf-spectacular would publish it as the description of every request
    # body using the mixin. The explanation is on ``fields``.

    @property
    def fields(self):
        """The serializer's bound field tree, built once per class instead of once per instance.

        DRF deep-copies the declared fields, nested serializers and all, for
        every serializer instance, i.e. for every request. For the order intake
        body that copying cost more than the validation itself. Validating
        keeps no state in the fields (the data, errors and context of a request
        live on the serializer instance), so one tree, bound to a prototype
        instance, serves every instance of the class.

        Only for input serializers whose fields and nested serializers neither
        read ``self.context`` nor depend on ``partial``: those see the
        prototype's. The root's own ``validate_<field>`` and ``validate``
        methods run on the instance and may use its context.
        """
        cls = type(self)
        shared = cls.__dict__.get("_shared_fields")
        if shared is None:
            prototype = cls()
            shared = BindingDict(prototype)
            for name, field in prototype.get_fields().items():
                shared[name] = field
            cls._shared_fields = shared  # two threads racing here build equal trees; either one is kept
        return shared


class CompiledValidationMixin(SharedFieldsMixin):
    # No class docstring, as for ``SharedFieldsMixin``: the explanation is on ``run_validation``.

    def run_validation(self, data=empty):
        """Validate ``data`` the way DRF does, through a plan compiled once per class from the fields.

        DRF's generic machinery (looking up each field's ``validate_<name>``,
        its empty-value rules, collecting errors per field and per list item)
        cost more for the order intake body than the checks themselves. The
        plan makes the same checks with the same field objects and their
        validators, and gives the same validated data, for input that is
        valid. At the first sign of trouble (any error, a value of an
        unexpected type, a field it was not built for) it gives up and DRF
        validates the whole body again, so error answers are DRF's own.
        ``validate_<name>`` and ``validate`` methods may therefore run twice on
        invalid input: they must not have side effects.
        """
        cls = type(self)
        plan = cls.__dict__.get("_compiled_plan")
        if plan is None:
            plan = _serializer_plan(self, root=True) or False
            cls._compiled_plan = plan  # two threads racing here compile equal plans; either one is kept
        if plan and not self.partial:
            try:
                return plan(self, data)
            except (_GiveUp, ValidationError, DjangoValidationError):
                pass
        return super().run_validation(data)


class _GiveUp(Exception):
    """The compiled plan met input it does not decide itself: DRF validates instead."""


def _same(cls, name: str, base) -> bool:
    return getattr(cls, name) is getattr(base, name)


# How fields read their value from the parent's data: for a JSON object, each of these is ``data.get(name, empty)``.
_PLAIN_GET_VALUE = (Field.get_value, serializers.Serializer.get_value, serializers.ListSerializer.get_value)


def _field_plan(field: Field) -> Callable[[Any], Any]:
    """``field.run_validation``, with shortcuts for the common kinds of valid input."""
    if isinstance(field, serializers.ListSerializer):
        return _list_plan(field) or field.run_validation
    if isinstance(field, serializers.Serializer):
        plan = _serializer_plan(field, root=False)
        return (lambda value: plan(field, value)) if plan else field.run_validation
    slow = field.run_validation
    cls = type(field)
    if (
        not _same(cls, "run_validators", Field)
        or not _same(cls, "validate_empty_values", Field)
        or any(getattr(v, "requires_context", False) for v in field.validators)
    ):
        return slow
    validators = tuple(field.validators)
    # Each shortcut takes one type of value, for which it does what the field's own
    # ``run_validation`` and ``to_internal_value`` would; anything else goes to those.
    if (
        isinstance(field, serializers.CharField)
        and _same(cls, "run_validation", serializers.CharField)
        and _same(cls, "to_internal_value", serializers.CharField)
    ):
        trim, allow_blank = field.trim_whitespace, field.allow_blank
        shortest, longest, no_nul, surrogates, validators = _text_checks(validators)

        def char(value):
            if type(value) is not str:
                return slow(value)  # missing, null, numbers: DRF's own rules
            if trim:
                value = value.strip()
            if not value:
                if allow_blank:
                    return ""
                raise _GiveUp
            if not shortest <= len(value) <= longest or (no_nul and "\x00" in value):
                raise _GiveUp
            if surrogates is not None and not value.isascii():
                surrogates(value)
            for validator in validators:
                validator(value)
            return value

        return char
    if cls is serializers.IntegerField:

        def integer(value):
            if type(value) is not int:  # bool is not int here, as for DRF
                return slow(value)
            for validator in validators:
                validator(value)
            return value

        return integer
    if cls is serializers.ChoiceField:
        choices, allow_blank = field.choice_strings_to_values, field.allow_blank

        def choice(value):
            if type(value) is not str:
                return slow(value)
            if not (value == "" and allow_blank):
                value = choices.get(value, empty)
                if value is empty:
                    raise _GiveUp
            for validator in validators:
                validator(value)
            return value

        return choice
    return slow


def _text_checks(validators: tuple) -> tuple[int, float, bool, Callable | None, tuple]:
    """A text field's standard validators as plain checks: ``(shortest, longest, no NUL,
    surrogate check, other validators)``.

    DRF gives every ``CharField`` a length check and bans NUL and surrogate
    characters. The shortcut tests length and NUL itself, and runs the
    surrogate check only on text that is not ASCII (ASCII has none). A length
    limit that is a callable stays a validator.
    """
    shortest, longest, no_nul, surrogates, rest = 0, float("inf"), False, None, []
    for validator in validators:
        kind, limit = type(validator), getattr(validator, "limit_value", None)
        if kind is MaxLengthValidator and type(limit) is int:
            longest = min(longest, limit)
        elif kind is MinLengthValidator and type(limit) is int:
            shortest = max(shortest, limit)
        elif kind is ProhibitNullCharactersValidator:
            no_nul = True
        elif kind is ProhibitSurrogateCharactersValidator:
            surrogates = validator
        else:
            rest.append(validator)
    return shortest, longest, no_nul, surrogates, tuple(rest)


def _list_plan(field: serializers.ListSerializer):
    cls = type(field)
    if not all(
        _same(cls, name, serializers.ListSerializer)
        for name in ("run_validation", "to_internal_value", "run_child_validation", "validate", "run_validators")
    ) or not _same(cls, "validate_empty_values", Field) or field.validators:
        return None
    child = _field_plan(field.child)
    allow_empty, max_length, min_length = field.allow_empty, field.max_length, field.min_length
    slow = field.run_validation

    def items(value):
        if type(value) is not list:
            return slow(value)  # missing or null: DRF's own rules
        if (
            (not allow_empty and not value)
            or (max_length is not None and len(value) > max_length)
            or (min_length is not None and len(value) < min_length)
        ):
            raise _GiveUp
        return [child(item) for item in value]

    return items


def _serializer_plan(serializer: serializers.Serializer, *, root: bool):
    """A function ``(instance, data) -> validated data``, or None where DRF must validate.

    ``instance`` is the serializer whose ``validate_<name>`` and ``validate``
    methods run: the request's own for the root, ``serializer`` for a nested one.
    """
    cls = type(serializer)
    base = serializers.Serializer
    if (
        not all(_same(cls, name, base) for name in ("to_internal_value", "run_validators", "set_value"))
        or not (root or _same(cls, "run_validation", base))
        or not _same(cls, "validate_empty_values", Field)
        or serializer.validators
    ):
        return None
    steps = []
    for field in serializer._writable_fields:
        if field.source_attrs != [field.field_name] or type(field).get_value not in _PLAIN_GET_VALUE:
            return None
        method_name = f"validate_{field.field_name}"
        method = getattr(cls, method_name, None)
        if method is not None and not isinstance(inspect.getattr_static(cls, method_name), FunctionType):
            return None  # a static or class method, or something else DRF would call differently
        steps.append((field.field_name, _field_plan(field), method))
    validates = not _same(cls, "validate", base)
    slow = serializer.run_validation

    def plan(instance, data):
        if type(data) is not dict:
            if root:
                raise _GiveUp
            return slow(data)  # missing or null: DRF's own rules
        validated = {}
        for name, check, method in steps:
            try:
                value = check(data.get(name, empty))
            except SkipField:
                continue
            validated[name] = value if method is None else method(instance, value)
        if validates:
            validated = instance.validate(validated)
            if validated is None:
                raise _GiveUp
        return validated

    return plan


# --- the order response ----------------------------------------------------------------


class ReservationOutputSerializer(serializers.Serializer):
    quantity = serializers.IntegerField()
    released_at = serializers.DateTimeField(allow_null=True, help_text="Set when the stock went back (cancellation).")
    consumed_at = serializers.DateTimeField(allow_null=True, help_text="Set when the parcel left the warehouse.")


class OrderLineOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField(source="sku_code", help_text="The SKU exactly as sent.")
    quantity = serializers.IntegerField()
    unit_price = MinorUnitsField()
    reserved = serializers.SerializerMethodField(
        help_text="Units held for this line right now; 0 for an unknown SKU or once the reservation ended."
    )
    reservation = serializers.SerializerMethodField()

    def get_reserved(self, line: OrderLine) -> int:
        reservation = getattr(line, "reservation", None)
        return reservation.quantity if reservation is not None and reservation.is_active else 0

    @extend_schema_field(ReservationOutputSerializer(allow_null=True))
    def get_reservation(self, line: OrderLine):
        reservation = getattr(line, "reservation", None)
        return ReservationOutputSerializer(reservation).data if reservation is not None else None


class MaskedBuyerOutputSerializer(serializers.Serializer):
    name = serializers.CharField(help_text='Masked, e.g. "J*** D***".')
    phone = serializers.CharField(help_text='Masked, e.g. "***-***-1234".')
    email = serializers.CharField(help_text='Masked, e.g. "j***@example.com".')


class MaskedAddressOutputSerializer(serializers.Serializer):
    city = serializers.CharField()
    region = serializers.CharField()


class CheckoutOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["unpaid", "processing", "requires_action", "paid", "refunded"],
        help_text="The seller's wholesale payment for this order (R4): `requires_action` means the seller's bank "
        "wants them to confirm; `refunded` means it was given back (e.g. the order was cancelled, R7).",
    )
    paid_at = serializers.DateTimeField(allow_null=True)
    payment_id = serializers.IntegerField(allow_null=True, help_text="Our id of the payment that covers the order.")


# Field objects whose formatting the hand-built order representation reuses (they keep no state).
_DATETIME = serializers.DateTimeField()
_MONEY = MinorUnitsField()


def _line_representation(line: OrderLine) -> dict:
    """``OrderLineOutputSerializer``'s fields for ``line``, built directly (see ``OrderOutputSerializer``)."""
    reservation = getattr(line, "reservation", None)
    return {
        "id": line.pk,
        "sku": line.sku_code,
        "quantity": line.quantity,
        "unit_price": _MONEY.to_representation(line.unit_price),
        "reserved": reservation.quantity if reservation is not None and reservation.is_active else 0,
        "reservation": None
        if reservation is None
        else {
            "quantity": reservation.quantity,
            "released_at": _DATETIME.to_representation(reservation.released_at),
            "consumed_at": _DATETIME.to_representation(reservation.consumed_at),
        },
    }


class OrderListOutputSerializer(serializers.ListSerializer):
    """Loads every order's checkout facts in one query, so a page of orders costs what one order does."""

    def to_representation(self, data):
        orders = list(data.all() if hasattr(data, "all") else data)
        prefetch_order_checkout(orders)
        return super().to_representation(orders)


class OrderOutputSerializer(serializers.Serializer):
    """An order as a partner sees it. Buyer details are masked (R12): partners never get them back in full."""

    id = serializers.IntegerField()
    external_id = serializers.CharField()
    seller = serializers.CharField(source="seller.code")
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    marketplace_status = serializers.ChoiceField(
        choices=sorted({s for s in MARKETPLACE_STATUS.values() if s}),
        allow_null=True,
        help_text="The TikTok Shop order status this status maps to; null for `lost`.",
    )
    placed_at = serializers.DateTimeField()
    buyer_paid_at = serializers.DateTimeField(allow_null=True)
    payment_due_at = serializers.DateTimeField(allow_null=True, help_text="Unpaid orders cancel at this time.")
    hold_until = serializers.DateTimeField(
        allow_null=True, help_text="The buyer's free cancellation ends at this time."
    )
    seller_paid_at = serializers.DateTimeField(allow_null=True)
    stock_exception = serializers.BooleanField(help_text="Some line has an unknown SKU or is not fully reserved.")
    cancelled_at = serializers.DateTimeField(allow_null=True)
    cancelled_by = serializers.ChoiceField(choices=CancelledBy.choices, allow_blank=True)
    cancel_reason = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    lines = OrderLineOutputSerializer(many=True, source="lines.all")
    buyer = serializers.SerializerMethodField()
    shipping_address = serializers.SerializerMethodField()
    shipments = serializers.SerializerMethodField(
        help_text="The order's parcel: empty until picking starts, then one item (orders ship in one parcel)."
    )
    sla = serializers.SerializerMethodField(help_text="Processing deadlines and their state now (R8).")
    checkout = serializers.SerializerMethodField(help_text="The seller's wholesale payment (checkout) for this order.")

    class Meta:
        list_serializer_class = OrderListOutputSerializer

    def to_representation(self, order: Order) -> dict:
        """The declared fields above, built directly from ``order``.

        The declared fields are the contract (the OpenAPI schema is generated
        from them); DRF's generic rendering of them deep-copies a tree of some
        forty field objects for every order, which cost more than everything
        else in answering an intake. This builds the same dict, reusing the
        same field objects' ``to_representation`` for dates and money so the
        formats cannot drift; the tests compare it with the generic rendering
        for orders in every state.
        """
        dt = _DATETIME.to_representation
        checkout = order_checkout(order)
        return {
            "id": order.pk,
            "external_id": order.external_id,
            "seller": order.seller.code,
            "status": str(order.status),
            "marketplace_status": order.marketplace_status,
            "placed_at": dt(order.placed_at),
            "buyer_paid_at": dt(order.buyer_paid_at),
            "payment_due_at": dt(order.payment_due_at),
            "hold_until": dt(order.hold_until),
            "seller_paid_at": dt(order.seller_paid_at),
            "stock_exception": order.stock_exception,
            "cancelled_at": dt(order.cancelled_at),
            "cancelled_by": str(order.cancelled_by),
            "cancel_reason": order.cancel_reason,
            "created_at": dt(order.created_at),
            "updated_at": dt(order.updated_at),
            "lines": [_line_representation(line) for line in order.lines.all()],
            "buyer": masked_buyer(order),
            "shipping_address": masked_shipping_address(order),
            "shipments": self.get_shipments(order),
            "sla": {
                name: {"deadline": dt(clock.deadline), "state": str(clock.state)}
                for name, clock in order_sla_clocks(order).items()
            },
            "checkout": {"status": checkout.status, "paid_at": dt(checkout.paid_at), "payment_id": checkout.payment_id},
        }

    # The methods below give the method fields their schema, and are the generic rendering the
    # tests hold ``to_representation`` to; of them, answers only use ``get_shipments``.

    @extend_schema_field(CheckoutOutputSerializer)
    def get_checkout(self, order: Order) -> dict:
        return CheckoutOutputSerializer(order_checkout(order)).data

    @extend_schema_field(ShipmentOutputSerializer(many=True))
    def get_shipments(self, order: Order) -> list:
        shipment = getattr(order, "shipment", None)  # RelatedObjectDoesNotExist is an AttributeError
        return [ShipmentOutputSerializer(shipment).data] if shipment is not None else []

    @extend_schema_field(SlaOutputSerializer)
    def get_sla(self, order: Order) -> dict:
        return SlaOutputSerializer(order_sla_clocks(order)).data

    @extend_schema_field(MaskedBuyerOutputSerializer)
    def get_buyer(self, order: Order) -> dict:
        return masked_buyer(order)

    @extend_schema_field(MaskedAddressOutputSerializer)
    def get_shipping_address(self, order: Order) -> dict:
        return masked_shipping_address(order)
