"""Shipment writes: pick, pack, label, correct tracking, hand over, carrier events, lost parcels (R8-R10)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import can_proceed

from core.actors import Actor
from core.display import local_time, span
from core.errors import InvalidInput, TransitionRefused
from fulfillment import notify
from fulfillment.locks import lock_shipment
from fulfillment.models import (
    CARRIER_EVENT_TYPES,
    SHIPMENT_OUT,
    Carrier,
    Handover,
    Shipment,
    ShipmentEvent,
    ShipmentEventType,
    ShipmentStatus,
)
from fulfillment.services.carriers import carrier_resolve, require, valid_handover, valid_tracking_number
from fulfillment.services.stock import stock_consume_for_order, stock_top_up_for_order
from fulfillment.sla import collection_deadline
from orders import hooks
from orders.locks import lock_order
from orders.models import OrderAction, OrderStatus
from orders.services import order_touch, order_transition_apply

logger = logging.getLogger(__name__)

# --- shipments: pick, pack, label, hand over, carrier events (R8-R10) ----------------
#
# Every service locks the order first (``orders.locks.lock_order``), then its
# shipment, then stock rows in pk order. The order moves along with the parcel
# through ``orders.services.order_transition_apply``, which writes the order's
# audit row and runs the status-change effects (partner webhooks) in the same
# transaction. Each step also writes a ``ShipmentEvent``.

# How far ahead of our clock a reported carrier time may be (clocks drift).
CARRIER_CLOCK_SKEW = timedelta(minutes=5)

WORK_PERMISSION = "fulfillment.work_shipment"
CARRIER_EVENT_PERMISSION = "fulfillment.record_carrier_event"


def _shipment_event(
    shipment: Shipment, *, type: str, from_status: str, actor: Actor, at=None, note: str = "", data: dict | None = None
) -> ShipmentEvent:
    return ShipmentEvent.record(
        shipment=shipment,
        action=type,
        at=at or timezone.now(),
        from_status=from_status,
        to_status=shipment.status,
        note=note,
        data=data,
        actor=actor,
    )


def _locked(order_id: int):
    """Lock the order, then its shipment. Precondition: inside ``transaction.atomic()``."""
    order = lock_order(order_id)
    return order, lock_shipment(order)


def _tracking_in_use(shipment: Shipment, carrier: Carrier, number: str) -> bool:
    return Shipment.objects.filter(carrier=carrier, tracking_number=number).exclude(pk=shipment.pk).exists()


def _save_tracking(shipment: Shipment, fields: list[str]) -> None:
    """Save, turning a lost race on the unique tracking constraint into the same error as the check."""
    try:
        with transaction.atomic():
            shipment.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise InvalidInput(
            f"{shipment.tracking_number} is already on another parcel.", code="tracking_number_in_use"
        ) from None


def shipment_start_picking(*, order_id: int, actor: Actor) -> Shipment:
    """Start picking a ``ready_to_fulfill`` order: its parcel is opened and the order is ``in_fulfillment``.

    Stock that came in since intake is reserved for it now, where it lacked
    some; an order still not fully reserved (an unknown SKU, or too little
    stock) is refused with ``stock_exception``: nothing is picked around a
    missing item. Already picking (or further) is a no-op. Admin bulk actions
    call this once per selected order.
    """
    require(actor, WORK_PERMISSION, "You do not have permission to work shipments.")
    with transaction.atomic():
        order, shipment = _locked(order_id)
        if shipment is not None:
            if shipment.status == ShipmentStatus.CANCELLED:
                raise TransitionRefused(f"Order {order.pk} was cancelled.", code="order_cancelled")
            return shipment
        if order.status != OrderStatus.READY_TO_FULFILL:
            raise TransitionRefused(
                f"Order {order.pk} is {order.get_status_display().lower()}; only orders ready to fulfil can be picked.",
                code="not_ready_to_fulfill",
            )
        if not stock_top_up_for_order(order=order):
            raise TransitionRefused(
                f"Order {order.pk} cannot be picked: not every item is reserved (an item not in the seller's "
                "catalogue, or not enough stock). Fix it under “Needs stock”, or cancel the order.",
                code="stock_exception",
            )
        shipment = Shipment.objects.create(order=order)
        _shipment_event(shipment, type=ShipmentEventType.PICKING_STARTED, from_status="", actor=actor)
        order_transition_apply(order, OrderAction.START_FULFILLMENT, actor=actor, fields=[])
    return shipment


def shipment_pack(*, order_id: int, actor: Actor) -> Shipment:
    """The picked items are packed. Packed (or further) already is a no-op."""
    require(actor, WORK_PERMISSION, "You do not have permission to work shipments.")
    with transaction.atomic():
        order, shipment = _locked(order_id)
        if shipment is None or shipment.status == ShipmentStatus.CANCELLED:
            raise TransitionRefused(f"Order {order.pk} is not being picked.", code="not_picking")
        if shipment.status != ShipmentStatus.PICKING:
            return shipment
        from_status = shipment.status
        shipment.pack()
        shipment.save(update_fields=["status", "packed_at", "updated_at"])
        _shipment_event(shipment, type=ShipmentEventType.PACKED, from_status=from_status, actor=actor)
        order_touch(order=order, action=OrderAction.SHIPMENT_PACKED, actor=actor)
    return shipment


def shipment_label(
    *,
    order_id: int,
    carrier: Carrier | str,
    tracking_number: str,
    handover_method: str,
    actor: Actor,
    marketplace_confirmed: bool = False,
) -> Shipment:
    """Label a packed parcel: carrier, tracking number and handover method. The order is ``shipped``
    (TikTok AWAITING_COLLECTION) and its units leave ``on_hand`` and ``reserved`` together.

    Refused: an order without a shipping address yet (``no_shipping_address``, R16),
    a tracking number that does not match the carrier's pattern
    (``tracking_number_invalid``) or is on another parcel (``tracking_number_in_use``),
    a handover the carrier does not offer (``handover_not_offered``), and an
    order not fully reserved even after topping up from stock (``stock_exception``).
    Labelling again with the same carrier and number is a no-op; to change
    them use ``shipment_update_tracking``.

    A marketplace order (R17: TikTok) is not labelled at once: the label is
    sent to the marketplace (``orders.hooks.marketplace().label_requested``),
    the parcel stays packed with ``label_requested`` set, and the order only
    becomes ``shipped`` when the marketplace confirms, which calls this again
    with ``marketplace_confirmed``. A refusal goes to ``shipment_label_refused``.
    """
    require(actor, WORK_PERMISSION, "You do not have permission to work shipments.")
    carrier = carrier_resolve(carrier)
    if carrier.assigns_tracking and not marketplace_confirmed:
        number = ""  # the marketplace gives it when it ships the parcel
    else:
        number = valid_tracking_number(carrier, tracking_number)
    method = valid_handover(carrier, handover_method)
    with transaction.atomic():
        order, shipment = _locked(order_id)
        if shipment is None or shipment.status == ShipmentStatus.CANCELLED:
            raise TransitionRefused(f"Order {order.pk} is not being picked.", code="not_packed")
        if shipment.labelled_at is not None:
            if (shipment.carrier_id, shipment.tracking_number) == (carrier.pk, number):
                return shipment
            raise TransitionRefused(
                f"Order {order.pk} is already labelled ({shipment.carrier} {shipment.tracking_number}); correct the "
                "tracking instead.",
                code="already_labelled",
            )
        if shipment.status != ShipmentStatus.PACKED:
            raise TransitionRefused(f"Order {order.pk} must be packed before it is labelled.", code="not_packed")
        if not order.has_shipping_address:
            raise TransitionRefused(
                f"Order {order.pk} has no shipping address yet: the marketplace sends it once the buyer has paid "
                "and the hold is over. Label it when the address has arrived.",
                code="no_shipping_address",
            )
        if not stock_top_up_for_order(order=order):
            raise TransitionRefused(
                f"Order {order.pk} has a stock exception: some line is not fully reserved (unknown SKU or not "
                "enough stock). Restock it or cancel the order.",
                code="stock_exception",
            )
        if number and _tracking_in_use(shipment, carrier, number):
            raise InvalidInput(f"{number} is already on another parcel.", code="tracking_number_in_use")
        if not marketplace_confirmed and _sent_to_marketplace(
            order, shipment, carrier=carrier, number=number, method=method, actor=actor
        ):
            return shipment
        if not number:
            raise TransitionRefused(
                f"{carrier.name} ships only orders of the marketplace whose logistics it is.", code="not_marketplace"
            )
        from_status = shipment.status
        now = timezone.now()
        shipment.label_requested, shipment.marketplace_note = None, ""
        shipment.label(
            carrier=carrier,
            tracking_number=number,
            handover_method=method,
            at=now,
            collect_by=collection_deadline(handover_method=method, labelled_at=now, given=order.collect_by),
        )
        _save_tracking(
            shipment,
            [
                "status",
                "carrier",
                "tracking_number",
                "handover_method",
                "labelled_at",
                "collect_by",
                "lost_deadline",
                "label_requested",
                "marketplace_note",
            ],
        )
        stock_consume_for_order(order=order)
        _shipment_event(
            shipment,
            type=ShipmentEventType.LABELLED,
            from_status=from_status,
            actor=actor,
            at=shipment.labelled_at,
            data={"carrier": carrier.code, "tracking_number": number, "handover_method": method},
        )
        order_transition_apply(
            order,
            OrderAction.MARK_SHIPPED,
            actor=actor,
            fields=["shipped_at"],
            note=f"{carrier.name} {number} ({'pickup' if method == Handover.PICKUP else 'drop-off'})",
            args={"at": shipment.labelled_at},
        )
        notify.order_shipped(order=order, shipment=shipment)
    return shipment


def _sent_to_marketplace(
    order, shipment: Shipment, *, carrier: Carrier, number: str, method: str, actor: Actor
) -> bool:
    """Ask the marketplace to ship first, if the order is one it owns; True when it was asked (or already is).

    Precondition: order and shipment locked, every local check passed.
    """
    wanted = {"carrier": carrier.code, "tracking_number": number, "handover_method": method}
    if shipment.label_requested:
        asked = {key: shipment.label_requested.get(key) for key in wanted}
        if asked == wanted:
            return True
        raise TransitionRefused(
            f"Order {order.pk} waits for TikTok to confirm the label {asked['carrier']} {asked['tracking_number']}; "
            "label it again once TikTok has answered.",
            code="label_pending",
        )
    note = hooks.marketplace().label_requested(
        order=order, carrier=carrier, tracking_number=number, handover_method=method, actor=actor
    )
    if note is None:
        return False
    shipment.label_requested = {**wanted, "requested_at": timezone.now().isoformat()}
    shipment.marketplace_note = note[:500]
    shipment.save(update_fields=["label_requested", "marketplace_note", "updated_at"])
    _shipment_event(
        shipment, type=ShipmentEventType.LABEL_REQUESTED, from_status=shipment.status, actor=actor, data=wanted
    )
    order_touch(order=order, action=OrderAction.LABEL_SENT_TO_MARKETPLACE, actor=actor, note=f"{carrier.name} {number}")
    return True


def shipment_label_refused(*, order_id: int, reason: str, actor: Actor) -> Shipment | None:
    """The marketplace refused the label it was sent (or cannot ship the package): the parcel stays packed,
    with the reason shown to the warehouse, and can be labelled again. A no-op when nothing waits."""
    with transaction.atomic():
        order, shipment = _locked(order_id)
        if shipment is None:
            return None
        asked = shipment.label_requested
        shipment.label_requested = None
        shipment.marketplace_note = reason[:500]
        shipment.save(update_fields=["label_requested", "marketplace_note", "updated_at"])
        if asked:
            _shipment_event(
                shipment,
                type=ShipmentEventType.LABEL_REFUSED,
                from_status=shipment.status,
                actor=actor,
                note=reason[:500],
                data=asked,
            )
            order_touch(order=order, action=OrderAction.LABEL_REFUSED_BY_MARKETPLACE, actor=actor, note=reason[:500])
    return shipment


def shipment_update_tracking(
    *, order_id: int, tracking_number: str, carrier: Carrier | str | None = None, reason: str = "", actor: Actor
) -> Shipment:
    """Correct the carrier and/or tracking number of a labelled parcel, within ``TRACKING_EDIT_WINDOW``
    of labelling (``tracking_edit_window_over`` after). Audited with the old and new values.

    Setting the values it already has is a no-op.
    """
    require(actor, WORK_PERMISSION, "You do not have permission to work shipments.")
    with transaction.atomic():
        order, shipment = _locked(order_id)
        if shipment is None or shipment.labelled_at is None:
            raise TransitionRefused(f"Order {order.pk} has no label yet.", code="not_labelled")
        new_carrier = carrier_resolve(carrier) if carrier is not None else shipment.carrier
        number = valid_tracking_number(new_carrier, tracking_number)
        if (new_carrier.pk, number) == (shipment.carrier_id, shipment.tracking_number):
            return shipment
        closes = shipment.labelled_at + settings.TRACKING_EDIT_WINDOW
        if timezone.now() > closes:
            raise TransitionRefused(
                f"Tracking can only be corrected until {local_time(closes)} "
                f"({span(settings.TRACKING_EDIT_WINDOW)} after labelling).",
                code="tracking_edit_window_over",
            )
        valid_handover(new_carrier, shipment.handover_method)
        if _tracking_in_use(shipment, new_carrier, number):
            raise InvalidInput(f"{number} is already on another parcel.", code="tracking_number_in_use")
        old = {"carrier": shipment.carrier.code, "tracking_number": shipment.tracking_number}
        shipment.carrier, shipment.tracking_number = new_carrier, number
        _save_tracking(shipment, ["carrier", "tracking_number"])
        new = {"carrier": new_carrier.code, "tracking_number": number}
        _shipment_event(
            shipment,
            type=ShipmentEventType.TRACKING_UPDATED,
            from_status=shipment.status,
            actor=actor,
            note=reason,
            data={"old": old, "new": new},
        )
        order_touch(
            order=order,
            action=OrderAction.TRACKING_UPDATED,
            actor=actor,
            note=f"{old['carrier']} {old['tracking_number']} → {new['carrier']} {number}"
            + (f": {reason}" if reason else ""),
        )
        notify.order_shipped(order=order, shipment=shipment, previous=old)
        hooks.marketplace().tracking_updated(order=order, carrier=new_carrier, tracking_number=number, actor=actor)
    return shipment


def shipment_hand_over(*, order_id: int, actor: Actor) -> Shipment:
    """The carrier has the parcel: collected at our door (pickup) or dropped at its counter
    (drop-off). The shipment and the order are ``in_transit``; the collection clock stops.

    Already handed over (or further) is a no-op.
    """
    require(actor, WORK_PERMISSION, "You do not have permission to work shipments.")
    with transaction.atomic():
        order, shipment = _locked(order_id)
        if shipment is None or shipment.labelled_at is None:
            raise TransitionRefused(f"Order {order.pk} must be labelled before it is handed over.", code="not_labelled")
        if shipment.status in (ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERY_FAILED, ShipmentStatus.DELIVERED):
            return shipment
        if shipment.status != ShipmentStatus.LABELLED:
            raise TransitionRefused(f"The parcel of order {order.pk} is {shipment.get_status_display().lower()}.")
        _move_to_transit(
            order,
            shipment,
            type=ShipmentEventType.HANDED_OVER,
            at=timezone.now(),
            note=shipment.handover_method,
            actor=actor,
        )
    return shipment


def _move_to_transit(order, shipment: Shipment, *, type: str, at, note: str, actor: Actor) -> None:
    from_status = shipment.status
    shipment.hand_over(at=at)
    fields = ["status", "picked_up_at"]
    if type != ShipmentEventType.HANDED_OVER:
        shipment.last_event_at = at
        fields.append("last_event_at")
    shipment.save(update_fields=[*fields, "updated_at"])
    _shipment_event(shipment, type=type, from_status=from_status, at=at, note=note, actor=actor)
    what = ShipmentEventType(type).label
    order_transition_apply(
        order, OrderAction.MARK_IN_TRANSIT, actor=actor, fields=[], note=f"{what}: {note}" if note else what
    )


# Carrier event → the shipment statuses it may follow. Anything else is out of order.
_CARRIER_EVENT_AFTER = {
    ShipmentEventType.PICKED_UP: {ShipmentStatus.LABELLED, ShipmentStatus.IN_TRANSIT},
    ShipmentEventType.IN_TRANSIT: {ShipmentStatus.LABELLED, ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERY_FAILED},
    ShipmentEventType.DELIVERY_FAILED: {ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERY_FAILED},
    ShipmentEventType.DELIVERED: {ShipmentStatus.IN_TRANSIT, ShipmentStatus.DELIVERY_FAILED},
}


def _out_of_order(detail: str) -> TransitionRefused:
    return TransitionRefused(detail, code="event_out_of_order")


def shipment_record_carrier_event(*, order_id: int, type: str, at: datetime, note: str = "", actor: Actor) -> Shipment:
    """Apply a carrier event (R10): ``picked_up``, ``in_transit``, ``delivery_failed`` or ``delivered``.

    Events are accepted only in order: after labelling, never earlier than the
    last carrier event, and only from a state they can follow (a delivery after
    a failed attempt is fine; a pickup after delivery is not); anything else is
    refused with ``event_out_of_order`` (HTTP 409). The same event again (same
    type and ``at``) is ignored and the current state returned, since carriers
    and partners resend. A ``picked_up`` after staff recorded the hand-over is
    accepted as the carrier's confirmation. At ``LOST_AFTER_FAILED_ATTEMPTS``
    failed attempts the lost timer becomes due at once (R9).
    """
    require(actor, CARRIER_EVENT_PERMISSION, "You do not have permission to enter carrier events.")
    if type not in CARRIER_EVENT_TYPES:
        raise InvalidInput(f"Unknown carrier event {type!r}.", code="invalid_event_type")
    if at > timezone.now() + CARRIER_CLOCK_SKEW:
        raise InvalidInput("A carrier event cannot be in the future.", code="in_future")
    with transaction.atomic():
        order, shipment = _locked(order_id)
        if shipment is None or shipment.labelled_at is None:
            raise _out_of_order(f"Order {order.pk} has no labelled parcel yet; carrier events start after labelling.")
        if shipment.events.filter(action=type, at=at).exists():
            return shipment
        status = shipment.status
        if status not in _CARRIER_EVENT_AFTER[type] or (
            type == ShipmentEventType.PICKED_UP
            and status == ShipmentStatus.IN_TRANSIT
            and shipment.last_event_at is not None
        ):
            raise _out_of_order(
                f"The carrier's “{ShipmentEventType(type).label}” event cannot come now: the parcel is "
                f"{shipment.get_status_display().lower()}."
            )
        if at < shipment.labelled_at - CARRIER_CLOCK_SKEW:
            raise _out_of_order(f"The event at {local_time(at)} is before the parcel was labelled.")
        if shipment.last_event_at is not None and at < shipment.last_event_at:
            raise _out_of_order(
                f"The event at {local_time(at)} is earlier than the last carrier event "
                f"({local_time(shipment.last_event_at)})."
            )
        if status == ShipmentStatus.LABELLED:
            _move_to_transit(order, shipment, type=type, at=at, note=note, actor=actor)
            return shipment
        fields = ["last_event_at"]
        if type in (ShipmentEventType.PICKED_UP, ShipmentEventType.IN_TRANSIT) and status == ShipmentStatus.IN_TRANSIT:
            # A scan on the way, or the carrier confirming a hand-over staff recorded: no new state.
            if type == ShipmentEventType.PICKED_UP:
                shipment.picked_up_at = min(shipment.picked_up_at or at, at)
                fields.append("picked_up_at")
            shipment.last_event_at = at
        elif type == ShipmentEventType.IN_TRANSIT:
            shipment.resume_transit(at=at)
            fields.append("status")
        elif type == ShipmentEventType.DELIVERY_FAILED:
            shipment.fail_delivery(at=at)
            fields += ["status", "failed_attempts", "lost_deadline"]
        else:
            shipment.deliver(at=at)
            fields += ["status", "delivered_at"]
        shipment.save(update_fields=[*fields, "updated_at"])
        _shipment_event(shipment, type=type, from_status=status, at=at, note=note, actor=actor)
        if type == ShipmentEventType.DELIVERED:
            order_transition_apply(
                order,
                OrderAction.MARK_DELIVERED,
                actor=actor,
                fields=["delivered_at", "return_window_ends_at"],
                note=note,
                args={"at": at},
            )
            notify.order_delivered(order=order, shipment=shipment)
        else:
            detail = f"attempt {shipment.failed_attempts}" if type == ShipmentEventType.DELIVERY_FAILED else ""
            order_touch(
                order=order,
                action=OrderAction(f"carrier_{type}"),
                actor=actor,
                note="; ".join(filter(None, [detail, note])),
            )
    return shipment


def shipment_mark_lost(*, order, actor: Actor) -> Shipment | None:
    """Declare the parcel lost (R9) once its lost deadline has passed: no delivery ``LOST_AFTER`` after
    labelling, or ``LOST_AFTER_FAILED_ATTEMPTS`` failed attempts. The order becomes ``lost``.

    Precondition: the caller (the timer) holds the order's lock. Does nothing
    when the parcel was delivered or is no longer due.
    """
    shipment = lock_shipment(order)
    if shipment is None or shipment.status not in SHIPMENT_OUT or not can_proceed(shipment.mark_lost):
        return None
    from_status = shipment.status
    attempts = shipment.failed_attempts >= settings.LOST_AFTER_FAILED_ATTEMPTS
    why = (
        f"{shipment.failed_attempts} failed delivery attempts"
        if attempts
        else f"not delivered {span(settings.LOST_AFTER)} after labelling"
    )
    shipment.mark_lost()
    shipment.save(update_fields=["status", "lost_at", "updated_at"])
    _shipment_event(shipment, type=ShipmentEventType.LOST, from_status=from_status, actor=actor, note=why)
    order_transition_apply(order, OrderAction.MARK_LOST, actor=actor, fields=["lost_at"], note=why)
    return shipment


def shipment_cancel_for_order(*, order, actor: Actor) -> None:
    """The order is being cancelled before labelling: close its parcel so the picked items go back.

    Precondition: the caller holds the order's lock (``fulfillment.order_hooks``, when the order is cancelled).
    """
    shipment = lock_shipment(order)
    if shipment is None or shipment.status == ShipmentStatus.CANCELLED:
        return
    if shipment.status not in (ShipmentStatus.PICKING, ShipmentStatus.PACKED):
        raise TransitionRefused(f"Order {order.pk} is labelled; it cannot be cancelled.", code="already_shipped")
    from_status = shipment.status
    shipment.cancel()
    shipment.save(update_fields=["status", "updated_at"])
    _shipment_event(
        shipment, type=ShipmentEventType.CANCELLED, from_status=from_status, actor=actor, note="put the items back"
    )
