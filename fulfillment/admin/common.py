"""Shared bits of the fulfilment admin: read-only access and the permissions its screens check."""

CONSOLE_VIEW_PERMISSION = "fulfillment.view_shipment"
WORK_PERMISSION = "fulfillment.work_shipment"
CARRIER_EVENT_PERMISSION = "fulfillment.record_carrier_event"
BUYER_DETAILS_PERMISSION = "orders.view_buyer_details"
# Refusals that are about the tracking number, shown on that field.
TRACKING_ERROR_CODES = {"tracking_number_invalid", "tracking_number_in_use", "tracking_number_required"}


class ReadOnlyAdminMixin:
    """Shown to whoever may view it; written only by services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False



def money(minor_units: int) -> str:
    return f"{minor_units / 100:.2f}"
