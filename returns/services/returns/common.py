"""Shared by the return services: who may act, the locks, and running a transition with its audit.

Every return service follows one shape: lock the order (``orders.locks``), then
the return (``returns.locks``), then whatever else it needs (stock rows in pk
order, the payment); return early when the action is already done; run the
transition; save with ``update_fields``; write the ``ReturnEvent``, a line in
the order's history and the ``return.status_changed`` outbox row in the same
transaction. Emails, webhook deliveries and Stripe calls go out after commit.
"""

from __future__ import annotations

from django_fsm import can_proceed

from core.actors import Actor
from core.errors import NotFound, PermissionRefused, TransitionRefused
from orders.locks import lock_order
from orders.models import Order
from returns.locks import lock_return
from returns.models import ReturnEvent, ReturnRequest
from returns.notify import webhook_return_status_changed

CREATE_PERMISSION = "returns.add_returnrequest"
DECIDE_PERMISSION = "returns.decide_returnrequest"
RECEIVE_PERMISSION = "returns.receive_returnrequest"
REFUND_PERMISSION = "returns.refund_returnrequest"

TIMER = Actor.system("timer")


# --- who may do what ---------------------------------------------------------------------------


def require_staff(actor: Actor, permission: str | tuple[str, ...], message: str) -> None:
    """Warehouse, Finance and Support steps: staff with ``permission`` (any one of a tuple), or the
    system. Never a partner or seller."""
    if actor.kind == "system":
        return
    permissions = (permission,) if isinstance(permission, str) else permission
    if actor.kind == "staff" and actor.user is not None and any(actor.user.has_perm(p) for p in permissions):
        return
    raise PermissionRefused(message)


def require_decider(ret: ReturnRequest, actor: Actor) -> None:
    """The seller answers its own returns; staff need the decide permission; the system is the timer.

    Partners relay the buyer's side (the request, the parcel sent back): the answer is the seller's.
    """
    if actor.kind == "system":
        return
    if actor.kind == "seller":
        membership = getattr(actor.user, "seller_membership", None)
        if membership is None or membership.seller_id != ret.seller_id:
            raise PermissionRefused("You can only answer your own orders' returns.")
    elif actor.kind == "staff":
        if actor.user is None or not actor.user.has_perm(DECIDE_PERMISSION):
            raise PermissionRefused("You do not have permission to approve or reject returns.")
    else:
        raise PermissionRefused("Partners cannot answer a return request; the seller does.")


def require_relay(order: Order, actor: Actor, *, staff_permission: str, message: str) -> None:
    """The buyer's side of a return (asking, shipping back) comes from the order's partner, staff with
    ``staff_permission``, or the system. Another partner's order is not found, as in the API."""
    if actor.kind == "system":
        return
    if actor.kind == "partner":
        if actor.partner is None or actor.partner.pk != order.partner_id:
            raise NotFound(f"Order {order.pk} not found.")
        return
    require_staff(actor, staff_permission, message)


# --- locks ---------------------------------------------------------------------------------


def lock_order_and_return(return_id: int) -> tuple[Order, ReturnRequest]:
    """Lock the return's order, then the return; return both re-read, the return pointing at the locked order.

    Precondition: inside ``transaction.atomic()``.
    """
    order_id = ReturnRequest.objects.filter(pk=return_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise NotFound(f"Return {return_id} not found.", code="return_not_found")
    order = lock_order(order_id)
    ret = lock_return(return_id)
    if ret is None:  # deleted with its order meanwhile
        raise NotFound(f"Return {return_id} not found.", code="return_not_found")
    ret.order = order
    return order, ret


# --- audit -------------------------------------------------------------------------------------


def return_event_record(
    ret: ReturnRequest, *, action: str, from_status: str, actor: Actor, note: str = "", data: dict | None = None
) -> ReturnEvent:
    """The return's audit row (its status is the 'to' side)."""
    return ReturnEvent.record(
        return_request=ret,
        action=action,
        from_status=from_status,
        to_status=ret.status,
        actor=actor,
        note=note,
        data=data,
    )


def return_transition_apply(
    ret: ReturnRequest,
    name: str,
    *,
    actor: Actor,
    fields: list[str],
    args: dict | None = None,
    note: str = "",
    data: dict | None = None,
    code: str = "transition_not_allowed",
) -> None:
    """Run transition ``name`` on a locked return, save what it touched, audit it and queue the webhook.

    Raises TransitionRefused with ``code`` when the return's state or type does not allow it.
    Precondition: the caller holds the order's lock, then the return's.
    """
    method = getattr(ret, name)
    if not can_proceed(method):
        raise TransitionRefused(
            f"Return {ret.pk} is {ret.get_status_display().lower()} ({ret.get_type_display().lower()}); "
            f"it cannot {name.replace('_', ' ')} now.",
            code=code,
        )
    from_status = ret.status
    method(**(args or {}))
    ret.save(update_fields=["status", "updated_at", *fields])
    return_event_record(ret, action=name, from_status=from_status, actor=actor, note=note, data=data)
    webhook_return_status_changed(ret=ret, from_status=from_status)
