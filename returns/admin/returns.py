"""Returns in the console (R11): the list with its queues, each return's lines and history, and a button
per step, each calling ``returns.services.returns``.

Who does what (``backoffice.setup`` gives the groups these permissions):

- Support (``decide_returnrequest``): approve or reject requested returns, create the
  replacement order, reject after inspection, close;
- Warehouse (``receive_returnrequest``): receive the parcel and inspect it, line by line
  (resellable units go back into stock), reject after inspection;
- Finance (``refund_returnrequest``): decide the seller's refund, the full share suggested.

Nothing here saves a model: the return is read-only, its status protected, and
every button calls a service that locks the order, then the return.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_fsm import can_proceed
from import_export.admin import ExportMixin

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
from core.display import countdown, local_time
from core.errors import DomainError
from core.exports import EXPORT_FORMATS
from core.money import money
from returns.admin import return_forms as rf
from returns.admin.common import RequestColumnsMixin
from returns.models import ReturnEvent, ReturnLine, ReturnRequest, ReturnStatus, ReturnType
from returns.resources import ReturnResource
from returns.selectors import return_refund_share
from returns.services.returns import (
    return_approve,
    return_close,
    return_inspect,
    return_receive,
    return_refund_decide,
    return_reject,
    return_reject_after_inspection,
    return_replace,
)
from returns.services.returns.common import DECIDE_PERMISSION, RECEIVE_PERMISSION, REFUND_PERMISSION

BULK_ACTION_LIMIT = 200

STATUS_COLOURS = {
    ReturnStatus.REQUESTED: "#8a6d00",
    ReturnStatus.AWAITING_RETURN_SHIPMENT: "#1f5fa8",
    ReturnStatus.IN_TRANSIT: "#1f5fa8",
    ReturnStatus.RECEIVED: "#a15c00",
    ReturnStatus.INSPECTED: "#a15c00",
    ReturnStatus.REJECTED: "#b3261e",
    ReturnStatus.REJECTED_AFTER_INSPECTION: "#b3261e",
    ReturnStatus.REFUNDED: "#1e7b34",
    ReturnStatus.REPLACED: "#1e7b34",
    ReturnStatus.CLOSED: "#777",
}


# --- the steps: a button on the return page, a form, a service ----------------------------------------


@dataclass(frozen=True)
class Step:
    slug: str
    label: str
    permissions: tuple[str, ...]
    applies: Callable[[ReturnRequest], bool]
    make_form: Callable[[ReturnRequest, dict | None], forms.Form]
    run: Callable[[ReturnRequest, forms.Form, Actor], str]
    submit: str
    intro: Callable[[ReturnRequest], str] = lambda ret: ""

    @property
    def url_name(self) -> str:
        return f"returns_returnrequest_{self.slug.replace('-', '_')}"


def _lines(ret: ReturnRequest) -> list[ReturnLine]:
    return list(ret.lines.select_related("order_line").order_by("pk"))


def _share_intro(ret: ReturnRequest) -> str:
    share = return_refund_share(ret)
    if share.problem:
        return share.detail
    how = (
        " The seller paid by bank transfer, so the refund is owed by bank transfer: record the transfer you send "
        "on the refund's page (Payments → Refunds), with the amount actually sent."
        if share.method == "bank_transfer"
        else " It goes back to the seller's card through Stripe."
    )
    return (
        f"Suggested: {money(share.suggested)}, the wholesale cost of the units "
        f"{'claimed' if not ret.ships_back else 'received'}. "
        f"At most {money(share.refundable)} is left of the order's payment (payment #{share.payment_id}).{how}"
    )


def _refund_form(ret: ReturnRequest, data):
    share = return_refund_share(ret)
    return rf.RefundForm(data, initial={"amount": f"{share.suggested / 100:.2f}"})


def _run_approve(ret, form, actor):
    done = return_approve(return_id=ret.pk, actor=actor, note=form.cleaned_data["note"])
    return f"{done} approved; it is {done.get_status_display().lower()}."


def _run_reject(ret, form, actor):
    done = return_reject(return_id=ret.pk, actor=actor, reason=form.cleaned_data["reason"])
    return f"{done} is {done.get_status_display().lower()}."


def _run_receive(ret, form, actor):
    done = return_receive(return_id=ret.pk, received=form.received(), note=form.cleaned_data["note"], actor=actor)
    return f"{done} received; inspect it next."


def _run_inspect(ret, form, actor):
    results = form.results()
    done = return_inspect(return_id=ret.pk, results=results, note=form.cleaned_data["note"], actor=actor)
    back = sum(resellable for resellable, _ in results.values())
    return f"{done} inspected: {back} unit(s) back in stock."


def _run_refund(ret, form, actor):
    done = return_refund_decide(
        return_id=ret.pk, amount=form.amount_minor_units(), note=form.cleaned_data["note"], actor=actor
    )
    if done.refund_amount:
        return f"{done}: {money(done.refund_amount)} is being refunded to the seller."
    return f"{done}: recorded that nothing is refunded."


def _run_replace(ret, form, actor):
    done = return_replace(return_id=ret.pk, note=form.cleaned_data["note"], actor=actor)
    return f"{done}: replacement order {done.replacement_order_id} is in the warehouse queue, at no charge."


def _run_reject_after(ret, form, actor):
    done = return_reject_after_inspection(return_id=ret.pk, reason=form.cleaned_data["reason"], actor=actor)
    return f"{done} rejected after inspection."


def _run_close(ret, form, actor):
    done = return_close(return_id=ret.pk, note=form.cleaned_data["note"], actor=actor)
    return f"{done} closed."


APPROVE = Step(
    "approve",
    "Approve",
    (DECIDE_PERMISSION,),
    lambda r: r.status == ReturnStatus.REQUESTED,
    lambda r, data: rf.ApproveForm(data),
    _run_approve,
    "Approve the return",
)
REJECT = Step(
    "reject",
    "Reject",
    (DECIDE_PERMISSION,),
    lambda r: r.status == ReturnStatus.REQUESTED,
    lambda r, data: rf.RejectForm(data),
    _run_reject,
    "Reject the return",
)
RECEIVE = Step(
    "receive",
    "Receive parcel…",
    (RECEIVE_PERMISSION,),
    lambda r: r.status in (ReturnStatus.AWAITING_RETURN_SHIPMENT, ReturnStatus.IN_TRANSIT),
    lambda r, data: rf.ReceiveForm(data, lines=_lines(r)),
    _run_receive,
    "Record what arrived",
    lambda r: "Count what is in the parcel, line by line. Inspection comes next.",
)
INSPECT = Step(
    "inspect",
    "Inspect…",
    (RECEIVE_PERMISSION,),
    lambda r: r.status == ReturnStatus.RECEIVED,
    lambda r, data: rf.InspectForm(data, lines=_lines(r)),
    _run_inspect,
    "Record the inspection",
    lambda r: "Sort every received unit: resellable units go back into stock now; damaged ones do not.",
)
REFUND = Step(
    "refund",
    "Decide refund…",
    (REFUND_PERMISSION,),
    lambda r: can_proceed(r.decide_refund),
    _refund_form,
    _run_refund,
    "Record the decision",
    _share_intro,
)
REPLACE = Step(
    "replace",
    "Create replacement order…",
    (DECIDE_PERMISSION,),
    lambda r: can_proceed(r.replace),
    lambda r, data: rf.ReplaceForm(data),
    _run_replace,
    "Create the replacement order",
    lambda r: (
        "A new order ships the received units again to the same buyer, straight into the warehouse queue; "
        "the seller is not charged."
    ),
)
REJECT_AFTER = Step(
    "reject-after-inspection",
    "Reject after inspection…",
    (DECIDE_PERMISSION, RECEIVE_PERMISSION),
    lambda r: r.status == ReturnStatus.INSPECTED,
    lambda r, data: rf.RejectAfterInspectionForm(data),
    _run_reject_after,
    "Reject the return",
)
CLOSE = Step(
    "close",
    "Close…",
    (DECIDE_PERMISSION,),
    lambda r: can_proceed(r.close),
    lambda r, data: rf.CloseForm(data, ret=r),
    _run_close,
    "Close the return",
    lambda r: (
        "The buyer never sent the parcel back: closing leaves it unresolved and its units count as not returned."
        if r.status == ReturnStatus.AWAITING_RETURN_SHIPMENT
        else "Nothing is left to do for this return."
    ),
)
STEPS = (APPROVE, REJECT, RECEIVE, INSPECT, REFUND, REPLACE, REJECT_AFTER, CLOSE)


# --- list filters and inlines ------------------------------------------------------------------------


class QueueFilter(admin.SimpleListFilter):
    """Who a return waits for; "overdue" are requests past ``respond_by`` (the timer is behind or failing)."""

    title = "waiting for"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return (
            ("answer", "The seller's answer"),
            ("overdue", "Answer overdue"),
            ("parcel", "The parcel"),
            ("inspection", "Inspection"),
            ("decision", "Refund or replacement"),
            ("closing", "Closing"),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if value == "answer":
            return queryset.filter(status=ReturnStatus.REQUESTED)
        if value == "overdue":
            return queryset.filter(status=ReturnStatus.REQUESTED, respond_by__lte=timezone.now())
        if value == "parcel":
            return queryset.filter(status__in=[ReturnStatus.AWAITING_RETURN_SHIPMENT, ReturnStatus.IN_TRANSIT])
        if value == "inspection":
            return queryset.filter(status=ReturnStatus.RECEIVED)
        if value == "decision":
            return queryset.filter(status=ReturnStatus.INSPECTED) | queryset.filter(
                status__in=[ReturnStatus.APPROVED, ReturnStatus.AUTO_APPROVED], type=ReturnType.REFUND_ONLY
            )
        if value == "closing":
            return queryset.filter(
                status__in=[ReturnStatus.REFUNDED, ReturnStatus.REPLACED, ReturnStatus.REJECTED_AFTER_INSPECTION]
            )
        return queryset


class ReturnLineInline(ReadOnlyInline):
    model = ReturnLine
    verbose_name_plural = "lines"
    fields = ("sku", "quantity", "received_quantity", "resellable_quantity", "damaged_quantity", "restocked_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line")

    @admin.display(description="SKU")
    def sku(self, line: ReturnLine):
        return line.order_line.sku_code


class ReturnEventInline(AuditInline):
    model = ReturnEvent
    status_labels = dict(ReturnStatus.choices)
    action_labels = {
        "requested": "Buyer asked for a return",
        "approve": "Approved",
        "auto_approve": "Approved automatically",
        "reject": "Rejected",
        "await_shipment": "Waiting for the buyer to send it back",
        "mark_in_transit": "On its way back",
        "receive": "Parcel received",
        "inspect": "Inspected",
        "decide_refund": "Refund decided",
        "replace": "Replacement order created",
        "reject_after_inspection": "Rejected after inspection",
        "close": "Closed",
    }


# --- the admin -------------------------------------------------------------------------------------------


@admin.register(ReturnRequest)
class ReturnRequestAdmin(ExportMixin, RequestColumnsMixin, IdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    status_colours = STATUS_COLOURS
    resource_classes = [ReturnResource]
    formats = EXPORT_FORMATS
    list_display = (
        "id",
        "order_link",
        "seller_code",
        "type",
        "status_badge",
        "requested_at",
        "next_step",
        "refund_display",
    )
    list_filter = (QueueFilter, "status", "type", "seller")
    search_fields = ("order__external_id", "external_id", "return_tracking_number")
    search_help_text = "Order external id, return external id or return tracking number; an order id as #123."
    list_select_related = ("order", "seller", "refund")
    list_per_page = 50
    show_full_result_count = False
    ordering = ("-requested_at", "-id")
    actions = ("approve_selected", "reject_selected")
    inlines = (ReturnLineInline, ReturnEventInline)
    change_form_template = "admin/returns/returnrequest/change_form.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "order_link",
                    "seller",
                    "type",
                    "status_badge",
                    "marketplace_status",
                    "external_id",
                    "requested_by",
                    "reason_words",
                    "buyer_note",
                    "timer_error",
                )
            },
        ),
        (
            "Answer",
            {"fields": ("requested_at", "respond_by", "next_step", "decided_at", "decided_by_words", "decision_note")},
        ),
        (
            "Parcel back",
            {
                "fields": (
                    "return_carrier",
                    "return_tracking_number",
                    "shipped_back_at",
                    "received_at",
                    "inspected_at",
                    "inspection_note",
                )
            },
        ),
        ("Outcome", {"fields": ("refund_display", "replacement_link", "resolved_at", "resolution_note", "closed_at")}),
    )

    # The search box also takes an order id, typed as ``123`` or ``#123``.
    id_search_field = "order_id"

    def get_readonly_fields(self, request, obj=None):
        return helpers.flatten_fieldsets(self.fieldsets)

    def has_decide_permission(self, request):
        return request.user.has_perm(DECIDE_PERMISSION)

    # --- columns ---------------------------------------------------------------------------------------

    @admin.display(description="next step", ordering="respond_by")
    def next_step(self, ret: ReturnRequest):
        """While requested: the countdown to automatic approval, flagged once overdue (the timer is behind)."""
        if ret.status != ReturnStatus.REQUESTED:
            return {
                ReturnStatus.APPROVED: "refund decision",
                ReturnStatus.AUTO_APPROVED: "refund decision",
                ReturnStatus.AWAITING_RETURN_SHIPMENT: "buyer ships it back",
                ReturnStatus.IN_TRANSIT: "receive the parcel",
                ReturnStatus.RECEIVED: "inspect",
                ReturnStatus.INSPECTED: "refund, replace or reject",
            }.get(ret.status, "—")
        left = countdown(ret.respond_by, now=timezone.now())
        when = f"{local_time(ret.respond_by)}"
        if left.overdue:
            return format_html(
                '<strong style="color:#b3261e;white-space:nowrap">approval {} ({})</strong>', left.phrase, when
            )
        return format_html('<span style="white-space:nowrap" title="{}">auto-approved {}</span>', when, left.phrase)

    @admin.display(description="refund")
    def refund_display(self, ret: ReturnRequest):
        if ret.refund_amount is None:
            return "—"
        if not ret.refund_amount:
            return "none (decided)"
        status = ret.refund.get_status_display().lower() if ret.refund is not None else "?"
        return f"{money(ret.refund_amount)} ({status})"

    @admin.display(description="replacement order")
    def replacement_link(self, ret: ReturnRequest):
        if ret.replacement_order_id is None:
            return "—"
        url = reverse("admin:orders_order_change", args=[ret.replacement_order_id])
        return format_html('<a href="{}">#{}</a>', url, ret.replacement_order_id)

    # --- the return page and its steps -----------------------------------------------------------------

    def _allowed(self, request, step: Step) -> bool:
        return any(request.user.has_perm(p) for p in step.permissions)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        ret = self.get_object(request, unquote(object_id))
        buttons = []
        if ret is not None:
            buttons = [
                (step.label, reverse(f"admin:{step.url_name}", args=[ret.pk]))
                for step in STEPS
                if self._allowed(request, step) and step.applies(ret)
            ]
        extra_context = {**(extra_context or {}), "return_actions": buttons}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        def step_view(step: Step):
            def handle(request, object_id):
                return self._step(request, object_id, step)

            return handle

        return [
            *object_action_urls(self, [(step.slug, step_view(step), step.url_name) for step in STEPS]),
            *super().get_urls(),
        ]

    def _step(self, request, object_id, step: Step):
        """A button on the return page: its form, then the service; a refusal is shown on the same form."""
        ret = action_object(self, request, object_id, allowed=self._allowed(request, step), missing="No such return.")
        change_url = reverse("admin:returns_returnrequest_change", args=[ret.pk])
        form = step.make_form(ret, request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                self.message_user(request, step.run(ret, form, Actor.for_user(request.user)), messages.SUCCESS)
            except DomainError as exc:
                form.add_error(None, exc.detail)
            else:
                return HttpResponseRedirect(change_url)
        return self._form_page(
            request,
            [ret],
            form,
            title=f"{step.label.rstrip('…')}: {ret}",
            submit=step.submit,
            intro=step.intro(ret),
            back_url=change_url,
        )

    # --- bulk answers from the list -------------------------------------------------------------------

    @admin.action(description="Approve selected returns", permissions=["decide"])
    def approve_selected(self, request, queryset):
        return self._bulk(request, queryset, APPROVE, "approve_selected")

    @admin.action(description="Reject selected returns", permissions=["decide"])
    def reject_selected(self, request, queryset):
        return self._bulk(request, queryset, REJECT, "reject_selected")

    def _bulk(self, request, queryset, step: Step, action: str):
        chosen = bulk_selection(
            self, request, queryset.select_related("order", "seller"), limit=BULK_ACTION_LIMIT, noun="returns"
        )
        if chosen is None:
            return None
        form = step.make_form(None, request.POST if request.POST.get("confirm") else None)
        if form.is_bound and form.is_valid():
            actor = Actor.for_user(request.user)
            run_each(self, request, chosen, lambda ret: step.run(ret, form, actor))
            return None
        return self._form_page(
            request,
            chosen,
            form,
            title=f"{step.label} returns",
            submit=step.submit,
            bulk_action=action,
            back_url=reverse("admin:returns_returnrequest_changelist"),
        )

    def _form_page(self, request, chosen, form, *, title, submit, back_url, intro="", bulk_action=""):
        return admin_page(
            self,
            request,
            "admin/returns/returnrequest/action_form.html",
            title=title,
            returns=chosen,
            not_requested=[r for r in chosen if r.status != ReturnStatus.REQUESTED] if bulk_action else [],
            form=form,
            line_rows=form.rows() if isinstance(form, rf.LineForm) else None,
            line_headers=getattr(form, "line_headers", ()),
            # What was received is a column of its own, except on the form that asks for it.
            show_received="received" not in getattr(form, "line_fields", ("received",)),
            other_fields=form.other_fields() if isinstance(form, rf.LineForm) else list(form),
            intro=intro,
            submit_label=submit,
            bulk_action=bulk_action,
            action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
            back_url=back_url,
        )
