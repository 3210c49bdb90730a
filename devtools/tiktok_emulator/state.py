"""The emulator's world: seller accounts, shops, tokens, orders, cancellations, returns, and its clock.

Everything is guarded by one lock. Changes that TikTok would notify send a
signed webhook through ``Notifier`` (a queue drained by a few threads, so a
control call never waits for our server). Time-dependent statuses (an unpaid
order cancelled at ``cancel_order_sla_time``, the hold released after
``hold_seconds``) move whenever the emulator is asked anything, against its
clock, which the control API can move forward.
"""

from __future__ import annotations

import itertools
import json
import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from devtools.tiktok_emulator.signing import webhook_signature

DAY = 86400
DELIVERY_OPTION_ID = "7100000000000000001"
# TikTok's shipping providers for the one delivery option the emulator has.
SHIPPING_PROVIDERS = [
    {"id": "7117858858072016686", "name": "UPS"},
    {"id": "7117859084333745966", "name": "USPS"},
    {"id": "7129736012930000001", "name": "FedEx"},
    {"id": "7129736012930000002", "name": "DHL eCommerce"},
    {"id": "7208502187360519982", "name": "TikTok Shipping"},
]
TIKTOK_PROVIDER = SHIPPING_PROVIDERS[-1]
REJECT_REASONS = [
    {"name": "seller_reject_apply_product_has_been_packed", "text": "The product has been packed"},
    {"name": "seller_reject_apply_package_in_transit", "text": "The package is on its way"},
    {"name": "seller_reject_apply_negotiated_with_buyer", "text": "Agreed with the buyer to continue"},
]
RETURN_REJECT_REASONS = [
    {"name": "seller_reject_return_item_used", "text": "The item was used"},
    {"name": "seller_reject_return_not_received", "text": "The returned item was not received"},
]
# 18-digit ids like TikTok's, counted from the start time, so ids never repeat after a restart.
ID_BASE = 576 * 10**15 + int(time.time() * 1000) % 10**10 * 10**5
BEFORE_RELEASE = ("UNPAID", "ON_HOLD")
SHIPPED = ("AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED", "COMPLETED")
CANCELLATION_FINAL = {
    "CANCELLATION_REQUEST_SUCCESS",
    "CANCELLATION_REQUEST_COMPLETE",
    "CANCELLATION_REQUEST_CANCEL",
    "CANCELLATION_REQUEST_CANCELLED",
}


class Refused(Exception):
    """A TikTok error answer: ``code`` and message in the envelope, with an HTTP status."""

    def __init__(self, code: int, message: str, http_status: int = 200):
        super().__init__(message)
        self.code, self.message, self.http_status = code, message, http_status


@dataclass
class Config:
    app_key: str = "emulator-app-key"
    app_secret: str = "emulator-app-secret"
    redirect_url: str = ""
    webhook_url: str = ""
    hold_seconds: int = 3600
    unpaid_seconds: int = DAY
    access_ttl: int = 7 * DAY
    refresh_ttl: int = 365 * DAY
    ship_seconds: int = 3 * DAY
    # Seller SKUs that ``POST /_emulator/orders/demo`` picks from (comma separated).
    demo_skus: str = "SKU-1"
    # New orders are shipped by the seller (SELLER) or through TikTok's logistics (TIKTOK).
    shipping_type: str = "SELLER"
    # Shipping info can be updated this long after a package shipped (TikTok: 72 hours).
    tracking_update_seconds: int = 3 * DAY
    # The warehouse every product's stock is in.
    warehouse_id: str = "7000000000000000001"


@dataclass
class Grant:
    open_id: str
    access_token: str
    access_expires: int
    refresh_token: str
    refresh_expires: int
    revoked: bool = False


@dataclass
class Notification:
    number: int
    type: int
    shop_id: str
    notification_id: str
    order_id: str
    body: bytes
    queued_at: float
    sent_at: float | None = None
    status_code: int | None = None
    error: str = ""

    def summary(self) -> dict:
        return {
            "number": self.number,
            "type": self.type,
            "shop_id": self.shop_id,
            "tts_notification_id": self.notification_id,
            "order_id": self.order_id,
            "queued_at": self.queued_at,
            "sent_at": self.sent_at,
            "status_code": self.status_code,
            "error": self.error,
        }


class Notifier:
    """Sends signed webhooks from ``threads`` background threads, in the order they were queued per thread."""

    def __init__(self, world: World, threads: int = 4):
        self.world = world
        self.queue: queue.Queue[Notification] = queue.Queue()
        self.sent: list[Notification] = []
        for number in range(threads):
            threading.Thread(target=self._run, name=f"webhook-{number}", daemon=True).start()

    def _run(self) -> None:
        while True:
            note = self.queue.get()
            config = self.world.config
            if not config.webhook_url:
                note.error = "no webhook URL configured"
                continue
            request = urllib.request.Request(
                config.webhook_url,
                data=note.body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "Authorization": webhook_signature(config.app_key, config.app_secret, note.body),
                },
            )
            note.sent_at = time.time()
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    note.status_code = response.status
            except urllib.error.HTTPError as exc:
                note.status_code, note.error = exc.code, exc.reason
            except OSError as exc:
                note.error = str(exc)


@dataclass
class World:
    config: Config = field(default_factory=Config)
    offset: float = 0.0
    accounts: dict[str, dict] = field(default_factory=dict)  # open_id -> {name, shop_ids}
    shops: dict[str, dict] = field(default_factory=dict)
    codes: dict[str, dict] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)  # by access token
    orders: dict[str, dict] = field(default_factory=dict)
    cancellations: dict[str, dict] = field(default_factory=dict)
    returns: dict[str, dict] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    packages: dict[str, dict] = field(default_factory=dict)
    products: dict[str, dict] = field(default_factory=dict)
    # Every Partner API call answered (method, path, query without the signature, body, answer code), for tests.
    calls: list[dict] = field(default_factory=list)
    # Answers already given per idempotency key (path, key) -> data: a repeat answers the same, changing nothing.
    idempotent: dict[tuple[str, str], dict] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    notifier: Notifier | None = None

    # --- time and ids ---------------------------------------------------------------------------

    def now(self) -> int:
        return int(time.time() + self.offset)

    def new_id(self, prefix: str = "") -> str:
        """A TikTok-like numeric id, unique across restarts too (orders of an earlier run stay distinct)."""
        return f"{prefix}{ID_BASE + next(self.ids)}"

    # --- notifications --------------------------------------------------------------------------

    def notify(self, type_: int, shop_id: str, data: dict, *, send: bool = True) -> None:
        if not send or self.notifier is None:
            return
        notification_id = self.new_id()
        envelope = {
            "type": type_,
            "tts_notification_id": notification_id,
            "shop_id": shop_id,
            "timestamp": self.now(),
            "data": data,
        }
        note = Notification(
            number=len(self.notifier.sent) + 1,
            type=type_,
            shop_id=shop_id,
            notification_id=notification_id,
            order_id=str(data.get("order_id") or ""),
            body=json.dumps(envelope, separators=(",", ":")).encode(),
            queued_at=time.time(),
        )
        self.notifier.sent.append(note)
        self.notifier.queue.put(note)

    # --- accounts, shops and tokens -------------------------------------------------------------

    def shop_create(self, *, name: str, region: str = "US", seller_name: str = "", shop_id: str = "") -> dict:
        seller_name = seller_name or f"{name} seller"
        account = next((a for a in self.accounts.values() if a["name"] == seller_name), None)
        if account is None:
            open_id = f"open-{secrets.token_hex(6)}"
            account = self.accounts[open_id] = {"open_id": open_id, "name": seller_name, "shop_ids": []}
        shop_id = shop_id or self.new_id("7")
        shop = {
            "id": shop_id,
            "name": name,
            "region": region,
            "seller_type": "LOCAL",
            "cipher": f"ROW_{secrets.token_urlsafe(12)}",
            "code": f"{region}LC{secrets.token_hex(3).upper()}",
            "open_id": account["open_id"],
        }
        self.shops[shop_id] = shop
        account["shop_ids"].append(shop_id)
        return shop

    def grant_issue(self, open_id: str) -> Grant:
        now = self.now()
        grant = Grant(
            open_id=open_id,
            access_token=f"TTP_{secrets.token_urlsafe(24)}",
            access_expires=now + self.config.access_ttl,
            refresh_token=f"TTR_{secrets.token_urlsafe(24)}",
            refresh_expires=now + self.config.refresh_ttl,
        )
        self.grants[grant.access_token] = grant
        return grant

    def grant_answer(self, grant: Grant) -> dict:
        account = self.accounts[grant.open_id]
        return {
            "access_token": grant.access_token,
            "access_token_expire_in": grant.access_expires,
            "refresh_token": grant.refresh_token,
            "refresh_token_expire_in": grant.refresh_expires,
            "open_id": grant.open_id,
            "seller_name": account["name"],
            "seller_base_region": self.shops[account["shop_ids"][0]]["region"] if account["shop_ids"] else "",
            "user_type": 0,
            "granted_scopes": ["seller.order.info", "seller.return_refund.basic"],
        }

    def code_issue(self, open_id: str) -> str:
        code = secrets.token_urlsafe(18)
        self.codes[code] = {"open_id": open_id, "expires": self.now() + 1800}
        return code

    def code_redeem(self, code: str) -> Grant:
        entry = self.codes.pop(code, None)
        if entry is None or entry["expires"] < self.now():
            raise Refused(36004005, "can not find related auth record")
        return self.grant_issue(entry["open_id"])

    def refresh(self, refresh_token: str) -> Grant:
        grant = next((g for g in self.grants.values() if g.refresh_token == refresh_token and not g.revoked), None)
        if grant is None or grant.refresh_expires < self.now():
            raise Refused(36004001, "rt has expired")
        grant.refresh_token = f"used-{secrets.token_hex(8)}"  # a refresh token works once
        return self.grant_issue(grant.open_id)

    def grant_for(self, access_token: str) -> Grant:
        grant = self.grants.get(access_token or "")
        if grant is None or grant.revoked:
            raise Refused(105001, "access token is invalid", 401)
        if grant.access_expires < self.now():
            raise Refused(105002, "access token is expired, please refresh it", 401)
        return grant

    def deauthorize(self, shop_id: str, *, send: bool = True) -> None:
        shop = self.shops[shop_id]
        for grant in self.grants.values():
            if grant.open_id == shop["open_id"]:
                grant.revoked = True
        self.notify(6, shop_id, {"message": "The seller has deauthorized the app."}, send=send)

    # --- orders ---------------------------------------------------------------------------------

    def order_create(
        self, *, shop_id: str, lines: list[dict], buyer: dict, address: dict, send: bool = True, shipping_type: str = ""
    ) -> dict:
        if shop_id not in self.shops:
            raise KeyError(f"no shop {shop_id}")
        now = self.now()
        order = {
            "id": self.new_id(),
            "shop_id": shop_id,
            "status": "UNPAID",
            "create_time": now,
            "update_time": now,
            "paid_time": None,
            "cancel_order_sla_time": now + self.config.unpaid_seconds,
            "lines": [dict(line) for line in lines],
            "items": [
                {
                    "id": self.new_id(),
                    "sku_id": line.get("sku_id") or f"sku-{line['seller_sku']}",
                    "seller_sku": line["seller_sku"],
                    "product_name": line.get("name") or line["seller_sku"],
                    "sale_price": f"{float(line.get('price', '0')):.2f}",
                    "currency": "USD",
                }
                for line in lines
                for _ in range(int(line.get("quantity", 1)))
            ],
            "buyer": dict(buyer),
            "address": dict(address),
            "cancel_reason": "",
            "cancellation_initiator": "",
            "is_buyer_request_cancel": False,
            "shipping_due_time": None,
            "collection_due_time": None,
            "delivery_due_time": None,
            "shipping_type": shipping_type or self.config.shipping_type,
            "delivery_option_id": DELIVERY_OPTION_ID,
            "tracking_number": "",
            "shipping_provider_id": "",
        }
        package_id = self.new_id("11")
        order["package_ids"] = [package_id]
        self.packages[package_id] = {
            "id": package_id,
            "order_id": order["id"],
            "status": "PROCESSING",
            "tracking_number": "",
            "shipping_provider_id": "",
            "handover_method": "",
            "shipped_time": None,
            "ship_calls": 0,
        }
        self.orders[order["id"]] = order
        self._order_notify(order, send=send)
        return order

    def _touch(self, order: dict) -> None:
        order["update_time"] = max(self.now(), order["update_time"])

    def _order_notify(self, order: dict, *, send: bool) -> None:
        data = {
            "order_id": order["id"],
            "order_status": "CANCEL" if order["status"] == "CANCELLED" else order["status"],
            "is_on_hold_order": order["status"] == "ON_HOLD",
            "update_time": order["update_time"],
        }
        self.notify(1, order["shop_id"], data, send=send)

    def order_set_status(self, order: dict, status: str, *, send: bool = True) -> dict:
        if status == order["status"]:
            return order
        now = self.now()
        if order["paid_time"] is None and status not in ("UNPAID", "CANCELLED"):
            order["paid_time"] = now
        if status not in ("UNPAID", "CANCELLED") and order["shipping_due_time"] is None:
            paid = order["paid_time"]
            order["shipping_due_time"] = paid + self.config.ship_seconds
            order["collection_due_time"] = paid + self.config.ship_seconds + 2 * DAY
            order["delivery_due_time"] = paid + 11 * DAY
        order["status"] = status
        self._touch(order)
        self._order_notify(order, send=send)
        return order

    def order_pay(self, order: dict, *, send: bool = True) -> dict:
        if order["status"] != "UNPAID":
            raise Refused(36009004, f"order {order['id']} is {order['status']}, not UNPAID")
        return self.order_set_status(order, "ON_HOLD", send=send)

    def order_cancel(self, order: dict, *, initiator: str, reason: str, send: bool = True) -> dict:
        if order["status"] in SHIPPED:
            raise Refused(21011001, f"order {order['id']} has shipped and cannot be cancelled")
        order["cancel_reason"] = reason
        order["cancellation_initiator"] = initiator
        return self.order_set_status(order, "CANCELLED", send=send)

    def order_address(self, order: dict, address: dict, *, send: bool = True) -> dict:
        order["address"] = dict(address)
        self._touch(order)
        self.notify(3, order["shop_id"], {"order_id": order["id"], "update_time": order["update_time"]}, send=send)
        return order

    def order_detail(self, order: dict) -> dict:
        """The order as ``GET /order/202309/orders`` answers it: one line item per unit, the address withheld
        while UNPAID or ON_HOLD, amounts as strings."""
        package = order["package_ids"][0] if order["package_ids"] else ""
        items = [{**item, "display_status": order["status"], "package_id": package} for item in order["items"]]
        subtotal = sum(float(item["sale_price"]) for item in items)
        detail = {
            "id": order["id"],
            "status": order["status"],
            "create_time": order["create_time"],
            "update_time": order["update_time"],
            "paid_time": order["paid_time"],
            "is_on_hold_order": order["status"] == "ON_HOLD",
            "is_buyer_request_cancel": order["is_buyer_request_cancel"],
            "cancel_reason": order["cancel_reason"],
            "cancellation_initiator": order["cancellation_initiator"],
            "cancel_order_sla_time": order["cancel_order_sla_time"],
            "shipping_type": order["shipping_type"],
            "delivery_option_id": order["delivery_option_id"],
            "tracking_number": order["tracking_number"],
            "shipping_provider_id": order["shipping_provider_id"],
            "packages": [{"id": package_id} for package_id in order["package_ids"]],
            "buyer_email": order["buyer"].get("email", ""),
            "line_items": items,
            "payment": {"currency": "USD", "sub_total": f"{subtotal:.2f}", "total_amount": f"{subtotal:.2f}"},
        }
        for name in ("shipping_due_time", "collection_due_time", "delivery_due_time"):
            if order[name]:
                detail[name] = order[name]
        if order["status"] not in BEFORE_RELEASE and order["address"]:
            address = order["address"]
            detail["recipient_address"] = {
                "name": order["buyer"].get("name", ""),
                "phone_number": order["buyer"].get("phone", ""),
                "address_line1": address.get("line1", ""),
                "address_line2": address.get("line2", ""),
                "postal_code": address.get("postal_code", ""),
                "region_code": address.get("country", "US"),
                "full_address": ", ".join(
                    filter(None, (address.get(k) for k in ("line1", "line2", "city", "region", "postal_code")))
                ),
                "district_info": [
                    {"address_level": "L0", "address_level_name": "Country", "address_name": address.get("country")},
                    {"address_level": "L1", "address_level_name": "State", "address_name": address.get("region")},
                    {"address_level": "L3", "address_level_name": "City", "address_name": address.get("city")},
                ],
            }
        return detail

    # --- cancellation requests and returns --------------------------------------------------------

    def cancellation_request(self, order: dict, *, reason: str, send: bool = True) -> dict:
        if order["status"] in BEFORE_RELEASE or order["status"] in SHIPPED or order["status"] == "CANCELLED":
            raise Refused(36009004, f"order {order['id']} is {order['status']}: no cancellation request possible")
        now = self.now()
        cancellation = {
            "cancel_id": self.new_id("4"),
            "order_id": order["id"],
            "shop_id": order["shop_id"],
            "cancel_type": "BUYER_CANCEL",
            "cancel_status": "CANCELLATION_REQUEST_PENDING",
            "role": "BUYER",
            "cancel_reason": "buyer_changed_mind",
            "cancel_reason_text": reason,
            "create_time": now,
            "update_time": now,
            "seller_next_action_response": [{"action": "SELLER_RESPOND_CANCEL", "deadline": now + 2 * DAY}],
        }
        self.cancellations[cancellation["cancel_id"]] = cancellation
        order["is_buyer_request_cancel"] = True
        self._touch(order)
        self._cancellation_notify(cancellation, send=send)
        return cancellation

    def _cancellation_notify(self, cancellation: dict, *, send: bool) -> None:
        data = {
            "order_id": cancellation["order_id"],
            "cancellations_role": cancellation["role"],
            "cancel_status": cancellation["cancel_status"],
            "cancel_id": cancellation["cancel_id"],
            "create_time": cancellation["create_time"],
        }
        self.notify(11, cancellation["shop_id"], data, send=send)

    def cancellation_set_status(self, cancellation: dict, status: str, *, send: bool = True) -> dict:
        cancellation["cancel_status"] = status
        cancellation["update_time"] = self.now()
        if status in CANCELLATION_FINAL:
            cancellation["seller_next_action_response"] = []
        order = self.orders[cancellation["order_id"]]
        order["is_buyer_request_cancel"] = False
        if status in ("CANCELLATION_REQUEST_SUCCESS", "CANCELLATION_REQUEST_COMPLETE"):
            self.order_cancel(order, initiator="BUYER", reason=cancellation["cancel_reason_text"], send=send)
        else:
            self._touch(order)
        self._cancellation_notify(cancellation, send=send)
        return cancellation

    def return_request(self, order: dict, *, type_: str, reason: str, skus: list[str], send: bool = True) -> dict:
        now = self.now()
        wanted = skus or [line["seller_sku"] for line in order["lines"] for _ in range(int(line.get("quantity", 1)))]
        status = "REPLACEMENT_REQUEST_PENDING" if type_ == "REPLACEMENT" else "RETURN_OR_REFUND_REQUEST_PENDING"
        ret = {
            "return_id": self.new_id("4"),
            "order_id": order["id"],
            "shop_id": order["shop_id"],
            "return_type": type_,
            "return_status": status,
            "role": "BUYER",
            "return_reason": "defective",
            "return_reason_text": reason,
            "create_time": now,
            "update_time": now,
            "seller_next_action_response": [{"action": "SELLER_RESPOND_RETURN", "deadline": now + 2 * DAY}],
            "return_line_items": [
                {"return_line_item_id": self.new_id(), "order_line_item_id": self.new_id(), "seller_sku": sku}
                for sku in wanted
            ],
        }
        self.returns[ret["return_id"]] = ret
        self._return_notify(ret, send=send)
        return ret

    def _return_notify(self, ret: dict, *, send: bool) -> None:
        data = {key: ret[key] for key in ("order_id", "return_id", "return_type", "return_status")}
        data.update({"return_role": ret["role"], "create_time": ret["create_time"], "update_time": ret["update_time"]})
        self.notify(12, ret["shop_id"], data, send=send)

    def return_set_status(self, ret: dict, status: str, *, send: bool = True) -> dict:
        ret["return_status"] = status
        ret["update_time"] = self.now()
        if not status.endswith("_PENDING"):
            ret["seller_next_action_response"] = []
        self._return_notify(ret, send=send)
        return ret

    # --- what the seller tells TikTok (the outbound side) -------------------------------------------

    def remember(self, path: str, key: str, answer: dict) -> dict:
        """Keep ``answer`` for a call made with an ``idempotency_key``: a repeat gets it again."""
        if key:
            self.idempotent[(path, key)] = answer
        return answer

    def package_ship(self, package_id: str, *, handover_method: str, self_shipment: dict | None, send=True) -> dict:
        package = self.packages.get(package_id)
        if package is None:
            raise Refused(21001001, f"package {package_id} does not exist", 404)
        order = self.orders[package["order_id"]]
        package["ship_calls"] += 1
        if package["status"] == "SHIPPED":
            raise Refused(21011008, f"package {package_id} has already been shipped")
        if len(order["package_ids"]) != 1 or package_id not in order["package_ids"]:
            raise Refused(21011011, f"package {package_id} was split or combined; ship the current packages")
        if order["status"] != "AWAITING_SHIPMENT":
            raise Refused(21011001, f"order {order['id']} is {order['status']}: only AWAITING_SHIPMENT ships")
        if not order["address"]:
            raise Refused(21011012, f"order {order['id']} has no recipient address")
        if handover_method not in ("PICKUP", "DROP_OFF"):
            raise Refused(36009004, "handover_method must be PICKUP or DROP_OFF", 400)
        if order["shipping_type"] == "SELLER":
            shipment = self_shipment or {}
            number = str(shipment.get("tracking_number") or "")
            provider = str(shipment.get("shipping_provider_id") or "")
            if provider not in {p["id"] for p in SHIPPING_PROVIDERS}:
                raise Refused(21011025, f"shipping_provider_id {provider!r} is not a provider of this delivery option")
            if not 8 <= len(number) <= 40 or not number.isalnum() or number.upper().startswith("REFUSE"):
                raise Refused(21011019, f"tracking number {number!r} is invalid for this shipping provider")
        else:
            if self_shipment:
                raise Refused(21011020, "this order ships through TikTok's logistics: no self_shipment")
            number, provider = f"TT{self.new_id()[-14:]}", TIKTOK_PROVIDER["id"]
        package.update(
            status="SHIPPED",
            tracking_number=number,
            shipping_provider_id=provider,
            handover_method=handover_method,
            shipped_time=self.now(),
        )
        order["tracking_number"], order["shipping_provider_id"] = number, provider
        self.order_set_status(order, "AWAITING_COLLECTION", send=send)
        return {"package_id": package_id, "tracking_number": number, "shipping_provider_id": provider}

    def package_detail(self, package_id: str) -> dict:
        package = self.packages.get(package_id)
        if package is None:
            raise Refused(21001001, f"package {package_id} does not exist", 404)
        order = self.orders[package["order_id"]]
        return {
            "id": package_id,
            "package_status": package["status"],
            "order_id": order["id"],
            "tracking_number": package["tracking_number"],
            "shipping_provider_id": package["shipping_provider_id"],
            "handover_method": package["handover_method"],
            "shipping_type": order["shipping_type"],
            "update_time": order["update_time"],
        }

    def shipping_info_update(self, order_id: str, *, tracking_number: str, provider: str, send=True) -> dict:
        order = self.orders.get(order_id)
        if order is None:
            raise Refused(21001001, f"order {order_id} does not exist", 404)
        package = self.packages[order["package_ids"][0]]
        if package["status"] != "SHIPPED":
            raise Refused(21011001, f"order {order_id} has not shipped")
        if self.now() > package["shipped_time"] + self.config.tracking_update_seconds:
            raise Refused(21011031, "shipping info can only be updated within 72 hours of shipping")
        if provider not in {p["id"] for p in SHIPPING_PROVIDERS}:
            raise Refused(21011025, f"shipping_provider_id {provider!r} is not a provider of this delivery option")
        if not 8 <= len(tracking_number) <= 40 or not tracking_number.isalnum():
            raise Refused(21011019, f"tracking number {tracking_number!r} is invalid for this shipping provider")
        package.update(tracking_number=tracking_number, shipping_provider_id=provider)
        order["tracking_number"], order["shipping_provider_id"] = tracking_number, provider
        self._touch(order)
        self._order_notify(order, send=send)
        return {}

    def cancellation_decide(self, cancel_id: str, *, approve: bool, reason: str = "", send=True) -> dict:
        cancellation = self.cancellations.get(cancel_id)
        if cancellation is None:
            raise Refused(25001001, f"cancellation {cancel_id} does not exist", 404)
        if cancellation["cancel_status"] != "CANCELLATION_REQUEST_PENDING":
            raise Refused(25001003, f"cancellation {cancel_id} is {cancellation['cancel_status']}: nothing to decide")
        deadline = cancellation["seller_next_action_response"][0]["deadline"]
        if self.now() > deadline:
            raise Refused(25001004, f"the request expired at {deadline}: the seller can no longer respond")
        if not approve:
            if reason not in {r["name"] for r in REJECT_REASONS}:
                raise Refused(36009004, f"reject_reason {reason!r} is not one of the reject reasons", 400)
            cancellation["reject_reason"] = reason
        self.cancellation_set_status(
            cancellation, "CANCELLATION_REQUEST_COMPLETE" if approve else "CANCELLATION_REQUEST_CANCEL", send=send
        )
        return {}

    def seller_cancel(self, order_id: str, *, reason: str, send=True) -> dict:
        order = self.orders.get(order_id)
        if order is None:
            raise Refused(21001001, f"order {order_id} does not exist", 404)
        if order["status"] in SHIPPED or order["status"] == "CANCELLED":
            raise Refused(25001010, f"order {order_id} is {order['status']} and cannot be cancelled by the seller")
        if not reason:
            raise Refused(36009004, "cancel_reason is required", 400)
        cancel_id = self.new_id("4")
        now = self.now()
        self.cancellations[cancel_id] = {
            "cancel_id": cancel_id,
            "order_id": order["id"],
            "shop_id": order["shop_id"],
            "cancel_type": "SELLER_CANCEL",
            "cancel_status": "CANCELLATION_REQUEST_COMPLETE",
            "role": "SELLER",
            "cancel_reason": reason,
            "cancel_reason_text": reason,
            "create_time": now,
            "update_time": now,
            "seller_next_action_response": [],
        }
        self.order_cancel(order, initiator="SELLER", reason=reason, send=send)
        return {"cancel_id": cancel_id, "cancel_status": "CANCELLATION_REQUEST_COMPLETE"}

    def return_decide(self, return_id: str, *, decision: str, body: dict, send=True) -> dict:
        ret = self.returns.get(return_id)
        if ret is None:
            raise Refused(25001001, f"return {return_id} does not exist", 404)
        status = ret["return_status"]
        moves = {
            "APPROVE_REFUND": ({"RETURN_OR_REFUND_REQUEST_PENDING"}, "RETURN_OR_REFUND_REQUEST_SUCCESS"),
            "APPROVE_RETURN": ({"RETURN_OR_REFUND_REQUEST_PENDING"}, "AWAITING_BUYER_SHIP"),
            "APPROVE_REPLACEMENT": ({"REPLACEMENT_REQUEST_PENDING"}, "AWAITING_BUYER_SHIP"),
            "APPROVE_RECEIVED_PACKAGE": (
                {"AWAITING_BUYER_SHIP", "BUYER_SHIPPED_ITEM"},
                "RETURN_OR_REFUND_REQUEST_SUCCESS",
            ),
            "OFFER_PARTIAL_REFUND": (
                {"RETURN_OR_REFUND_REQUEST_PENDING", "BUYER_SHIPPED_ITEM", "AWAITING_BUYER_SHIP"},
                "RETURN_OR_REFUND_REQUEST_SUCCESS",
            ),
            "REJECT_REFUND": ({"RETURN_OR_REFUND_REQUEST_PENDING"}, "REFUND_OR_RETURN_REQUEST_REJECT"),
            "REJECT_RETURN": ({"RETURN_OR_REFUND_REQUEST_PENDING"}, "REFUND_OR_RETURN_REQUEST_REJECT"),
            "REJECT_REPLACEMENT": ({"REPLACEMENT_REQUEST_PENDING"}, "REPLACEMENT_REQUEST_REJECT"),
            "REJECT_RECEIVED_PACKAGE": ({"AWAITING_BUYER_SHIP", "BUYER_SHIPPED_ITEM"}, "REJECT_RECEIVE_PACKAGE"),
        }
        if decision not in moves:
            raise Refused(36009004, f"unknown decision {decision!r}", 400)
        sources, target = moves[decision]
        if status not in sources:
            raise Refused(25002003, f"return {return_id} is {status}: {decision} is not possible now")
        if ret["seller_next_action_response"] and self.now() > ret["seller_next_action_response"][0]["deadline"]:
            raise Refused(25001004, "the return request expired: the seller can no longer respond")
        if decision == "OFFER_PARTIAL_REFUND":
            refund = body.get("partial_refund") or {}
            try:
                amount = float(refund.get("amount", ""))
            except ValueError:
                raise Refused(36009004, "partial_refund.amount must be a decimal string", 400) from None
            if amount <= 0 or not refund.get("currency"):
                raise Refused(36009004, "partial_refund needs a positive amount and a currency", 400)
            ret["partial_refund"] = {"amount": refund["amount"], "currency": refund["currency"]}
        if decision.startswith("REJECT"):
            ret["reject_reason"] = body.get("reject_reason", "")
        ret["decisions"] = [*ret.get("decisions", []), decision]
        self.return_set_status(ret, target, send=send)
        return {}

    def product_create(self, *, seller_sku: str, quantity: int = 0, product_id: str = "", title: str = "") -> dict:
        product_id = product_id or self.new_id("17")
        product = self.products.setdefault(
            product_id, {"id": product_id, "title": title or seller_sku, "status": "ACTIVATE", "skus": []}
        )
        sku = {
            "id": self.new_id("17"),
            "seller_sku": seller_sku,
            "inventory": [{"warehouse_id": self.config.warehouse_id, "quantity": int(quantity)}],
        }
        product["skus"].append(sku)
        return product

    def products_search(self, body: dict) -> list[dict]:
        wanted = {str(s) for s in body.get("seller_skus") or []}
        found = []
        for product in self.products.values():
            if not wanted or any(sku["seller_sku"] in wanted for sku in product["skus"]):
                found.append(product)
        return found

    def inventory_update(self, product_id: str, body: dict) -> dict:
        product = self.products.get(product_id)
        if product is None:
            raise Refused(12019001, f"product {product_id} does not exist", 404)
        skus = body.get("skus")
        if not isinstance(skus, list) or not skus:
            raise Refused(36009004, "skus is required", 400)
        by_id = {sku["id"]: sku for sku in product["skus"]}
        for entry in skus:
            if str(entry.get("id")) not in by_id:
                raise Refused(12052017, f"sku {entry.get('id')} is not a sku of product {product_id}")
            for inventory in entry.get("inventory") or []:
                quantity = inventory.get("quantity")
                if not isinstance(quantity, int) or quantity < 0 or quantity > 99999:
                    raise Refused(12052029, f"quantity {quantity!r} must be a whole number from 0 to 99999", 400)
        for entry in skus:
            by_id[str(entry["id"])]["inventory"] = [
                {"warehouse_id": str(i.get("warehouse_id") or self.config.warehouse_id), "quantity": i["quantity"]}
                for i in entry["inventory"]
            ]
        return {}

    def package_split(self, order: dict, *, send: bool = True) -> dict:
        """TikTok split the order's package in two (type 4, ``sc_type`` SPLIT): the old package is gone."""
        old = order["package_ids"]
        new_ids = [self.new_id("11"), self.new_id("11")]
        for package_id in old:
            self.packages.pop(package_id, None)
        for package_id in new_ids:
            self.packages[package_id] = {
                "id": package_id,
                "order_id": order["id"],
                "status": "PROCESSING",
                "tracking_number": "",
                "shipping_provider_id": "",
                "handover_method": "",
                "shipped_time": None,
                "ship_calls": 0,
            }
        order["package_ids"] = new_ids
        self._touch(order)
        data = {
            "sc_type": "SPLIT",
            "package_list": [{"package_id": p, "order_id_list": [order["id"]]} for p in new_ids],
        }
        self.notify(4, order["shop_id"], data, send=send)
        return order

    # --- time -----------------------------------------------------------------------------------

    def tick(self) -> None:
        """Move what time moves: unpaid orders are cancelled by the system, holds are released."""
        now = self.now()
        for order in list(self.orders.values()):
            if order["status"] == "UNPAID" and order["cancel_order_sla_time"] <= now:
                self.order_cancel(order, initiator="SYSTEM", reason="Payment not completed in time")
            elif order["status"] == "ON_HOLD" and order["paid_time"] + self.config.hold_seconds <= now:
                self.order_set_status(order, "AWAITING_SHIPMENT")

    # --- injected failures ------------------------------------------------------------------------

    def failure_for(self, path: str) -> dict | None:
        for rule in self.failures:
            if path.startswith(rule["path"]) and rule["times"] > 0:
                rule["times"] -= 1
                return rule
        return None


def search(items: list[dict], *, body: dict, id_key: str, page_size: int, page_token: str, descending: bool):
    """Filter by the search body's usual fields, sort by update time, and cut one page (token = offset)."""
    found = items
    for key, field_name in (("order_ids", "order_id"), ("cancel_ids", "cancel_id"), ("return_ids", "return_id")):
        if body.get(key):
            wanted = {str(value) for value in body[key]}
            found = [item for item in found if str(item.get(field_name, item.get(id_key))) in wanted]
    for key, test in (
        ("update_time_ge", lambda item, v: item["update_time"] >= v),
        ("update_time_lt", lambda item, v: item["update_time"] < v),
        ("create_time_ge", lambda item, v: item["create_time"] >= v),
        ("create_time_lt", lambda item, v: item["create_time"] < v),
    ):
        if body.get(key) is not None:
            found = [item for item in found if test(item, int(body[key]))]
    if body.get("order_status"):
        found = [item for item in found if item.get("status") == body["order_status"]]
    found = sorted(found, key=lambda item: (item["update_time"], item[id_key]), reverse=descending)
    start = int(page_token or 0)
    page = found[start : start + page_size]
    next_token = str(start + page_size) if start + page_size < len(found) else ""
    return page, next_token, len(found)


def label_pdf(lines: list[str]) -> bytes:
    """A one-page A6 PDF with ``lines`` of text: what TikTok's shipping documents look like to a printer."""
    text = (
        "BT /F1 11 Tf 20 270 Td 14 TL "
        + " ".join("(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '" for line in lines)
        + " ET"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 298 420] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length "
        + str(len(text)).encode()
        + b" >>\nstream\n"
        + text.encode("latin-1", "replace")
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
