"""Payments writes, one function per action (CONVENTIONS habit 1). Import them from here.

* cards and the Auto Checkout switch: ``payments.services.cards``;
* charges (manual checkout, Auto Checkout): ``payments.services.charges``;
* Stripe's answer to a charge, and settling a charge nobody heard back about: ``payments.services.outcomes``;
* refunds Stripe reports (its webhooks): ``payments.services.reconcile``;
* refunds: ``payments.services.refunds``;
* bank transfers Finance records (payments and refunds): ``payments.services.bank``.
"""

from payments.services.bank import bank_transfer_record, refund_bank_transfer_record
from payments.services.cards import (
    CardSetup,
    auto_checkout_set,
    card_remove,
    card_set_default,
    card_setup_complete,
    card_setup_start,
    seller_customer_get_or_create,
)
from payments.services.charges import (
    CheckoutResult,
    OrderResult,
    auto_checkout_charge,
    auto_checkout_resume_locked,
    checkout_orders,
    payment_abandon,
)
from payments.services.outcomes import (
    Outcome,
    payment_cancel_intent,
    payment_outcome_record,
    payment_refresh,
    payment_settle,
)
from payments.services.reconcile import payment_refunds_reconcile
from payments.services.refunds import payment_refund, refund_request, refund_send

__all__ = [
    "CardSetup",
    "CheckoutResult",
    "OrderResult",
    "Outcome",
    "auto_checkout_charge",
    "auto_checkout_resume_locked",
    "auto_checkout_set",
    "bank_transfer_record",
    "card_remove",
    "card_set_default",
    "card_setup_complete",
    "card_setup_start",
    "checkout_orders",
    "payment_abandon",
    "payment_cancel_intent",
    "payment_outcome_record",
    "payment_refresh",
    "payment_refund",
    "payment_refunds_reconcile",
    "payment_settle",
    "refund_bank_transfer_record",
    "refund_request",
    "refund_send",
    "seller_customer_get_or_create",
]
