"""Shipment and carrier writes: pick, pack, label, correct tracking, hand over, carrier events,
lost parcels, completion and SLA alerts (DOMAIN.md R8-R10, R15)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import can_proceed

from core.actors import Actor
from core.errors import InvalidInput, PermissionRefused, TransitionRefused
from fulfillment.locks import lock_shipment
from fulfillment.models import CARRIER_EVENT_TYPES, SHIPMENT_OUT, Carrier, Handover, Shipment, ShipmentEvent
from fulfillment.models import ShipmentEventType as SET
from fulfillment.models import ShipmentStatus as SS
from fulfillment.selectors import SlaState, order_sla_clocks
from fulfillment.services.stock import stock_consume_for_order, stock_top_up_for_order
from orders.locks import lock_order
from orders.models import OrderStatus as OS

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


def _order_services():
    # orders.services imports this module at load time; import it back lazily.
    from orders import services

    return services


def _require(actor: Actor, perm: str, message: str) -> None:
    """Staff need ``perm``; partners and the system act through their own checks (API auth, timers)."""
    if actor.user is not None and not actor.user.has_perm(perm):
        raise PermissionRefused(message)


def _shipment_event(
    shipment: Shipment, *, type: str, from_status: str, actor: Actor, at=None, note: str = "", data: dict | None = None
) -> ShipmentEvent:
    return ShipmentEvent.objects.create(
        shipment=shipment,
        type=type,
        at=at or timezone.now(),
        from_status=from_status,
        to_status=shipment.status,
        note=note[:500],
        data=data or {},
        actor=str(actor)[:250],
        user=actor.user,
    )


def _touch_order(order, *, action: str, actor: Actor, reason: str = "") -> None:
    """Audit a step that leaves the order's status alone, and bump ``updated_at`` for partner syncs."""
    order.save(update_fields=["updated_at"])
    _order_services().order_event_record(order=order, action=action, from_status=order.status, actor=actor, reason=reason)


def _locked(order_id: int):
    """Lock the order, then its shipment. Precondition: inside ``transaction.atomic()``."""
    order = lock_order(order_id)
    return order, lock_shipment(order)


_CARRIER_FIELDS = ("name", "tracking_pattern", "tracking_url", "handover", "active")


def carrier_create(
    *, code: str, name: str, tracking_pattern: str, handover: str, tracking_url: str = "", active: bool = True, actor: Actor
) -> Carrier:
    """Add a carrier to the list staff keep (R10). The pattern must be a valid regular expression."""
    _require(actor, "fulfillment.add_carrier", "You do not have permission to add carriers.")
    carrier = Carrier(
        code=code, name=name, tracking_pattern=tracking_pattern, handover=handover, tracking_url=tracking_url, active=active
    )
    _carrier_clean(carrier)
    try:
        with transaction.atomic():
            carrier.save()
    except IntegrityError:
        raise InvalidInput(f"A carrier with code {code!r} already exists.", code="carrier_code_taken") from None
    logger.info("carrier %s added by %s", code, actor)
    return carrier


def carrier_update(*, carrier_id: int, actor: Actor, **changes) -> Carrier:
    """Change a carrier's name, pattern, tracking URL, handover methods or active flag (its code is fixed:
    partners and past parcels refer to it). A new pattern applies to labels and corrections from now on."""
    _require(actor, "fulfillment.change_carrier", "You do not have permission to change carriers.")
    unknown = set(changes) - set(_CARRIER_FIELDS)
    if unknown:
        raise InvalidInput(f"Cannot change {', '.join(sorted(unknown))}.", code="invalid")
    with transaction.atomic():
        carrier = Carrier.objects.select_for_update().get(pk=carrier_id)
        fields = [name for name, value in changes.items() if getattr(carrier, name) != value]
        if not fields:
            return carrier
        for name in fields:
            setattr(carrier, name, changes[name])
        _carrier_clean(carrier)
        carrier.save(update_fields=[*fields, "updated_at"])
    logger.info("carrier %s changed by %s: %s", carrier.code, actor, ", ".join(fields))
    return carrier


def _carrier_clean(carrier: Carrier) -> None:
    try:
        carrier.full_clean(validate_unique=False)
    except DjangoValidationError as exc:
        raise InvalidInput(
            "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()),
            code="invalid_carrier",
        ) from None


def carrier_resolve(carrier: Carrier | str) -> Carrier:
    """An active carrier by instance or code, re-read so a carrier deactivated meanwhile is refused."""
    code = carrier.code if isinstance(carrier, Carrier) else str(carrier or "")
    found = Carrier.objects.filter(code=code).first()
    if found is None:
        raise InvalidInput(f"Unknown carrier {code!r}.", code="unknown_carrier")
    if not found.active:
        raise InvalidInput(f"{found.name} is not an active carrier.", code="carrier_inactive")
    return found


def _valid_tracking_number(carrier: Carrier, tracking_number: str) -> str:
    number = Carrier.normalize_tracking_number(tracking_number)
    if not number:
        raise InvalidInput("Give the tracking number.", code="tracking_number_required")
    if len(number) > Shipment._meta.get_field("tracking_number").max_length or not carrier.tracking_number_matches(number):
        raise InvalidInput(
            f"{number!r} is not a {carrier.name} tracking number (expected the pattern {carrier.tracking_pattern}).",
            code="tracking_number_invalid",
        )
    return number


def _valid_handover(carrier: Carrier, method: str) -> str:
    if method not in Handover.values:
        raise InvalidInput(f"Handover must be one of {', '.join(Handover.values)}.", code="invalid_handover")
    if not carrier.offers(method):
        raise InvalidInput(
            f"{carrier.name} does not offer {Handover(method).label.split(' (')[0].lower()}; "
            f"it offers {carrier.get_handover_display().lower()}.",
            code="handover_not_offered",
        )
    return method


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
    some. Already picking (or further) is a no-op. Admin bulk actions call
    this once per selected order.
    """
    _require(actor, WORK_PERMISSION, "You do not have permission to work shipments.")
    with transaction.atomic():
        order, shipment = _locked(order_id)
        if shipment is not None:
            if shipment.status == SS.CANCELLED:
                raise TransitionRefused(f"Order {order.pk} was cancelled.", code="order_cancelled")
            return shipment
        if order.status != OS.READY_TO_FULFILL:
            raise TransitionRefused(
                f"Order {order.pk} is {order.get_status_display().lower()}; only orders ready to fulfil can be picked.",
                code="not_ready_to_fulfill",
            )
        stock_top_up_for_order(order=order)
        shipment = Shipment.objects.create(order=order)
        _shipment_event(shipment, type=SET.PICKING_STARTED, from_status="", actor=actor)
        _order_services().order_transition_apply(order, "start_fulfillment", actor=actor, fields=[])
    return shipment


def shipment_pack(*, order_id: int, actor: Actor) -> Shipment:
    """The picked items are packed. Packed (or further) already is a no-op."""
    _require(actor, WORK_PERMISSION, "You do not have permission to work shipments.")
    with transaction.atomic():
        order, shipment = _locked(order_id)
        if shipment is None or shipment.status == SS.CANCELLED:
            raise TransitionRefused(f"Order {order.pk} is not being picked.", code="not_picking")
        if shipment.status != SS.PICKING:
            return shipment
        from_status = shipment.status
        shipment.pack()
        shipment.save(update_fields=["status", "packed_at", "updated_at"])
        _shipment_event(shipment, type=SET.PACKED, from_status=from_status, actor=actor)
        _touch_order(order, action="shipment_packed", actor=actor)
    return shipment


def shipment_label(
    *, order_id: int, carrier: Carrier | str, tracking_number: str, handover_method: str, actor: Actor
) -> Shipment:
    """Label a packed parcel: carrier, tracking number and handover method. The order is ``shipped``
    (TikTok AWAITING_COLLECTION) and its units leave ``on_hand`` and ``reserved`` together.

    Refused: a tracking number that does not match the carrier's pattern
    (``tracking_number_invalid``) or is on another parcel (``tracking_number_in_use``),
    a handover the carrier does not offer (``handover_not_offered``), and an
    order not fully reserved even after topping up from stock (``stock_exception``).
    Labelling again with the same carrier and number is a no-op; to change
    them use ``shipment_update_tracking``.
    """
    _require(actor, WORK_PERMISSION, "You do not have permission to work shipments.")
    carrier = carrier_resolve(carrier)
    number = _valid_tracking_number(carrier, tracking_number)
    method = _valid_handover(carrier, handover_method)
    with transaction.atomic():
        order, shipment = _locked(order_id)
        if shipment is None or shipment.status == SS.CANCELLED:
            raise TransitionRefused(f"Order {order.pk} is not being picked.", code="not_packed")
        if shipment.labelled_at is not None:
            if (shipment.carrier_id, shipment.tracking_number) == (carrier.pk, number):
                return shipment
            raise TransitionRefused(
                f"Order {order.pk} is already labelled ({shipment.carrier} {shipment.tracking_number}); correct the tracking instead.",
                code="already_labelled",
            )
        if shipment.status != SS.PACKED:
            raise TransitionRefused(f"Order {order.pk} must be packed before it is labelled.", code="not_packed")
        if not stock_top_up_for_order(order=order):
            raise TransitionRefused(
                f"Order {order.pk} has a stock exception: some line is not fully reserved (unknown SKU or not "
                "enough stock). Restock it or cancel the order.",
                code="stock_exception",
            )
        if _tracking_in_use(shipment, carrier, number):
            raise InvalidInput(f"{number} is already on another parcel.", code="tracking_number_in_use")
        from_status = shipment.status
        shipment.label(carrier=carrier, tracking_number=number, handover_method=method)
        _save_tracking(
            shipment,
            ["status", "carrier", "tracking_number", "handover_method", "labelled_at", "collect_by", "lost_deadline"],
        )
        stock_consume_for_order(order=order)
        _shipment_event(
            shipment,
            type=SET.LABELLED,
            from_status=from_status,
            actor=actor,
            at=shipment.labelled_at,
            data={"carrier": carrier.code, "tracking_number": number, "handover_method": method},
        )
        _order_services().order_transition_apply(
            order,
            "mark_shipped",
            actor=actor,
            fields=["shipped_at"],
            reason=f"{carrier.name} {number} ({method})",
            args={"at": shipment.labelled_at},
        )
    return shipment


def shipment_update_tracking(
    *, order_id: int, tracking_number: str, carrier: Carrier | str | None = None, reason: str = "", actor: Actor
) -> Shipment:
    """Correct the carrier and/or tracking number of a labelled parcel, within ``TRACKING_EDIT_WINDOW``
    of labelling (``tracking_edit_window_over`` after). Audited with the old and new values.

    Setting the values it already has is a no-op.
    """
    _require(actor, WORK_PERMISSION, "You do not have permission to work shipments.")
    with transaction.atomic():
        order, shipment = _locked(order_id)
        if shipment is None or shipment.labelled_at is None:
            raise TransitionRefused(f"Order {order.pk} has no label yet.", code="not_labelled")
        new_carrier = carrier_resolve(carrier) if carrier is not None else shipment.carrier
        number = _valid_tracking_number(new_carrier, tracking_number)
        if (new_carrier.pk, number) == (shipment.carrier_id, shipment.tracking_number):
            return shipment
        closes = shipment.labelled_at + settings.TRACKING_EDIT_WINDOW
        if timezone.now() > closes:
            raise TransitionRefused(
                f"Tracking can only be corrected until {closes:%Y-%m-%d %H:%M} UTC "
                f"({_human(settings.TRACKING_EDIT_WINDOW)} after labelling).",
                code="tracking_edit_window_over",
            )
        _valid_handover(new_carrier, shipment.handover_method)
        if _tracking_in_use(shipment, new_carrier, number):
            raise InvalidInput(f"{number} is already on another parcel.", code="tracking_number_in_use")
        old = {"carrier": shipment.carrier.code, "tracking_number": shipment.tracking_number}
        shipment.carrier, shipment.tracking_number = new_carrier, number
        _save_tracking(shipment, ["carrier", "tracking_number"])
        new = {"carrier": new_carrier.code, "tracking_number": number}
        _shipment_event(
            shipment, type=SET.TRACKING_UPDATED, from_status=shipment.status, actor=actor, note=reason,
            data={"old": old, "new": new},
        )
        _touch_order(
            order,
            action="tracking_updated",
            actor=actor,
            reason=f"{old['carrier']} {old['tracking_number']} → {new['carrier']} {number}" + (f": {reason}" if reason else ""),
        )
        _webhook_tracking_updated(order, shipment, previous=old)
    return shipment


def shipment_hand_over(*, order_id: int, actor: Actor) -> Shipment:
    """The carrier has the parcel: collected at our door (pickup) or dropped at its counter
    (drop-off). The shipment and the order are ``in_transit``; the collection clock stops.

    Already handed over (or further) is a no-op.
    """
    _require(actor, WORK_PERMISSION, "You do not have permission to work shipments.")
    with transaction.atomic():
        order, shipment = _locked(order_id)
        if shipment is None or shipment.labelled_at is None:
            raise TransitionRefused(f"Order {order.pk} must be labelled before it is handed over.", code="not_labelled")
        if shipment.status in (SS.IN_TRANSIT, SS.DELIVERY_FAILED, SS.DELIVERED):
            return shipment
        if shipment.status != SS.LABELLED:
            raise TransitionRefused(f"The parcel of order {order.pk} is {shipment.get_status_display().lower()}.")
        _move_to_transit(order, shipment, type=SET.HANDED_OVER, at=timezone.now(), note=shipment.handover_method, actor=actor)
    return shipment


def _move_to_transit(order, shipment: Shipment, *, type: str, at, note: str, actor: Actor) -> None:
    from_status = shipment.status
    shipment.hand_over(at=at)
    fields = ["status", "picked_up_at"]
    if type != SET.HANDED_OVER:
        shipment.last_event_at = at
        fields.append("last_event_at")
    shipment.save(update_fields=[*fields, "updated_at"])
    _shipment_event(shipment, type=type, from_status=from_status, at=at, note=note, actor=actor)
    _order_services().order_transition_apply(order, "mark_in_transit", actor=actor, fields=[], reason=f"{type}: {note}".rstrip(": "))


# Carrier event → the shipment statuses it may follow. Anything else is out of order.
_CARRIER_EVENT_AFTER = {
    SET.PICKED_UP: {SS.LABELLED, SS.IN_TRANSIT},
    SET.IN_TRANSIT: {SS.LABELLED, SS.IN_TRANSIT, SS.DELIVERY_FAILED},
    SET.DELIVERY_FAILED: {SS.IN_TRANSIT, SS.DELIVERY_FAILED},
    SET.DELIVERED: {SS.IN_TRANSIT, SS.DELIVERY_FAILED},
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
    _require(actor, CARRIER_EVENT_PERMISSION, "You do not have permission to enter carrier events.")
    if type not in CARRIER_EVENT_TYPES:
        raise InvalidInput(f"Unknown carrier event {type!r}.", code="invalid_event_type")
    if at > timezone.now() + CARRIER_CLOCK_SKEW:
        raise InvalidInput("A carrier event cannot be in the future.", code="in_future")
    with transaction.atomic():
        order, shipment = _locked(order_id)
        if shipment is None or shipment.labelled_at is None:
            raise _out_of_order(f"Order {order.pk} has no labelled parcel yet; carrier events start after labelling.")
        if shipment.events.filter(type=type, at=at).exists():
            return shipment
        status = shipment.status
        if status not in _CARRIER_EVENT_AFTER[type] or (
            type == SET.PICKED_UP and status == SS.IN_TRANSIT and shipment.last_event_at is not None
        ):
            raise _out_of_order(
                f"A {type.replace('_', ' ')} event cannot follow a parcel that is {shipment.get_status_display().lower()}."
            )
        if at < shipment.labelled_at - CARRIER_CLOCK_SKEW:
            raise _out_of_order(f"The event at {at:%Y-%m-%d %H:%M} is before the parcel was labelled.")
        if shipment.last_event_at is not None and at < shipment.last_event_at:
            raise _out_of_order(
                f"The event at {at:%Y-%m-%d %H:%M} is earlier than the last carrier event "
                f"({shipment.last_event_at:%Y-%m-%d %H:%M})."
            )
        if status == SS.LABELLED:
            _move_to_transit(order, shipment, type=type, at=at, note=note, actor=actor)
            return shipment
        fields = ["last_event_at"]
        if type in (SET.PICKED_UP, SET.IN_TRANSIT) and status == SS.IN_TRANSIT:
            # A scan on the way, or the carrier confirming a hand-over staff recorded: no new state.
            if type == SET.PICKED_UP:
                shipment.picked_up_at = min(shipment.picked_up_at or at, at)
                fields.append("picked_up_at")
            shipment.last_event_at = at
        elif type == SET.IN_TRANSIT:
            shipment.resume_transit(at=at)
            fields.append("status")
        elif type == SET.DELIVERY_FAILED:
            shipment.fail_delivery(at=at)
            fields += ["status", "failed_attempts", "lost_deadline"]
        else:
            shipment.deliver(at=at)
            fields += ["status", "delivered_at"]
        shipment.save(update_fields=[*fields, "updated_at"])
        _shipment_event(shipment, type=type, from_status=status, at=at, note=note, actor=actor)
        if type == SET.DELIVERED:
            _order_services().order_transition_apply(
                order, "mark_delivered", actor=actor, fields=["delivered_at", "return_window_ends_at"],
                reason=note, args={"at": at},
            )
        else:
            detail = f"attempt {shipment.failed_attempts}" if type == SET.DELIVERY_FAILED else ""
            _touch_order(order, action=f"carrier_{type}", actor=actor, reason="; ".join(filter(None, [detail, note])))
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
        else f"not delivered {_human(settings.LOST_AFTER)} after labelling"
    )
    shipment.mark_lost()
    shipment.save(update_fields=["status", "lost_at", "updated_at"])
    _shipment_event(shipment, type=SET.LOST, from_status=from_status, actor=actor, note=why)
    _order_services().order_transition_apply(order, "mark_lost", actor=actor, fields=["lost_at"], reason=why)
    return shipment


def shipment_cancel_for_order(*, order, actor: Actor) -> None:
    """The order is being cancelled before labelling: close its parcel so the picked items go back.

    Precondition: the caller holds the order's lock (``orders.services.order_cancel_locked``).
    Stock itself is released by the order's cancellation, not here.
    """
    shipment = lock_shipment(order)
    if shipment is None or shipment.status == SS.CANCELLED:
        return
    if shipment.status not in (SS.PICKING, SS.PACKED):
        raise TransitionRefused(f"Order {order.pk} is labelled; it cannot be cancelled.", code="already_shipped")
    from_status = shipment.status
    shipment.cancel()
    shipment.save(update_fields=["status", "updated_at"])
    _shipment_event(shipment, type=SET.CANCELLED, from_status=from_status, actor=actor, note="put the items back")


def order_complete(*, order, actor: Actor) -> None:
    """Delivered and the return window has passed (R15). Precondition: the caller holds the order's lock."""
    _order_services().order_transition_apply(order, "complete", actor=actor, fields=["completed_at"])


# --- SLA alerts (R8) ----------------------------------------------------------------


def order_sla_alert(*, order, clock: str, actor: Actor, now: datetime | None = None) -> bool:
    """Tell the partner, once, that one of the order's clocks is at risk or already late.

    Marks the clock alerted (``<clock>_alerted_at``, or the shipment's
    ``collect_alerted_at``) so no later pass sends it again, writes an audit
    row and an ``order.at_risk`` outbox event. Returns False when the clock
    no longer needs an alert (met meanwhile). ``now`` is the timer pass's time (default: the clock).
    Precondition: the caller holds the order's lock.
    """
    now = now or timezone.now()
    state = order_sla_clocks(order, now=now)[clock]
    if state.state not in (SlaState.AT_RISK, SlaState.LATE):
        return False
    if clock == "collect_by":
        shipment = lock_shipment(order)
        if shipment is None or shipment.collect_alerted_at is not None:
            return False
        shipment.collect_alerted_at = now
        shipment.save(update_fields=["collect_alerted_at", "updated_at"])
    else:
        field = f"{clock}_alerted_at"
        if getattr(order, field) is not None:
            return False
        setattr(order, field, now)
        order.save(update_fields=[field])
    _order_services().order_event_record(
        order=order, action="sla_at_risk", from_status=order.status, actor=actor,
        reason=f"{clock} {state.state.replace('_', ' ')}: due {state.deadline:%Y-%m-%d %H:%M} UTC",
    )
    from backoffice.webhooks import webhook_order_at_risk

    webhook_order_at_risk(order=order, clock=clock, due_at=state.deadline)
    return True


# --- partner notifications ---------------------------------------------------------


def _webhook_tracking_updated(order, shipment: Shipment, *, previous: dict) -> None:
    """Send ``order.shipped`` again with the corrected carrier and tracking, so the marketplace shows
    the right number; ``tracking_updated`` and ``previous`` tell it apart from the first one.
    Written to the outbox in the current transaction and delivered after commit."""
    from backoffice.webhooks import webhook_event_create

    carrier = shipment.carrier
    webhook_event_create(
        partner=order.partner,
        type="order.shipped",
        order=order,
        data={
            "status": order.status,
            "marketplace_status": order.marketplace_status,
            "carrier": {"code": carrier.code, "name": carrier.name},
            "tracking_number": shipment.tracking_number,
            "tracking_updated": True,
            "previous": previous,
        },
    )


def _human(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 48 and hours % 24 == 0:
        return f"{int(hours // 24)} days"
    return f"{hours:g} hours"
