"""What TikTok's answer to a call means for our rows, applied through the owning apps' services.

* a package shipped: our parcel is labelled and the order becomes ``shipped``
  (only now: R17); a TikTok-logistics label PDF is fetched next;
* a label refused, or given up on: the parcel stays packed, with the reason for the warehouse;
* a seller's cancellation confirmed: our order is cancelled (R6);
* a stock push through: the link remembers what TikTok shows.

Answers to requests and returns change nothing more here: our decision was
applied with the call; a refusal stays on the call, for staff.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from fulfillment.services import shipment_label, shipment_label_refused
from orders.services import order_cancel
from tiktok.models import CallOperation, CallStatus, SkuLink, TikTokCall
from tiktok.services.calls import call_record, confirmation_actor


def _refusal(call: TikTokCall) -> str:
    if call.status == CallStatus.PARKED:
        return f"TikTok could not be reached after {call.attempts} attempts: {call.error}"
    code = f" (code {call.error_code})" if call.error_code else ""
    return f"TikTok refused it: {call.error}{code}"


def apply(call: TikTokCall) -> None:
    actor = confirmation_actor()
    p = call.payload
    if call.operation == CallOperation.SHIP_PACKAGE:
        if call.status == CallStatus.SUCCEEDED:
            result = call.result or {}
            shipment_label(
                order_id=call.order_id,
                carrier=p["carrier"],
                tracking_number=result.get("tracking_number") or p.get("tracking_number", ""),
                handover_method=p["our_handover"],
                actor=actor,
                marketplace_confirmed=True,
            )
            if p.get("logistics") == "TIKTOK":
                with transaction.atomic():
                    call_record(
                        shop=call.shop,
                        order=call.order,
                        operation=CallOperation.FETCH_LABEL,
                        target=call.target,
                        payload={"document_type": "SHIPPING_LABEL"},
                        actor=actor,
                    )
        elif call.status in (CallStatus.REJECTED, CallStatus.PARKED):
            shipment_label_refused(order_id=call.order_id, reason=_refusal(call), actor=actor)
    elif call.operation == CallOperation.ORDER_CANCEL and call.status == CallStatus.SUCCEEDED:
        order_cancel(order_id=call.order_id, by=p["by"], reason=p["reason"], actor=actor, marketplace_confirmed=True)
    elif call.operation == CallOperation.INVENTORY_UPDATE and call.status == CallStatus.SUCCEEDED:
        now = timezone.now()
        link = SkuLink.objects.filter(pk=p["link_id"])
        link.update(pushed_quantity=(call.result or {}).get("quantity"), pushed_at=now)
        # Changes after this push was claimed are still on their way (a newer push waits for them).
        link.filter(changed_at__lte=call.last_attempt_at).update(changed_at=None)
