"""django-q2 entry points of the TikTok app. They call services and nothing else."""

from core.actors import Actor
from tiktok.notify import notify_shop_problem
from tiktok.services import event_process as _event_process
from tiktok.services import shop_poll as _shop_poll
from tiktok.services import shop_tokens_refresh as _shop_tokens_refresh


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
