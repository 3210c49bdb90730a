"""Fulfilment writes, one function per business action.

- ``stock``: reserve, release, top up and consume stock; CSV import and export.
- ``shipments``: carriers, and the parcel from picking to delivery (or loss), SLA alerts.

Everything is importable from ``fulfillment.services`` directly.
"""

from fulfillment.services.shipments import (
    CARRIER_CLOCK_SKEW,
    carrier_create,
    carrier_resolve,
    carrier_update,
    order_complete,
    order_sla_alert,
    shipment_cancel_for_order,
    shipment_hand_over,
    shipment_label,
    shipment_mark_lost,
    shipment_pack,
    shipment_record_carrier_event,
    shipment_start_picking,
    shipment_update_tracking,
)
from fulfillment.services.stock import (
    STOCK_CSV_COLUMNS,
    ImportResult,
    StockImportError,
    StockRow,
    stock_consume_for_order,
    stock_export_csv,
    stock_import_csv,
    stock_lock_by_code,
    stock_release_for_order,
    stock_reservation_writes,
    stock_reserve_lines,
    stock_restock,
    stock_top_up_for_order,
)

__all__ = [
    "CARRIER_CLOCK_SKEW",
    "STOCK_CSV_COLUMNS",
    "ImportResult",
    "StockImportError",
    "StockRow",
    "carrier_create",
    "carrier_resolve",
    "carrier_update",
    "order_complete",
    "order_sla_alert",
    "shipment_cancel_for_order",
    "shipment_hand_over",
    "shipment_label",
    "shipment_mark_lost",
    "shipment_pack",
    "shipment_record_carrier_event",
    "shipment_start_picking",
    "shipment_update_tracking",
    "stock_consume_for_order",
    "stock_export_csv",
    "stock_import_csv",
    "stock_lock_by_code",
    "stock_release_for_order",
    "stock_reservation_writes",
    "stock_reserve_lines",
    "stock_restock",
    "stock_top_up_for_order",
]
