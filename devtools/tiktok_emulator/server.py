"""The emulator's HTTP side: TikTok's endpoints, checked as TikTok checks them, and the control API.

``ROUTES`` lists every endpoint as ``(method, path pattern, kind, handler)``:

* ``api``: a signed Partner API call for one shop: ``app_key``, ``timestamp`` and
  ``sign`` in the query, the token in ``x-tts-access-token``, and ``shop_cipher``;
* ``app``: the same without ``shop_cipher`` (``/authorization/...``);
* ``auth``: the token endpoints (app key and secret in the query);
* ``page``: the seller's authorisation page;
* ``control``: ``/_emulator/...``, for tests and development, no checks.

Handlers get ``(world, request)`` and return the answer's ``data`` (wrapped in
TikTok's envelope) or raise ``Refused`` with TikTok's code.
"""

from __future__ import annotations

import html
import json
import random
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from devtools.tiktok_emulator.signing import request_sign_matches, webhook_signature
from devtools.tiktok_emulator.state import (
    REJECT_REASONS,
    RETURN_REJECT_REASONS,
    SHIPPING_PROVIDERS,
    Config,
    Notifier,
    Refused,
    World,
    label_pdf,
    search,
)

# The request's timestamp may be this far behind or ahead of our clock (TikTok: 5 minutes before, 30 s after).
TIMESTAMP_PAST, TIMESTAMP_FUTURE = 300, 30


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    match: re.Match | None = None
    shop: dict | None = None

    @property
    def from_form(self) -> bool:
        """A button on the emulator's own page (its answer is a redirect back to the page)."""
        form = self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        return form and not self.body.lstrip().startswith(b"{")  # curl -d '{...}' says "form" too

    def json(self) -> dict:
        if not self.body:
            return {}
        if self.from_form:
            return dict(parse_qsl(self.body.decode()))
        try:
            value = json.loads(self.body)
        except ValueError:
            raise Refused(36009022, "invalid request format: the body is not JSON", 400) from None
        if not isinstance(value, dict):
            raise Refused(36009022, "invalid request format: the body is not an object", 400)
        return value


# --- checks, as TikTok does them --------------------------------------------------------------------


def check_signed(world: World, request: Request) -> None:
    config = world.config
    if request.query.get("app_key") != config.app_key:
        raise Refused(36009004, "invalid app_key", 400)
    if "sign" not in request.query:
        raise Refused(36009004, "the sign query parameter is missing", 400)
    try:
        stamp = int(request.query.get("timestamp", ""))
    except ValueError:
        raise Refused(36009004, "invalid timestamp", 400) from None
    now = world.now()
    if stamp < now - TIMESTAMP_PAST or stamp > now + TIMESTAMP_FUTURE:
        raise Refused(36009004, "invalid timestamp: too far from the server's time", 400)
    if not request_sign_matches(config.app_secret, request.path, request.query, request.body, request.query["sign"]):
        raise Refused(
            106001, "Invalid credentials. The 'sign' query parameter is invalid. Check that it is correct.", 401
        )


def check_token(world: World, request: Request, *, shop_scoped: bool) -> None:
    grant = world.grant_for(request.headers.get("x-tts-access-token", ""))
    if not shop_scoped:
        return
    cipher = request.query.get("shop_cipher", "")
    if not cipher:
        raise Refused(106013, "shop_cipher is missing", 400)
    shop = next((s for s in world.shops.values() if s["cipher"] == cipher), None)
    if shop is None or shop["open_id"] != grant.open_id:
        raise Refused(105005, "the shop is not authorised for this access token", 403)
    request.shop = shop


# --- TikTok's endpoints -----------------------------------------------------------------------------


def _shop_names(world: World, account: dict) -> str:
    return ", ".join(world.shops[shop_id]["name"] for shop_id in account["shop_ids"])


def authorize_page(world: World, request: Request):
    config = world.config
    if request.query.get("app_key") != config.app_key:
        return 400, "text/html", "<h1>Unknown app</h1>"
    state = html.escape(request.query.get("state", ""))
    rows = "".join(
        f'<li><form method="post" action="/oauth/authorize"><input type="hidden" name="state" value="{state}">'
        f'<input type="hidden" name="open_id" value="{html.escape(open_id)}">'
        f"<p>{html.escape(account['name'])}: {html.escape(_shop_names(world, account))}"
        f'</p><button type="submit">Authorise as {html.escape(account["name"])}</button></form></li>'
        for open_id, account in world.accounts.items()
    )
    page = (
        "<!DOCTYPE html><html><head><title>TikTok Shop: authorise</title></head><body>"
        "<h1>TikTok Shop (emulator)</h1><p>An app asks to manage your shop's orders, cancellations and returns.</p>"
        f"<ul>{rows or '<li>No seller account: create a shop through the control API first.</li>'}</ul></body></html>"
    )
    return 200, "text/html", page


def authorize_approve(world: World, request: Request):
    form = dict(parse_qsl(request.body.decode()))
    if form.get("open_id") not in world.accounts or not world.config.redirect_url:
        return 400, "text/html", "<h1>Unknown seller, or no redirect URL configured</h1>"
    code = world.code_issue(form["open_id"])
    separator = "&" if "?" in world.config.redirect_url else "?"
    target = f"{world.config.redirect_url}{separator}{urlencode({'code': code, 'state': form.get('state', '')})}"
    return 302, target, ""


def _check_app(world: World, request: Request) -> None:
    if (
        request.query.get("app_key") != world.config.app_key
        or request.query.get("app_secret") != world.config.app_secret
    ):
        raise Refused(36004004, "invalid app_key or app_secret")


def token_get(world: World, request: Request):
    _check_app(world, request)
    if request.query.get("grant_type") != "authorized_code":
        raise Refused(36004003, "invalid grant_type")
    return world.grant_answer(world.code_redeem(request.query.get("auth_code", "")))


def token_refresh(world: World, request: Request):
    _check_app(world, request)
    if request.query.get("grant_type") != "refresh_token":
        raise Refused(36004003, "invalid grant_type")
    return world.grant_answer(world.refresh(request.query.get("refresh_token", "")))


def shops_list(world: World, request: Request):
    grant = world.grant_for(request.headers.get("x-tts-access-token", ""))
    account = world.accounts[grant.open_id]
    keys = ("id", "name", "region", "seller_type", "cipher", "code")
    return {"shops": [{key: world.shops[s][key] for key in keys} for s in account["shop_ids"]]}


def _page_size(request: Request, low: int, high: int) -> int:
    try:
        size = int(request.query.get("page_size", ""))
    except ValueError:
        raise Refused(36009004, "page_size is required", 400) from None
    if not low <= size <= high:
        raise Refused(36009004, f"page_size must be between {low} and {high}", 400)
    return size


def orders_search(world: World, request: Request):
    shop_orders = [o for o in world.orders.values() if o["shop_id"] == request.shop["id"]]
    page, token, total = search(
        shop_orders,
        body=request.json(),
        id_key="id",
        page_size=_page_size(request, 1, 100),
        page_token=request.query.get("page_token", ""),
        descending=request.query.get("sort_order", "DESC") == "DESC",
    )
    return {"orders": [world.order_detail(o) for o in page], "next_page_token": token, "total_count": total}


def orders_get(world: World, request: Request):
    ids = [i for i in request.query.get("ids", "").split(",") if i]
    if not ids or len(ids) > 50:
        raise Refused(36009004, "ids: between 1 and 50 order ids", 400)
    found = [world.orders[i] for i in ids if i in world.orders and world.orders[i]["shop_id"] == request.shop["id"]]
    return {"orders": [world.order_detail(o) for o in found]}


def _reverse_search(items: dict, key: str, id_key: str, low: int):
    def handler(world: World, request: Request):
        mine = [
            {k: v for k, v in item.items() if k != "shop_id"}
            for item in items(world)
            if item["shop_id"] == request.shop["id"]
        ]
        page, token, total = search(
            mine,
            body=request.json(),
            id_key=id_key,
            page_size=_page_size(request, low, 50),
            page_token=request.query.get("page_token", ""),
            descending=request.query.get("sort_order", "ASC") == "DESC",
        )
        return {key: page, "next_page_token": token, "total_count": total}

    return handler


# --- the outbound side: what the seller tells TikTok -------------------------------------------------


def _idempotent(handler):
    """Endpoints that take ``idempotency_key``: a repeat of a key answers as the first call did, changing nothing."""

    def wrapped(world: World, request: Request):
        key = request.query.get("idempotency_key", "")
        if key and (request.path, key) in world.idempotent:
            return world.idempotent[(request.path, key)]
        return world.remember(request.path, key, handler(world, request))

    return wrapped


def package_ship(world: World, request: Request):
    body = request.json()
    return world.package_ship(
        request.match["id"],
        handover_method=str(body.get("handover_method") or ""),
        self_shipment=body.get("self_shipment"),
    )


def package_get(world: World, request: Request):
    return world.package_detail(request.match["id"])


def shipping_documents(world: World, request: Request):
    package = world.package_detail(request.match["id"])
    kind = request.query.get("document_type", "")
    if kind not in ("SHIPPING_LABEL", "PACKING_SLIP", "SHIPPING_LABEL_AND_PACKING_SLIP"):
        raise Refused(
            36009004, "document_type must be SHIPPING_LABEL, PACKING_SLIP or SHIPPING_LABEL_AND_PACKING_SLIP", 400
        )
    if package["package_status"] != "SHIPPED":
        raise Refused(21011033, "documents exist once the package has shipped")
    host = request.headers.get("host", "127.0.0.1")
    size = request.query.get("document_size", "A6")
    return {"doc_url": f"http://{host}/_emulator/documents/{package['id']}.pdf?type={kind}&size={size}"}


def shipping_info_update(world: World, request: Request):
    body = request.json()
    return world.shipping_info_update(
        request.match["id"],
        tracking_number=str(body.get("tracking_number") or ""),
        provider=str(body.get("shipping_provider_id") or ""),
    )


def shipping_providers(world: World, request: Request):
    if request.match["id"] not in {o["delivery_option_id"] for o in world.orders.values()} | {"7100000000000000001"}:
        raise Refused(21011050, f"delivery option {request.match['id']} does not exist", 404)
    return {"shipping_providers": SHIPPING_PROVIDERS}


def cancellation_approve(world: World, request: Request):
    return world.cancellation_decide(request.match["id"], approve=True)


def cancellation_reject(world: World, request: Request):
    body = request.json()
    return world.cancellation_decide(request.match["id"], approve=False, reason=str(body.get("reject_reason") or ""))


def reject_reasons(world: World, request: Request):
    kind = request.query.get("reverse_action_type", "CANCEL")
    return {
        "reasons": RETURN_REJECT_REASONS if kind in ("RETURN_AND_REFUND", "REFUND_ONLY", "RETURN") else REJECT_REASONS
    }


def seller_cancel(world: World, request: Request):
    body = request.json()
    return world.seller_cancel(str(body.get("order_id") or ""), reason=str(body.get("cancel_reason") or ""))


def return_approve(world: World, request: Request):
    body = request.json()
    decision = str(body.get("decision") or "")
    if not decision.startswith(("APPROVE", "OFFER")):
        raise Refused(36009004, f"{decision!r} is not an approval decision", 400)
    return world.return_decide(request.match["id"], decision=decision, body=body)


def return_reject(world: World, request: Request):
    body = request.json()
    decision = str(body.get("decision") or "")
    if not decision.startswith("REJECT"):
        raise Refused(36009004, f"{decision!r} is not a rejection decision", 400)
    return world.return_decide(request.match["id"], decision=decision, body=body)


def products_search(world: World, request: Request):
    found = world.products_search(request.json())
    return {"products": found, "total_count": len(found), "next_page_token": ""}


def inventory_update(world: World, request: Request):
    return world.inventory_update(request.match["id"], request.json())


# --- the control API (tests and development) ----------------------------------------------------------


def _order(world: World, request: Request) -> dict:
    order = world.orders.get(request.match["id"])
    if order is None:
        raise Refused(404, f"no order {request.match['id']}", 404)
    return order


def control_page(world: World, request: Request):
    """A page for people: the shops, the latest orders, and buttons that drive them."""

    def button(path: str, label: str, **fields) -> str:
        hidden = "".join(f'<input type="hidden" name="{k}" value="{html.escape(str(v))}">' for k, v in fields.items())
        return f'<form method="post" action="{path}" style="display:inline">{hidden}<button>{label}</button></form>'

    shops = "".join(
        f"<li>{html.escape(shop['name'])} ({shop['id']}, {shop['region']}) "
        f"{button('/_emulator/orders/demo', 'Place a paid order', shop_id=shop['id'])}</li>"
        for shop in world.shops.values()
    )
    rows = []
    for order in sorted(world.orders.values(), key=lambda o: o["create_time"], reverse=True)[:30]:
        base = f"/_emulator/orders/{order['id']}"
        actions = [button(f"{base}/pay", "Pay")] if order["status"] == "UNPAID" else []
        for status in ("AWAITING_SHIPMENT", "IN_TRANSIT", "DELIVERED"):
            if status != order["status"] and order["status"] != "CANCELLED":
                actions.append(button(f"{base}/status", status.replace("_", " ").title(), status=status))
        if order["status"] not in ("CANCELLED", "DELIVERED", "COMPLETED"):
            actions.append(button(f"{base}/cancel", "Cancel", initiator="BUYER", reason="Changed my mind"))
        items = ", ".join(f"{line.get('quantity', 1)} × {html.escape(line['seller_sku'])}" for line in order["lines"])
        rows.append(
            f"<tr><td>{order['id']}</td><td>{order['status']}</td><td>{items}</td><td>{' '.join(actions)}</td></tr>"
        )
    page = (
        "<!DOCTYPE html><html><head><title>TikTok Shop emulator</title></head><body>"
        f"<h1>TikTok Shop emulator</h1><p>Webhooks go to {html.escape(world.config.webhook_url or 'nowhere')}.</p>"
        f"<h2>Shops</h2><ul>{shops or '<li>None yet</li>'}</ul><h2>Latest orders</h2>"
        f"<table><tr><th>Order</th><th>Status</th><th>Items</th><th></th></tr>{''.join(rows)}</table></body></html>"
    )
    return 200, "text/html", page


def control_config(world: World, request: Request):
    for key, value in request.json().items():
        if hasattr(world.config, key):
            setattr(world.config, key, type(getattr(world.config, key))(value))
    return vars(world.config)


def control_reset(world: World, request: Request):
    config, notifier = world.config, world.notifier
    world.__init__(config=config, notifier=notifier)
    notifier.sent.clear()
    return {}


def control_shop_create(world: World, request: Request):
    body = request.json()
    shop = world.shop_create(
        name=body.get("name", "Emulator shop"),
        region=body.get("region", "US"),
        seller_name=body.get("seller_name", ""),
        shop_id=str(body.get("id") or ""),
    )
    return shop


def control_shop_grant(world: World, request: Request):
    shop = world.shops[request.match["id"]]
    return {**world.grant_answer(world.grant_issue(shop["open_id"])), "cipher": shop["cipher"]}


def control_shop_deauthorize(world: World, request: Request):
    world.deauthorize(request.match["id"], send=request.json().get("notify", True))
    return {}


def control_order_create(world: World, request: Request):
    body = request.json()
    send = body.get("notify", True)
    order = world.order_create(
        shop_id=str(body["shop_id"]),
        lines=body.get("lines") or [{"seller_sku": "SKU-1", "quantity": 1, "price": "10.00"}],
        buyer=body.get("buyer") or {"name": "Jane Doe", "phone": "+1 555 010 1234", "email": "jane@example.com"},
        address=body.get("address")
        or {"line1": "1 Main St", "city": "Austin", "region": "TX", "postal_code": "73301", "country": "US"},
        send=send and not body.get("status"),
        shipping_type=str(body.get("shipping_type") or ""),
    )
    if body.get("status"):
        world.order_set_status(order, body["status"], send=send)
    return world.order_detail(order)


def control_orders_bulk(world: World, request: Request):
    """Many new orders at once (the benchmark): ``{"shop_id", "count", "lines", "paid"}``."""
    body = request.json()
    ids = []
    for _ in range(int(body.get("count", 1))):
        order = world.order_create(
            shop_id=str(body["shop_id"]),
            lines=body.get("lines") or [{"seller_sku": "SKU-1", "quantity": 1, "price": "10.00"}],
            buyer={"name": "Jane Doe", "phone": "+1 555 010 1234", "email": "jane@example.com"},
            address={"line1": "1 Main St", "city": "Austin", "region": "TX", "postal_code": "73301", "country": "US"},
            send=body.get("notify", True),
        )
        ids.append(order["id"])
    return {"ids": ids}


def control_order_demo(world: World, request: Request):
    """A paid order of one or two random ``demo_skus`` for the first shop (or ``shop_id``): a quick way to
    see a new TikTok order arrive."""
    body = request.json()
    shop_id = str(body.get("shop_id") or next(iter(world.shops), ""))
    skus = [sku.strip() for sku in world.config.demo_skus.split(",") if sku.strip()]
    rng = random.Random()
    order = world.order_create(
        shop_id=shop_id,
        lines=[
            {"seller_sku": sku, "quantity": rng.randint(1, 2), "price": f"{rng.randint(999, 4999) / 100:.2f}"}
            for sku in rng.sample(skus, k=min(len(skus), rng.choice([1, 1, 2])))
        ],
        buyer={"name": "Demo Buyer", "phone": "+1 555 010 0000", "email": "buyer@example.com"},
        address={"line1": "5 Market St", "city": "Denver", "region": "CO", "postal_code": "80202", "country": "US"},
    )
    world.order_pay(order)
    return world.order_detail(order)


def control_order_get(world: World, request: Request):
    return world.order_detail(_order(world, request))


def control_order_pay(world: World, request: Request):
    return world.order_detail(world.order_pay(_order(world, request), send=request.json().get("notify", True)))


def control_order_status(world: World, request: Request):
    body = request.json()
    order = world.order_set_status(_order(world, request), body["status"], send=body.get("notify", True))
    return world.order_detail(order)


def control_order_cancel(world: World, request: Request):
    body = request.json()
    order = world.order_cancel(
        _order(world, request),
        initiator=body.get("initiator", "BUYER"),
        reason=body.get("reason", "No longer needed"),
        send=body.get("notify", True),
    )
    return world.order_detail(order)


def control_order_address(world: World, request: Request):
    body = request.json()
    return world.order_detail(
        world.order_address(_order(world, request), body["address"], send=body.get("notify", True))
    )


def control_cancellation_create(world: World, request: Request):
    body = request.json()
    return world.cancellation_request(
        _order(world, request), reason=body.get("reason", "Changed my mind"), send=body.get("notify", True)
    )


def control_cancellation_status(world: World, request: Request):
    body = request.json()
    cancellation = world.cancellations[request.match["id"]]
    return world.cancellation_set_status(cancellation, body["status"], send=body.get("notify", True))


def control_return_create(world: World, request: Request):
    body = request.json()
    return world.return_request(
        _order(world, request),
        type_=body.get("type", "RETURN_AND_REFUND"),
        reason=body.get("reason", "Arrived damaged"),
        skus=body.get("skus") or [],
        send=body.get("notify", True),
    )


def control_return_status(world: World, request: Request):
    body = request.json()
    return world.return_set_status(world.returns[request.match["id"]], body["status"], send=body.get("notify", True))


def control_order_split(world: World, request: Request):
    return world.order_detail(world.package_split(_order(world, request), send=request.json().get("notify", True)))


def control_package_get(world: World, request: Request):
    package = world.packages.get(request.match["id"])
    if package is None:
        raise Refused(404, f"no package {request.match['id']}", 404)
    return package


def control_products(world: World, request: Request):
    body = request.json()
    return world.product_create(
        seller_sku=str(body["seller_sku"]),
        quantity=int(body.get("quantity", 0)),
        product_id=str(body.get("product_id") or ""),
        title=str(body.get("title") or ""),
    )


def control_products_list(world: World, request: Request):
    return {"products": list(world.products.values())}


def control_calls(world: World, request: Request):
    """Every Partner API call answered so far (``?path=`` keeps those whose path starts with it)."""
    prefix = request.query.get("path", "")
    return {"calls": [call for call in world.calls if call["path"].startswith(prefix)]}


def control_cancellation_get(world: World, request: Request):
    return world.cancellations[request.match["id"]]


def control_return_get(world: World, request: Request):
    return world.returns[request.match["id"]]


def control_document(world: World, request: Request):
    package = world.package_detail(request.match["id"])
    order = world.orders[package["order_id"]]
    kind = request.query.get("type", "SHIPPING_LABEL")
    lines = [
        f"TikTok Shop {kind.replace('_', ' ').title()}",
        f"Order {order['id']}",
        f"Package {package['id']}",
        f"Tracking {package['tracking_number']}",
        f"To: {order['buyer'].get('name', '')}, {order['address'].get('city', '')}",
    ]
    return 200, "application/pdf", label_pdf(lines)


def control_clock(world: World, request: Request):
    world.offset += float(request.json().get("advance", 0))
    world.tick()
    return {"now": world.now(), "offset": world.offset}


def control_failures(world: World, request: Request):
    body = request.json()
    world.failures.append(
        {
            "path": body.get("path", "/"),
            "http_status": int(body.get("http_status", 429)),
            "code": int(body.get("code", 36009002)),
            "times": int(body.get("times", 1)),
        }
    )
    return {"failures": world.failures}


def control_notifications(world: World, request: Request):
    """Every webhook queued so far; ``?bodies=1`` adds each body and its signature (tests deliver them by hand)."""
    config, bodies = world.config, request.query.get("bodies") == "1"
    found = []
    for note in world.notifier.sent:
        summary = note.summary()
        if bodies:
            summary["body"] = note.body.decode()
            summary["signature"] = webhook_signature(config.app_key, config.app_secret, note.body)
        found.append(summary)
    return {"notifications": found}


Handler = Callable[[World, Request], object]
ROUTES: list[tuple[str, re.Pattern, str, Handler]] = [
    (method, re.compile(f"^{pattern}$"), kind, handler)
    for method, pattern, kind, handler in [
        ("GET", "/oauth/authorize", "page", authorize_page),
        ("POST", "/oauth/authorize", "page", authorize_approve),
        ("GET", "/api/v2/token/get", "auth", token_get),
        ("GET", "/api/v2/token/refresh", "auth", token_refresh),
        ("GET", "/authorization/202309/shops", "app", shops_list),
        ("POST", "/order/202309/orders/search", "api", orders_search),
        ("GET", "/order/202309/orders", "api", orders_get),
        (
            "POST",
            "/return_refund/202309/cancellations/search",
            "api",
            _reverse_search(lambda w: w.cancellations.values(), "cancellations", "cancel_id", 1),
        ),
        (
            "POST",
            "/return_refund/202309/returns/search",
            "api",
            _reverse_search(lambda w: w.returns.values(), "return_orders", "return_id", 10),
        ),
        ("POST", r"/fulfillment/202309/packages/(?P<id>\d+)/ship", "api", package_ship),
        ("GET", r"/fulfillment/202309/packages/(?P<id>\d+)", "api", package_get),
        ("GET", r"/fulfillment/202309/packages/(?P<id>\d+)/shipping_documents", "api", shipping_documents),
        ("POST", r"/fulfillment/202309/orders/(?P<id>\d+)/shipping_info/update", "api", shipping_info_update),
        ("GET", r"/logistics/202309/delivery_options/(?P<id>\d+)/shipping_providers", "api", shipping_providers),
        ("POST", r"/return_refund/202309/cancellations/(?P<id>\d+)/approve", "api", _idempotent(cancellation_approve)),
        ("POST", r"/return_refund/202309/cancellations/(?P<id>\d+)/reject", "api", _idempotent(cancellation_reject)),
        ("GET", "/return_refund/202309/reject_reasons", "api", reject_reasons),
        ("POST", "/return_refund/202309/cancellations", "api", _idempotent(seller_cancel)),
        ("POST", r"/return_refund/202309/returns/(?P<id>\d+)/approve", "api", _idempotent(return_approve)),
        ("POST", r"/return_refund/202309/returns/(?P<id>\d+)/reject", "api", _idempotent(return_reject)),
        ("POST", "/product/202309/products/search", "api", products_search),
        ("POST", r"/product/202309/products/(?P<id>\d+)/inventory/update", "api", inventory_update),
        ("GET", "/_emulator/", "page", control_page),
        ("POST", "/_emulator/config", "control", control_config),
        ("POST", "/_emulator/reset", "control", control_reset),
        ("POST", "/_emulator/shops", "control", control_shop_create),
        ("POST", r"/_emulator/shops/(?P<id>\w+)/grant", "control", control_shop_grant),
        ("POST", r"/_emulator/shops/(?P<id>\w+)/deauthorize", "control", control_shop_deauthorize),
        ("POST", "/_emulator/orders", "control", control_order_create),
        ("POST", "/_emulator/orders/bulk", "control", control_orders_bulk),
        ("POST", "/_emulator/orders/demo", "control", control_order_demo),
        ("GET", r"/_emulator/orders/(?P<id>\d+)", "control", control_order_get),
        ("POST", r"/_emulator/orders/(?P<id>\d+)/pay", "control", control_order_pay),
        ("POST", r"/_emulator/orders/(?P<id>\d+)/status", "control", control_order_status),
        ("POST", r"/_emulator/orders/(?P<id>\d+)/cancel", "control", control_order_cancel),
        ("POST", r"/_emulator/orders/(?P<id>\d+)/address", "control", control_order_address),
        ("POST", r"/_emulator/orders/(?P<id>\d+)/cancellations", "control", control_cancellation_create),
        ("POST", r"/_emulator/cancellations/(?P<id>\d+)", "control", control_cancellation_status),
        ("POST", r"/_emulator/orders/(?P<id>\d+)/returns", "control", control_return_create),
        ("POST", r"/_emulator/returns/(?P<id>\d+)", "control", control_return_status),
        ("POST", r"/_emulator/orders/(?P<id>\d+)/split", "control", control_order_split),
        ("GET", r"/_emulator/packages/(?P<id>\d+)", "control", control_package_get),
        ("POST", "/_emulator/products", "control", control_products),
        ("GET", "/_emulator/products", "control", control_products_list),
        ("GET", "/_emulator/calls", "control", control_calls),
        ("GET", r"/_emulator/cancellations/(?P<id>\d+)", "control", control_cancellation_get),
        ("GET", r"/_emulator/returns/(?P<id>\d+)", "control", control_return_get),
        ("GET", r"/_emulator/documents/(?P<id>\d+)\.pdf", "page", control_document),
        ("POST", "/_emulator/clock", "control", control_clock),
        ("POST", "/_emulator/failures", "control", control_failures),
        ("GET", "/_emulator/notifications", "control", control_notifications),
    ]
]


class EmulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TikTokShopEmulator/1.0"
    world: World  # set on the class by ``make_server``

    def log_message(self, format, *args):
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            method=method,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        route = next(((k, h, m) for meth, pat, k, h in ROUTES if meth == method and (m := pat.match(parts.path))), None)
        if route is None:
            self._envelope(404, {"code": 36009009, "message": f"invalid path {parts.path}", "data": None})
            return
        kind, handler, request.match = route
        world = self.world
        try:
            with world.lock:
                world.tick()
                failure = world.failure_for(parts.path) if kind in ("api", "app", "auth") else None
                if failure is not None:
                    raise Refused(failure["code"], "Too many requests, please retry later", failure["http_status"])
                if kind in ("api", "app"):
                    check_signed(world, request)
                    check_token(world, request, shop_scoped=kind == "api")
                result = handler(world, request)
                self._record(request, kind, 200, 0)
        except Refused as exc:
            with world.lock:
                self._record(request, kind, exc.http_status, exc.code)
            self._envelope(exc.http_status, {"code": exc.code, "message": exc.message, "data": None})
            return
        except (KeyError, ValueError, TypeError) as exc:
            self._envelope(400, {"code": 36009004, "message": f"invalid request: {exc}", "data": None})
            return
        if kind == "control" and request.from_form:
            self._send(303, b"", "text/html", location="/_emulator/")
            return
        if kind == "page":
            status, second, text = result
            if status == 302:
                self._send(302, b"", "text/html", location=second)
            else:
                self._send(status, text if isinstance(text, bytes) else text.encode(), second)
            return
        self._envelope(200, {"code": 0, "message": "Success", "data": result})

    def _record(self, request: Request, kind: str, status: int, code: int) -> None:
        """Keep every Partner API call (signature checked or not) for the tests: ``GET /_emulator/calls``."""
        if kind not in ("api", "app"):
            return
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:
            body = request.body.decode(errors="replace")
        self.world.calls.append(
            {
                "method": request.method,
                "path": request.path,
                "query": {k: v for k, v in request.query.items() if k not in ("sign", "timestamp", "app_key")},
                "body": body,
                "http_status": status,
                "code": code,
                "at": time.time(),
                "clock": self.world.now(),
            }
        )

    def _envelope(self, status: int, payload: dict) -> None:
        payload["request_id"] = time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(9).upper()
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str, location: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)


def make_server(host: str, port: int, config: Config, *, webhook_threads: int = 4, verbose: bool = False):
    world = World(config=config)
    world.notifier = Notifier(world, threads=webhook_threads)
    handler = type("BoundHandler", (EmulatorHandler,), {"world": world})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.verbose = verbose
    return server, world
