"""Cancellation requests in the console (R5): the queue with its countdowns, each request's history,
and approve / reject / create, each through ``returns.services.cancellations``.

Nothing here saves a model: the request is read-only, its status protected,
and every button calls a service that locks the order, then the request, and
writes the audit rows (django-fsm's admin mixin would save without the lock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from core.actors import Actor
from core.admin_tools import (
    AuditInline,
    IdSearchMixin,
    ReadOnlyAdminMixin,
    action_object,
    admin_page,
    bulk_selection,
    object_action_urls,
    run_each,
)
from core.display import countdown, local_time
from core.errors import DomainError
from orders import hooks
from orders.models import Order
from returns.admin.common import RequestColumnsMixin
from returns.models import CancellationRequest, CancellationRequestEvent, CancellationStatus, RequestedBy
from returns.services.cancellations import (
    CREATE_PERMISSION,
    DECIDE_PERMISSION,
    cancellation_request_approve,
    cancellation_request_create,
    cancellation_request_reject,
)

# Each request in a bulk action is its own locked transaction; keep a request's work bounded.
BULK_ACTION_LIMIT = 200

STATUS_COLOURS = {
    CancellationStatus.PENDING: "#8a6d00",
    CancellationStatus.APPROVED: "#1e7b34",
    CancellationStatus.AUTO_APPROVED: "#1e7b34",
    CancellationStatus.REJECTED: "#b3261e",
    CancellationStatus.WITHDRAWN: "#777",
}


# --- forms ---------------------------------------------------------------------------------------


class ApproveForm(forms.Form):
    note = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Optional; kept in the request's history. Approving cancels the order and refunds the seller.",
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required. Passed on to the marketplace, which tells the buyer why the order goes ahead.",
    )

    def __init__(self, *args, reasons: list[dict] | None = None, **kwargs):
        """``reasons``: the marketplace's own list (TikTok's reject reasons), offered instead of free text."""
        super().__init__(*args, **kwargs)
        if reasons:
            self.fields["reason"] = forms.ChoiceField(
                choices=[(r["text"], r["text"]) for r in reasons],
                help_text="Required. TikTok accepts only its own reasons; the buyer is told this one.",
            )


class CreateForm(forms.Form):
    order = forms.IntegerField(min_value=1, help_text="Our order id (the number shown as #123 in the order list).")
    requested_by = forms.ChoiceField(choices=RequestedBy.choices, initial=RequestedBy.BUYER)
    reason = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    external_id = forms.CharField(
        max_length=100, required=False, help_text="The marketplace's id for the request, if it has one."
    )

    def clean_order(self) -> int:
        order_id = self.cleaned_data["order"]
        if not Order.objects.filter(pk=order_id).exists():
            raise forms.ValidationError("There is no order with this id.")
        return order_id


@dataclass(frozen=True)
class Decision:
    """An answer needing a form: the list action and the button on the request page share it."""

    name: str
    url_name: str
    title: str
    button_label: str
    form_class: type[forms.Form]
    submit_label: str
    run: Callable[[CancellationRequest, dict, Actor], str]


def _form_options(decision: Decision, chosen: list[CancellationRequest]) -> dict:
    """A rejection of marketplace orders offers the marketplace's reasons (the first order's marketplace
    decides; the service refuses a reason another marketplace does not take)."""
    if decision.form_class is not RejectForm or not chosen:
        return {}
    return {"reasons": hooks.marketplace().reject_reasons(order=chosen[0].order, kind="CANCEL")}


def _already(done: CancellationRequest, actor: Actor) -> str | None:
    """The service returns an answered request unchanged; say so instead of claiming the answer."""
    if done.decided_by != str(actor)[:250]:
        return f"{done} was already {done.get_status_display().lower()}."
    return None


def _approve(request: CancellationRequest, data: dict, actor: Actor) -> str:
    done = cancellation_request_approve(request_id=request.pk, actor=actor, note=data["note"])
    return _already(done, actor) or (
        f"{done} approved: order {done.order_id} is cancelled, its stock released and any wholesale payment refunded."
    )


def _reject(request: CancellationRequest, data: dict, actor: Actor) -> str:
    done = cancellation_request_reject(request_id=request.pk, actor=actor, reason=data["reason"])
    return _already(done, actor) or f"{done} rejected: order {done.order_id} goes ahead."


APPROVE = Decision(
    name="approve_selected",
    url_name="returns_cancellationrequest_approve",
    title="Approve cancellation requests",
    button_label="Approve",
    form_class=ApproveForm,
    submit_label="Approve and cancel the orders",
    run=_approve,
)
REJECT = Decision(
    name="reject_selected",
    url_name="returns_cancellationrequest_reject",
    title="Reject cancellation requests",
    button_label="Reject",
    form_class=RejectForm,
    submit_label="Reject the requests",
    run=_reject,
)
DECISIONS = {d.name: d for d in (APPROVE, REJECT)}


# --- list filters and the history inline --------------------------------------------------------


class OverdueFilter(admin.SimpleListFilter):
    """Pending past ``respond_by``: the timer should have approved them (it is behind, or failing)."""

    title = "deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return (("overdue", "Overdue"), ("upcoming", "Not yet due"))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "overdue":
            return queryset.filter(status=CancellationStatus.PENDING, respond_by__lte=now)
        if self.value() == "upcoming":
            return queryset.filter(status=CancellationStatus.PENDING, respond_by__gt=now)
        return queryset


class CancellationRequestEventInline(AuditInline):
    model = CancellationRequestEvent
    status_labels = dict(CancellationStatus.choices)
    action_labels = {"requested": "Buyer asked to cancel", **dict(CancellationStatus.choices)}


# --- the admin -------------------------------------------------------------------------------------


@admin.register(CancellationRequest)
class CancellationRequestAdmin(RequestColumnsMixin, IdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    status_colours = STATUS_COLOURS
    list_display = (
        "id",
        "order_link",
        "seller_code",
        "status_badge",
        "requested_by",
        "requested_at",
        "auto_approval",
        "decided_at",
    )
    list_filter = ("status", OverdueFilter, "seller", "requested_by")
    search_fields = ("order__external_id", "external_id", "reason")
    search_help_text = "Order external id, request external id or reason; an order id as #123."
    list_select_related = ("order", "seller")
    list_per_page = 50
    show_full_result_count = False
    ordering = ("-requested_at", "-id")
    actions = (APPROVE.name, REJECT.name)
    inlines = (CancellationRequestEventInline,)
    change_form_template = "admin/returns/cancellationrequest/change_form.html"
    fields = (
        "order_link",
        "seller",
        "status_badge",
        "marketplace_status",
        "requested_by",
        "reason_words",
        "external_id",
        "requested_at",
        "respond_by",
        "auto_approval",
        "decided_at",
        "decided_by_words",
        "decision_note",
        "timer_error",
    )
    readonly_fields = fields
    # The search box also takes an order id, typed as ``123`` or ``#123``.
    id_search_field = "order_id"

    # --- permissions: read-only; answers and new requests go through the services -----------------

    def has_add_permission(self, request):
        return request.user.has_perm(CREATE_PERMISSION)

    def has_decide_permission(self, request):
        return request.user.has_perm(DECIDE_PERMISSION)

    # --- columns ----------------------------------------------------------------------------------

    @admin.display(description="auto-approval", ordering="respond_by")
    def auto_approval(self, obj: CancellationRequest):
        """Countdown to automatic approval while pending; flagged once overdue (the timer is behind)."""
        if obj.status != CancellationStatus.PENDING:
            return "—"
        left = countdown(obj.respond_by, now=timezone.now())
        when = f"{local_time(obj.respond_by)}"
        if left.overdue:
            return format_html('<strong style="color:#b3261e;white-space:nowrap">{} ({})</strong>', left.phrase, when)
        return format_html('<span style="white-space:nowrap" title="{}">{}</span>', when, left.phrase)

    # --- the request page -----------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        buttons = []
        if obj is not None and obj.status == CancellationStatus.PENDING and self.has_decide_permission(request):
            # Past ``respond_by`` the request is approved automatically: it can no longer be rejected.
            open_ = [APPROVE] if obj.respond_by <= timezone.now() else [APPROVE, REJECT]
            buttons = [(d.button_label, reverse(f"admin:{d.url_name}", args=[obj.pk])) for d in open_]
        extra_context = {**(extra_context or {}), "request_actions": buttons}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            *object_action_urls(
                self, [("approve", self.approve_view, APPROVE.url_name), ("reject", self.reject_view, REJECT.url_name)]
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        """Staff record a buyer's request (e.g. from a support ticket) through the same service as the API."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CreateForm(request.POST or None, initial={"order": request.GET.get("order")})
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                created_request, created = cancellation_request_create(
                    order_id=data["order"],
                    reason=data["reason"],
                    external_id=data["external_id"],
                    requested_by=data["requested_by"],
                    actor=Actor.for_user(request.user),
                )
            except DomainError as exc:
                form.add_error(None, exc.detail)
            else:
                text = (
                    f"{created_request} created; the seller is asked to answer."
                    if created
                    else (
                        f"Order {data['order']} already has {created_request} "
                        f"({created_request.get_status_display().lower()})."
                    )
                )
                self.message_user(request, text, messages.SUCCESS if created else messages.WARNING)
                return HttpResponseRedirect(
                    reverse("admin:returns_cancellationrequest_change", args=[created_request.pk])
                )
        return self._form_page(
            request,
            [],
            form,
            title="Add a cancellation request",
            submit_label="Create the request",
            bulk=False,
            intro="After the hold, a buyer's cancellation needs the seller's approval; it is approved "
            "automatically if nobody answers in time.",
            back_url=reverse("admin:returns_cancellationrequest_changelist"),
        )

    # --- approve and reject ----------------------------------------------------------------------

    @admin.action(description="Approve selected requests (cancels the orders)", permissions=["decide"])
    def approve_selected(self, request, queryset):
        return self._bulk(request, queryset, APPROVE)

    @admin.action(description="Reject selected requests", permissions=["decide"])
    def reject_selected(self, request, queryset):
        return self._bulk(request, queryset, REJECT)

    def approve_view(self, request, object_id):
        return self._single(request, object_id, APPROVE)

    def reject_view(self, request, object_id):
        return self._single(request, object_id, REJECT)

    def _bulk(self, request, queryset, decision: Decision):
        """Ask for the form on an intermediate page, then call the service per request."""
        chosen = bulk_selection(
            self, request, queryset.select_related("order", "seller"), limit=BULK_ACTION_LIMIT, noun="requests"
        )
        if chosen is None:
            return None
        form = decision.form_class(
            request.POST if request.POST.get("confirm") else None, **_form_options(decision, chosen)
        )
        if form.is_bound and form.is_valid():
            self._run(request, chosen, decision, form.cleaned_data)
            return None
        return self._form_page(
            request,
            chosen,
            form,
            title=decision.title,
            submit_label=decision.submit_label,
            bulk=True,
            decision=decision,
            back_url=reverse("admin:returns_cancellationrequest_changelist"),
        )

    def _single(self, request, object_id, decision: Decision):
        obj = action_object(
            self,
            request,
            object_id,
            allowed=self.has_decide_permission(request),
            missing="No such cancellation request.",
        )
        change_url = reverse("admin:returns_cancellationrequest_change", args=[obj.pk])
        data = request.POST if request.method == "POST" else None
        form = decision.form_class(data, **_form_options(decision, [obj]))
        if form.is_bound and form.is_valid():
            self._run(request, [obj], decision, form.cleaned_data)
            return HttpResponseRedirect(change_url)
        return self._form_page(
            request,
            [obj],
            form,
            title=decision.title,
            submit_label=decision.submit_label,
            bulk=False,
            decision=decision,
            back_url=change_url,
        )

    def _run(self, request, chosen: list[CancellationRequest], decision: Decision, data: dict) -> None:
        """One service call per request; a refused one gets its own message and does not stop the rest."""
        actor = Actor.for_user(request.user)
        run_each(self, request, chosen, lambda obj: decision.run(obj, data, actor))

    def _form_page(self, request, chosen, form, *, title, submit_label, bulk, back_url, decision=None, intro=""):
        return admin_page(
            self,
            request,
            "admin/returns/cancellationrequest/confirm_action.html",
            title=title,
            requests=chosen,
            not_pending=[obj for obj in chosen if obj.status != CancellationStatus.PENDING],
            form=form,
            intro=intro,
            decision=decision,
            submit_label=submit_label,
            bulk=bulk,
            action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
            back_url=back_url,
        )
