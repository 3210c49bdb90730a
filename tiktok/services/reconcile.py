"""Reconciling our orders with TikTok's: state-based, not event-based (R16).

Events arrive late, twice and out of order, so nothing here trusts an event's
payload: the callers fetch TikTok's current detail (an order, its cancellation
requests, its returns) and these functions converge our rows on it. Applying
the same detail twice changes nothing the second time; a detail older than the
one last applied to an order is skipped (``TikTokOrder.update_time``).

Each function runs in its own transaction with the order locked, and never
calls TikTok: the detail is fetched before (``tiktok.services.sync``). Every
change is made through the owning app's services with the TikTok actor
(``tiktok_actor``), so each audit row says "TikTok" and which event caused it.

What TikTok's order status does here:

* a new TikTok order goes through our intake (``orders.services.order_intake``),
  with the shop's partner and seller; the buyer's payment comes from
  ``paid_time`` when the order is past UNPAID;
* UNPAID is our ``pending_payment`` and ON_HOLD our ``on_hold``; leaving ON_HOLD
  ends our hold at once;
* CANCELLED cancels ours, with TikTok's initiator and reason, in any state
  before shipping (stock back and a wholesale payment refunded, R7);
* later statuses (AWAITING_SHIPMENT to COMPLETED) do not move our warehouse
  states: our warehouse and carriers do. TikTok's status is kept on the link.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import TransitionRefused
from orders.locks import lock_order
from orders.models import NOT_SHIPPED, Order, OrderStatus
from orders.services import (
    order_cancel_by_marketplace_locked,
    order_contact_update_locked,
    order_deadlines_update_locked,
    order_end_hold_early_locked,
    order_intake,
    order_record_buyer_payment,
)
from returns.models import CancellationRequest, CancellationStatus, RequestedBy, ReturnRequest, ReturnStatus
from returns.services.cancellations import (
    cancellation_request_approve,
    cancellation_request_create,
    cancellation_request_withdraw,
)
from returns.services.returns import ReturnLineInput, return_approve, return_close, return_create, return_reject
from tiktok import mapping
from tiktok.locks import lock_order_link
from tiktok.models import Shop, TikTokOrder

logger = logging.getLogger(__name__)


def tiktok_actor(event_ref: str = "") -> Actor:
    """Who changed something because TikTok said so: "TikTok", with the event behind it when there is one."""
    return Actor.system(f"TikTok event {event_ref}" if event_ref else "TikTok sync")


def _order_for(shop: Shop, tiktok_order_id: str) -> Order | None:
    return Order.objects.filter(partner_id=shop.partner_id, external_id=tiktok_order_id).first()


def order_reconcile(*, shop: Shop, detail: dict, actor: Actor) -> Order | None:
    """Converge our order with TikTok's ``detail`` (one order of ``orders_get`` or a search page).

    Creates the order when we have none, unless TikTok already cancelled it
    (nothing to fulfil: None is returned). Raises TransitionRefused when TikTok
    cancelled an order our warehouse has already labelled. Safe to run at the
    same time for the same order: intake's unique constraint lets one insert
    win, and the rest happens under the order's lock.
    """
    tiktok_id = str(detail["id"])
    status = str(detail.get("status") or "")
    update_time = int(detail.get("update_time") or 0)
    with transaction.atomic():
        existing = _order_for(shop, tiktok_id)
        if existing is None:
            if status in mapping.CANCELLED_STATUSES:
                return None
            existing, _ = order_intake(
                partner=shop.partner, data=mapping.intake_data(detail, seller_code=shop.seller.code), actor=actor
            )
        order = lock_order(existing.pk)
        link = lock_order_link(order)
        if link is not None and update_time < link.update_time:
            logger.info("TikTok order %s: detail of %s is older than the one applied; skipped", tiktok_id, update_time)
            return order
        order = _converge(order, detail=detail, status=status, actor=actor)
        shipping = {
            "shipping_type": str(detail.get("shipping_type") or ""),
            "package_ids": [str(p["id"]) for p in detail.get("packages") or [] if isinstance(p, dict) and p.get("id")],
            "delivery_option_id": str(detail.get("delivery_option_id") or ""),
        }
        if link is None:
            TikTokOrder.objects.create(
                shop=shop, order=order, tiktok_order_id=tiktok_id, status=status, update_time=update_time, **shipping
            )
        else:
            link.status, link.update_time, link.synced_at = status, update_time, timezone.now()
            for name, value in shipping.items():
                setattr(link, name, value)
            link.save(update_fields=["status", "update_time", "synced_at", *shipping])
    return order


def _converge(order: Order, *, detail: dict, status: str, actor: Actor) -> Order:
    """Apply TikTok's deadlines, buyer and address, then its status. Precondition: ``order`` is locked."""
    if order.status == OrderStatus.CANCELLED:
        return order
    given = mapping.deadlines(detail)
    if order.status != OrderStatus.PENDING_PAYMENT:
        given.pop("payment_due_at", None)
    order_deadlines_update_locked(order=order, deadlines=given, actor=actor)
    address = mapping.shipping_address(detail)
    if address and order.status in NOT_SHIPPED:
        order_contact_update_locked(order=order, buyer=mapping.buyer(detail), address=address, actor=actor)
    if status in mapping.CANCELLED_STATUSES:
        by = mapping.CANCEL_INITIATORS.get(str(detail.get("cancellation_initiator") or ""), "platform")
        reason = str(detail.get("cancel_reason") or "").strip() or "cancelled on TikTok"
        order_cancel_by_marketplace_locked(order=order, by=by, reason=f"TikTok: {reason}", actor=actor)
        return order
    if status == mapping.UNPAID:
        return order
    paid_at = mapping.when(detail.get("paid_time"))
    if order.status == OrderStatus.PENDING_PAYMENT and paid_at is not None:
        # The service re-reads the order under the lock this transaction already holds.
        order = order_record_buyer_payment(
            order_id=order.pk, paid=True, paid_at=max(paid_at, order.placed_at), actor=actor
        )
    if status != mapping.ON_HOLD:
        order_end_hold_early_locked(order=order, actor=actor, note=f"TikTok status {status}")
    return order


# --- cancellation requests (type 11) -------------------------------------------------------------


def cancellation_reconcile(*, shop: Shop, cancellation: dict, actor: Actor) -> CancellationRequest | None:
    """Converge our record of a buyer's cancellation request with TikTok's.

    A pending buyer request creates ours, with TikTok's answer deadline as
    ``respond_by``; TikTok's later statuses close it: approved there approves it
    here (the order is cancelled, R5), cancelled there withdraws it. Until our
    answers go back to TikTok, a seller's answer here is recorded locally only.
    Requests the seller or the system started are not requests to the seller: skipped.
    """
    order = _order_for(shop, str(cancellation.get("order_id") or ""))
    role = str(cancellation.get("role") or cancellation.get("cancellations_role") or "BUYER")
    cancel_id = str(cancellation.get("cancel_id") or "")
    if order is None or role != "BUYER" or not cancel_id:
        return None
    status = str(cancellation.get("cancel_status") or "")
    ours = CancellationRequest.objects.filter(order=order, external_id=cancel_id).first()
    if ours is None:
        if status != mapping.CANCELLATION_PENDING or order.status not in NOT_SHIPPED:
            return None
        if order.status in (OrderStatus.PENDING_PAYMENT, OrderStatus.ON_HOLD):
            # Before the hold ends the buyer cancels without asking; TikTok's order status will say so.
            return None
        ours, _ = cancellation_request_create(
            order_id=order.pk,
            actor=actor,
            reason=str(cancellation.get("cancel_reason_text") or cancellation.get("cancel_reason") or ""),
            external_id=cancel_id,
            requested_by=RequestedBy.BUYER,
            respond_by=mapping.next_action_deadline(cancellation),
            marketplace_decides=True,
        )
    if ours.status != CancellationStatus.PENDING:
        return ours
    if status in mapping.CANCELLATION_APPROVED:
        return cancellation_request_approve(request_id=ours.pk, actor=actor, note="Approved on TikTok.")
    if status in mapping.CANCELLATION_CLOSED:
        return cancellation_request_withdraw(request_id=ours.pk, actor=actor, note="Closed on TikTok.")
    return ours


# --- returns (type 12) ----------------------------------------------------------------------------


def return_reconcile(*, shop: Shop, ret: dict, actor: Actor) -> ReturnRequest | None:
    """Converge our return with TikTok's: created on first sight (``return_type`` mapped, lines by
    ``seller_sku``, ``respond_by`` from TikTok's deadline), then approved, rejected or closed as TikTok
    decides. The parcel, inspection and refund stay our warehouse's and Finance's steps."""
    order = _order_for(shop, str(ret.get("order_id") or ""))
    return_id = str(ret.get("return_id") or "")
    if order is None or not return_id:
        return None
    status = str(ret.get("return_status") or "")
    ours = ReturnRequest.objects.filter(order=order, external_id=return_id).first()
    if ours is None:
        if status in mapping.RETURN_CANCELLED or status in mapping.RETURN_REJECTED:
            return None
        return_type = mapping.RETURN_TYPES.get(str(ret.get("return_type") or ""))
        if return_type is None:
            raise TransitionRefused(f"TikTok return {return_id} has a type we do not handle.", code="unknown_type")
        ours, _ = return_create(
            order_id=order.pk,
            type=return_type,
            reason=str(ret.get("return_reason_text") or ret.get("return_reason") or "returned on TikTok")[:100],
            lines=[ReturnLineInput(sku=sku, quantity=units) for sku, units in mapping.return_lines(ret)],
            actor=actor,
            external_id=return_id,
            respond_by=mapping.next_action_deadline(ret),
        )
    if ours.status == ReturnStatus.REQUESTED:
        if status in mapping.RETURN_APPROVED:
            return return_approve(return_id=ours.pk, actor=actor, note="Approved on TikTok.")
        if status in mapping.RETURN_REJECTED:
            return return_reject(return_id=ours.pk, actor=actor, reason="Rejected on TikTok.")
    if ours.status == ReturnStatus.AWAITING_RETURN_SHIPMENT and status in mapping.RETURN_CANCELLED:
        return return_close(return_id=ours.pk, actor=actor, note="The buyer cancelled the return on TikTok.")
    return ours
