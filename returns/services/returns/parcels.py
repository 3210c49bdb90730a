"""The parcel coming back: the buyer ships it (partner API), the warehouse receives and inspects it (R11).

Receiving and inspecting go line by line. Inspection sorts every received
unit into resellable or damaged: resellable units go back into stock at once
(``fulfillment.services.stock_restock``, stock rows locked after the order and
the return, in pk order); damaged ones do not.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import InvalidInput, TransitionRefused
from fulfillment.models import Carrier
from fulfillment.services import carrier_resolve, stock_restock, tracking_number_refusal
from orders.models import OrderAction
from orders.services import order_touch
from returns.models import ReturnLine, ReturnRequest, ReturnStatus
from returns.services.returns.common import (
    RECEIVE_PERMISSION,
    lock_order_and_return,
    require_relay,
    require_staff,
    return_event_record,
    return_transition_apply,
)

# How far ahead of our clock a partner's timestamp may be (clocks drift).
CLOCK_SKEW = timedelta(minutes=5)
TRACKING_MAX = ReturnRequest._meta.get_field("return_tracking_number").max_length
NOTE_MAX = ReturnRequest._meta.get_field("inspection_note").max_length


def _valid_return_tracking(carrier: Carrier, tracking_number: str) -> str:
    number = Carrier.normalize_tracking_number(tracking_number)
    if not number:
        raise InvalidInput("Give the return parcel's tracking number.", code="tracking_number_required")
    if len(number) > TRACKING_MAX or not carrier.tracking_number_matches(number):
        raise InvalidInput(tracking_number_refusal(carrier, number), code="tracking_number_invalid")
    return number


def _not_awaiting(ret: ReturnRequest) -> TransitionRefused:
    if not ret.ships_back:
        return TransitionRefused(f"Return {ret.pk} is refund only: nothing is sent back.", code="no_return_shipment")
    if ret.status == ReturnStatus.REQUESTED:
        return TransitionRefused(f"Return {ret.pk} has not been approved yet.", code="not_approved")
    return TransitionRefused(
        f"Return {ret.pk} is {ret.get_status_display().lower()}; the buyer's shipment can no longer change.",
        code="not_awaiting_shipment",
    )


def return_shipment_update(
    *, return_id: int, carrier: Carrier | str, tracking_number: str, actor: Actor, shipped_at: datetime | None = None
) -> ReturnRequest:
    """The buyer shipped the parcel back: carrier (an active one from our list) and tracking number
    (must match the carrier's pattern, ``tracking_number_invalid``). The return is ``in_transit``.

    The same carrier and number again is a no-op; different ones while in
    transit correct them (audited, no status change). Who: the order's partner,
    Warehouse staff, the system.
    """
    carrier = carrier_resolve(carrier)
    number = _valid_return_tracking(carrier, tracking_number)
    now = timezone.now()
    at = shipped_at or now
    if at > now + CLOCK_SKEW:
        raise InvalidInput("The shipping time cannot be in the future.", code="in_future")
    with transaction.atomic():
        order, ret = lock_order_and_return(return_id)
        require_relay(
            order,
            actor,
            staff_permission=RECEIVE_PERMISSION,
            message="You do not have permission to record return parcels.",
        )
        if ret.status == ReturnStatus.IN_TRANSIT:
            if (ret.return_carrier_id, ret.return_tracking_number) == (carrier.pk, number):
                return ret
            old = {"carrier": ret.return_carrier.code, "tracking_number": ret.return_tracking_number}
            ret.return_carrier, ret.return_tracking_number = carrier, number
            ret.save(update_fields=["return_carrier", "return_tracking_number", "updated_at"])
            return_event_record(
                ret,
                action="tracking_updated",
                from_status=ret.status,
                actor=actor,
                note=f"{old['carrier']} {old['tracking_number']} → {carrier.code} {number}",
                data={"old": old, "new": {"carrier": carrier.code, "tracking_number": number}},
            )
            return ret
        if ret.status != ReturnStatus.AWAITING_RETURN_SHIPMENT:
            raise _not_awaiting(ret)
        if at < ret.requested_at - CLOCK_SKEW:
            raise InvalidInput(
                "The parcel cannot have been shipped before the return was requested.", code="before_requested"
            )
        return_transition_apply(
            ret,
            "mark_in_transit",
            actor=actor,
            fields=["return_carrier", "return_tracking_number", "shipped_back_at"],
            args={"carrier": carrier, "tracking_number": number, "at": at},
            note=f"{carrier.name} {number}",
            data={"carrier": carrier.code, "tracking_number": number},
        )
    return ret


def _by_line(ret: ReturnRequest, values: dict[int, object], what: str) -> list[tuple[ReturnLine, object]]:
    """Pair every line of ``ret`` with its value; every line must have one and no other key may appear."""
    lines = list(ret.lines.select_related("order_line").order_by("pk"))
    known = {line.pk for line in lines}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvalidInput(f"Return {ret.pk} has no line {unknown[0]}.", code="unknown_line")
    missing = [line for line in lines if line.pk not in values]
    if missing:
        raise InvalidInput(
            f"Give the {what} of every line; missing: {', '.join(line.order_line.sku_code for line in missing)}.",
            code="line_missing",
        )
    return [(line, values[line.pk]) for line in lines]


def _count(value, *, line: ReturnLine, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(
            f"The {what} of {line.order_line.sku_code} must be a whole number ≥ 0.", code="invalid_quantity"
        )
    return value


def return_receive(*, return_id: int, received: dict[int, int], actor: Actor, note: str = "") -> ReturnRequest:
    """The parcel reached the warehouse: ``received`` maps every return line id to the units found
    (0 to the line's quantity; ``received_exceeds_quantity`` above). The return is ``received``.

    Receiving again with the same counts is a no-op; other counts are refused
    (``already_received``). Warehouse staff (``returns.receive_returnrequest``).
    """
    require_staff(actor, RECEIVE_PERMISSION, "You do not have permission to receive returns.")
    note = (note or "").strip()[:500]
    with transaction.atomic():
        order, ret = lock_order_and_return(return_id)
        pairs = [
            (line, _count(q, line=line, what="received quantity"))
            for line, q in _by_line(ret, received, "received quantity")
        ]
        if ret.status == ReturnStatus.RECEIVED or ret.received_at is not None:
            if all(line.received_quantity == q for line, q in pairs):
                return ret
            raise TransitionRefused(
                f"Return {ret.pk} was already received with other quantities.", code="already_received"
            )
        if ret.status not in (ReturnStatus.AWAITING_RETURN_SHIPMENT, ReturnStatus.IN_TRANSIT):
            raise _not_awaiting(ret)
        for line, quantity in pairs:
            if quantity > line.quantity:
                raise InvalidInput(
                    f"{line.order_line.sku_code}: {quantity} received, but only {line.quantity} are being returned.",
                    code="received_exceeds_quantity",
                )
        for line, quantity in pairs:
            line.received_quantity = quantity
        ReturnLine.objects.bulk_update([line for line, _ in pairs], ["received_quantity"])
        counts = {line.order_line.sku_code: q for line, q in pairs}
        return_transition_apply(
            ret,
            "receive",
            actor=actor,
            fields=["received_at"],
            args={"at": timezone.now()},
            note=note or ", ".join(f"{sku} × {q}" for sku, q in counts.items()),
            data={"received": {str(line.pk): q for line, q in pairs}},
        )
        units = sum(q for _, q in pairs)
        expected = sum(line.quantity for line, _ in pairs)
        order_touch(
            order=order,
            action=OrderAction.RETURN_RECEIVED,
            actor=actor,
            note=f"return #{ret.pk}: {units} of {expected} unit(s) received",
        )
    return ret


def return_inspect(
    *, return_id: int, results: dict[int, tuple[int, int]], actor: Actor, note: str = ""
) -> ReturnRequest:
    """Sort every received unit: ``results`` maps each return line id to ``(resellable, damaged)``, which
    must add up to the line's received quantity (``inspection_mismatch``). Resellable units go back
    into stock now; damaged ones do not. The return is ``inspected``.

    Inspecting again with the same results is a no-op; other results are
    refused (``already_inspected``): the stock has moved. Warehouse staff.
    """
    require_staff(actor, RECEIVE_PERMISSION, "You do not have permission to inspect returns.")
    note = (note or "").strip()[:NOTE_MAX]
    with transaction.atomic():
        order, ret = lock_order_and_return(return_id)
        pairs = []
        for line, value in _by_line(ret, results, "inspection result"):
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                raise InvalidInput(f"Give resellable and damaged units for {line.order_line.sku_code}.", code="invalid")
            pairs.append(
                (
                    line,
                    _count(value[0], line=line, what="resellable quantity"),
                    _count(value[1], line=line, what="damaged quantity"),
                )
            )
        if ret.inspected_at is not None:
            if all((line.resellable_quantity, line.damaged_quantity) == (r, d) for line, r, d in pairs):
                return ret
            raise TransitionRefused(
                f"Return {ret.pk} was already inspected with other results.", code="already_inspected"
            )
        if ret.status != ReturnStatus.RECEIVED:
            raise TransitionRefused(
                f"Return {ret.pk} is {ret.get_status_display().lower()}; only a received parcel can be inspected.",
                code="not_received",
            )
        for line, resellable, damaged in pairs:
            if resellable + damaged != line.received_quantity:
                raise InvalidInput(
                    f"{line.order_line.sku_code}: {resellable} resellable + {damaged} damaged does not match the "
                    f"{line.received_quantity} received.",
                    code="inspection_mismatch",
                )
            if resellable and line.order_line.sku_id is None:
                raise InvalidInput(
                    f"{line.order_line.sku_code} is not a known SKU; it cannot go back into stock.", code="unknown_sku"
                )
        now = timezone.now()
        restock: dict[int, int] = {}
        for line, resellable, damaged in pairs:
            line.resellable_quantity, line.damaged_quantity = resellable, damaged
            if resellable:
                line.restocked_at = now
                restock[line.order_line.sku_id] = restock.get(line.order_line.sku_id, 0) + resellable
        ReturnLine.objects.bulk_update(
            [line for line, _, _ in pairs], ["resellable_quantity", "damaged_quantity", "restocked_at"]
        )
        restocked = stock_restock(quantities=restock)
        damaged_units = sum(d for _, _, d in pairs)
        return_transition_apply(
            ret,
            "inspect",
            actor=actor,
            fields=["inspected_at", "inspection_note"],
            args={"at": now, "note": note},
            note=note or f"{restocked} resellable (back in stock), {damaged_units} damaged",
            data={
                "lines": {str(line.pk): {"resellable": r, "damaged": d} for line, r, d in pairs},
                "restocked": restocked,
            },
        )
        order_touch(
            order=order,
            action=OrderAction.RETURN_INSPECTED,
            actor=actor,
            note=f"return #{ret.pk}: {restocked} unit(s) back in stock, {damaged_units} damaged",
        )
    return ret
