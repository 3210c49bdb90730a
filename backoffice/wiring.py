"""How the apps react to each other, written down in one place.

Lower layers never import upper ones: ``orders`` declares what it needs from
the warehouse and who wants to hear about status changes (``orders.hooks``),
and the project plugs the upper apps in here when it starts. The order of the
reactions is the order below, inside the transaction that moved the order:

1. fulfilment: a cancelled order's parcel is closed and its stock released (R7);
2. payments: Auto Checkout takes an order entering ``awaiting_checkout`` (R4),
   a seller paying by hand is reminded (R13), a cancelled paid order is refunded (R7);
3. returns: labelling rejects a pending cancellation request, any other
   cancellation approves it (R5).

Then the order's own ``order.status_changed`` webhook is written (``orders.notify``).

TikTok is the marketplace (``orders.hooks.Marketplace``): labels, tracking
corrections, answers to requests and returns, a seller's cancellation and stock
changes of TikTok orders and linked SKUs become calls in its outbox (R17).

Checkout asks returns whether a buyer waits for an answer to a cancellation
request (``payments.hooks``): no order is charged while one does (R5).
"""

from fulfillment.order_hooks import FULFILMENT
from fulfillment.order_hooks import on_order_status_changed as fulfilment_reacts
from orders import hooks
from payments import hooks as payment_hooks
from payments.reactions import on_order_status_changed as payments_react
from returns.selectors import orders_with_pending_cancellation
from returns.services.cancellations import cancellation_requests_on_order_status_changed as returns_react
from tiktok.marketplace import MARKETPLACE as TIKTOK


def connect() -> None:
    hooks.connect(
        fulfilment=FULFILMENT, reactions=[fulfilment_reacts, payments_react, returns_react], marketplace=TIKTOK
    )
    payment_hooks.connect(pending_cancellations=orders_with_pending_cancellation)
