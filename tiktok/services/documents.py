"""TikTok's shipping documents (labels, packing slips) for TikTok-logistics packages, and merging them.

A label is fetched by the outbox once TikTok has shipped the package
(``FETCH_LABEL``) and stored (``ShippingDocument``); a packing slip, or a label
that is missing, is fetched when staff print it. Fetching calls TikTok with no
transaction open. Merging a selection into one PDF for batch printing is
pypdf's ``PdfWriter``.
"""

from __future__ import annotations

import io

from django.utils import timezone
from pypdf import PdfReader, PdfWriter

from core.errors import InvalidInput, TransitionRefused
from tiktok.client import TikTokClient, TikTokError
from tiktok.models import ShippingDocument, TikTokOrder

DOCUMENT_TYPES = ("SHIPPING_LABEL", "PACKING_SLIP")


def document_fetch(*, order_id: int, document_type: str) -> ShippingDocument:
    """Fetch (again) one document of a shipped TikTok package from TikTok and store it."""
    if document_type not in DOCUMENT_TYPES:
        raise InvalidInput(f"Unknown document type {document_type!r}.", code="invalid_document_type")
    link = TikTokOrder.objects.select_related("shop").filter(order_id=order_id).first()
    if link is None or len(link.package_ids) != 1:
        raise TransitionRefused(f"Order {order_id} has no TikTok package to print.", code="no_tiktok_package")
    package = link.package_ids[0]
    client = TikTokClient.from_settings()
    try:
        url = client.shipping_document_url(link.shop.access, package_id=package, document_type=document_type)
        pdf = client.download(url)
    except TikTokError as exc:
        raise TransitionRefused(f"Order {order_id}: TikTok has no document for it yet ({exc}).") from exc
    document, _ = ShippingDocument.objects.update_or_create(
        order_id=order_id,
        document_type=document_type,
        defaults={"package_id": package, "pdf": pdf, "fetched_at": timezone.now()},
    )
    return document


def documents_merge(*, order_ids: list[int], document_type: str) -> tuple[bytes, list[str]]:
    """One PDF of the orders' documents, in the given order (missing ones fetched from TikTok); and why
    any order could not be included."""
    stored = {
        d.order_id: d for d in ShippingDocument.objects.filter(order_id__in=order_ids, document_type=document_type)
    }
    writer = PdfWriter()
    problems: list[str] = []
    for order_id in order_ids:
        document = stored.get(order_id)
        if document is None:
            try:
                document = document_fetch(order_id=order_id, document_type=document_type)
            except TransitionRefused as exc:
                problems.append(exc.detail)
                continue
        writer.append(PdfReader(io.BytesIO(bytes(document.pdf))))
    if not writer.pages:
        return b"", problems
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), problems
