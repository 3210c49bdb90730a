"""Shared by every payments service: who may act for a seller, the audit row, running a transition."""

from __future__ import annotations

import logging

from django_fsm import can_proceed

from accounts.models import Seller
from core.actors import Actor
from core.errors import PermissionRefused, TransitionRefused
from payments.models import Payment, PaymentEvent, Refund

logger = logging.getLogger(__name__)


def require_seller_access(seller: Seller, actor: Actor) -> None:
    """Sellers act for themselves only; staff need the right to change sellers; partners never pay."""
    if actor.kind == "seller":
        membership = getattr(actor.user, "seller_membership", None)
        if membership is None or membership.seller_id != seller.pk:
            raise PermissionRefused("You can only manage your own cards and payments.")
    elif actor.kind == "staff" and not actor.user.has_perm("accounts.change_seller"):
        raise PermissionRefused("You do not have permission to manage this seller's cards and payments.")
    elif actor.kind == "partner":
        raise PermissionRefused("Partners cannot manage a seller's cards or payments.")


def payment_event_record(
    *,
    seller: Seller | int,
    action: str,
    actor: Actor,
    payment: Payment | None = None,
    refund: Refund | None = None,
    from_status: str = "",
    to_status: str = "",
    note: str = "",
) -> PaymentEvent:
    return PaymentEvent.record(
        seller_id=seller if isinstance(seller, int) else seller.pk,
        payment=payment,
        refund=refund,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        note=note,
    )


def transition_apply(
    obj: Payment | Refund, name: str, *, actor: Actor, fields: list[str], args: dict | None = None, note: str = ""
):
    """Run transition ``name`` on a locked payment or refund, save what it touched, and audit it.

    The audit row is a ``PaymentEvent``.

    Precondition: the caller holds the row's lock inside ``transaction.atomic()``.
    """
    method = getattr(obj, name)
    if not can_proceed(method):
        raise TransitionRefused(f"{str(obj).capitalize()}: this cannot be done now.")
    from_status = obj.status
    method(**(args or {}))
    update = ["status", *fields]
    if isinstance(obj, Payment):
        update.append("updated_at")
    obj.save(update_fields=update)
    payment = obj if isinstance(obj, Payment) else obj.payment
    payment_event_record(
        seller=payment.seller_id,
        action=f"{'payment' if isinstance(obj, Payment) else 'refund'}_{name}",
        actor=actor,
        payment=payment,
        refund=obj if isinstance(obj, Refund) else None,
        from_status=from_status,
        to_status=obj.status,
        note=note,
    )
