"""The fulfilment console in the admin: stock, the warehouse's to-ship queue, carriers and shipments.

Each module registers its own models; every write goes through ``fulfillment.services``.
"""

from fulfillment.admin import console, shipments, stock  # noqa: F401
