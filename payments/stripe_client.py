"""Every call we make to the Stripe API, in one place.

Only services call these, and never while a transaction holds row locks
(CONVENTIONS habit 4). Each function sends our secret key and dj-stripe's API
version explicitly and returns plain dicts. Stripe's own errors are sorted
into two kinds the services can act on:

* ``StripeDeclined``: a definitive answer (card declined, unusable card, bad
  request); the attempt is over and the reason is shown to the seller.
* ``StripeUnavailable``: the answer is unknown (network, Stripe outage, rate
  limit, bad key). The attempt may or may not have happened at Stripe, so it is
  retried later with the same idempotency key, never as a new charge.

Where Stripe is is decided by ``stripe.api_base``: dj-stripe points it at
``settings.STRIPE_API_HOST`` when that is set (localstripe in development and
tests), else it is Stripe itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import stripe
from django.conf import settings
from djstripe.settings import djstripe_settings

from payments.declines import decline_message

logger = logging.getLogger(__name__)


class StripeDeclined(Exception):
    """Stripe answered no. ``message`` is in plain words for the seller."""

    def __init__(self, *, code: str, message: str, intent: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.intent = intent or {}


class StripeUnavailable(Exception):
    """Stripe's answer is unknown; retry later with the same idempotency key."""


def _options(**extra) -> dict[str, Any]:
    return {"api_key": settings.STRIPE_SECRET_KEY, "stripe_version": djstripe_settings.STRIPE_API_VERSION, **extra}


def as_dict(obj) -> dict:
    if obj is None:
        return {}
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return dict(obj)


def _declined_from(exc: stripe.StripeError) -> StripeDeclined:
    body = (exc.json_body or {}).get("error", {}) if isinstance(exc.json_body, dict) else {}
    code = body.get("decline_code") or body.get("code") or getattr(exc, "code", None) or "declined"
    message = decline_message(
        code=body.get("code") or "", decline_code=body.get("decline_code") or "", fallback=body.get("message") or ""
    )
    intent = body.get("payment_intent") if isinstance(body.get("payment_intent"), dict) else None
    return StripeDeclined(code=code, message=message, intent=intent)


def _call(func, *args, **kwargs):
    """Run one Stripe request and sort its errors (see the module docstring)."""
    try:
        return func(*args, **kwargs)
    except (stripe.CardError, stripe.InvalidRequestError) as exc:
        raise _declined_from(exc) from exc
    except stripe.StripeError as exc:
        # APIConnectionError, APIError (5xx), RateLimitError, AuthenticationError,
        # PermissionError, IdempotencyError: we do not know what happened.
        logger.warning("Stripe unavailable: %s: %s", type(exc).__name__, exc)
        raise StripeUnavailable(f"{type(exc).__name__}: {exc.user_message or exc}") from exc


# --- customers and cards -------------------------------------------------------------


def customer_create(*, email: str, name: str, metadata: dict, idempotency_key: str) -> dict:
    return as_dict(
        _call(
            stripe.Customer.create,
            email=email,
            name=name,
            metadata=metadata,
            **_options(idempotency_key=idempotency_key),
        )
    )


def customer_set_default_payment_method(customer_id: str, payment_method_id: str | None) -> dict:
    """Make ``payment_method_id`` the card charged by default; None clears it."""
    return as_dict(
        _call(
            stripe.Customer.modify,
            customer_id,
            invoice_settings={"default_payment_method": payment_method_id or ""},
            **_options(),
        )
    )


def setup_intent_create(*, customer_id: str, metadata: dict) -> dict:
    """A SetupIntent that saves a card for charges made while the seller is away (Auto Checkout)."""
    return as_dict(
        _call(
            stripe.SetupIntent.create,
            customer=customer_id,
            usage="off_session",
            payment_method_types=["card"],
            metadata=metadata,
            **_options(),
        )
    )


def setup_intent_retrieve(setup_intent_id: str) -> dict:
    return as_dict(_call(stripe.SetupIntent.retrieve, setup_intent_id, **_options()))


def payment_method_retrieve(payment_method_id: str) -> dict:
    return as_dict(_call(stripe.PaymentMethod.retrieve, payment_method_id, **_options()))


def payment_method_attach(payment_method_id: str, *, customer_id: str) -> dict:
    return as_dict(_call(stripe.PaymentMethod.attach, payment_method_id, customer=customer_id, **_options()))


def payment_method_detach(payment_method_id: str) -> dict:
    return as_dict(_call(stripe.PaymentMethod.detach, payment_method_id, **_options()))


# --- charges and refunds ------------------------------------------------------------------


@dataclass(frozen=True)
class ChargeRequest:
    """Everything sent to create a PaymentIntent; built from the payment row alone, so a replay is identical."""

    idempotency_key: str
    amount: int
    currency: str
    customer_id: str
    payment_method_id: str
    off_session: bool
    metadata: dict

    def params(self) -> dict:
        params = {
            "amount": self.amount,
            "currency": self.currency,
            "customer": self.customer_id,
            "payment_method": self.payment_method_id,
            "payment_method_types": ["card"],
            "confirm": True,
            "metadata": self.metadata,
        }
        if self.off_session:
            params["off_session"] = True
        return params


def payment_intent_create(request: ChargeRequest) -> dict:
    """Create and confirm a PaymentIntent in one call; return it (its ``status`` says what happened).

    A decline raises ``StripeDeclined`` carrying the PaymentIntent when Stripe sends it.
    """
    return as_dict(
        _call(stripe.PaymentIntent.create, **request.params(), **_options(idempotency_key=request.idempotency_key))
    )


def payment_intent_retrieve(intent_id: str) -> dict:
    return as_dict(_call(stripe.PaymentIntent.retrieve, intent_id, **_options()))


def payment_intent_cancel(intent_id: str, *, idempotency_key: str) -> dict:
    return as_dict(_call(stripe.PaymentIntent.cancel, intent_id, **_options(idempotency_key=idempotency_key)))


def refund_create(*, payment_intent_id: str, amount: int, metadata: dict, idempotency_key: str) -> dict:
    return as_dict(
        _call(
            stripe.Refund.create,
            payment_intent=payment_intent_id,
            amount=amount,
            metadata=metadata,
            **_options(idempotency_key=idempotency_key),
        )
    )


def refund_list_for_charge(charge_id: str) -> list[dict]:
    refunds = _call(stripe.Refund.list, charge=charge_id, limit=100, **_options())
    return [as_dict(r) for r in refunds.auto_paging_iter()]


def intent_charge_id(intent: dict) -> str:
    """The id of the PaymentIntent's charge, whether Stripe sent it expanded or not."""
    charge = intent.get("latest_charge")
    if isinstance(charge, dict):
        return charge.get("id", "")
    return charge or ""


def intent_failure(intent: dict) -> tuple[str, str]:
    """(code, plain-words message) for a PaymentIntent that did not go through."""
    error = intent.get("last_payment_error") or {}
    code = error.get("decline_code") or error.get("code") or intent.get("status") or "declined"
    return code, decline_message(
        code=error.get("code") or "", decline_code=error.get("decline_code") or "", fallback=error.get("message") or ""
    )
