"""TikTok's words in ours: an order's detail as intake data, its deadlines, initiators, return types.

Pure functions of TikTok's JSON (TIKTOK.md, "Orders" and "Cancellations and
returns"); the services decide what to do with the result.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings

from core.money import ZERO_DECIMAL_CURRENCIES
from orders.models import CancelledBy
from orders.services import IntakeData, IntakeLine
from returns.models import ReturnType

# TikTok order statuses (202309 strings). The webhook says CANCEL where the detail says CANCELLED.
UNPAID, ON_HOLD, CANCELLED = "UNPAID", "ON_HOLD", "CANCELLED"
CANCELLED_STATUSES = frozenset({"CANCELLED", "CANCEL"})
BEFORE_RELEASE = frozenset({UNPAID, ON_HOLD})

CANCEL_INITIATORS = {
    "BUYER": CancelledBy.BUYER,
    "SELLER": CancelledBy.SELLER,
    "SYSTEM": CancelledBy.PLATFORM,
    "OPERATOR": CancelledBy.PLATFORM,
}

RETURN_TYPES = {
    "REFUND": ReturnType.REFUND_ONLY,
    "RETURN_AND_REFUND": ReturnType.RETURN_AND_REFUND,
    "REPLACEMENT": ReturnType.REPLACEMENT,
}
# ``return_status`` in groups; the spelling varies between TikTok's pages, so both are accepted.
RETURN_PENDING = frozenset({"RETURN_OR_REFUND_REQUEST_PENDING", "REPLACEMENT_REQUEST_PENDING"})
RETURN_APPROVED = frozenset(
    {
        "RETURN_OR_REFUND_REQUEST_SUCCESS",
        "AWAITING_BUYER_SHIP",
        "BUYER_SHIPPED_ITEM",
        "REPLACEMENT_REQUEST_REFUND_SUCCESS",
    }
)
RETURN_REJECTED = frozenset(
    {"REFUND_OR_RETURN_REQUEST_REJECT", "RETURN_OR_REFUND_REQUEST_REJECT", "REPLACEMENT_REQUEST_REJECT"}
)
RETURN_CANCELLED = frozenset(
    {"RETURN_OR_REFUND_REQUEST_CANCEL", "RETURN_OR_REFUND_REQUEST_CANCELLED", "REPLACEMENT_REQUEST_CANCEL"}
)

CANCELLATION_PENDING = "CANCELLATION_REQUEST_PENDING"
CANCELLATION_APPROVED = frozenset({"CANCELLATION_REQUEST_SUCCESS", "CANCELLATION_REQUEST_COMPLETE"})
CANCELLATION_CLOSED = frozenset({"CANCELLATION_REQUEST_CANCEL", "CANCELLATION_REQUEST_CANCELLED"})


def when(value) -> datetime | None:
    """A TikTok time (Unix seconds, as a number or a string) as an aware datetime; None when absent."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds > 0 else None


def minor_units(amount, currency: str | None = None) -> int:
    """A TikTok amount (a decimal string in major units) in our minor units; 0 when unreadable."""
    code = (currency or settings.CURRENCY).upper()
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return 0
    places = 0 if code in ZERO_DECIMAL_CURRENCIES else 2
    return max(int(value.scaleb(places)), 0)


def deadlines(detail: dict) -> dict[str, datetime]:
    """TikTok's per-order deadlines by ``Order`` field (R16); only those TikTok gave.

    ``shipping_due_time`` (else ``rts_sla_time``) is both the ship-by and the
    tracking deadline: TikTok wants the parcel handed over with its tracking by then.
    """
    ship_by = when(detail.get("shipping_due_time")) or when(detail.get("rts_sla_time"))
    found = {
        "payment_due_at": when(detail.get("cancel_order_sla_time")) if detail.get("status") == UNPAID else None,
        "ship_by": ship_by,
        "tracking_due": ship_by,
        "collect_by": when(detail.get("collection_due_time")),
        "deliver_by": when(detail.get("delivery_due_time")),
    }
    return {name: value for name, value in found.items() if value is not None}


def buyer(detail: dict) -> dict:
    address = detail.get("recipient_address") or {}
    name = address.get("name") or " ".join(filter(None, (address.get("first_name"), address.get("last_name"))))
    return {"name": name or "", "phone": address.get("phone_number") or "", "email": detail.get("buyer_email") or ""}


def shipping_address(detail: dict) -> dict:
    """Our address fields from ``recipient_address``; empty while TikTok withholds it (UNPAID, ON_HOLD)."""
    address = detail.get("recipient_address") or {}
    if not address.get("address_line1") and not address.get("address_detail") and not address.get("full_address"):
        return {}
    levels = {item.get("address_level"): item.get("address_name") or "" for item in address.get("district_info") or []}
    line2 = ", ".join(filter(None, (address.get(f"address_line{n}") for n in (2, 3, 4))))
    return {
        "line1": (address.get("address_line1") or address.get("address_detail") or address.get("full_address"))[:200],
        "line2": line2[:200],
        "city": (levels.get("L3") or levels.get("L2") or address.get("post_town") or "")[:100],
        "region": (levels.get("L1") or "")[:100],
        "postal_code": (address.get("postal_code") or "")[:20],
        "country": (address.get("region_code") or levels.get("L0") or "")[:2].upper(),
    }


def lines(detail: dict) -> list[IntakeLine]:
    """One intake line per SKU and price: TikTok sends one line item per unit."""
    currency = (detail.get("payment") or {}).get("currency")
    units = Counter(
        (str(item.get("seller_sku") or item.get("sku_id") or ""), minor_units(item.get("sale_price"), currency))
        for item in detail.get("line_items") or []
    )
    return [IntakeLine(sku=sku, quantity=count, unit_price=price) for (sku, price), count in units.items()]


def intake_data(detail: dict, *, seller_code: str) -> IntakeData:
    """A TikTok order's detail as a new order for ``seller_code`` (the shop's seller)."""
    paid_at = when(detail.get("paid_time")) if detail.get("status") != UNPAID else None
    return IntakeData(
        external_id=str(detail["id"]),
        seller_code=seller_code,
        placed_at=when(detail.get("create_time")) or datetime.now(UTC),
        buyer_paid_at=paid_at,
        lines=lines(detail),
        buyer=buyer(detail),
        shipping_address=shipping_address(detail),
        deadlines=deadlines(detail),
    )


def next_action_deadline(request: dict) -> datetime | None:
    """The seller's deadline to answer a cancellation or return (``seller_next_action_response``)."""
    found = [when(action.get("deadline")) for action in request.get("seller_next_action_response") or []]
    found = [deadline for deadline in found if deadline is not None]
    return min(found) if found else None


def return_lines(ret: dict) -> list[tuple[str, int]]:
    """``(seller_sku, units)`` of a TikTok return, one line item per unit grouped by SKU."""
    units = Counter(str(item.get("seller_sku") or "") for item in ret.get("return_line_items") or [])
    return [(sku, count) for sku, count in units.items() if sku]
