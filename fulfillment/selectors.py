"""Stock reads for the partner API's inventory sync."""

from __future__ import annotations

from django.db.models import QuerySet

from backoffice.models import Partner
from fulfillment.models import SKU


def stock_list(*, partner: Partner) -> QuerySet[SKU]:
    """Every SKU of the sellers ``partner`` may act for, with its seller and stock row loaded.

    Listed by SKU rather than by stock row so that a SKU without a stock row
    still shows, with nothing available, instead of vanishing from the
    partner's inventory sync.
    """
    return SKU.objects.filter(seller__partners=partner).select_related("seller", "stock")
