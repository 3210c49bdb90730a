"""Shared bits of the fulfilment admin: the permissions its screens check.

Read-only access (``ReadOnlyAdminMixin``) is shared by the whole console: ``core.admin_tools``.
"""

CONSOLE_VIEW_PERMISSION = "fulfillment.view_shipment"
WORK_PERMISSION = "fulfillment.work_shipment"
CARRIER_EVENT_PERMISSION = "fulfillment.record_carrier_event"
BUYER_DETAILS_PERMISSION = "orders.view_buyer_details"
# Refusals that are about the tracking number, shown on that field.
TRACKING_ERROR_CODES = {"tracking_number_invalid", "tracking_number_in_use", "tracking_number_required"}
