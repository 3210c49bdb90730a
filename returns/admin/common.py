"""Columns both reverse-flow admins show: the order, the seller, the coloured status, the marketplace status."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from core.actors import actor_label


class RequestColumnsMixin:
    """For admins of models with ``order``, ``seller``, an FSM ``status`` and ``marketplace_status``.

    ``status_colours`` maps a status to the colour of its label in the list.
    """

    status_colours: dict[str, str] = {}

    @admin.display(description="order", ordering="order")
    def order_link(self, obj):
        order = obj.order
        return format_html(
            '<a href="{}">#{} {}</a> ({})',
            reverse("admin:orders_order_change", args=[order.pk]),
            order.pk,
            order.external_id,
            order.get_status_display(),
        )

    @admin.display(description="seller", ordering="seller__code")
    def seller_code(self, obj):
        return obj.seller.code

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return format_html(
            '<strong style="color:{};white-space:nowrap">{}</strong>',
            self.status_colours.get(obj.status, "inherit"),
            obj.get_status_display(),
        )

    @admin.display(description="marketplace status")
    def marketplace_status(self, obj):
        return obj.marketplace_status

    @admin.display(description="reason")
    def reason_words(self, obj):
        """The buyer's reason in words (a marketplace code such as ``wrong_item`` reads "Wrong item sent")."""
        return obj.reason_label

    @admin.display(description="decided by")
    def decided_by_words(self, obj):
        return actor_label(obj.decided_by) if obj.decided_by else "—"
