"""The seams through which the layers above orders take part in what happens to an order.

``orders`` sits below fulfilment, payments and returns, so it never imports
them. What it needs from them is declared here and plugged in once, when the
project starts (``backoffice.wiring``), in an order written down in one place:

* ``Fulfilment``: what creating an order needs from the warehouse: the SLA
  deadlines of a new order (R8), the SKUs behind the codes a partner sent, and
  reserving stock for the new lines (R1).
* reactions: functions called one after the other, in the order they were
  connected, each time an order changes status, inside the transaction that
  moved it and with the order locked. They write rows and defer anything that
  talks to the outside world to ``transaction.on_commit``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from core.actors import Actor
    from orders.models import Order, OrderLine


class Fulfilment(Protocol):
    def deadlines(self, *, placed_at: datetime, given: dict[str, datetime]) -> dict[str, datetime]:
        """The R8 deadlines of an order placed at ``placed_at``, by ``Order`` field name.

        ``given`` holds the deadlines a marketplace set for this order (R16); each replaces our window.
        """

    def skus_by_code(self, *, seller_id: int, codes: Iterable[str]) -> dict[str, int]:
        """The seller's SKU ids for those of ``codes`` it stocks; unknown codes are absent."""

    def reserve(self, *, lines: Sequence[OrderLine]) -> bool:
        """Reserve what is available for new, saved ``lines``; True when every line is fully covered.

        Precondition: inside the transaction that created their order.
        """


class Reaction(Protocol):
    def __call__(self, *, order: Order, from_status: str, action: str, actor: Actor) -> None: ...


_fulfilment: Fulfilment | None = None
_reactions: tuple[Reaction, ...] = ()


def connect(*, fulfilment: Fulfilment, reactions: Sequence[Reaction]) -> None:
    """Plug in the layers above; called once at start-up. Calling it again replaces what was there."""
    global _fulfilment, _reactions
    _fulfilment, _reactions = fulfilment, tuple(reactions)


def fulfilment() -> Fulfilment:
    if _fulfilment is None:
        raise ImproperlyConfigured("orders.hooks.connect() was not called: the project did not start its wiring.")
    return _fulfilment


def react(*, order: Order, from_status: str, action: str, actor: Actor) -> None:
    """Tell every connected reaction that ``order`` moved from ``from_status`` to ``order.status``."""
    for reaction in _reactions:
        reaction(order=order, from_status=from_status, action=action, actor=actor)
