"""The order state machine: which transitions the services allow, refuse, and what they leave behind."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from accounts.tests.factories import PartnerFactory, SellerFactory, UserFactory
from backoffice.timers import process_due_timers
from core.actors import Actor
from core.errors import InvalidInput, PermissionRefused, TransitionRefused
from fulfillment.models import Reservation
from fulfillment.tests.factories import make_sku
from orders.models import Order, OrderEvent, OrderStatus
from orders.services import order_cancel, order_record_buyer_payment
from orders.tests.factories import make_order
from payments.services import bank_transfer_record

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def finance_user(db):
    user = UserFactory(username="fiona", is_staff=True)
    user.groups.add(Group.objects.get(name="Finance"))
    return user


def _paid_order(partner, seller, clock, **kwargs):
    return make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 2)], paid_at=timezone.now(), **kwargs)


def _stock(sku):
    sku.stock.refresh_from_db()
    return sku.stock.on_hand, sku.stock.reserved


def test_intake_starts_pending_and_reserves(partner, seller, sku, clock):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 3)])
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.payment_due_at == START + timedelta(hours=24)
    assert order.hold_until is None
    assert not order.stock_exception
    assert _stock(sku) == (10, 3)
    event = order.events.get()
    assert (event.action, event.from_status, event.to_status, event.actor) == (
        "intake",
        "",
        OrderStatus.PENDING_PAYMENT,
        "partner:Connector A",
    )


def test_intake_paid_goes_on_hold_for_60_minutes(partner, seller, sku, clock):
    order = _paid_order(partner, seller, clock)
    assert order.status == OrderStatus.ON_HOLD
    assert order.hold_until == START + timedelta(minutes=60)
    assert list(order.events.values_list("action", flat=True)) == ["intake", "mark_buyer_paid"]


def test_intake_never_fails_for_stock(partner, seller, sku, clock):
    """R1: short stock and unknown SKUs are accepted, reserve what exists and flag the order."""
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 15), ("NO-SUCH-SKU", 1)])
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.stock_exception
    assert _stock(sku) == (10, 10)
    known, unknown = order.lines.all()
    assert known.reservation.quantity == 10
    assert unknown.sku is None and not Reservation.objects.filter(line=unknown).exists()


def test_two_lines_of_one_sku_share_the_stock(partner, seller, sku, clock):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 6), ("TSHIRT-M", 6)])
    assert order.stock_exception
    assert [ln.reservation.quantity for ln in order.lines.all()] == [6, 4]
    assert _stock(sku) == (10, 10)


def test_sku_of_another_seller_is_unknown(partner, seller, clock):
    other = SellerFactory(code="OTHER")
    make_sku(seller=other, code="SHARED", on_hand=5)
    order = make_order(partner=partner, seller=seller, lines=[("SHARED", 1)])
    assert order.stock_exception and order.lines.get().sku is None


def test_partner_cannot_order_for_unlinked_seller(partner, clock):
    other = SellerFactory(code="OTHER")
    with pytest.raises(InvalidInput) as err:
        make_order(partner=partner, seller=other, lines=[("X", 1)])
    assert err.value.code == "unknown_seller"
    assert not Order.objects.exists()


def test_repeated_external_id_changes_nothing(partner, seller, sku, clock):
    first = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)], external_id="TT-1")
    again = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 5)], external_id="TT-1")
    assert again.pk == first.pk
    assert _stock(sku) == (10, 1)
    assert OrderEvent.objects.count() == 1
    # The same external id from another partner is another order.
    other = PartnerFactory(name="Connector B", sellers=[seller])
    assert make_order(partner=other, seller=seller, lines=[("TSHIRT-M", 1)], external_id="TT-1").pk != first.pk


def test_buyer_payment(partner, seller, sku, clock):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    actor = Actor.for_partner(partner)
    order_record_buyer_payment(order_id=order.pk, paid=False, actor=actor)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.events.filter(action="buyer_payment_failed").count() == 1

    paid_at = START + timedelta(minutes=5)
    order = order_record_buyer_payment(order_id=order.pk, paid=True, paid_at=paid_at, actor=actor)
    assert order.status == OrderStatus.ON_HOLD and order.hold_until == paid_at + timedelta(minutes=60)
    # A repeated "paid" is a no-op; a failure after payment is refused.
    order_record_buyer_payment(order_id=order.pk, paid=True, paid_at=paid_at, actor=actor)
    assert order.events.filter(action="mark_buyer_paid").count() == 1
    with pytest.raises(TransitionRefused):
        order_record_buyer_payment(order_id=order.pk, paid=False, actor=actor)


def test_payment_before_placement_is_refused(partner, seller, sku, clock):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    with pytest.raises(InvalidInput):
        order_record_buyer_payment(
            order_id=order.pk, paid=True, paid_at=START - timedelta(hours=1), actor=Actor.for_partner(partner)
        )


@pytest.mark.parametrize("by", ["buyer", "platform", "seller"])
def test_cancel_during_hold_releases_stock(partner, seller, sku, clock, by):
    order = _paid_order(partner, seller, clock)
    assert _stock(sku) == (10, 2)
    order = order_cancel(order_id=order.pk, by=by, reason="changed mind", actor=Actor.for_partner(partner))
    assert order.status == OrderStatus.CANCELLED and order.cancelled_by == by
    assert _stock(sku) == (10, 0)
    assert order.lines.get().reservation.released_at is not None
    # Cancelling again is a no-op: no second event, stock untouched.
    order_cancel(order_id=order.pk, by=by, reason="again", actor=Actor.for_partner(partner))
    assert order.events.filter(to_status=OrderStatus.CANCELLED).count() == 1
    assert _stock(sku) == (10, 0)


def test_after_hold_buyer_needs_approval_but_seller_may_cancel(partner, seller, sku, clock):
    order = _paid_order(partner, seller, clock)
    clock.shift(timedelta(minutes=61))
    process_due_timers()
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_CHECKOUT
    actor = Actor.for_partner(partner)
    with pytest.raises(TransitionRefused) as err:
        order_cancel(order_id=order.pk, by="buyer", reason="late", actor=actor)
    assert err.value.code == "approval_required"
    with pytest.raises(TransitionRefused) as err:
        order_cancel(order_id=order.pk, by="platform", reason="fraud", actor=actor)
    assert err.value.code == "cancel_not_allowed"
    order = order_cancel(order_id=order.pk, by="seller", reason="damaged", actor=actor)
    assert order.status == OrderStatus.CANCELLED and _stock(sku) == (10, 0)


def test_staff_cancel_needs_permission(partner, seller, sku, clock):
    order = _paid_order(partner, seller, clock)
    clerk = UserFactory(username="clerk", is_staff=True)
    with pytest.raises(PermissionRefused):
        order_cancel(order_id=order.pk, by="staff", reason="x", actor=Actor.for_user(clerk))
    clerk.groups.add(Group.objects.get(name="Support"))
    clerk = type(clerk).objects.get(pk=clerk.pk)  # drop the permission cache
    order = order_cancel(order_id=order.pk, by="staff", reason="out of stock", actor=Actor.for_user(clerk))
    assert order.status == OrderStatus.CANCELLED
    assert order.events.last().actor == "staff:clerk" and order.events.last().user == clerk


def test_seller_payment_during_hold_takes_effect_when_hold_ends(partner, seller, sku, clock, finance_user):
    order = _paid_order(partner, seller, clock)
    order = bank_transfer_record(order_id=order.pk, reference="BANK-42", actor=Actor.for_user(finance_user))
    assert order.status == OrderStatus.ON_HOLD and order.seller_paid_at is not None
    clock.shift(timedelta(minutes=60))
    process_due_timers()
    order.refresh_from_db()
    assert order.status == OrderStatus.READY_TO_FULFILL
    assert list(order.events.values_list("action", flat=True)) == [
        "intake",
        "mark_buyer_paid",
        "seller_payment_recorded",
        "end_hold",
    ]


def test_seller_payment_moves_awaiting_checkout_to_ready(partner, seller, sku, clock, finance_user):
    order = _paid_order(partner, seller, clock)
    clock.shift(timedelta(hours=2))
    process_due_timers()
    order = bank_transfer_record(order_id=order.pk, reference="BANK-43", actor=Actor.for_user(finance_user))
    assert order.status == OrderStatus.READY_TO_FULFILL
    event = order.events.last()
    assert (event.action, event.actor, event.note) == ("confirm_seller_payment", "staff:fiona", "bank transfer BANK-43")


def test_seller_payment_is_refused_without_finance_or_too_early(partner, seller, sku, clock, finance_user):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    with pytest.raises(PermissionRefused):
        bank_transfer_record(order_id=order.pk, reference="X", actor=Actor.for_user(UserFactory(is_staff=True)))
    with pytest.raises(TransitionRefused) as err:
        bank_transfer_record(order_id=order.pk, reference="X", actor=Actor.for_user(finance_user))
    assert err.value.code == "seller_payment_not_expected"
    with pytest.raises(InvalidInput):
        bank_transfer_record(order_id=order.pk, reference="  ", actor=Actor.for_user(finance_user))


def test_status_cannot_be_assigned_directly(partner, seller, sku, clock):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    with pytest.raises(AttributeError):
        order.status = OrderStatus.READY_TO_FULFILL
    with pytest.raises(TransitionNotAllowed):
        order.end_hold()  # not on hold


def test_each_transition_is_written_once_to_the_order_history(partner, seller, sku, clock):
    order = _paid_order(partner, seller, clock)
    history = list(order.events.values_list("action", "from_status", "to_status", "actor"))
    assert history == [
        ("intake", "", OrderStatus.PENDING_PAYMENT, f"partner:{partner.name}"),
        ("mark_buyer_paid", OrderStatus.PENDING_PAYMENT, OrderStatus.ON_HOLD, f"partner:{partner.name}"),
    ]
