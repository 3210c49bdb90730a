"""The portal's Requests tab: the buyers' cancellation requests (R5) and returns (R11) that wait
for the seller, each with its countdown to automatic approval and approve / reject buttons.

Every page acts for ``portal_seller_for_user`` only: a request id from the
browser is looked up among that seller's rows, so another seller's request is
a 404. Answers go through ``returns.services`` (which check the seller's
access again under lock); their ``DomainError`` codes become messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from core.actors import Actor
from core.display import Countdown, countdown
from core.errors import DomainError
from orders import hooks
from orders.models import Order
from payments.selectors import order_checkout
from portal.auth import error_text, seller_required
from portal.display import status_label
from returns.models import CancellationRequest, ReturnRequest
from returns.selectors import seller_pending_cancellation_requests, seller_pending_returns
from returns.services.cancellations import cancellation_request_approve, cancellation_request_reject
from returns.services.returns import return_approve as return_approve_service
from returns.services.returns import return_reject as return_reject_service

# Where a DomainError's own detail is not what a seller should read.


class RejectForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        error_messages={"required": "Give a reason for rejecting: the buyer is told why."},
    )


def _back(request, default: str):
    """Back to the page the form was on (an order's page, or the Requests tab), never off-site."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


# --- rows -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CancellationRow:
    request: CancellationRequest
    order_url: str
    order_status_label: str
    countdown: Countdown
    approve_url: str
    reject_url: str
    reject_reasons: list[dict]


def cancellation_row(cancel_request: CancellationRequest, *, now) -> CancellationRow:
    order = cancel_request.order
    return CancellationRow(
        reject_reasons=hooks.marketplace().reject_reasons(order=order, kind="CANCEL"),
        request=cancel_request,
        order_url=reverse("portal:order_detail", args=[order.pk]),
        order_status_label=status_label(order.status),
        countdown=countdown(cancel_request.respond_by, now=now),
        approve_url=reverse("portal:cancellation_approve", args=[cancel_request.pk]),
        reject_url=reverse("portal:cancellation_reject", args=[cancel_request.pk]),
    )


@dataclass(frozen=True)
class ReturnRow:
    request: ReturnRequest
    order_url: str
    lines: list[str]
    countdown: Countdown
    approve_url: str
    reject_url: str


def return_row(return_request: ReturnRequest, *, now) -> ReturnRow:
    return ReturnRow(
        request=return_request,
        order_url=reverse("portal:order_detail", args=[return_request.order_id]),
        lines=[f"{line.quantity} × {line.order_line.sku_code}" for line in return_request.lines.all()],
        countdown=countdown(return_request.respond_by, now=now),
        approve_url=reverse("portal:return_approve", args=[return_request.pk]),
        reject_url=reverse("portal:return_reject", args=[return_request.pk]),
    )


# --- pages ---------------------------------------------------------------------------------------------


@require_GET
@seller_required
def requests_list(request, seller):
    """What waits for the seller's answer, the most urgent first."""
    now = timezone.now()
    cancellations = [cancellation_row(r, now=now) for r in seller_pending_cancellation_requests(seller=seller)]
    returns = [return_row(r, now=now) for r in seller_pending_returns(seller=seller)]
    context = {
        "seller": seller,
        "cancellations": cancellations,
        "returns": returns,
        "back": reverse("portal:requests"),
    }
    return render(request, "portal/requests.html", context)


@require_POST
@seller_required
def cancellation_approve(request, seller, pk: int):
    """Approving cancels the order for good, so the first POST shows what it does and asks to confirm;
    the confirmation's POST (``confirmed``) answers."""
    cancel_request = get_object_or_404(CancellationRequest.objects.select_related("order"), pk=pk, seller=seller)
    if request.POST.get("confirmed") != "yes":
        context = {
            "seller": seller,
            "row": cancellation_row(cancel_request, now=timezone.now()),
            "next": request.POST.get("next", ""),
            "paid": order_checkout(cancel_request.order).status in ("paid", "processing"),
        }
        return render(request, "portal/cancellation_confirm.html", context)
    return _answer(
        request,
        lambda: cancellation_request_approve(request_id=cancel_request.pk, actor=Actor.for_user(request.user)),
        success=lambda: _approved_text(cancel_request.order_id),
    )


def _approved_text(order_id: int) -> str:
    """What approving did, including the refund of the wholesale payment as it stands now (R7)."""
    checkout = order_checkout(Order.objects.get(pk=order_id))
    text = f"Cancellation approved: order #{order_id} is cancelled and its stock released."
    if checkout.status == "refunded":
        return f"{text} Your wholesale payment for it has been refunded."
    if checkout.payment_id is not None:
        return f"{text} Your wholesale payment for it is being refunded."
    return text


@require_POST
@seller_required
def cancellation_reject(request, seller, pk: int):
    cancel_request = get_object_or_404(CancellationRequest, pk=pk, seller=seller)
    reason = _reject_reason(request)
    if reason is None:
        return _back(request, reverse("portal:requests"))
    return _answer(
        request,
        lambda: cancellation_request_reject(
            request_id=cancel_request.pk, reason=reason, actor=Actor.for_user(request.user)
        ),
        success=lambda: f"Cancellation rejected: order #{cancel_request.order_id} goes ahead.",
    )


@require_POST
@seller_required
def return_approve(request, seller, pk: int):
    return_request = get_object_or_404(ReturnRequest, pk=pk, seller=seller)
    return _answer(
        request,
        lambda: return_approve_service(return_id=return_request.pk, actor=Actor.for_user(request.user)),
        success=lambda: f"Return for order #{return_request.order_id} approved.",
    )


@require_POST
@seller_required
def return_reject(request, seller, pk: int):
    return_request = get_object_or_404(ReturnRequest, pk=pk, seller=seller)
    reason = _reject_reason(request)
    if reason is None:
        return _back(request, reverse("portal:requests"))
    return _answer(
        request,
        lambda: return_reject_service(return_id=return_request.pk, reason=reason, actor=Actor.for_user(request.user)),
        success=lambda: f"Return for order #{return_request.order_id} rejected.",
    )


def _reject_reason(request) -> str | None:
    """The reason a rejection needs, or None after telling the seller it is missing."""
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["reason"]))
        return None
    return form.cleaned_data["reason"]


def _answer(request, call, *, success):
    """Run the seller's answer through its service; a refusal becomes a message, never an error page."""
    try:
        call()
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, success())
    return _back(request, reverse("portal:requests"))
