"""The warehouse console's "Needs stock" tab: orders flagged for a stock exception, what each line lacks,
and the page that matches a line to one of the seller's SKUs (``order_line_remap``).

Such orders cannot be picked. Stock that arrives (the import, returned units)
is given to them automatically, the oldest first; a line whose SKU is not in
the seller's catalogue (often a typo in the marketplace listing) is matched here.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from core.actors import Actor
from core.errors import DomainError
from fulfillment.admin.common import WORK_PERMISSION
from fulfillment.models import SKU
from fulfillment.services import line_shortfalls, order_line_remap
from orders.models import Order, OrderLine

STAGE_NEEDS_STOCK = "needs_stock"


def shortfall_rows(order: Order, *, back: str) -> list[dict]:
    """Each line the order lacks, with its reason and the link to match it to another SKU."""
    remap = reverse("admin:fulfillment_console_remap")
    return [
        {"line": s.line, "reason": s.reason, "remap_url": f"{remap}?line={s.line.pk}&next={back}"}
        for s in line_shortfalls(order)
    ]


class RemapForm(forms.Form):
    sku = forms.ModelChoiceField(queryset=SKU.objects.none(), to_field_name="code", label="the seller's SKU")
    note = forms.CharField(
        max_length=300,
        required=False,
        help_text="Optional, e.g. “typo in the marketplace listing”; kept in the history.",
    )

    def __init__(self, *args, seller_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["sku"]
        field.queryset = SKU.objects.filter(seller_id=seller_id).select_related("stock").order_by("code")
        field.label_from_instance = lambda sku: (
            f"{sku.code} · {sku.name} ({getattr(getattr(sku, 'stock', None), 'available', 0)} available)"
        )


def remap_view(console, request):
    """Match one line of a flagged order to one of the seller's SKUs; then back to the console."""
    if not request.user.has_perm(WORK_PERMISSION):
        raise PermissionDenied
    source = request.POST if request.method == "POST" else request.GET
    line_id = source.get("line", "")
    if not line_id.isdigit():
        raise Http404("No such order line.")
    line = get_object_or_404(OrderLine.objects.select_related("order__seller", "reservation"), pk=int(line_id))
    back = source.get("next", "")
    if not back.startswith(reverse("admin:fulfillment_console")):
        back = f"{reverse('admin:fulfillment_console')}?stage={STAGE_NEEDS_STOCK}"
    form = RemapForm(request.POST if request.method == "POST" else None, seller_id=line.order.seller_id)
    if form.is_bound and form.is_valid():
        try:
            line = order_line_remap(
                line_id=line.pk,
                sku_code=form.cleaned_data["sku"].code,
                note=form.cleaned_data["note"],
                actor=Actor.for_user(request.user),
            )
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            order = line.order
            order.refresh_from_db()
            state = "every item is reserved now" if not order.stock_exception else "it still waits for stock"
            console.model_admin.message_user(
                request, f"Order {order.pk}: the line now picks {line.sku_code}; {state}.", messages.SUCCESS
            )
            return HttpResponseRedirect(back)
    context = console._context(
        request,
        title=f"Match an item of order {line.order_id} to a SKU",
        line=line,
        shortfalls=line_shortfalls(line.order),
        form=form,
        back_url=back,
    )
    return TemplateResponse(request, "admin/fulfillment/console/remap.html", context)
