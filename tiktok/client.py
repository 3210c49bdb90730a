"""The one client that talks to TikTok Shop: every request signed as TikTok does, with retries.

* API calls (``TIKTOK_API_BASE``) carry ``app_key``, ``timestamp``, ``shop_cipher``
  for shop-scoped paths, and ``sign`` (``tiktok.signing.request_sign``) in the query,
  and the shop's access token in the ``x-tts-access-token`` header. The body is
  compact JSON, signed byte for byte as sent.
* Token calls (``TIKTOK_AUTH_BASE``) are plain GETs with the app key and secret.
* Every answer is ``{"code", "message", "request_id", "data"}``; a non-zero code
  is an error even with HTTP 200 (``TikTokError``).
* HTTP 429, code 36009002 (rate limit), 36009003 (internal error) and 5xx answers
  or a broken connection are retried after the delays of ``TIKTOK_RETRY_BACKOFF``,
  each request signed again with a fresh timestamp.

The client never touches the database: callers read what it needs (a shop's
cipher and token) first and record its answers afterwards, so no call to
TikTok is ever made while a row lock is held. Endpoints are small methods on
``TikTokClient``; one for a new endpoint is a path, its parameters and a call
to ``call``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from django.conf import settings

from tiktok.signing import request_sign

logger = logging.getLogger(__name__)

VERSION = "202309"
# Rate limit, TikTok's internal error: worth another try.
RETRYABLE_CODES = frozenset({36009002, 36009003})
# The token is expired, revoked or unknown: only the seller reconnecting (or a refresh) helps.
TOKEN_CODES = frozenset({105001, 105002, 36004001, 36004005})
# Paths TikTok refuses a ``shop_cipher`` on: they are about the app or the seller, not one shop.
NO_SHOP_PREFIXES = ("/authorization/", "/seller/")
ORDER_DETAIL_MAX_IDS = 50


class TikTokError(Exception):
    """TikTok refused a request, or could not be reached. ``code`` is TikTok's (0 when there was none)."""

    def __init__(self, message: str, *, code: int = 0, http_status: int | None = None, request_id: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.request_id = request_id

    def __str__(self) -> str:
        where = f"HTTP {self.http_status}" if self.http_status else "no answer"
        code = f" code {self.code}" if self.code else ""
        return f"TikTok: {self.message} ({where}{code})"

    @property
    def retryable(self) -> bool:
        return (
            self.http_status is None
            or self.http_status == 429
            or self.http_status >= 500
            or self.code in RETRYABLE_CODES
        )

    @property
    def token_problem(self) -> bool:
        return self.code in TOKEN_CODES


@dataclass(frozen=True)
class ShopAccess:
    """What a shop-scoped call needs: read from the ``Shop`` row before the call."""

    shop_cipher: str
    access_token: str


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime | None
    seller_name: str = ""
    open_id: str = ""


def _timestamp(value) -> datetime | None:
    """TikTok's ``*_expire_in`` and ``*_time`` values are absolute Unix seconds."""
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


class TikTokClient:
    def __init__(
        self,
        *,
        app_key: str,
        app_secret: str,
        api_base: str,
        auth_base: str,
        timeout: float = 10.0,
        backoff: Iterable[float] = (0.5, 1.0, 2.0),
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.app_key = app_key
        self.app_secret = app_secret
        self.api_base = api_base.rstrip("/")
        self.auth_base = auth_base.rstrip("/")
        self.timeout = timeout
        self.backoff = list(backoff)
        self.session = session or requests.Session()
        self.sleep = sleep

    @classmethod
    def from_settings(cls, **overrides) -> TikTokClient:
        options = {
            "app_key": settings.TIKTOK_APP_KEY,
            "app_secret": settings.TIKTOK_APP_SECRET,
            "api_base": settings.TIKTOK_API_BASE,
            "auth_base": settings.TIKTOK_AUTH_BASE,
            "timeout": settings.TIKTOK_TIMEOUT.total_seconds(),
            "backoff": [delay.total_seconds() for delay in settings.TIKTOK_RETRY_BACKOFF],
        }
        options.update(overrides)
        return cls(**options)

    # --- the two kinds of request ---------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        body: dict | None = None,
        shop: ShopAccess | None = None,
        access_token: str = "",
    ) -> dict:
        """A signed API request; returns the answer's ``data`` (a dict, empty when TikTok sends none)."""
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() if body is not None else b""
        token = shop.access_token if shop is not None else access_token

        def attempt() -> requests.Response:
            query = {key: value for key, value in (params or {}).items() if value is not None}
            query.update({"app_key": self.app_key, "timestamp": str(int(time.time()))})
            if shop is not None and not path.startswith(NO_SHOP_PREFIXES):
                query["shop_cipher"] = shop.shop_cipher
            query = {key: ",".join(map(str, v)) if isinstance(v, list | tuple) else str(v) for key, v in query.items()}
            query["sign"] = request_sign(app_secret=self.app_secret, path=path, params=query, body=raw)
            headers = {"content-type": "application/json"}
            if token:
                headers["x-tts-access-token"] = token
            return self.session.request(
                method, f"{self.api_base}{path}", params=query, data=raw or None, headers=headers, timeout=self.timeout
            )

        return self._with_retries(f"{method} {path}", attempt)

    def _auth_call(self, path: str, params: dict) -> dict:
        """A token request on the authorisation host: app key and secret in the query, no signature."""
        query = {"app_key": self.app_key, "app_secret": self.app_secret, **params}

        def attempt() -> requests.Response:
            return self.session.get(f"{self.auth_base}{path}", params=query, timeout=self.timeout)

        return self._with_retries(f"GET {path}", attempt)

    def _with_retries(self, what: str, attempt: Callable[[], requests.Response]) -> dict:
        delays = iter(self.backoff)
        while True:
            try:
                try:
                    response = attempt()
                except requests.RequestException as exc:
                    # No answer at all (refused, reset, timed out): a TikTokError without a status, retried.
                    raise TikTokError(f"{type(exc).__name__}: {exc}") from exc
                return self._answer(response)
            except TikTokError as exc:
                delay = next(delays, None) if exc.retryable else None
                if delay is None:
                    raise
                logger.warning("%s: %s; retrying in %.1fs", what, exc, delay)
                self.sleep(delay)

    @staticmethod
    def _answer(response: requests.Response) -> dict:
        """The ``data`` of a successful answer, or TikTokError with TikTok's code and message."""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise TikTokError(f"unreadable answer {response.text[:200]!r}", http_status=response.status_code) from None
        code = payload.get("code")
        request_id = str(payload.get("request_id") or "")
        if response.status_code >= 400 or code not in (0, None):
            raise TikTokError(
                str(payload.get("message") or "request refused"),
                code=int(code or 0),
                http_status=response.status_code,
                request_id=request_id,
            )
        return payload.get("data") or {}

    # --- authorisation ----------------------------------------------------------------------------

    def token_get(self, *, auth_code: str) -> TokenGrant:
        """Exchange the code from the OAuth redirect for the seller's tokens."""
        data = self._auth_call("/api/v2/token/get", {"auth_code": auth_code, "grant_type": "authorized_code"})
        return self._grant(data)

    def token_refresh(self, *, refresh_token: str) -> TokenGrant:
        """New tokens for old: TikTok also sends a new refresh token, which replaces the stored one."""
        data = self._auth_call("/api/v2/token/refresh", {"refresh_token": refresh_token, "grant_type": "refresh_token"})
        return self._grant(data)

    @staticmethod
    def _grant(data: dict) -> TokenGrant:
        if not data.get("access_token") or not data.get("refresh_token"):
            raise TikTokError("the token answer has no tokens", http_status=200)
        return TokenGrant(
            access_token=data["access_token"],
            access_token_expires_at=_timestamp(data.get("access_token_expire_in")) or datetime.now(UTC),
            refresh_token=data["refresh_token"],
            refresh_token_expires_at=_timestamp(data.get("refresh_token_expire_in")),
            seller_name=str(data.get("seller_name") or ""),
            open_id=str(data.get("open_id") or ""),
        )

    def authorized_shops(self, *, access_token: str) -> list[dict]:
        """The shops the seller authorised: ``id``, ``name``, ``region``, ``cipher``, ``code``."""
        return self.call("GET", f"/authorization/{VERSION}/shops", access_token=access_token).get("shops") or []

    # --- orders -------------------------------------------------------------------------------------

    def orders_search_page(
        self, shop: ShopAccess, *, update_time_ge: int | None = None, page_token: str = "", page_size: int = 50
    ) -> tuple[list[dict], str]:
        """One page of the shop's orders updated at or after ``update_time_ge``, oldest update first."""
        body = {"update_time_ge": update_time_ge} if update_time_ge is not None else {}
        data = self.call(
            "POST",
            f"/order/{VERSION}/orders/search",
            params={
                "page_size": page_size,
                "page_token": page_token or None,
                "sort_field": "update_time",
                "sort_order": "ASC",
            },
            body=body,
            shop=shop,
        )
        return data.get("orders") or [], str(data.get("next_page_token") or "")

    def orders_get(self, shop: ShopAccess, *, ids: Iterable[str]) -> list[dict]:
        """The current detail of the given orders (asked 50 at a time, TikTok's limit)."""
        ids = list(dict.fromkeys(ids))
        found: list[dict] = []
        for start in range(0, len(ids), ORDER_DETAIL_MAX_IDS):
            chunk = ids[start : start + ORDER_DETAIL_MAX_IDS]
            found += self.call("GET", f"/order/{VERSION}/orders", params={"ids": chunk}, shop=shop).get("orders") or []
        return found

    # --- cancellations and returns -------------------------------------------------------------------

    def _pages(self, path: str, key: str, *, shop: ShopAccess, body: dict, page_size: int) -> Iterator[dict]:
        page_token = ""
        while True:
            data = self.call(
                "POST", path, params={"page_size": page_size, "page_token": page_token or None}, body=body, shop=shop
            )
            yield from data.get(key) or []
            page_token = str(data.get("next_page_token") or "")
            if not page_token:
                return

    @staticmethod
    def _filters(order_ids: list[str] | None, update_time_ge: int | None) -> dict:
        body: dict = {}
        if order_ids is not None:
            body["order_ids"] = list(order_ids)
        if update_time_ge is not None:
            body["update_time_ge"] = update_time_ge
        return body

    def cancellations_search(
        self, shop: ShopAccess, *, order_ids: list[str] | None = None, update_time_ge: int | None = None
    ) -> list[dict]:
        """Cancellation requests on these orders, or updated since a time, each with its
        ``seller_next_action_response`` deadline."""
        body = self._filters(order_ids, update_time_ge)
        return list(
            self._pages(
                f"/return_refund/{VERSION}/cancellations/search", "cancellations", shop=shop, body=body, page_size=50
            )
        )

    def returns_search(
        self, shop: ShopAccess, *, order_ids: list[str] | None = None, update_time_ge: int | None = None
    ) -> list[dict]:
        """Returns and refunds on these orders, or updated since a time, with their type, status and lines."""
        body = self._filters(order_ids, update_time_ge)
        return list(
            self._pages(f"/return_refund/{VERSION}/returns/search", "return_orders", shop=shop, body=body, page_size=50)
        )

    # --- fulfilment and logistics (the outbound side) ---------------------------------------------------

    def package_ship(
        self, shop: ShopAccess, *, package_id: str, handover_method: str, self_shipment: dict | None = None
    ) -> dict:
        """Ship one package: ``handover_method`` PICKUP or DROP_OFF; ``self_shipment`` (``tracking_number``,
        ``shipping_provider_id``) when the seller ships with its own carrier."""
        body: dict = {"handover_method": handover_method}
        if self_shipment:
            body["self_shipment"] = self_shipment
        return self.call("POST", f"/fulfillment/{VERSION}/packages/{package_id}/ship", body=body, shop=shop)

    def package_get(self, shop: ShopAccess, *, package_id: str) -> dict:
        """A package's current detail: status, tracking number, shipping provider."""
        return self.call("GET", f"/fulfillment/{VERSION}/packages/{package_id}", shop=shop)

    def shipping_info_update(
        self, shop: ShopAccess, *, order_id: str, tracking_number: str, shipping_provider_id: str
    ) -> dict:
        """Correct the tracking of a shipped order (TikTok allows it within 72 hours of shipping)."""
        body = {"tracking_number": tracking_number, "shipping_provider_id": shipping_provider_id}
        return self.call("POST", f"/fulfillment/{VERSION}/orders/{order_id}/shipping_info/update", body=body, shop=shop)

    def shipping_document_url(
        self, shop: ShopAccess, *, package_id: str, document_type: str = "SHIPPING_LABEL", size: str = "A6"
    ) -> str:
        data = self.call(
            "GET",
            f"/fulfillment/{VERSION}/packages/{package_id}/shipping_documents",
            params={"document_type": document_type, "document_size": size},
            shop=shop,
        )
        url = str(data.get("doc_url") or "")
        if not url:
            raise TikTokError("the shipping document answer has no doc_url", http_status=200)
        return url

    def download(self, url: str) -> bytes:
        """A document TikTok links to (a PDF); its URL is signed by TikTok, so it is fetched as given."""
        try:
            response = self.session.get(url, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TikTokError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200 or not response.content.startswith(b"%PDF"):
            raise TikTokError("the shipping document is not a PDF", http_status=response.status_code)
        return response.content

    def shipping_providers(self, shop: ShopAccess, *, delivery_option_id: str) -> list[dict]:
        """TikTok's shipping providers (``id``, ``name``) of a delivery option."""
        path = f"/logistics/{VERSION}/delivery_options/{delivery_option_id}/shipping_providers"
        return self.call("GET", path, shop=shop).get("shipping_providers") or []

    # --- decisions --------------------------------------------------------------------------------------

    def cancellation_approve(self, shop: ShopAccess, *, cancel_id: str, idempotency_key: str) -> dict:
        path = f"/return_refund/{VERSION}/cancellations/{cancel_id}/approve"
        return self.call("POST", path, params={"idempotency_key": idempotency_key}, body={}, shop=shop)

    def cancellation_reject(
        self, shop: ShopAccess, *, cancel_id: str, reject_reason: str, comment: str, idempotency_key: str
    ) -> dict:
        path = f"/return_refund/{VERSION}/cancellations/{cancel_id}/reject"
        body = {"reject_reason": reject_reason, "comment": comment}
        return self.call("POST", path, params={"idempotency_key": idempotency_key}, body=body, shop=shop)

    def reject_reasons(self, shop: ShopAccess, *, kind: str = "CANCEL") -> list[dict]:
        """TikTok's reasons a seller may give for rejecting (``name``, ``text``)."""
        data = self.call(
            "GET", f"/return_refund/{VERSION}/reject_reasons", params={"reverse_action_type": kind}, shop=shop
        )
        return data.get("reasons") or []

    def order_cancel(self, shop: ShopAccess, *, order_id: str, cancel_reason: str, idempotency_key: str) -> dict:
        body = {"order_id": order_id, "cancel_reason": cancel_reason}
        return self.call(
            "POST",
            f"/return_refund/{VERSION}/cancellations",
            params={"idempotency_key": idempotency_key},
            body=body,
            shop=shop,
        )

    def return_decide(self, shop: ShopAccess, *, return_id: str, body: dict, idempotency_key: str) -> dict:
        """``body["decision"]`` APPROVE_* or OFFER_PARTIAL_REFUND goes to approve, REJECT_* to reject."""
        verb = "reject" if str(body.get("decision", "")).startswith("REJECT") else "approve"
        path = f"/return_refund/{VERSION}/returns/{return_id}/{verb}"
        return self.call("POST", path, params={"idempotency_key": idempotency_key}, body=body, shop=shop)

    # --- products and stock -------------------------------------------------------------------------------

    def products_search(self, shop: ShopAccess, *, seller_skus: list[str]) -> list[dict]:
        """Products with any of ``seller_skus`` (each with its ``skus[{id, seller_sku, inventory}]``)."""
        found: list[dict] = []
        page_token = ""
        while True:
            data = self.call(
                "POST",
                f"/product/{VERSION}/products/search",
                params={"page_size": 100, "page_token": page_token or None},
                body={"seller_skus": seller_skus},
                shop=shop,
            )
            found += data.get("products") or []
            page_token = str(data.get("next_page_token") or "")
            if not page_token:
                return found

    def inventory_update(self, shop: ShopAccess, *, product_id: str, skus: list[dict]) -> dict:
        """Set stock: ``skus[{id, inventory[{warehouse_id, quantity}]}]``."""
        return self.call(
            "POST", f"/product/{VERSION}/products/{product_id}/inventory/update", body={"skus": skus}, shop=shop
        )
