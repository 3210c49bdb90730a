"""Fulfilment writes, one function per business action.

- ``stock``: reserve, release, top up and consume stock; CSV import and export;
- ``carriers``: the carriers staff keep, and what a tracking number must look like;
- ``shipments``: the parcel from picking to delivery (or loss).

SLA deadlines and alerts (R8) are ``fulfillment.sla``'s. Everything here is
importable from ``fulfillment.services`` directly.
"""

from fulfillment.services.carriers import carrier_create, carrier_resolve, carrier_update
from fulfillment.services.shipments import (
    CARRIER_CLOCK_SKEW,
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
    sku_ids_by_code,
    stock_consume_for_order,
    stock_export_csv,
    stock_import_csv,
    stock_release_for_order,
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
    "shipment_cancel_for_order",
    "shipment_hand_over",
    "shipment_label",
    "shipment_mark_lost",
    "shipment_pack",
    "shipment_record_carrier_event",
    "shipment_start_picking",
    "shipment_update_tracking",
    "sku_ids_by_code",
    "stock_consume_for_order",
    "stock_export_csv",
    "stock_import_csv",
    "stock_release_for_order",
    "stock_reserve_lines",
    "stock_restock",
    "stock_top_up_for_order",
]
