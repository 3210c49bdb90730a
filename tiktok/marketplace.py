"""TikTok as the marketplace of ``orders.hooks``: our decisions about TikTok orders become outbox calls (R17).

Plugged in at start-up (``backoffice.wiring``). Every method runs inside the
transaction that made the decision, with the order (or the stock rows)
locked, and only writes ``TikTokCall`` rows (``tiktok.services.outbox``):
TikTok is called after the commit. Changes made because TikTok said so (the
``TikTok ...`` system actors) are never sent back.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.utils import timezone

from core.actors import Actor
from core.errors import InvalidInput, TransitionRefused
from fulfillment.models import Carrier, Handover
from orders.models import Order
from tiktok.models import CALL_OPEN, CallOperation, CarrierProvider, ShopStatus, SkuLink, TikTokCall, TikTokOrder
from tiktok.services.calls import call_record, is_tiktok_actor
from tiktok.services.outbox import stock_push_link
from tiktok.services.reasons import shop_reject_reasons

HANDOVER = {Handover.PICKUP: "PICKUP", Handover.DROPOFF: "DROP_OFF"}
# Our return decisions in TikTok's words, by our return type (TIKTOK.md, "Returns").
APPROVE = {"refund_only": "APPROVE_REFUND", "return_and_refund": "APPROVE_RETURN", "replacement": "APPROVE_REPLACEMENT"}
REJECT = {"refund_only": "REJECT_REFUND", "return_and_refund": "REJECT_RETURN", "replacement": "REJECT_REPLACEMENT"}
TIKTOK_LOGISTICS_CARRIER = "tiktok-shipping"
TIKTOK_LOGISTICS_CARRIER_DEFAULTS = {
    "name": "TikTok Shipping",
    "tracking_pattern": r"^[A-Z0-9]{8,40}$",
    "tracking_example": "8 to 40 letters or digits, given by TikTok when it ships the package",
    "handover": "both",
    "assigns_tracking": True,
}


def tiktok_logistics_carrier_ensure() -> Carrier:
    """The carrier of TikTok-logistics orders, created if missing (a flushed database loses the migration's row).

    An existing row is left as staff made it.
    """
    carrier, _ = Carrier.objects.get_or_create(
        code=TIKTOK_LOGISTICS_CARRIER, defaults=TIKTOK_LOGISTICS_CARRIER_DEFAULTS
    )
    return carrier


def _link(order: Order) -> TikTokOrder | None:
    return TikTokOrder.objects.select_related("shop").filter(order_id=order.pk).first()


def provider_for(carrier: Carrier) -> CarrierProvider:
    provider = CarrierProvider.objects.filter(carrier=carrier).first()
    if provider is None:
        raise TransitionRefused(
            f"{carrier.name} has no TikTok shipping provider yet: pick it on the carrier's page in the admin "
            "(Carriers → the carrier → TikTok shipping provider), then label again.",
            code="no_tiktok_provider",
        )
    return provider


def package_of(link: TikTokOrder) -> str:
    """The order's one TikTok package; refused when TikTok split or combined it (our parcel is the order's)."""
    if len(link.package_ids) != 1:
        raise TransitionRefused(
            f"TikTok has {len(link.package_ids)} packages for order {link.tiktok_order_id} (split or combined by "
            "TikTok): one label cannot ship it. Ship it on TikTok Seller Center, or wait for TikTok to undo it.",
            code="package_split",
        )
    return str(link.package_ids[0])


def _money(amount: int) -> str:
    return f"{amount / 100:.2f}"


class TikTokMarketplace:
    """``orders.hooks.Marketplace`` for the orders of connected TikTok shops."""

    def owns(self, order: Order) -> bool:
        return TikTokOrder.objects.filter(order_id=order.pk).exists()

    def label_requested(self, *, order, carrier, tracking_number, handover_method, actor):
        link = _link(order)
        if link is None:
            return None
        package = package_of(link)
        payload = {
            "carrier": carrier.code,
            "our_handover": handover_method,
            "handover_method": HANDOVER.get(handover_method, "DROP_OFF"),
        }
        if link.shipping_type == "TIKTOK":
            if not carrier.assigns_tracking:
                raise TransitionRefused(
                    f"Order {order.pk} ships through TikTok's logistics: label it with the carrier "
                    f"“{TIKTOK_LOGISTICS_CARRIER}”, not a carrier of ours.",
                    code="tiktok_logistics",
                )
            payload["logistics"] = "TIKTOK"
        else:
            if carrier.assigns_tracking:
                raise TransitionRefused(
                    f"Order {order.pk} is shipped by the seller: label it with one of our carriers.",
                    code="seller_shipping",
                )
            provider = provider_for(carrier)
            payload.update(tracking_number=tracking_number, shipping_provider_id=provider.provider_id)
        call_record(
            shop=link.shop,
            order=order,
            operation=CallOperation.SHIP_PACKAGE,
            target=package,
            payload=payload,
            actor=actor,
        )
        return "Sent to TikTok: the order is shipped as soon as TikTok confirms."

    def tracking_updated(self, *, order, carrier, tracking_number, actor):
        link = _link(order)
        if link is None or link.shipping_type == "TIKTOK" or is_tiktok_actor(actor):
            return
        provider = provider_for(carrier)
        call_record(
            shop=link.shop,
            order=order,
            operation=CallOperation.UPDATE_SHIPPING_INFO,
            target=link.tiktok_order_id,
            payload={"tracking_number": tracking_number, "shipping_provider_id": provider.provider_id},
            actor=actor,
        )

    def cancel_requested(self, *, order, by, reason, actor):
        link = _link(order)
        if link is None or is_tiktok_actor(actor):
            return None
        waiting = TikTokCall.objects.filter(order=order, operation=CallOperation.ORDER_CANCEL, status__in=CALL_OPEN)
        if not waiting.exists():
            call_record(
                shop=link.shop,
                order=order,
                operation=CallOperation.ORDER_CANCEL,
                target=link.tiktok_order_id,
                payload={"by": by, "reason": reason, "cancel_reason": reason or "Cancelled by the seller"},
                actor=actor,
            )
        return "Cancellation sent to TikTok: the order is cancelled here once TikTok confirms."

    def cancellation_answered(self, *, request, approved, reason, actor):
        link = _link(request.order)
        if link is None or is_tiktok_actor(actor) or not request.external_id:
            return
        if approved:
            call_record(
                shop=link.shop,
                order=request.order,
                operation=CallOperation.CANCELLATION_APPROVE,
                target=request.external_id,
                payload={},
                actor=actor,
            )
            return
        call_record(
            shop=link.shop,
            order=request.order,
            operation=CallOperation.CANCELLATION_REJECT,
            target=request.external_id,
            payload={"reject_reason": reject_reason_name(link.shop, "CANCEL", reason), "comment": reason},
            actor=actor,
        )

    def return_decided(self, *, ret, decision, amount, full, reason, actor):
        link = _link(ret.order)
        if link is None or is_tiktok_actor(actor) or actor.kind == "system" or not ret.external_id:
            return
        body: dict
        if decision == "approve":
            body = {"decision": APPROVE[ret.type]}
        elif decision == "reject":
            body = {"decision": REJECT[ret.type], "reject_reason": reject_reason_name(link.shop, "RETURN", reason)}
            body["comment"] = reason
        elif decision == "reject_received":
            body = {"decision": "REJECT_RECEIVED_PACKAGE", "comment": reason}
        elif decision == "refund":
            if ret.type == "refund_only" and not (amount and full and amount < full):
                return  # approving it was TikTok's refund decision
            if amount and full and amount < full:
                # TikTok refunds the buyer: offer the same share of what the buyer paid for the returned units.
                paid = sum(
                    line.quantity * line.order_line.unit_price for line in ret.lines.select_related("order_line")
                )
                offer = max(1, paid * amount // full)
                body = {
                    "decision": "OFFER_PARTIAL_REFUND",
                    "partial_refund": {"amount": _money(offer), "currency": settings.CURRENCY},
                }
            else:
                body = {"decision": "APPROVE_RECEIVED_PACKAGE"}
        else:
            return
        call_record(
            shop=link.shop,
            order=ret.order,
            operation=CallOperation.RETURN_DECIDE,
            target=ret.external_id,
            payload={"body": body, "decision": decision},
            actor=actor,
        )

    def stock_changing(self, *, sku_ids: Iterable[int]):
        links = list(
            SkuLink.objects.filter(sku_id__in=list(sku_ids), shop__status=ShopStatus.ACTIVE).select_related("shop")
        )
        if not links:
            return
        now = timezone.now()
        SkuLink.objects.filter(pk__in=[link.pk for link in links], changed_at__isnull=True).update(changed_at=now)
        for link in links:
            stock_push_link(link=link, actor=Actor.system("stock"))

    def reject_reasons(self, *, order, kind):
        link = _link(order)
        if link is None:
            return []
        return shop_reject_reasons(shop_id=link.shop_id, kind=kind)


def reject_reason_name(shop, kind: str, given: str) -> str:
    """TikTok's reject reason (its ``name``) for what the seller chose: the name itself or its text.

    Refused when TikTok's list is known and the choice is not on it: TikTok takes only its own reasons.
    """
    reasons = (shop.reject_reasons or {}).get(kind) or []
    given = (given or "").strip()
    for reason in reasons:
        if given in (reason.get("name"), reason.get("text")):
            return reason["name"]
    if reasons and kind == "CANCEL":
        raise InvalidInput(
            "Pick one of TikTok's reasons for rejecting: " + "; ".join(r["text"] for r in reasons) + ".",
            code="invalid_reject_reason",
        )
    return given


MARKETPLACE = TikTokMarketplace()
