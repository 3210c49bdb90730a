"""No raw status, reason or action code, rule number or "kind:label" actor reaches a person.

Two sweeps over everything people read:

* every template we ship (portal, admin, emails) is read as text, without its
  tags: no code may be written in it, and no code field may be printed as is
  (``{{ order.status }}`` instead of its label);
* the demo data, which has an order in every state, is rendered through the
  portal's and the admin's pages and the emails the sellers got, and the text
  a person sees is searched for every code.
"""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.db import models
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.timers import process_due_timers
from fulfillment.models import CarrierHandover, Handover, ShipmentEventType, ShipmentStatus
from fulfillment.sla import SlaClockName, SlaState
from orders.models import CancelledBy, Order, OrderAction, OrderStatus
from payments.models import (
    PAYMENT_ACTION_LABELS,
    LedgerMethod,
    Payment,
    PaymentStatus,
    PaymentTrigger,
    RefundKind,
    RefundStatus,
    SellerEmailKind,
    SellerEmailStatus,
)
from payments.reminders import checkout_digests_queue
from returns.models import (
    RETURN_REASON_LABELS,
    CancellationRequest,
    CancellationStatus,
    RequestedBy,
    ReturnRequest,
    ReturnStatus,
    ReturnType,
)

TEMPLATES = Path(settings.BASE_DIR) / "templates"
CHOICES: list[type[models.TextChoices]] = [
    OrderStatus,
    CancelledBy,
    OrderAction,
    ShipmentStatus,
    ShipmentEventType,
    Handover,
    CarrierHandover,
    SlaClockName,
    SlaState,
    PaymentStatus,
    PaymentTrigger,
    RefundKind,
    RefundStatus,
    LedgerMethod,
    SellerEmailKind,
    SellerEmailStatus,
    CancellationStatus,
    RequestedBy,
    ReturnType,
    ReturnStatus,
]
# Codes are the values written with an underscore (``awaiting_checkout``, ``wrong_item``): single words such
# as "pending" are English as well as codes, and their labels say the same thing.
CODES = sorted(
    {value for choices in CHOICES for value in choices.values if "_" in value}
    | {code for code in RETURN_REASON_LABELS if "_" in code}
    | set(PAYMENT_ACTION_LABELS)
)
CODE_RE = re.compile(r"(?<![\w./-])(" + "|".join(map(re.escape, CODES)) + r")(?![\w/-])")
RULE_RE = re.compile(r"\(R\d{1,2}\)|\bR(?:[1-9]|1[0-7])\b(?![\w-])")
ACTOR_RE = re.compile(r"\b(?:staff|system|partner|seller):[A-Za-z]")
# A code field printed as it is stored, rather than its label.
RAW_FIELD_RE = re.compile(
    r"\{\{\s*(?:row\.|slip\.)?(?:order|ret|obj|refund|payment|shipment|request|cancel_request|return_request)"
    r"\.(status|reason|kind|action|trigger|method|cancelled_by|requested_by|decided_by|type|failure_code"
    r"|from_status|to_status|handover_method)\s*(\||}})"
)


def problems_in(text: str) -> list[str]:
    found = [f"code {m.group(1)!r}" for m in CODE_RE.finditer(text)]
    found += [f"rule number {m.group(0)!r}" for m in RULE_RE.finditer(text)]
    found += [f"actor {m.group(0)!r}" for m in ACTOR_RE.finditer(text)]
    return found


def visible_text(markup: str) -> str:
    """What a person reads on a page: no scripts, styles, tags or attributes."""
    markup = re.sub(r"(?is)<(script|style|template)\b.*?</\1>", " ", markup)
    markup = re.sub(r"(?s)<!--.*?-->", " ", markup)
    markup = re.sub(r"(?s)<[^>]*>", " ", markup)
    return html.unescape(markup)


def template_text(source: str) -> tuple[str, str]:
    """A template as (text with its output tags, text a person reads): comments, block tags and HTML removed."""
    source = re.sub(r"(?s)\{% comment %\}.*?\{% endcomment %\}", " ", source)
    source = re.sub(r"(?s)\{#.*?#\}", " ", source)
    source = re.sub(r"(?s)\{%.*?%\}", " ", source)
    without_tags = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", source)
    without_tags = re.sub(r"(?s)<[^>]*>", " ", without_tags)
    return without_tags, re.sub(r"(?s)\{\{.*?\}\}", " ", without_tags)


def test_the_sweep_finds_what_it_is_meant_to_find():
    assert problems_in("Status: awaiting_checkout. Reason: wrong_item (R5); by staff:alice") == [
        "code 'awaiting_checkout'",
        "code 'wrong_item'",
        "rule number '(R5)'",
        "actor 'staff:a'",
    ]
    assert problems_in("Awaiting checkout, wrong item sent; RETURN_OR_REFUND_REQUEST_PENDING 1Z999") == []
    assert RAW_FIELD_RE.search("<p>{{ ret.reason }}</p>") and not RAW_FIELD_RE.search("{{ ret.reason_label }}")


@pytest.mark.parametrize("path", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.*")))
def test_no_template_writes_a_code_or_prints_a_code_field(path):
    with_outputs, text = template_text((TEMPLATES / path).read_text())

    assert problems_in(text) == []
    assert [m.group(0) for m in RAW_FIELD_RE.finditer(with_outputs)] == []


# --- the rendered pages and emails, over the demo data ----------------------------------------------


def _urls(*names_and_args) -> list[str]:
    return [reverse(name, args=args) for name, *args in names_and_args]


def _sample_orders() -> list[Order]:
    """One order of every status, and one with a stock exception."""
    picked = {}
    for order in Order.objects.order_by("pk"):
        picked.setdefault(order.status, order)
    exception = Order.objects.filter(stock_exception=True).first()
    return [*picked.values(), *([exception] if exception else [])]


@pytest.mark.django_db
def test_no_page_or_email_shows_a_raw_code(tmp_path, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", var_dir=str(tmp_path), stdout=io.StringIO())
    # Reminders go out a few minutes after orders start waiting, and the daily digest once a day.
    with (
        time_machine.travel(timezone.now() + timedelta(minutes=30)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        process_due_timers()
        checkout_digests_queue(now=timezone.now())
    seller_orders = [o for o in _sample_orders() if o.seller.code == "ACME"]
    portal = Client()
    assert portal.login(request=HttpRequest(), username="acme", password="acme-pass")
    portal_pages = _urls(
        ("portal:orders",),
        ("portal:unpaid",),
        ("portal:payment",),
        ("portal:requests",),
        ("portal:statement",),
        ("portal:performance",),
    ) + [reverse("portal:returns") + "?show=all"]
    portal_pages += [reverse("portal:orders") + f"?status={status}" for status in OrderStatus.values]
    portal_pages += [reverse("portal:order_detail", args=[o.pk]) for o in seller_orders]

    admin = Client()
    admin.force_login(get_user_model().objects.get(username="admin"))
    admin_pages = _urls(
        ("admin:index",),
        ("admin:orders_order_changelist",),
        ("admin:payments_payment_changelist",),
        ("admin:payments_refund_changelist",),
        ("admin:returns_returnrequest_changelist",),
        ("admin:returns_cancellationrequest_changelist",),
        ("admin:fulfillment_shipment_changelist",),
        ("admin:fulfillment_carrier_changelist",),
        ("admin:payments_selleremail_changelist",),
    )
    admin_pages += [
        reverse("admin:fulfillment_console") + f"?stage={s}" for s in ("to_ship", "collection", "needs_stock")
    ]
    admin_pages += [reverse("admin:orders_order_change", args=[o.pk]) for o in _sample_orders()]
    admin_pages += [reverse("admin:returns_returnrequest_change", args=[r.pk]) for r in ReturnRequest.objects.all()[:5]]
    admin_pages += [
        reverse("admin:returns_cancellationrequest_change", args=[r.pk]) for r in CancellationRequest.objects.all()[:3]
    ]
    admin_pages += [reverse("admin:payments_payment_change", args=[p.pk]) for p in Payment.objects.all()[:3]]
    admin_pages += [reverse("admin:accounts_seller_change", args=[Order.objects.first().seller_id])]

    found = {}
    for client, pages in ((portal, portal_pages), (admin, admin_pages)):
        for url in pages:
            response = client.get(url)
            assert response.status_code == 200, url
            problems = problems_in(visible_text(response.content.decode()))
            if problems:
                found[url] = sorted(set(problems))
    assert len(mail.outbox) >= 3
    for message in mail.outbox:
        texts = [message.subject, message.body, *(visible_text(body) for body, _ in message.alternatives)]
        problems = [p for text in texts for p in problems_in(text)]
        if problems:
            found[f"email {message.subject!r}"] = sorted(set(problems))
    assert found == {}, "\n".join(f"{where}: {what}" for where, what in found.items())
