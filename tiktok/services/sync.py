"""Fetching TikTok's current state and reconciling ours with it: for a webhook's order, and by polling.

Every function here calls TikTok first, with no transaction open, then hands
each answer to ``tiktok.services.reconcile``, which takes the locks. Polling
(``shop_poll``) exists because TikTok's own documentation says webhooks can be
missed: it searches each connected shop's orders, cancellation requests and
returns updated since the shop's cursor, page by page. It is safe beside the
webhook tasks and beside itself: reconciling is idempotent and each order is
converged under its lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from tiktok.client import TikTokClient, TikTokError
from tiktok.locks import lock_shop
from tiktok.models import Shop, ShopStatus
from tiktok.services.reconcile import cancellation_reconcile, order_reconcile, return_reconcile

logger = logging.getLogger(__name__)

# A new shop's first poll reaches back this far, so orders still open when it connects come in too.
FIRST_SYNC_LOOKBACK = timedelta(days=1)


class ShopNotConnected(DomainError):
    code = "shop_not_connected"
    status = 409


def _active(shop: Shop) -> None:
    if shop.status != ShopStatus.ACTIVE:
        raise ShopNotConnected(f"{shop} is not connected ({shop.get_status_display().lower()}).")


def token_refresh_soon(shop: Shop) -> None:
    """TikTok refused the access token: have the next timer pass refresh it (no lock needed for one column)."""
    Shop.objects.filter(pk=shop.pk, status=ShopStatus.ACTIVE).update(token_refresh_at=timezone.now())


def _call(shop: Shop, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except TikTokError as exc:
        if exc.token_problem:
            token_refresh_soon(shop)
        raise


def orders_sync(*, shop: Shop, order_ids: list[str], actor: Actor, client: TikTokClient | None = None) -> list:
    """Fetch these orders' current detail and reconcile each; returns our orders (None for skipped ones)."""
    _active(shop)
    client = client or TikTokClient.from_settings()
    details = _call(shop, client.orders_get, shop.access, ids=order_ids)
    missing = set(order_ids) - {str(detail.get("id")) for detail in details}
    if missing:
        raise TikTokError(f"TikTok did not return order(s) {', '.join(sorted(missing))}", http_status=200)
    return [order_reconcile(shop=shop, detail=detail, actor=actor) for detail in details]


def cancellations_sync(*, shop: Shop, order_ids: list[str], actor: Actor, client: TikTokClient | None = None) -> None:
    _active(shop)
    client = client or TikTokClient.from_settings()
    for cancellation in _call(shop, client.cancellations_search, shop.access, order_ids=order_ids):
        cancellation_reconcile(shop=shop, cancellation=cancellation, actor=actor)


def returns_sync(*, shop: Shop, order_ids: list[str], actor: Actor, client: TikTokClient | None = None) -> None:
    _active(shop)
    client = client or TikTokClient.from_settings()
    for ret in _call(shop, client.returns_search, shop.access, order_ids=order_ids):
        return_reconcile(shop=shop, ret=ret, actor=actor)


@dataclass
class PollResult:
    orders: int = 0
    failed: list[str] = field(default_factory=list)
    cursor: int | None = None


def shop_poll(*, shop_id: int, client: TikTokClient | None = None) -> PollResult:
    """Search the shop's orders updated since its cursor, page by page, and reconcile each one;
    then the cancellation requests and returns updated since then. Moves the cursor and ``last_synced_at``.

    An order that fails to reconcile is logged and the others go on; the
    cursor then stops just before it, so the next poll tries it again.
    A TikTok error stops the poll and is kept in ``sync_error``.
    """
    shop = Shop.objects.select_related("seller", "partner").get(pk=shop_id)
    result = PollResult()
    if shop.status != ShopStatus.ACTIVE:
        return result
    client = client or TikTokClient.from_settings()
    actor = Actor.system("TikTok sync")
    overlap = int(settings.TIKTOK_POLL_OVERLAP.total_seconds())
    since = (
        shop.sync_cursor - overlap
        if shop.sync_cursor is not None
        else int((shop.connected_at - FIRST_SYNC_LOOKBACK).timestamp())
    )
    newest, oldest_failed = since, None
    try:
        page_token = ""
        while True:
            orders, page_token = _call(
                shop, client.orders_search_page, shop.access, update_time_ge=since, page_token=page_token
            )
            for detail in orders:
                update_time = int(detail.get("update_time") or 0)
                try:
                    order_reconcile(shop=shop, detail=detail, actor=actor)
                    result.orders += 1
                    newest = max(newest, update_time)
                except DomainError as exc:
                    logger.warning("TikTok poll of %s: order %s: %s", shop, detail.get("id"), exc.detail)
                    result.failed.append(f"{detail.get('id')}: {exc.detail}")
                    oldest_failed = update_time if oldest_failed is None else min(oldest_failed, update_time)
            if not page_token:
                break
        for cancellation in _call(shop, client.cancellations_search, shop.access, update_time_ge=since):
            _reconcile_one(
                result,
                "cancellation",
                cancellation.get("cancel_id"),
                cancellation_reconcile,
                shop=shop,
                cancellation=cancellation,
                actor=actor,
            )
        for ret in _call(shop, client.returns_search, shop.access, update_time_ge=since):
            _reconcile_one(result, "return", ret.get("return_id"), return_reconcile, shop=shop, ret=ret, actor=actor)
    except (TikTokError, DomainError) as exc:
        _poll_record(shop.pk, cursor=None, error=str(getattr(exc, "detail", exc)))
        raise
    result.cursor = min(newest, oldest_failed - 1) if oldest_failed is not None else newest
    _poll_record(shop.pk, cursor=result.cursor, error="; ".join(result.failed))
    return result


def _reconcile_one(result: PollResult, kind: str, ref, reconcile, **kwargs) -> None:
    """A cancellation request or return that cannot be reconciled is reported; the poll goes on."""
    try:
        reconcile(**kwargs)
    except DomainError as exc:
        logger.warning("TikTok poll: %s %s: %s", kind, ref, exc.detail)
        result.failed.append(f"{kind} {ref}: {exc.detail}")


def _poll_record(shop_pk: int, *, cursor: int | None, error: str) -> None:
    """Keep the poll's outcome; the cursor only ever moves forward (two polls may overlap)."""
    with transaction.atomic():
        shop = lock_shop(shop_pk)
        if shop is None:
            return
        fields = ["sync_error", "updated_at"]
        shop.sync_error = error[:500]
        if cursor is not None:
            shop.sync_cursor = max(shop.sync_cursor or cursor, cursor)
            shop.last_synced_at = timezone.now()
            fields += ["sync_cursor", "last_synced_at"]
        shop.save(update_fields=fields)
