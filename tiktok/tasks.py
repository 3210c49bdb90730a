"""django-q2 entry points of the TikTok app. They call services and nothing else."""

from core.actors import Actor
from tiktok.notify import notify_shop_problem
from tiktok.services import event_process as _event_process
from tiktok.services import shop_poll as _shop_poll
from tiktok.services import shop_tokens_refresh as _shop_tokens_refresh
from tiktok.services.outbox import call_send as _call_send
from tiktok.services.stock import shop_stock_sync as _sync
from tiktok.services.stock import stock_push_send


def event_process(event_id: int) -> str:
    event = _event_process(event_id=event_id)
    return event.status if event is not None else "gone"


def shop_poll(shop_id: int) -> str:
    result = _shop_poll(shop_id=shop_id)
    return f"{result.orders} orders, {len(result.failed)} failed"


def shop_tokens_refresh(shop_id: int) -> str:
    shop = _shop_tokens_refresh(shop_id=shop_id, actor=Actor.system("timer"))
    return shop.status if shop is not None else "gone"


def shop_problem_email(shop_id: int) -> str:
    return notify_shop_problem(shop_id)


def call_send(call_id: int) -> str:
    call = _call_send(call_id)
    return call.status if call is not None else "not sent"


def stock_push(call_id: int) -> str:
    """A stock push waits out ``TIKTOK_STOCK_PUSH_WINDOW`` from its first change, so the changes of a burst
    ride on one call (it reads the quantity when it is sent)."""
    call = stock_push_send(call_id)
    return call.status if call is not None else "not sent"


def shop_stock_sync(shop_id: int) -> str:
    result = _sync(shop_id=shop_id)
    return f"{result['linked']} linked, {result['unmatched']} unmatched, {result['pushed']} pushed"
