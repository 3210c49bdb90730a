"""R13: a buyer's cancellation or return request that waits for the seller is emailed to the seller at once."""

import pytest
from django.core import mail

from core.actors import Actor
from returns.services.cancellations import cancellation_request_approve, cancellation_request_create
from returns.services.returns import return_approve
from returns.tests.conftest import past_hold
from returns.tests.return_support import delivered_order, request_return

pytestmark = pytest.mark.django_db


def test_a_cancellation_request_emails_the_seller_after_commit_in_text_and_html(
    partner, seller, sku, django_capture_on_commit_callbacks
):
    order = past_hold(partner, seller)

    with django_capture_on_commit_callbacks(execute=True):
        cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner), reason="found it cheaper")

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [seller.email]
    assert f"{order.external_id} (#{order.pk})" in email.subject
    assert "answer within 47 hours" in email.subject
    assert "asks to cancel it" in email.body and "found it cheaper" in email.body
    assert "http://" in email.body and "/portal/requests/" in email.body
    html, mime = email.alternatives[0]
    assert mime == "text/html" and "/portal/requests/" in html and "found it cheaper" in html


def test_a_repeated_request_sends_no_second_email(partner, seller, sku, django_capture_on_commit_callbacks):
    order = past_hold(partner, seller)
    buyer = Actor.for_partner(partner)
    with django_capture_on_commit_callbacks(execute=True):
        cancellation_request_create(order_id=order.pk, actor=buyer, reason="changed my mind")
    with django_capture_on_commit_callbacks(execute=True):
        _, created = cancellation_request_create(order_id=order.pk, actor=buyer, reason="changed my mind")

    assert not created
    assert len(mail.outbox) == 1


def test_a_request_answered_before_the_email_goes_out_sends_nothing(
    partner, seller, sku, django_capture_on_commit_callbacks
):
    order = past_hold(partner, seller)
    request, _ = cancellation_request_create(order_id=order.pk, actor=Actor.for_partner(partner))  # email not sent yet
    cancellation_request_approve(request_id=request.pk, actor=Actor.system("test"))

    from returns.tasks import request_waiting_email

    assert request_waiting_email("cancellation", request.pk) == "not_waiting"
    assert mail.outbox == []


def test_a_return_request_emails_the_seller_with_its_type(
    partner, seller, sku, carrier, django_capture_on_commit_callbacks
):
    order = delivered_order(partner, seller, carrier, lines=[("TSHIRT-M", 2)])

    with django_capture_on_commit_callbacks(execute=True):
        ret = request_return(order, type="return_and_refund")

    assert len(mail.outbox) == 1
    assert "asks for a return (return and refund)" in mail.outbox[0].body
    assert f"#{order.pk}" in mail.outbox[0].subject
    return_approve(return_id=ret.pk, actor=Actor.system("test"))
    from returns.tasks import request_waiting_email

    assert request_waiting_email("return", ret.pk) == "not_waiting"
