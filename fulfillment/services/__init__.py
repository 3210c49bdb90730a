"""Fulfilment writes, one function per business action.

- ``stock``: reserve, release, top up and consume stock; the stock import and export;
- ``exceptions``: stock exceptions resolved: a line remapped to a SKU, arriving stock allocated;
- ``carriers``: the carriers staff keep, and what a tracking number must look like;
- ``shipments``: the parcel from picking to delivery (or loss).

SLA deadlines and alerts (R8) are ``fulfillment.sla``'s. Everything here is
importable from ``fulfillment.services`` directly.
"""

from fulfillment.services.carriers import carrier_create, carrier_resolve, carrier_update, tracking_number_refusal
from fulfillment.services.exceptions import (
    LineShortfall,
    line_shortfalls,
    order_line_remap,
    stock_allocate,
    stock_allocate_locked,
    waiting_order_ids,
)
from fulfillment.services.shipments import (
    CARRIER_CLOCK_SKEW,
    shipment_cancel_for_order,
    shipment_hand_over,
    shipment_label,
    shipment_label_refused,
    shipment_mark_lost,
    shipment_pack,
    shipment_record_carrier_event,
    shipment_start_picking,
    shipment_update_tracking,
)
from fulfillment.services.stock import (
    MAX_IMPORT_BYTES,
    STOCK_CSV_COLUMNS,
    ImportResult,
    StockImportError,
    sku_ids_by_code,
    stock_consume_for_order,
    stock_export,
    stock_export_csv,
    stock_import,
    stock_import_csv,
    stock_import_file,
    stock_release_for_order,
    stock_reserve_lines,
    stock_restock,
    stock_top_up_for_order,
)

__all__ = [
    "CARRIER_CLOCK_SKEW",
    "LineShortfall",
    "line_shortfalls",
    "order_line_remap",
    "stock_allocate",
    "stock_allocate_locked",
    "waiting_order_ids",
    "MAX_IMPORT_BYTES",
    "STOCK_CSV_COLUMNS",
    "ImportResult",
    "StockImportError",
    "carrier_create",
    "carrier_resolve",
    "carrier_update",
    "tracking_number_refusal",
    "shipment_cancel_for_order",
    "shipment_hand_over",
    "shipment_label",
    "shipment_label_refused",
    "shipment_mark_lost",
    "shipment_pack",
    "shipment_record_carrier_event",
    "shipment_start_picking",
    "shipment_update_tracking",
    "sku_ids_by_code",
    "stock_consume_for_order",
    "stock_export",
    "stock_export_csv",
    "stock_import",
    "stock_import_csv",
    "stock_import_file",
    "stock_release_for_order",
    "stock_reserve_lines",
    "stock_restock",
    "stock_top_up_for_order",
]
