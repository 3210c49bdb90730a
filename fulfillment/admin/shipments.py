"""Carriers (kept by staff) and shipments: read-only, with carrier events and tracking corrections."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.actors import Actor
from core.admin_tools import AuditInline, ReadOnlyAdminMixin, admin_page
from core.display import local_time
from core.errors import DomainError
from core.paginators import EstimatedCountPaginator
from fulfillment.admin.common import (
    CARRIER_EVENT_PERMISSION,
    TRACKING_ERROR_CODES,
    WORK_PERMISSION,
)
from fulfillment.admin.console import WarehouseConsole
from fulfillment.models import CARRIER_EVENT_TYPES, Carrier, Shipment, ShipmentEvent, ShipmentEventType, ShipmentStatus
from fulfillment.selectors import (
    carrier_list,
)
from fulfillment.services import (
    carrier_create,
    carrier_update,
    shipment_record_carrier_event,
    shipment_update_tracking,
)

# --- carriers -----------------------------------------------------------------------------


class CarrierForm(forms.ModelForm):
    class Meta:
        model = Carrier
        fields = ("code", "name", "tracking_example", "tracking_pattern", "tracking_url", "handover", "active")
        help_texts = {
            "tracking_pattern": "The exact rule a tracking number is checked against (for whoever maintains the "
            "carrier list). Staff and partners are shown the format in words instead.",
            "tracking_url": "Optional. {tracking_number} is replaced by the parcel's number, e.g. "
            "https://carrier.example/track/{tracking_number}.",
            "active": "Only active carriers can label parcels. Retire a carrier by unticking this; "
            "its past parcels keep it.",
        }


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    """Staff keep the carrier list (R10); saving calls ``carrier_create`` / ``carrier_update``."""

    form = CarrierForm
    list_display = ("name", "code", "tracking_example", "handover", "active")
    list_filter = ("active", "handover")
    search_fields = ("code", "name")
    ordering = ("name",)

    def has_delete_permission(self, request, obj=None):
        # Parcels refer to carriers (PROTECT); retire one with "active" instead.
        return False

    def get_readonly_fields(self, request, obj=None):
        # The code is fixed once created: partners and past parcels refer to it.
        return ("code", "created_at", "updated_at") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        data = form.cleaned_data
        if change:
            changes = {
                name: data[name]
                for name in ("name", "tracking_pattern", "tracking_example", "tracking_url", "handover", "active")
            }
            saved = carrier_update(carrier_id=obj.pk, actor=actor, **changes)
        else:
            saved = carrier_create(
                code=data["code"],
                name=data["name"],
                tracking_pattern=data["tracking_pattern"],
                tracking_example=data["tracking_example"],
                handover=data["handover"],
                tracking_url=data["tracking_url"],
                active=data["active"],
                actor=actor,
            )
        obj.pk = saved.pk
        obj.created_at, obj.updated_at = saved.created_at, saved.updated_at

    def save_related(self, request, form, formsets, change):
        """Nothing related to save; the service already wrote the carrier."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The form validates what the service validates; a refusal left (a lost race on the code)
        # comes back as a message on the same form rather than an error page.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


# --- shipments: read-only, with carrier events and tracking corrections -------------------


class ShipmentEventInline(AuditInline):
    model = ShipmentEvent
    status_labels = dict(ShipmentStatus.choices)
    fields = ("at", "what", "change", "note", "by", "created_at")
    readonly_fields = fields
    ordering = ("at", "id")
    verbose_name_plural = "events"


def _aware(value):
    return timezone.make_aware(value) if value is not None and timezone.is_naive(value) else value


class CarrierEventForm(forms.Form):
    type = forms.ChoiceField(choices=[(t, ShipmentEventType(t).label) for t in CARRIER_EVENT_TYPES])
    at = forms.SplitDateTimeField(
        widget=AdminSplitDateTime,
        help_text="When the carrier reports it happened. Events must come in order and not be in the future.",
    )
    note = forms.CharField(max_length=500, required=False, widget=forms.TextInput(attrs={"size": 60}))


class TrackingForm(forms.Form):
    carrier = forms.ModelChoiceField(queryset=Carrier.objects.none(), to_field_name="code", empty_label=None)
    tracking_number = forms.CharField(max_length=64)
    reason = forms.CharField(
        max_length=300,
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Kept in the order history, e.g. “label reprinted”.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["carrier"].queryset = carrier_list()


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "order_link",
        "status",
        "carrier",
        "tracking_number",
        "labelled_at",
        "collect_by",
        "failed_attempts",
    )
    list_filter = ("status", "carrier", "handover_method")
    search_fields = ("tracking_number", "order__external_id")
    search_help_text = "Tracking number or the order's external id."
    list_select_related = ("order", "carrier")
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # no COUNT over the whole table per page view
    fields = (
        "order_link",
        "status",
        "carrier",
        "tracking_link_display",
        "handover_method",
        "picking_started_at",
        "packed_at",
        "labelled_at",
        "collect_by",
        "picked_up_at",
        "failed_attempts",
        "last_event_at",
        "lost_deadline",
        "delivered_at",
        "lost_at",
    )
    readonly_fields = fields
    inlines = (ShipmentEventInline,)
    change_form_template = "admin/fulfillment/shipment/change_form.html"

    @admin.display(description="order", ordering="order")
    def order_link(self, shipment: Shipment):
        return format_html(
            '<a href="{}">Order {}</a>',
            reverse("admin:orders_order_change", args=[shipment.order_id]),
            shipment.order_id,
        )

    @admin.display(description="tracking number")
    def tracking_link_display(self, shipment: Shipment):
        if shipment.tracking_link:
            return format_html(
                '<a href="{}" rel="noopener" target="_blank">{}</a>', shipment.tracking_link, shipment.tracking_number
            )
        return shipment.tracking_number or "—"

    def get_urls(self):
        console = WarehouseConsole(self)
        view = self.admin_site.admin_view
        return [
            path("console/", view(console.queue_view), name="fulfillment_console"),
            path("console/label/", view(console.label_view), name="fulfillment_console_label"),
            path("console/remap/", view(console.remap_view), name="fulfillment_console_remap"),
            path(
                "<path:object_id>/carrier-event/",
                view(self.carrier_event_view),
                name="fulfillment_shipment_carrier_event",
            ),
            path("<path:object_id>/tracking/", view(self.tracking_view), name="fulfillment_shipment_tracking"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "console_url": reverse("admin:fulfillment_console")}
        return super().changelist_view(request, extra_context)

    def _tracking_editable(self, shipment: Shipment) -> bool:
        return (
            shipment.labelled_at is not None and timezone.now() <= shipment.labelled_at + settings.TRACKING_EDIT_WINDOW
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        shipment = self.get_object(request, unquote(object_id))
        buttons = []
        if shipment is not None and shipment.labelled_at is not None:
            if request.user.has_perm(CARRIER_EVENT_PERMISSION) and shipment.status in (
                ShipmentStatus.LABELLED,
                ShipmentStatus.IN_TRANSIT,
                ShipmentStatus.DELIVERY_FAILED,
            ):
                buttons.append(
                    ("Enter carrier event", reverse("admin:fulfillment_shipment_carrier_event", args=[shipment.pk]))
                )
            if request.user.has_perm(WORK_PERMISSION) and self._tracking_editable(shipment):
                buttons.append(("Correct tracking", reverse("admin:fulfillment_shipment_tracking", args=[shipment.pk])))
        extra_context = {**(extra_context or {}), "shipment_actions": buttons}
        return super().change_view(request, object_id, form_url, extra_context)

    def _shipment_or_404(self, request, object_id) -> Shipment:
        shipment = self.get_object(request, unquote(object_id))
        if shipment is None:
            raise Http404("No such shipment.")
        return shipment

    def _form_page(self, request, shipment, form, *, title, intro, submit):
        return admin_page(
            self,
            request,
            "admin/fulfillment/shipment/action_form.html",
            title=title,
            original=shipment,
            shipment=shipment,
            form=form,
            intro=intro,
            submit_label=submit,
            back_url=reverse("admin:fulfillment_shipment_change", args=[shipment.pk]),
        )

    def carrier_event_view(self, request, object_id):
        """Enter a carrier event by hand (picked up, in transit, failed attempt, delivered)."""
        if not request.user.has_perm(CARRIER_EVENT_PERMISSION):
            raise PermissionDenied
        shipment = self._shipment_or_404(request, object_id)
        form = CarrierEventForm(
            request.POST or None, initial={"at": timezone.localtime().replace(second=0, microsecond=0)}
        )
        if form.is_bound and form.is_valid():
            try:
                shipment_record_carrier_event(
                    order_id=shipment.order_id,
                    type=form.cleaned_data["type"],
                    at=_aware(form.cleaned_data["at"]),
                    note=form.cleaned_data["note"],
                    actor=Actor.for_user(request.user),
                )
            except DomainError as exc:
                form.add_error(None, exc.detail)
            else:
                shipment.refresh_from_db()
                self.message_user(
                    request,
                    f"Carrier event recorded; the parcel is {shipment.get_status_display().lower()}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:fulfillment_shipment_change", args=[shipment.pk]))
        return self._form_page(
            request,
            shipment,
            form,
            title=f"Carrier event for order {shipment.order_id}",
            intro=f"Parcel {shipment} is {shipment.get_status_display().lower()}.",
            submit="Record the event",
        )

    def tracking_view(self, request, object_id):
        """Correct the carrier or tracking number within the edit window after labelling (audited)."""
        if not request.user.has_perm(WORK_PERMISSION):
            raise PermissionDenied
        shipment = self._shipment_or_404(request, object_id)
        initial = {
            "carrier": shipment.carrier.code if shipment.carrier else None,
            "tracking_number": shipment.tracking_number,
        }
        form = TrackingForm(request.POST or None, initial=initial)
        if form.is_bound and form.is_valid():
            try:
                shipment_update_tracking(
                    order_id=shipment.order_id,
                    carrier=form.cleaned_data["carrier"],
                    tracking_number=form.cleaned_data["tracking_number"],
                    reason=form.cleaned_data["reason"],
                    actor=Actor.for_user(request.user),
                )
            except DomainError as exc:
                field = "tracking_number" if exc.code in TRACKING_ERROR_CODES else None
                form.add_error(field, exc.detail)
            else:
                self.message_user(request, f"Tracking of order {shipment.order_id} updated.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:fulfillment_shipment_change", args=[shipment.pk]))
        closes = shipment.labelled_at + settings.TRACKING_EDIT_WINDOW if shipment.labelled_at else None
        intro = (
            f"Corrections are allowed until {local_time(closes)} and are kept in the order history."
            if closes
            else "This parcel has no label yet."
        )
        return self._form_page(
            request,
            shipment,
            form,
            title=f"Correct tracking of order {shipment.order_id}",
            intro=intro,
            submit="Save tracking",
        )
