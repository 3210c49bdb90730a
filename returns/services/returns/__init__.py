"""Returns (R11), one function per action. Import them from here.

* asking and answering: ``return_create``, ``return_approve``, ``return_reject``,
  ``process_due_returns`` (auto-approval at ``respond_by``) — ``requests``;
* the parcel back: ``return_shipment_update``, ``return_receive``, ``return_inspect`` — ``parcels``;
* the outcome: ``return_refund_decide``, ``return_replace``,
  ``return_reject_after_inspection``, ``return_close`` — ``outcomes``.

See ``returns.models.ReturnRequest`` for the paths of each return type, and
``common`` for the shape every service follows (lock order, audit, webhook).
"""

from returns.services.returns.outcomes import (
    return_close,
    return_refund_decide,
    return_reject_after_inspection,
    return_replace,
)
from returns.services.returns.parcels import return_inspect, return_receive, return_shipment_update
from returns.services.returns.requests import (
    ReturnLineInput,
    process_due_returns,
    return_approve,
    return_create,
    return_reject,
)

__all__ = [
    "ReturnLineInput",
    "process_due_returns",
    "return_approve",
    "return_close",
    "return_create",
    "return_inspect",
    "return_receive",
    "return_refund_decide",
    "return_reject",
    "return_reject_after_inspection",
    "return_replace",
    "return_shipment_update",
]
