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
* ``Marketplace``: the marketplace that owns some orders (TikTok Shop, R17) and
  must hear our decisions about them: labels, tracking corrections, answers to
  cancellation requests and returns, a seller's cancellation, stock. Each
  method is called inside the transaction that made the decision, with the
  order (or the stock rows) locked, and only writes rows (an outbox): nothing
  is sent before the commit. Without a marketplace plugged in every order is
  our own and each method says so (``NoMarketplace``).
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


class Marketplace(Protocol):
    def owns(self, order: Order) -> bool:
        """Whether a marketplace must be told about this order's decisions (and confirm some of them)."""

    def label_requested(
        self, *, order: Order, carrier, tracking_number: str, handover_method: str, actor: Actor
    ) -> str | None:
        """The warehouse labels ``order``: None to label it now (not a marketplace order), or a note saying the
        marketplace was asked and labelling completes when it confirms. Raises a domain error to refuse."""

    def tracking_updated(self, *, order: Order, carrier, tracking_number: str, actor: Actor) -> None:
        """The tracking of a labelled ``order`` was corrected."""

    def cancel_requested(self, *, order: Order, by: str, reason: str, actor: Actor) -> str | None:
        """The seller or staff cancel ``order`` (R6): None to cancel it now, or a note saying the marketplace
        was asked and the order is cancelled once it confirms."""

    def cancellation_answered(self, *, request, approved: bool, reason: str, actor: Actor) -> None:
        """The seller's (or staff's) answer to a buyer's cancellation request on ``request.order``."""

    def return_decided(
        self, *, ret, decision: str, amount: int | None, full: int | None, reason: str, actor: Actor
    ) -> None:
        """A decision on a return: ``approve``, ``reject``, ``refund`` or ``reject_received`` (after
        inspection). For ``refund``, ``amount`` is the seller's refund in minor units and ``full`` the most it
        could have been: less is a partial refund."""

    def stock_changing(self, *, sku_ids: Iterable[int]) -> None:
        """The stock rows of ``sku_ids`` are locked to change: their available quantity may differ."""

    def reject_reasons(self, *, order: Order, kind: str) -> list[dict]:
        """The reasons (``name``, ``text``) the marketplace accepts for rejecting a cancellation (``CANCEL``)
        or a return (``RETURN``) of ``order``; empty when any reason in words will do. Called by forms,
        outside any transaction (it may ask the marketplace)."""


class NoMarketplace:
    """Every order is our own: nothing to tell anyone, everything happens here at once."""

    def owns(self, order):
        return False

    def label_requested(self, **kwargs):
        return None

    def tracking_updated(self, **kwargs):
        return None

    def cancel_requested(self, **kwargs):
        return None

    def cancellation_answered(self, **kwargs):
        return None

    def return_decided(self, **kwargs):
        return None

    def stock_changing(self, **kwargs):
        return None

    def reject_reasons(self, **kwargs):
        return []


class Reaction(Protocol):
    def __call__(self, *, order: Order, from_status: str, action: str, actor: Actor) -> None: ...


_fulfilment: Fulfilment | None = None
_reactions: tuple[Reaction, ...] = ()
_marketplace: Marketplace = NoMarketplace()


def connect(*, fulfilment: Fulfilment, reactions: Sequence[Reaction], marketplace: Marketplace | None = None) -> None:
    """Plug in the layers above; called once at start-up. Calling it again replaces what was there."""
    global _fulfilment, _reactions, _marketplace
    _fulfilment, _reactions = fulfilment, tuple(reactions)
    _marketplace = marketplace or NoMarketplace()


def marketplace() -> Marketplace:
    """The marketplace plugged in at start-up (``NoMarketplace`` when none is)."""
    return _marketplace


def fulfilment() -> Fulfilment:
    if _fulfilment is None:
        raise ImproperlyConfigured("orders.hooks.connect() was not called: the project did not start its wiring.")
    return _fulfilment


def react(*, order: Order, from_status: str, action: str, actor: Actor) -> None:
    """Tell every connected reaction that ``order`` moved from ``from_status`` to ``order.status``."""
    for reaction in _reactions:
        reaction(order=order, from_status=from_status, action=action, actor=actor)
