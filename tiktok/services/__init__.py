"""TikTok writes, one function per action. Import them from here.

* ``shops``: connect (OAuth code, or tokens by command), refresh tokens, disconnect;
* ``events``: receive a webhook, process it, process it again;
* ``sync``: fetch TikTok's current state and reconcile (one order, or a shop's poll);
* ``reconcile``: converge our order, cancellation request or return with TikTok's (R16).
"""

from tiktok.services.events import WebhookSignatureInvalid, event_process, event_reprocess, webhook_receive
from tiktok.services.reconcile import cancellation_reconcile, order_reconcile, return_reconcile, tiktok_actor
from tiktok.services.shops import (
    shop_connect,
    shop_connect_oauth,
    shop_connect_with_tokens,
    shop_deauthorise,
    shop_tokens_refresh,
)
from tiktok.services.sync import ShopNotConnected, cancellations_sync, orders_sync, returns_sync, shop_poll

__all__ = [
    "ShopNotConnected",
    "WebhookSignatureInvalid",
    "cancellation_reconcile",
    "cancellations_sync",
    "event_process",
    "event_reprocess",
    "order_reconcile",
    "orders_sync",
    "return_reconcile",
    "returns_sync",
    "shop_connect",
    "shop_connect_oauth",
    "shop_connect_with_tokens",
    "shop_deauthorise",
    "shop_poll",
    "shop_tokens_refresh",
    "tiktok_actor",
    "webhook_receive",
]
