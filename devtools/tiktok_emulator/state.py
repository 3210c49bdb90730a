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

    def order_create(self, *, shop_id: str, lines: list[dict], buyer: dict, address: dict, send: bool = True) -> dict:
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
        items = [{**item, "display_status": order["status"]} for item in order["items"]]
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
            "shipping_type": "SELLER",
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
