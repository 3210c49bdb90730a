"""The order console: queues, search, the order page (lines, reservations, deadlines, history) and staff actions.

Staff never edit an order directly. The status and every field a service owns
are read-only, there is no add or delete, and each button or action calls a
service in ``orders.services``, which locks the row, checks the transition and
writes the audit row. (``django_fsm``'s admin mixin is not used: it saves the
object without taking the row lock.)

Buyer details are masked (R12) unless the user has ``orders.view_buyer_details``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.db.models import Case, F, When
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from import_export.admin import ExportMixin

from console.exports import OrderResource
from core.actors import Actor
from core.admin_tools import (
    AuditInline,
    IdSearchMixin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    action_object,
    admin_page,
    bulk_selection,
    object_action_urls,
    run_each,
)
from core.display import local_time, order_address_lines
from core.exports import EXPORT_FORMATS
from core.money import money
from core.paginators import EstimatedCountPaginator
from core.privacy import mask_email, mask_name, mask_phone, masked_shipping_address
from fulfillment.sla import SlaClockName, SlaState, order_sla_clocks, order_sla_worst, sla_at_risk_q, sla_late_q
from orders.models import NOT_SHIPPED, CancelledBy, Order, OrderEvent, OrderLine, OrderStatus
from orders.services import order_cancel
from payments.services import bank_transfer_record
from tiktok.models import TikTokEvent, TikTokOrder
from tiktok.selectors import order_calls

# Each order in a bulk action is its own locked transaction; past a few hundred
# the request would outlive the web server's timeout.
BULK_ACTION_LIMIT = 200

# Where a seller payment can be recorded (see ``payments.services.bank_transfer_record``).
SELLER_PAYMENT_STATUSES = {OrderStatus.ON_HOLD, OrderStatus.AWAITING_CHECKOUT}

# The deadline an order waits on in its current state; sorts the list's "deadline" column.
NEXT_DEADLINE = Case(
    When(status=OrderStatus.PENDING_PAYMENT, then=F("payment_due_at")),
    When(status=OrderStatus.ON_HOLD, then=F("hold_until")),
    default=None,
)

STATUS_COLOURS = {
    OrderStatus.PENDING_PAYMENT: "#8a6d00",
    OrderStatus.ON_HOLD: "#8a6d00",
    OrderStatus.AWAITING_CHECKOUT: "#1f5fa8",
    OrderStatus.READY_TO_FULFILL: "#1e7b34",
    OrderStatus.IN_FULFILLMENT: "#1e7b34",
    OrderStatus.CANCELLED: "#777",
    OrderStatus.LOST: "#b3261e",
}


# --- forms for the intermediate pages ---------------------------------------------------


class CancelForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept in the order history and passed on to the marketplace, which tells the buyer.",
    )


class SellerPaymentForm(forms.Form):
    """A bank transfer from the seller: it becomes an entry of the seller's ledger (``bank_transfer_record``)."""

    reference = forms.CharField(
        max_length=200,
        help_text="The bank transfer's reference, as the bank statement shows it.",
    )
    received_on = forms.DateField(
        label="received on",
        required=False,
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The day the money arrived (today if left empty).",
    )
    amount = forms.DecimalField(
        required=False,
        min_value=Decimal("0.01"),
        max_digits=9,
        decimal_places=2,
        help_text="The amount received for each order. Leave it empty for the order's wholesale cost.",
    )

    def clean_received_on(self):
        day = self.cleaned_data["received_on"] or timezone.localdate()
        if day > timezone.localdate():
            raise forms.ValidationError("The money cannot arrive in the future.")
        return day


@dataclass(frozen=True)
class StaffAction:
    """An action that needs a confirmation form: the action on the list and the button on the order page share it."""

    name: str
    url_name: str
    title: str
    button_label: str
    form_class: type[forms.Form]
    submit_label: str
    permission: str
    applies: Callable[[Order], bool]
    run: Callable[[Order, dict, Actor], str]


def _cancel(order: Order, data: dict, actor: Actor) -> str:
    """``order`` is as the page read it; the service re-reads it under lock (and does nothing if it is cancelled)."""
    order = order_cancel(order_id=order.pk, by=CancelledBy.STAFF, reason=data["reason"], actor=actor)
    if order.cancelled_by != CancelledBy.STAFF or order.cancel_reason != data["reason"][:500]:
        return (
            f"Order {order} was already cancelled ({order.get_cancelled_by_display().lower()}: {order.cancel_reason})."
        )
    return f"Order {order} cancelled; its reserved stock is released."


def _record_seller_payment(order: Order, data: dict, actor: Actor) -> str:
    amount = int(data["amount"].scaleb(2)) if data.get("amount") is not None else None
    order = bank_transfer_record(
        order_id=order.pk, reference=data["reference"], amount=amount, received_on=data["received_on"], actor=actor
    )
    if order.seller_payment_reference != data["reference"].strip()[:200]:
        return f"Order {order} already had a seller payment recorded (reference {order.seller_payment_reference})."
    if order.status == OrderStatus.ON_HOLD:
        return f"Seller payment recorded for order {order}; it takes effect when the hold ends."
    return f"Seller payment recorded for order {order}; it is {order.get_status_display().lower()}."


CANCEL = StaffAction(
    name="cancel_selected",
    url_name="orders_order_cancel",
    title="Cancel orders",
    button_label="Cancel order",
    form_class=CancelForm,
    submit_label="Cancel the orders",
    permission="orders.cancel_order",
    applies=lambda order: order.status in NOT_SHIPPED,
    run=_cancel,
)
RECORD_SELLER_PAYMENT = StaffAction(
    name="record_seller_payment_selected",
    url_name="orders_order_record_seller_payment",
    title="Record seller payment received",
    button_label="Record seller payment received",
    form_class=SellerPaymentForm,
    submit_label="Record the payment",
    permission="orders.record_seller_payment",
    applies=lambda order: order.status in SELLER_PAYMENT_STATUSES and order.seller_paid_at is None,
    run=_record_seller_payment,
)
STAFF_ACTIONS = {a.name: a for a in (CANCEL, RECORD_SELLER_PAYMENT)}


# --- inlines ------------------------------------------------------------------------------


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    verbose_name_plural = "lines and reservations"
    fields = ("sku_code", "sku_link", "quantity", "unit_price_display", "reservation_display")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("sku__seller", "reservation")

    @admin.display(description="SKU record")
    def sku_link(self, line: OrderLine):
        if line.sku is None:
            return format_html('<strong style="color:#b3261e">{}</strong>', "unknown SKU")
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:fulfillment_sku_change", args=[line.sku_id]), line.sku.name
        )

    @admin.display(description="unit price")
    def unit_price_display(self, line: OrderLine):
        return money(line.unit_price)

    @admin.display(description="reservation")
    def reservation_display(self, line: OrderLine):
        reservation = getattr(line, "reservation", None)
        if reservation is None:
            return "none"
        if reservation.released_at:
            return f"{reservation.quantity} released {local_time(reservation.released_at)}"
        if reservation.consumed_at:
            return f"{reservation.quantity} shipped {local_time(reservation.consumed_at)}"
        if reservation.quantity < line.quantity:
            return format_html(
                '<strong style="color:#b3261e">{} of {} reserved (short)</strong>', reservation.quantity, line.quantity
            )
        return f"{reservation.quantity} of {line.quantity} reserved"


class OrderEventInline(AuditInline):
    model = OrderEvent
    status_labels = dict(OrderStatus.choices)


# --- shipment and SLA clocks (R8) ----------------------------------------------------------

SLA_COLOURS = {"late": "#b3261e", "at_risk": "#a15c00", "met_late": "#b3261e", "met": "#1e7b34"}


class SlaFilter(admin.SimpleListFilter):
    """Orders with a running clock at risk or past its deadline (the index page's counts link here)."""

    title = "SLA"
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return ((SlaState.AT_RISK, SlaState.AT_RISK.label), (SlaState.LATE, SlaState.LATE.label))

    def queryset(self, request, queryset):
        if self.value() == "late":
            return queryset.filter(sla_late_q(timezone.now()))
        if self.value() == "at_risk":
            return queryset.filter(sla_at_risk_q(timezone.now()))
        return queryset


def _sla_badge(state: SlaState):
    return format_html(
        '<strong style="color:{};white-space:nowrap">{}</strong>',
        SLA_COLOURS.get(state, "inherit"),
        state.label.lower(),
    )


# --- the order admin ----------------------------------------------------------------------


@admin.register(Order)
class OrderAdmin(ExportMixin, IdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    resource_classes = [OrderResource]
    formats = EXPORT_FORMATS
    list_display = (
        "id",
        "external_id",
        "status_badge",
        "seller_code",
        "placed_at",
        "next_deadline",
        "stock_exception_badge",
        "sla_badge",
    )
    list_display_links = ("id", "external_id")
    list_filter = ("status", SlaFilter, "seller", "stock_exception")
    search_fields = ("external_id",)
    search_help_text = "Order id or external id (and buyer name, for staff who may see buyer details)."
    # Matching a buyer's name tells whether that buyer has orders: only for staff who may see it (R12).
    BUYER_SEARCH_FIELDS = ("buyer_name",)
    list_select_related = ("seller", "shipment")
    list_per_page = 50
    # The exact totals would cost a COUNT over every matching order on each page view (twice by default):
    # no grand total, and PostgreSQL's estimate or a bounded count for the page links (``core.paginators``).
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    inlines = (OrderLineInline, OrderEventInline)
    actions = (CANCEL.name, RECORD_SELLER_PAYMENT.name)
    change_form_template = "admin/orders/order/change_form.html"

    ORDER_FIELDS = (
        "partner",
        "seller",
        "external_id",
        "status",
        "marketplace_status",
        "stock_exception_detail",
        "timer_error",
    )
    DEADLINE_FIELDS = (
        "placed_at",
        "payment_due_at",
        "buyer_paid_at",
        "hold_until",
        "seller_paid_at",
        "seller_payment_reference",
    )
    BUYER_FIELDS_FULL = ("buyer_name", "buyer_phone", "buyer_email", "shipping_address")
    BUYER_FIELDS_MASKED = ("buyer_name_masked", "buyer_phone_masked", "buyer_email_masked", "shipping_address_masked")
    CANCEL_FIELDS = ("cancelled_at", "cancelled_by", "cancel_reason")

    # --- permissions: read-only except through the actions -------------------------------

    def has_cancel_permission(self, request):
        return request.user.has_perm(CANCEL.permission)

    def has_record_seller_payment_permission(self, request):
        return request.user.has_perm(RECORD_SELLER_PAYMENT.permission)

    # --- list -----------------------------------------------------------------------------

    # The search box also takes the order id, typed as ``123`` or ``#123`` (``IdSearchMixin``).
    def get_search_fields(self, request):
        fields = super().get_search_fields(request)
        if request.user.has_perm("orders.view_buyer_details"):
            fields = (*fields, *self.BUYER_SEARCH_FIELDS)
        return fields

    @admin.display(description="status", ordering="status")
    def status_badge(self, order: Order):
        return format_html(
            '<strong style="color:{};white-space:nowrap">{}</strong>',
            STATUS_COLOURS.get(order.status, "inherit"),
            order.get_status_display(),
        )

    @admin.display(description="seller", ordering="seller__code")
    def seller_code(self, order: Order):
        return order.seller.code

    @admin.display(description="deadline", ordering=NEXT_DEADLINE)
    def next_deadline(self, order: Order):
        """The deadline the order is waiting on in its state, flagged once past (the timer is behind or failing)."""
        label, when = {
            OrderStatus.PENDING_PAYMENT: ("payment due", order.payment_due_at),
            OrderStatus.ON_HOLD: ("hold ends", order.hold_until),
        }.get(order.status, ("", None))
        if when is None:
            return None
        text = f"{label} {local_time(when)}"
        if when <= timezone.now():
            return format_html('<strong style="color:#b3261e;white-space:nowrap">{} (overdue)</strong>', text)
        return format_html('<span style="white-space:nowrap">{}</span>', text)

    @admin.display(description="stock", ordering="stock_exception")
    def stock_exception_badge(self, order: Order):
        if not order.stock_exception:
            return ""
        return format_html(
            '<span style="background:#b3261e;color:#fff;border-radius:3px;padding:1px 6px;white-space:nowrap">'
            "{}</span>",
            "stock exception",
        )

    @admin.display(description="stock exception")
    def stock_exception_detail(self, order: Order):
        if not order.stock_exception:
            return "no"
        return format_html(
            "{} an item is not in the seller's catalogue or not fully reserved: it waits in the warehouse "
            "console's “Needs stock” tab.",
            self.stock_exception_badge(order),
        )

    # --- the order page ---------------------------------------------------------------------

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("seller", "partner", "shipment__carrier")

    def get_fieldsets(self, request, obj=None):
        buyer = (
            self.BUYER_FIELDS_FULL if request.user.has_perm("orders.view_buyer_details") else self.BUYER_FIELDS_MASKED
        )
        fieldsets = [
            (None, {"fields": self.ORDER_FIELDS}),
            ("Payments and deadlines", {"fields": self.DEADLINE_FIELDS}),
            ("Shipment and SLA clocks", {"fields": ("shipment_display", "sla_clocks")}),
            ("Buyer", {"fields": buyer}),
        ]
        if obj is not None and obj.status == OrderStatus.CANCELLED:
            fieldsets.append(("Cancellation", {"fields": self.CANCEL_FIELDS}))
        if obj is not None and TikTokOrder.objects.filter(order=obj).exists():
            fieldsets.append(
                ("TikTok Shop", {"fields": ("tiktok_status", "tiktok_events", "tiktok_calls", "collect_by")})
            )
        fieldsets.append(("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return helpers.flatten_fieldsets(self.get_fieldsets(request, obj))

    @admin.display(description="SLA")
    def sla_badge(self, order: Order):
        """The worst running clock: late, or at risk (reads the shipment selected with the order)."""
        worst = order_sla_worst(order)
        return _sla_badge(worst) if worst is not None else ""

    @admin.display(description="shipment")
    def shipment_display(self, order: Order):
        # A missing reverse one-to-one raises an AttributeError subclass, so getattr's default applies.
        shipment = getattr(order, "shipment", None)
        if shipment is None:
            return "No parcel yet (the warehouse has not started picking)."
        url = reverse("admin:fulfillment_shipment_change", args=[shipment.pk])
        if not shipment.carrier_id:
            return format_html('<a href="{}">Parcel</a>: {}', url, shipment.get_status_display())
        tracking = (
            format_html(
                '<a href="{}" rel="noopener" target="_blank">{}</a>', shipment.tracking_link, shipment.tracking_number
            )
            if shipment.tracking_link
            else shipment.tracking_number
        )
        return format_html(
            '<a href="{}">Parcel</a>: {} · {} {} · {}',
            url,
            shipment.get_status_display(),
            shipment.carrier.name,
            tracking,
            shipment.get_handover_method_display(),
        )

    @admin.display(description="SLA clocks")
    def sla_clocks(self, order: Order):
        rows = []
        for name, clock in order_sla_clocks(order).items():
            when = f"{local_time(clock.deadline)}" if clock.deadline else "not started"
            done = f", done {local_time(clock.done_at)}" if clock.done_at else ""
            rows.append(
                format_html(
                    "<tr><th>{}</th><td>{}{}</td><td>{}</td></tr>",
                    SlaClockName(name).label,
                    when,
                    done,
                    _sla_badge(clock.state),
                )
            )
        return format_html('<table class="sla-clocks">{}</table>', mark_safe("".join(rows)))  # rows are escaped

    @admin.display(description="status on TikTok")
    def tiktok_status(self, order: Order):
        link = TikTokOrder.objects.select_related("shop").get(order=order)
        synced = f"{timezone.localtime(link.synced_at):%Y-%m-%d %H:%M}"
        shop_url = reverse("admin:tiktok_shop_change", args=[link.shop_id])
        return format_html(
            '{} (last reconciled {}, shop <a href="{}">{}</a>)', link.status, synced, shop_url, link.shop
        )

    @admin.display(description="TikTok events")
    def tiktok_events(self, order: Order):
        link = TikTokOrder.objects.get(order=order)
        url = reverse("admin:tiktok_tiktokevent_changelist")
        count = TikTokEvent.objects.filter(shop_id=link.shop_id, tiktok_order_id=link.tiktok_order_id).count()
        return format_html(
            '<a href="{}?shop__id__exact={}&amp;q={}">{} event(s) TikTok sent about this order</a>',
            url,
            link.shop_id,
            link.tiktok_order_id,
            count,
        )

    @admin.display(description="calls to TikTok")
    def tiktok_calls(self, order: Order):
        """Each call our decisions made about this order, its state and TikTok's reason (R17)."""
        rows = [
            format_html(
                "<tr><td>{}</td><td><strong>{}</strong></td><td>{}</td><td>{}</td></tr>",
                row.what,
                row.state,
                f"{row.attempts} attempt(s)",
                row.reason or "",
            )
            for row in order_calls(order)
        ]
        if not rows:
            return "None yet"
        url = reverse("admin:tiktok_tiktokcall_changelist")
        return format_html(
            '<table class="tiktok-calls">{}</table><a href="{}?q={}">Open them in TikTok sync</a>',
            mark_safe("".join(rows)),  # each row is escaped by format_html
            url,
            order.external_id,
        )

    @admin.display(description="marketplace status")
    def marketplace_status(self, order: Order):
        return order.marketplace_status

    @admin.display(description="shipping address")
    def shipping_address(self, order: Order):
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in order_address_lines(order)))

    @admin.display(description="buyer name")
    def buyer_name_masked(self, order: Order):
        return mask_name(order.buyer_name)

    @admin.display(description="buyer phone")
    def buyer_phone_masked(self, order: Order):
        return mask_phone(order.buyer_phone)

    @admin.display(description="buyer email")
    def buyer_email_masked(self, order: Order):
        return mask_email(order.buyer_email)

    @admin.display(description="shipping address")
    def shipping_address_masked(self, order: Order):
        visible = ", ".join(v for v in masked_shipping_address(order).values() if v)
        return f"{visible} (street and postal code hidden)" if visible else "(hidden)"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, unquote(object_id))
        buttons = []
        if order is not None:
            for action in STAFF_ACTIONS.values():
                if request.user.has_perm(action.permission) and action.applies(order):
                    buttons.append((action.button_label, reverse(f"admin:{action.url_name}", args=[order.pk])))
        extra_context = {**(extra_context or {}), "order_actions": buttons}
        return super().change_view(request, object_id, form_url, extra_context)

    # --- staff actions ----------------------------------------------------------------------

    def get_urls(self):
        return [
            *object_action_urls(
                self,
                [
                    ("cancel", self.cancel_view, CANCEL.url_name),
                    ("record-seller-payment", self.record_seller_payment_view, RECORD_SELLER_PAYMENT.url_name),
                ],
            ),
            *super().get_urls(),
        ]

    @admin.action(description="Cancel selected orders (staff)", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        return self._bulk_action(request, queryset, CANCEL)

    @admin.action(description="Record seller payment received", permissions=["record_seller_payment"])
    def record_seller_payment_selected(self, request, queryset):
        return self._bulk_action(request, queryset, RECORD_SELLER_PAYMENT)

    def cancel_view(self, request, object_id):
        return self._single_action(request, object_id, CANCEL)

    def record_seller_payment_view(self, request, object_id):
        return self._single_action(request, object_id, RECORD_SELLER_PAYMENT)

    def _bulk_action(self, request, queryset, action: StaffAction):
        """The list action: ask for the form on an intermediate page, then run the service per order.

        Returning None sends the user back to the list, where the per-order messages show.
        """
        orders = bulk_selection(self, request, queryset, limit=BULK_ACTION_LIMIT, noun="orders")
        if orders is None:
            return None
        form = action.form_class(request.POST if request.POST.get("confirm") else None)
        if form.is_bound and form.is_valid():
            self._run(request, orders, action, form.cleaned_data)
            return None
        return self._confirmation_page(request, orders, action, form, bulk=True)

    def _single_action(self, request, object_id, action: StaffAction):
        """The button on the order page: the same form and service for one order."""
        order = action_object(
            self, request, object_id, allowed=request.user.has_perm(action.permission), missing="No such order."
        )
        change_url = reverse("admin:orders_order_change", args=[order.pk])
        form = action.form_class(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            self._run(request, [order], action, form.cleaned_data)
            return HttpResponseRedirect(change_url)
        return self._confirmation_page(request, [order], action, form, bulk=False, back_url=change_url)

    def _run(self, request, orders: list[Order], action: StaffAction, data: dict) -> None:
        """Call the service for each order; a refused one gets its own error message and does not stop the rest."""
        actor = Actor.for_user(request.user)
        run_each(
            self, request, orders, lambda order: action.run(order, data, actor), label=lambda order: f"Order {order}"
        )

    def _confirmation_page(self, request, orders, action: StaffAction, form, *, bulk: bool, back_url: str = ""):
        return admin_page(
            self,
            request,
            "admin/orders/order/confirm_action.html",
            title=action.title,
            orders=orders,
            not_applicable=[o for o in orders if not action.applies(o)],
            form=form,
            action=action,
            submit_label=action.submit_label,
            bulk=bulk,
            action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
            back_url=back_url or reverse("admin:orders_order_changelist"),
        )
