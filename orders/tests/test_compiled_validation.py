"""The intake body's compiled validation decides exactly as DRF's generic validation does.

Every body is validated twice: by the API's ``InputSerializer`` (compiled
plan, giving up to DRF on trouble) and by the same serializer with the plan
switched off (DRF alone). Validity, errors (with their codes), and validated
data must be the same.
"""

import copy
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers

from backoffice.tests.factories import order_request_body
from orders.api.serializers import CompiledValidationMixin
from orders.api.views import MAX_LINES, OrderCreateApi

Compiled = OrderCreateApi.InputSerializer


class DrfOnly(Compiled):
    _compiled_plan = False  # no plan: DRF validates every body


def _outcome(serializer_class, body):
    serializer = serializer_class(data=copy.deepcopy(body))
    valid = serializer.is_valid()
    return valid, serializer.errors, dict(serializer.validated_data) if valid else None


def assert_same_as_drf(body, serializer_class=Compiled, drf_class=DrfOnly):
    compiled = _outcome(serializer_class, body)
    drf = _outcome(drf_class, body)
    assert compiled == drf
    # ErrorDetail compares equal to a plain string; the codes must match as well.
    assert _codes(compiled[1]) == _codes(drf[1])
    return compiled


def _codes(errors):
    if isinstance(errors, dict):
        return {key: _codes(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [_codes(value) for value in errors]
    return getattr(errors, "code", None)


def _with(path, value, **overrides):
    """``order_request_body`` with the value at ``path`` (keys and list indexes) replaced; ``...`` removes it."""
    body = order_request_body(**overrides)
    *parents, last = path
    target = body
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return body


def _drf_must_not_run(monkeypatch):
    def refuse(self, data=serializers.empty):
        raise AssertionError("DRF's generic validation ran for a body the plan should decide")

    monkeypatch.setattr(serializers.Serializer, "run_validation", refuse)


VALID = {
    "the usual body": order_request_body(),
    "optional fields left out": _with(("buyer", "phone"), ..., shipping_address={"line1": "1 Main", "city": "Austin", "country": "us"}),
    "blank optional fields": order_request_body(
        buyer={"name": "Ann", "phone": "", "email": "  "},
        shipping_address={"line1": "1 Main", "line2": "   ", "city": "Austin", "region": "", "postal_code": "", "country": "US"},
    ),
    "padded text is trimmed": order_request_body(external_id="  TT-PAD \n", seller=" ACME ", buyer={"name": "\tAnn  "}),
    "text at its longest": order_request_body(external_id="X" * 100, seller="S" * 32, buyer={"name": "N" * 200}),
    "text beyond ASCII": order_request_body(buyer={"name": "Zoë Ångström 山田"}, shipping_address={"line1": "Straße 1", "city": "Köln", "country": "de"}),
    "paid, with its time": order_request_body(
        buyer_payment="paid",
        placed_at=(timezone.now() - timedelta(hours=2)).isoformat(),
        paid_at=(timezone.now() - timedelta(hours=1)).isoformat(),
    ),
    "paid_at null while pending": order_request_body(paid_at=None),
    "the most lines": order_request_body(lines=[{"sku": f"S-{i}", "quantity": 1, "unit_price": "1"} for i in range(MAX_LINES)]),
    "quantities at their bounds": order_request_body(
        lines=[{"sku": "A", "quantity": 1, "unit_price": "0"}, {"sku": "B", "quantity": 10_000, "unit_price": "9999999.99"}]
    ),
    "numbers where text is expected": order_request_body(external_id=12345, buyer={"name": 7}),
    "a quantity as text": _with(("lines", 0, "quantity"), "3"),
    "a quantity as a float": _with(("lines", 0, "quantity"), 3.0),
    "a price as a number": _with(("lines", 0, "unit_price"), 19.99),
    "unknown keys are ignored": order_request_body(extra="x", buyer={"name": "Ann", "nickname": "A"}),
}


@pytest.mark.parametrize("body", VALID.values(), ids=VALID.keys())
def test_valid_bodies_give_the_same_data_as_drf(body):
    valid, errors, data = assert_same_as_drf(body)
    assert valid, errors


@pytest.mark.parametrize("name", ["the usual body", "optional fields left out", "blank optional fields", "text beyond ASCII"])
def test_common_valid_bodies_are_decided_without_drfs_generic_validation(name, monkeypatch):
    expected = _outcome(DrfOnly, VALID[name])
    _drf_must_not_run(monkeypatch)

    assert _outcome(Compiled, VALID[name]) == expected


FUTURE = (timezone.now() + timedelta(days=1)).isoformat()
INVALID = {
    "not an object": ["a", "list"],
    "null body": None,
    "empty body": {},
    "external_id missing": _with(("external_id",), ...),
    "external_id null": order_request_body(external_id=None),
    "external_id blank": order_request_body(external_id="   "),
    "external_id too long": order_request_body(external_id="X" * 101),
    "external_id a list": order_request_body(external_id=["X"]),
    "external_id a bool": order_request_body(external_id=True),
    "seller too long": order_request_body(seller="S" * 33),
    "NUL in a name": order_request_body(buyer={"name": "Ann\x00"}),
    "surrogate in a name": order_request_body(buyer={"name": "Ann\ud800"}),
    "buyer not an object": order_request_body(buyer="Ann"),
    "buyer null": order_request_body(buyer=None),
    "buyer missing": _with(("buyer",), ...),
    "buyer name missing": order_request_body(buyer={"phone": "1"}),
    "bad email": order_request_body(buyer={"name": "Ann", "email": "not-an-email"}),
    "phone too long": order_request_body(buyer={"name": "Ann", "phone": "1" * 51}),
    "country of three letters": _with(("shipping_address", "country"), "USA"),
    "country blank": _with(("shipping_address", "country"), ""),
    "lines missing": _with(("lines",), ...),
    "lines empty": order_request_body(lines=[]),
    "lines not a list": order_request_body(lines={"sku": "A"}),
    "too many lines": order_request_body(lines=[{"sku": "A", "quantity": 1, "unit_price": "1"}] * (MAX_LINES + 1)),
    "a line not an object": order_request_body(lines=["A"]),
    "a line null": order_request_body(lines=[None]),
    "quantity 0": _with(("lines", 0, "quantity"), 0),
    "quantity negative": _with(("lines", 0, "quantity"), -1),
    "quantity too big": _with(("lines", 0, "quantity"), 10_001),
    "quantity true": _with(("lines", 0, "quantity"), True),
    "quantity text": _with(("lines", 0, "quantity"), "two"),
    "quantity null": _with(("lines", 0, "quantity"), None),
    "price negative": _with(("lines", 0, "unit_price"), "-1.00"),
    "price with three decimals": _with(("lines", 0, "unit_price"), "1.001"),
    "price above the most": _with(("lines", 0, "unit_price"), "10000000.00"),
    "price text": _with(("lines", 0, "unit_price"), "cheap"),
    "sku blank": _with(("lines", 0, "sku"), ""),
    "the second line wrong": order_request_body(lines=[{"sku": "A", "quantity": 1, "unit_price": "1"}, {"sku": "B", "quantity": 0, "unit_price": "1"}]),
    "placed_at malformed": order_request_body(placed_at="yesterday"),
    "placed_at in the future": order_request_body(placed_at=FUTURE),
    "placed_at a number": order_request_body(placed_at=1700000000),
    "buyer_payment unknown": order_request_body(buyer_payment="maybe"),
    "buyer_payment a number": order_request_body(buyer_payment=1),
    "paid without paid_at": order_request_body(buyer_payment="paid"),
    "paid before placed": order_request_body(buyer_payment="paid", paid_at=(timezone.now() - timedelta(days=2)).isoformat()),
    "paid_at while pending": order_request_body(paid_at=timezone.now().isoformat()),
    "many things wrong at once": order_request_body(external_id="", seller=None, lines=[], buyer={"name": ""}),
}


@pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
def test_invalid_bodies_get_the_same_errors_as_from_drf(body):
    valid, errors, _ = assert_same_as_drf(body)
    assert not valid and errors


# --- serializers the plan is not built for: DRF keeps deciding --------------------------


class Upper(serializers.CharField):
    def to_internal_value(self, data):
        return super().to_internal_value(data).upper()


class Unusual(CompiledValidationMixin, serializers.Serializer):
    code = Upper(max_length=5)
    count = serializers.IntegerField(default=lambda: 1)
    note = serializers.CharField(required=False, allow_null=True, min_length=2)
    kind = serializers.ChoiceField(choices=[("a", "A"), ("b", "B")], allow_blank=True, required=False)

    def validate_code(self, value):
        if value == "NOPE":
            raise serializers.ValidationError("Not that one.", code="refused")
        return value


class UnusualDrfOnly(Unusual):
    _compiled_plan = False


@pytest.mark.parametrize(
    "body",
    [
        {"code": "abc"},
        {"code": "nope"},
        {"code": "abcdef"},
        {"code": "ab", "count": 3, "note": None, "kind": ""},
        {"code": "ab", "count": "3", "note": "  xy  "},
        {"code": "ab", "note": "x"},
        {"code": "ab", "kind": "c"},
        {"code": "ab", "kind": "b"},
    ],
)
def test_fields_the_plan_has_no_shortcut_for_are_validated_by_drf(body):
    assert_same_as_drf(body, Unusual, UnusualDrfOnly)
    assert type(Unusual()).__dict__["_compiled_plan"]  # the plan was built, with DRF for those fields


class WithStaticValidator(CompiledValidationMixin, serializers.Serializer):
    name = serializers.CharField()

    @staticmethod
    def validate_name(value):
        return value.title()


class WithListField(CompiledValidationMixin, serializers.Serializer):
    tags = serializers.ListField(child=serializers.CharField())


class WithSerializerValidators(CompiledValidationMixin, serializers.Serializer):
    low = serializers.IntegerField()
    high = serializers.IntegerField()

    class Meta:
        validators = [lambda attrs: None]


@pytest.mark.parametrize(
    ("serializer_class", "body"),
    [(WithStaticValidator, {"name": "ann lee"}), (WithListField, {"tags": ["x", " y "]}), (WithSerializerValidators, {"low": 1, "high": 2})],
)
def test_serializers_the_plan_is_not_built_for_are_left_to_drf(serializer_class, body):
    serializer = serializer_class(data=body)

    assert serializer.is_valid(), serializer.errors
    assert type(serializer).__dict__["_compiled_plan"] is False
    assert serializer.validated_data == serializers.Serializer.run_validation(serializer_class(), body)


def test_a_valid_body_runs_the_serializers_own_checks_once(monkeypatch):
    calls = []
    original = Compiled.validate

    def counting(self, attrs):
        calls.append(attrs["external_id"])
        return original(self, attrs)

    monkeypatch.setattr(Compiled, "validate", counting)
    body = order_request_body()

    assert Compiled(data=body).is_valid()
    assert calls == [body["external_id"]]
