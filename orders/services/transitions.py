"""The order core every app moves orders through: run a transition, record an action, tell the reactions.

Precondition of everything here: the caller holds the order's row lock
(``orders.locks.lock_order``) inside ``transaction.atomic()``.
"""

from __future__ import annotations

from django_fsm import can_proceed

from core.actors import Actor
from core.errors import TransitionRefused
from orders import hooks, notify
from orders.models import Order, OrderAction, OrderEvent


def order_event_record(
    *, order: Order, action: OrderAction, from_status: str, actor: Actor, note: str = ""
) -> OrderEvent:
    """Write the audit row for an action on ``order`` (its current status is the 'to' side)."""
    return OrderEvent.record(
        order=order, action=action, from_status=from_status, to_status=order.status, actor=actor, note=note
    )


def order_touch(*, order: Order, action: OrderAction, actor: Actor, note: str = "") -> OrderEvent:
    """Record an action that leaves the order's status alone (packed, a return received, ...).

    ``updated_at`` moves too, so partners syncing by ``updated_since`` look at the order again.
    """
    order.save(update_fields=["updated_at"])
    return order_event_record(order=order, action=action, from_status=order.status, actor=actor, note=note)


def order_status_changed(*, order: Order, from_status: str, action: OrderAction, actor: Actor) -> None:
    """``order`` has just moved (or was just created in a later status): the reactions of the layers
    above run, in their connected order, then the partner is told (``order.status_changed``)."""
    hooks.react(order=order, from_status=from_status, action=action, actor=actor)
    notify.order_status_changed(order=order, from_status=from_status)


def order_transition_apply(
    order: Order, name: OrderAction, *, actor: Actor, fields: list[str], note: str = "", args: dict | None = None
) -> None:
    """Run transition ``name`` on a locked order, save the fields it touched, audit it, and react.

    Every app's services move orders through this one function. Raises
    TransitionRefused when the order's state or a condition forbids it.
    """
    method = getattr(order, name)
    if not can_proceed(method):
        raise TransitionRefused(
            f"Order {order.pk} is {order.get_status_display().lower()}, so “{OrderAction(name).label}” cannot happen "
            "now."
        )
    from_status = order.status
    method(**(args or {}))
    order.save(update_fields=["status", "updated_at", *fields])
    order_event_record(order=order, action=name, from_status=from_status, actor=actor, note=note)
    order_status_changed(order=order, from_status=from_status, action=name, actor=actor)
