"""Order writes, one function per business action. Import them from here.

* ``transitions``: the core every app moves orders through (run a transition,
  record an action, run the reactions of the layers above);
* ``intake``: a partner's order (R1) and a return's free replacement (R11);
* ``lifecycle``: buyer payment, hold, cancellation, the seller's payment by
  hand, completion (R2-R7, R15);
* ``marketplace``: what a marketplace that owns its orders changes on ours (R16).
"""

from orders.services.intake import UNKNOWN_SELLER, IntakeData, IntakeLine, order_intake, order_replacement_create
from orders.services.lifecycle import (
    order_cancel,
    order_cancel_locked,
    order_cancel_on_request_locked,
    order_complete,
    order_end_hold,
    order_record_buyer_payment,
    order_seller_paid_locked,
)
from orders.services.marketplace import (
    MARKETPLACE_DEADLINES,
    order_cancel_by_marketplace_locked,
    order_contact_update_locked,
    order_deadlines_update_locked,
    order_end_hold_early_locked,
)
from orders.services.transitions import order_event_record, order_status_changed, order_touch, order_transition_apply

__all__ = [
    "MARKETPLACE_DEADLINES",
    "order_cancel_by_marketplace_locked",
    "order_contact_update_locked",
    "order_deadlines_update_locked",
    "order_end_hold_early_locked",
    "UNKNOWN_SELLER",
    "IntakeData",
    "IntakeLine",
    "order_cancel",
    "order_cancel_locked",
    "order_cancel_on_request_locked",
    "order_complete",
    "order_end_hold",
    "order_event_record",
    "order_intake",
    "order_record_buyer_payment",
    "order_replacement_create",
    "order_seller_paid_locked",
    "order_status_changed",
    "order_touch",
    "order_transition_apply",
]
