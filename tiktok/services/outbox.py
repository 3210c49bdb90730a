"""The outbox of calls to TikTok (R17): written with the decision, sent after the commit, recorded once.

A decision of ours that TikTok must hear about (a label, a tracking
correction, an answer to a request, a cancellation, a stock change) writes a
``TikTokCall`` row in the same transaction (``call_record``). After the commit
a task sends it (``call_send``):

1. in a short transaction the row is claimed (``sending``, attempt counted, a
   lease in ``next_attempt_at`` in case the worker dies) and what the call
   needs is read: the shop's cipher and token, the stock to push;
2. with no transaction open and no lock held, TikTok is called. Before any
   attempt after the first, an endpoint without ``idempotency_key`` is asked
   for its current state first (``_read_back``): if TikTok already did it (the
   worker died after the call and before recording it), the call is recorded as
   done without sending it again;
3. in a new transaction the answer is recorded: an attempt row, then
   ``succeeded``, ``failed`` (retryable: HTTP 5xx, 429, TikTok's rate limit, no
   answer; tried again after the next step of ``TIKTOK_CALL_BACKOFF``),
   ``parked`` when the steps run out, or ``rejected`` with TikTok's code and
   message. What the answer means for our rows (the order labelled, the parcel
   left packed with the reason) is applied by the owning app's services.

The timer (``tiktok.timers``) queues calls that are due again and calls whose
lease ran out. Staff send a failed, parked or refused call again from the
"TikTok sync" admin (``call_retry``).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError, NotFound, PermissionRefused
from core.tasks import enqueue_on_commit
from fulfillment.models import Stock
from orders.models import Order
from tiktok.client import ShopAccess, TikTokClient, TikTokError
from tiktok.models import (
    CALL_OPEN,
    CallOperation,
    CallStatus,
    ShippingDocument,
    ShopStatus,
    SkuLink,
    TikTokCall,
    TikTokCallAttempt,
)
from tiktok.services import effects
from tiktok.services.calls import call_record

logger = logging.getLogger(__name__)

RETRY_PERMISSION = "tiktok.retry_tiktokcall"
# The most stock TikTok accepts for one SKU in one warehouse.
MAX_QUANTITY = 99999
# Endpoints that take TikTok's idempotency_key: a repeat changes nothing, so no read-back is needed.
IDEMPOTENT = frozenset(
    {
        CallOperation.CANCELLATION_APPROVE,
        CallOperation.CANCELLATION_REJECT,
        CallOperation.ORDER_CANCEL,
        CallOperation.RETURN_DECIDE,
        CallOperation.INVENTORY_UPDATE,  # sets a quantity: the same call twice has one effect
        CallOperation.FETCH_LABEL,  # reads only
    }
)


def _client() -> TikTokClient:
    # The outbox does its own, slower retries (the backoff is on the row): one attempt per send.
    return TikTokClient.from_settings(backoff=[])


def call_retry(*, call_id: int, actor: Actor) -> TikTokCall:
    """Staff send a failed, parked or refused call again, with a new round of retries."""
    if actor.user is not None and not actor.user.has_perm(RETRY_PERMISSION):
        raise PermissionRefused("You do not have permission to send TikTok calls again.")
    with transaction.atomic():
        call = TikTokCall.objects.select_for_update().filter(pk=call_id).first()
        if call is None:
            raise NotFound(f"TikTok call {call_id} not found.")
        if call.status not in (CallStatus.FAILED, CallStatus.PARKED, CallStatus.REJECTED):
            return call
        if (
            call.collapse_key
            and TikTokCall.objects.filter(collapse_key=call.collapse_key, status=CallStatus.PENDING)
            .exclude(pk=call.pk)
            .exists()
        ):
            return call  # a newer push of the same stock waits already
        call.status = CallStatus.PENDING
        call.next_attempt_at = timezone.now() + settings.TIKTOK_CALL_LEASE
        call.error = f"Sent again by {actor}."[:1000]
        call.save(update_fields=["status", "next_attempt_at", "error", "updated_at"])
        enqueue_on_commit("tiktok.tasks.call_send", call.pk)
    return call


def call_requeue_due(call: TikTokCall) -> None:
    """Timer handler: a failed call whose wait is over, or a call whose worker never reported back.
    A stock push that a newer one (waiting) replaces is closed instead: the newer one reads the stock.
    Precondition: ``call`` locked and due."""
    if call.collapse_key:
        newer = TikTokCall.objects.filter(collapse_key=call.collapse_key, status=CallStatus.PENDING).exclude(pk=call.pk)
        if newer.exists():
            call.status, call.next_attempt_at = CallStatus.SUPERSEDED, None
            call.completed_at = timezone.now()
            call.save(update_fields=["status", "next_attempt_at", "completed_at", "updated_at"])
            return
    call.status = CallStatus.PENDING
    call.next_attempt_at = timezone.now() + settings.TIKTOK_CALL_LEASE
    call.save(update_fields=["status", "next_attempt_at", "updated_at"])
    enqueue_on_commit("tiktok.tasks.call_send", call.pk)


# --- sending a call --------------------------------------------------------------------------------------


def _claim(call_id: int) -> tuple[TikTokCall, ShopAccess | None, str] | None:
    """Mark the call as being sent and read what the call needs; None when there is nothing to send."""
    with transaction.atomic():
        call = (
            TikTokCall.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("shop")
            .filter(pk=call_id, status=CallStatus.PENDING)
            .first()
        )
        if call is None:
            return None
        now = timezone.now()
        call.status = CallStatus.SENDING
        call.attempts += 1
        call.last_attempt_at = now
        call.next_attempt_at = now + settings.TIKTOK_CALL_LEASE
        fields = ["status", "attempts", "last_attempt_at", "next_attempt_at", "updated_at"]
        if call.operation == CallOperation.INVENTORY_UPDATE:
            call.payload = {**call.payload, "quantity": _available(call.payload["sku_id"])}
            fields.append("payload")
        call.save(update_fields=fields)
        shop = call.shop
        if shop.status != ShopStatus.ACTIVE:
            return call, None, f"The shop {shop} is not connected ({shop.get_status_display().lower()})."
        return call, shop.access, ""


def _available(sku_id: int) -> int:
    """What TikTok may sell of a SKU: on hand less reserved, never below 0 nor above what TikTok takes
    (``MAX_QUANTITY``: TikTok refuses more, and would show nothing new)."""
    stock = Stock.objects.filter(sku_id=sku_id).values_list("on_hand", "reserved").first()
    if stock is None:
        return 0
    return min(MAX_QUANTITY, max(0, stock[0] - stock[1]))


def call_send(call_id: int) -> TikTokCall | None:
    """Send one call (see the module docstring); returns it as recorded, or None when it was not ours to send."""
    claimed = _claim(call_id)
    if claimed is None:
        return None
    call, access, problem = claimed
    started = time.monotonic()
    result: dict | None = None
    error: TikTokError | None = None
    if access is None:
        error = TikTokError(problem, code=0, http_status=400)
    else:
        client = _client()
        try:
            if call.attempts > 1 and call.operation not in IDEMPOTENT:
                result = _read_back(client, access, call)
            if result is None:
                result = _perform(client, access, call)
        except TikTokError as exc:
            error = exc
    duration = int((time.monotonic() - started) * 1000)
    return call_record_answer(call_id=call.pk, result=result, error=error, duration_ms=duration)


def call_record_answer(*, call_id: int, result: dict | None, error: TikTokError | None, duration_ms: int = 0):
    """Record the answer of the attempt in flight, then apply what it means for our rows."""
    with transaction.atomic():
        call = TikTokCall.objects.select_for_update().filter(pk=call_id).first()
        if call is None or call.status != CallStatus.SENDING:
            return call
        now = timezone.now()
        if error is None:
            call.status, call.result, call.completed_at = CallStatus.SUCCEEDED, result or {}, now
            call.next_attempt_at, call.error, call.error_code = None, "", None
        elif error.retryable and error.http_status != 400:
            failures = call.attempt_rows.filter(outcome__in=[CallStatus.FAILED, CallStatus.PARKED]).count() + 1
            steps = settings.TIKTOK_CALL_BACKOFF
            if failures <= len(steps):
                call.status, call.next_attempt_at = CallStatus.FAILED, now + steps[failures - 1]
            else:
                call.status, call.next_attempt_at, call.completed_at = CallStatus.PARKED, None, now
            call.error, call.error_code = error.message[:1000], error.code or None
        else:
            call.status, call.next_attempt_at, call.completed_at = CallStatus.REJECTED, None, now
            call.error, call.error_code = error.message[:1000], error.code or None
        call.save(
            update_fields=["status", "result", "completed_at", "next_attempt_at", "error", "error_code", "updated_at"]
        )
        TikTokCallAttempt.objects.create(
            call=call,
            number=call.attempt_rows.count() + 1,
            at=now,
            duration_ms=duration_ms,
            outcome=call.status,
            http_status=error.http_status if error is not None else 200,
            code=error.code if error is not None else 0,
            message=error.message[:1000] if error is not None else "",
        )
    _apply(call)
    return call


# --- what each operation sends, and how its state is read back -----------------------------------------------


def _perform(client: TikTokClient, access: ShopAccess, call: TikTokCall) -> dict:
    p = call.payload
    op = call.operation
    if op == CallOperation.SHIP_PACKAGE:
        shipment = None
        if p.get("tracking_number"):
            shipment = {"tracking_number": p["tracking_number"], "shipping_provider_id": p["shipping_provider_id"]}
        return client.package_ship(
            access, package_id=call.target, handover_method=p["handover_method"], self_shipment=shipment
        )
    if op == CallOperation.UPDATE_SHIPPING_INFO:
        return client.shipping_info_update(
            access,
            order_id=call.target,
            tracking_number=p["tracking_number"],
            shipping_provider_id=p["shipping_provider_id"],
        )
    if op == CallOperation.FETCH_LABEL:
        url = client.shipping_document_url(access, package_id=call.target, document_type=p["document_type"])
        pdf = client.download(url)
        ShippingDocument.objects.update_or_create(
            order_id=call.order_id,
            document_type=p["document_type"],
            defaults={"package_id": call.target, "pdf": pdf, "fetched_at": timezone.now()},
        )
        return {"bytes": len(pdf)}
    if op == CallOperation.CANCELLATION_APPROVE:
        return client.cancellation_approve(access, cancel_id=call.target, idempotency_key=call.idempotency_key)
    if op == CallOperation.CANCELLATION_REJECT:
        return client.cancellation_reject(
            access,
            cancel_id=call.target,
            reject_reason=p["reject_reason"],
            comment=p.get("comment", ""),
            idempotency_key=call.idempotency_key,
        )
    if op == CallOperation.ORDER_CANCEL:
        return client.order_cancel(
            access, order_id=call.target, cancel_reason=p["cancel_reason"], idempotency_key=call.idempotency_key
        )
    if op == CallOperation.RETURN_DECIDE:
        return client.return_decide(access, return_id=call.target, body=p["body"], idempotency_key=call.idempotency_key)
    if op == CallOperation.INVENTORY_UPDATE:
        quantity = int(p["quantity"])
        if not 0 <= quantity <= MAX_QUANTITY:  # ``_available`` never gives one; the last guard before TikTok
            raise TikTokError(f"quantity {quantity} is not sent: TikTok takes 0 to {MAX_QUANTITY}", http_status=400)
        skus = [{"id": p["tiktok_sku_id"], "inventory": [{"warehouse_id": p["warehouse_id"], "quantity": quantity}]}]
        client.inventory_update(access, product_id=call.target, skus=skus)
        return {"quantity": quantity}
    raise TikTokError(f"unknown operation {op!r}", http_status=400)


def _read_back(client: TikTokClient, access: ShopAccess, call: TikTokCall) -> dict | None:
    """TikTok's current state, for an endpoint without idempotency key, before sending it again: the
    answer to record if TikTok already did what the call asks, else None (send it)."""
    p = call.payload
    if call.operation == CallOperation.SHIP_PACKAGE:
        package = client.package_get(access, package_id=call.target)
        if package.get("package_status") != "SHIPPED":
            return None
        if p.get("tracking_number") and package.get("tracking_number") != p["tracking_number"]:
            return None  # shipped with another number: sending ours gets TikTok's refusal, recorded for staff
        return {
            "package_id": call.target,
            "tracking_number": package.get("tracking_number", ""),
            "shipping_provider_id": package.get("shipping_provider_id", ""),
            "read_back": True,
        }
    if call.operation == CallOperation.UPDATE_SHIPPING_INFO:
        order = client.orders_get(access, ids=[call.target])
        if order and order[0].get("tracking_number") == p["tracking_number"]:
            return {"read_back": True}
        return None
    return None


# --- what an answer means for our rows ---------------------------------------------------------------------------


def _apply(call: TikTokCall) -> None:
    """Apply a recorded answer through the owning apps' services (each in its own transaction). A failure
    here is written on the call for staff: TikTok's side is done and is not undone."""
    try:
        effects.apply(call)
    except DomainError as exc:
        logger.warning("TikTok call %s: TikTok answered but ours could not follow: %s", call.pk, exc)
        TikTokCall.objects.filter(pk=call.pk).update(
            error=f"TikTok answered, but here: {exc}"[:1000], updated_at=timezone.now()
        )


def stock_push_link(*, link: SkuLink, actor: Actor, send_after: datetime | None = None) -> TikTokCall:
    """Write (or join) the waiting stock push of one linked SKU. Precondition: inside a transaction."""
    return call_record(
        shop=link.shop,
        operation=CallOperation.INVENTORY_UPDATE,
        target=link.product_id,
        payload={
            "sku_id": link.sku_id,
            "link_id": link.pk,
            "tiktok_sku_id": link.tiktok_sku_id,
            "warehouse_id": link.warehouse_id,
        },
        actor=actor,
        collapse_key=f"stock:{link.pk}",
        send_after=send_after,
    )


def calls_open_for(order: Order, operation: str) -> bool:
    return TikTokCall.objects.filter(order=order, operation=operation, status__in=CALL_OPEN).exists()
