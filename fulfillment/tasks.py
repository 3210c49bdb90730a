"""django-q2 entry points of the warehouse. They call services and nothing else."""

from core.actors import Actor
from fulfillment.services import stock_allocate as allocate

STOCK = Actor.system("stock_allocation")


def stock_allocate(sku_ids: list[int]) -> int:
    """Give stock that came back (returned units) to the orders waiting for it; returns how many it filled."""
    return len(allocate(sku_ids=sku_ids, actor=STOCK))
