"""Checkout emails: reminders of newly waiting orders (batched per seller), the daily digest, Auto Checkout failures."""

import io
import smtplib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse
from django_q.models import Schedule

from accounts.emails import portal_url
from accounts.models import Seller
from accounts.tests.factories import PartnerFactory, SellerFactory, make_staff_user
from backoffice import setup
from backoffice.timers import process_due_timers
from core.actors import Actor
from core.testing import run_in_threads
from fulfillment.tests.factories import make_sku
from orders.models import Order
from orders.services import order_cancel
from payments.models import AutoCheckout, CheckoutReminder, SellerEmail, SellerEmailKind, SellerEmailStatus
from payments.notify import notify_auto_checkout_failed
from payments.reminders import process_due_checkout_reminders, seller_email_send
from payments.services import auto_checkout_set, bank_transfer_record
from payments.tasks import checkout_digests_send
from payments.tests.conftest import SYSTEM, add_card, awaiting_order, held_order

pytestmark = pytest.mark.django_db


def _link(name: str) -> str:
    """Where an email's link to portal page ``name`` points: the page, or the order list until the page exists."""
    try:
        return f"{settings.SITE_URL}{reverse(name)}"
    except NoReverseMatch:
        return f"{settings.SITE_URL}{reverse('portal:orders')}"


def _html(message) -> str:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


def _end_holds(orders, capture, *, after=timedelta(seconds=10)):
    """Run the timer pass just after the last of ``orders``' holds ends, then once the reminder is due."""
    hold_end = max(order.hold_until for order in orders)
    with time_machine.travel(hold_end + after), capture(execute=True):
        ended = process_due_timers()
    with (
        time_machine.travel(hold_end + after + settings.CHECKOUT_REMINDER_DELAY + timedelta(minutes=1)),
        capture(execute=True),
    ):
        reminded = process_due_timers()
    return ended, reminded


@pytest.fixture
def other_shop(db):
    seller = SellerFactory(code="OTHER", name="Other Goods", email="other@example.com")
    partner = PartnerFactory(name="Other Connector", sellers=[seller])
    sku = make_sku(seller=seller, code="CUP", on_hand=100, wholesale_cost=800)
    return partner, seller, sku


# --- reminders of newly waiting orders --------------------------------------------------------------


def test_three_orders_ending_their_hold_together_give_one_reminder_listing_all_three(
    shop, django_capture_on_commit_callbacks
):
    orders = [held_order(shop, quantity=q, paid_ago=timedelta(0)) for q in (1, 2, 3)]

    hold_end = max(order.hold_until for order in orders)
    with time_machine.travel(hold_end + timedelta(seconds=10)), django_capture_on_commit_callbacks(execute=True):
        assert process_due_timers()["holds_ended"] == 3
    assert mail.outbox == []  # the reminder waits a little, so orders that start waiting together share one email

    with (
        time_machine.travel(hold_end + settings.CHECKOUT_REMINDER_DELAY + timedelta(minutes=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        counts = process_due_timers()

    assert counts["checkout_reminder_emails"] == 1
    [email] = mail.outbox
    assert email.to == ["payer@example.com"]
    assert email.subject == "3 new orders are waiting for your payment ($75.00 due)"
    for order, share in zip(orders, ("$12.50", "$25.00", "$37.50"), strict=True):
        assert f"- {order.external_id} (#{order.pk}): {share}" in email.body
        assert f'<strong>{order.external_id}</strong> <span style="color:#6b7280;">#{order.pk}</span>' in _html(email)
    assert "Total due: $75.00" in email.body
    assert f"Pay now: {_link('portal:unpaid')}" in email.body
    assert f'href="{_link("portal:unpaid")}"' in _html(email)
    assert email.body.startswith("Hello Payer Goods,\n")

    # Later passes, however many, say nothing more about these orders.
    with time_machine.travel(hold_end + timedelta(hours=3)), django_capture_on_commit_callbacks(execute=True):
        assert process_due_timers()["checkout_reminder_emails"] == 0
        assert process_due_checkout_reminders(now=hold_end + timedelta(hours=3))["checkout_reminder_emails"] == 0
    assert len(mail.outbox) == 1
    sent = SellerEmail.objects.get()
    assert (sent.kind, sent.status, sent.recipient, sent.subject) == (
        SellerEmailKind.CHECKOUT_REMINDER,
        SellerEmailStatus.SENT,
        "payer@example.com",
        email.subject,
    )
    assert set(sent.reminders.values_list("order_id", flat=True)) == {o.pk for o in orders}


def test_an_order_starting_to_wait_during_the_delay_joins_the_same_email(shop, django_capture_on_commit_callbacks):
    first = held_order(shop, quantity=1, paid_ago=timedelta(0))
    second = held_order(shop, quantity=2, paid_ago=timedelta(0))
    # The second hold ends two minutes after the first: before the first order's reminder is due.
    Order.objects.filter(pk=second.pk).update(hold_until=first.hold_until + timedelta(minutes=2))

    with time_machine.travel(first.hold_until + timedelta(seconds=5)), django_capture_on_commit_callbacks(execute=True):
        process_due_timers()
    with (
        time_machine.travel(first.hold_until + timedelta(minutes=2, seconds=5)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        process_due_timers()
    with (
        time_machine.travel(first.hold_until + settings.CHECKOUT_REMINDER_DELAY + timedelta(minutes=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        process_due_timers()

    [email] = mail.outbox
    assert email.subject == "2 new orders are waiting for your payment ($37.50 due)"
    assert CheckoutReminder.objects.filter(due_at__isnull=False).count() == 0


def test_orders_paid_or_cancelled_before_the_pass_are_left_out(shop, django_capture_on_commit_callbacks):
    kept, cancelled, paid = (held_order(shop, quantity=q, paid_ago=timedelta(0)) for q in (1, 2, 3))
    finance = Actor.for_user(make_staff_user("Finance"))
    hold_end = max(o.hold_until for o in (kept, cancelled, paid))

    with time_machine.travel(hold_end + timedelta(seconds=10)), django_capture_on_commit_callbacks(execute=True):
        process_due_timers()
        order_cancel(order_id=cancelled.pk, by="seller", reason="out of stock", actor=SYSTEM)
        bank_transfer_record(order_id=paid.pk, reference="BANK-42", actor=finance)
    with (
        time_machine.travel(hold_end + settings.CHECKOUT_REMINDER_DELAY + timedelta(minutes=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        process_due_timers()

    [email] = mail.outbox
    assert email.subject == f"Order {kept.external_id} (#{kept.pk}) is waiting for your payment ($12.50 due)"
    assert cancelled.external_id not in email.body and paid.external_id not in email.body
    assert list(SellerEmail.objects.get().reminders.values_list("order_id", flat=True)) == [kept.pk]


def test_nothing_is_sent_when_every_order_was_paid_or_cancelled(shop, django_capture_on_commit_callbacks):
    order = held_order(shop, paid_ago=timedelta(0))
    with (
        time_machine.travel(order.hold_until + timedelta(seconds=10)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        process_due_timers()
        order_cancel(order_id=order.pk, by="seller", reason="damaged", actor=SYSTEM)
    with time_machine.travel(order.hold_until + timedelta(hours=1)), django_capture_on_commit_callbacks(execute=True):
        counts = process_due_timers()

    assert counts["checkout_reminder_emails"] == 0
    assert mail.outbox == [] and not SellerEmail.objects.exists()
    assert CheckoutReminder.objects.get(order=order).due_at is None


def test_each_seller_gets_one_email_with_only_its_own_orders(shop, other_shop, django_capture_on_commit_callbacks):
    mine = [held_order(shop, quantity=1, paid_ago=timedelta(0)) for _ in range(2)]
    theirs = [held_order(other_shop, quantity=1, paid_ago=timedelta(0)) for _ in range(3)]

    _, counts = _end_holds([*mine, *theirs], django_capture_on_commit_callbacks)

    assert counts["checkout_reminder_emails"] == 2
    by_address = {email.to[0]: email for email in mail.outbox}
    assert set(by_address) == {"payer@example.com", "other@example.com"}
    assert by_address["payer@example.com"].subject == "2 new orders are waiting for your payment ($25.00 due)"
    assert by_address["other@example.com"].subject == "3 new orders are waiting for your payment ($24.00 due)"
    for order in mine:
        assert order.external_id in by_address["payer@example.com"].body
        assert order.external_id not in by_address["other@example.com"].body
    for order in theirs:
        assert order.external_id in by_address["other@example.com"].body
        assert order.external_id not in by_address["payer@example.com"].body


def test_an_auto_checkout_seller_gets_no_reminder(shop, emulator, django_capture_on_commit_callbacks):
    _, seller, _ = shop
    add_card(emulator, seller)
    auto_checkout_set(seller=seller, enabled=True, actor=SYSTEM)
    orders = [held_order(shop, quantity=1, paid_ago=timedelta(0)) for _ in range(2)]

    ended, reminded = _end_holds(orders, django_capture_on_commit_callbacks)

    assert ended["holds_ended"] == 2
    assert reminded["checkout_reminder_emails"] == 0
    assert mail.outbox == []  # charged by Auto Checkout, nothing to pay by hand
    assert not CheckoutReminder.objects.exists()


def test_switching_auto_checkout_on_before_the_reminder_cancels_it(shop, emulator, django_capture_on_commit_callbacks):
    _, seller, _ = shop
    add_card(emulator, seller)
    order = held_order(shop, paid_ago=timedelta(0))
    with time_machine.travel(order.hold_until + timedelta(seconds=5)), django_capture_on_commit_callbacks(execute=True):
        process_due_timers()
        auto_checkout_set(seller=seller, enabled=True, actor=SYSTEM)  # charges the waiting order
    with time_machine.travel(order.hold_until + timedelta(hours=1)), django_capture_on_commit_callbacks(execute=True):
        assert process_due_timers()["checkout_reminder_emails"] == 0
    assert mail.outbox == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_passes_send_one_reminder(shop):
    orders = [awaiting_order(shop, quantity=1) for _ in range(5)]
    later = max(o.hold_until for o in orders) + timedelta(hours=3)  # awaiting_order ended the holds two hours ago

    results, errors = run_in_threads(4, lambda i: process_due_checkout_reminders(now=later))

    assert errors == []
    assert sum(r["checkout_reminder_emails"] for r in results) == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "5 new orders are waiting for your payment ($62.50 due)"
    assert SellerEmail.objects.get().reminders.count() == 5


def test_a_refused_send_is_retried_by_the_timer_then_marked_failed(shop, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "payments.tests.test_emails.RefusingBackend"
    order = awaiting_order(shop)
    start = order.hold_until + timedelta(hours=3)

    with time_machine.travel(start), django_capture_on_commit_callbacks(execute=True):
        process_due_timers()
    email = SellerEmail.objects.get()
    assert (email.status, email.attempts) == (SellerEmailStatus.PENDING, 1)
    assert "SMTPServerDisconnected" in email.last_error

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(start + timedelta(minutes=2)), django_capture_on_commit_callbacks(execute=True):
        assert process_due_timers()["seller_emails_resent"] == 1
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (SellerEmailStatus.SENT, 2, "")
    assert len(mail.outbox) == 1

    # Sending the same email again (a duplicate task) does nothing.
    assert seller_email_send(email_id=email.pk) == "done"
    assert len(mail.outbox) == 1


def test_an_email_the_server_keeps_refusing_ends_failed(shop, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "payments.tests.test_emails.RefusingBackend"
    order = awaiting_order(shop)
    moment = order.hold_until + timedelta(hours=3)
    for _ in range(8):
        with time_machine.travel(moment), django_capture_on_commit_callbacks(execute=True):
            process_due_timers()
        moment += timedelta(hours=3)
    email = SellerEmail.objects.get()
    assert (email.status, email.attempts, email.next_attempt_at) == (SellerEmailStatus.FAILED, 5, None)


class RefusingBackend:
    """An email backend whose server hangs up on every message."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


# --- the daily digest ------------------------------------------------------------------------------


def _digests(capture) -> int:
    """The daily schedule's task, with the send tasks it queues run as they would after commit."""
    with capture(execute=True):
        return checkout_digests_send()


def test_the_digest_goes_out_once_a_day_while_orders_wait(shop, other_shop, django_capture_on_commit_callbacks):
    first, second = awaiting_order(shop, quantity=1), awaiting_order(shop, quantity=2)
    morning = datetime.now(ZoneInfo(settings.TIME_ZONE)).replace(hour=9, minute=0) + timedelta(days=1)

    with time_machine.travel(morning):
        assert _digests(django_capture_on_commit_callbacks) == 1
    with time_machine.travel(morning + timedelta(hours=5)):
        assert _digests(django_capture_on_commit_callbacks) == 0  # twice the same day: nothing more

    [digest] = mail.outbox
    assert digest.to == ["payer@example.com"]
    assert digest.subject == "Daily reminder: 2 orders are waiting for your payment ($37.50 due)"
    assert f"- {first.external_id} (#{first.pk}): $12.50" in digest.body
    assert f"- {second.external_id} (#{second.pk}): $25.00" in digest.body
    assert "Total due: $37.50" in digest.body
    assert f'href="{_link("portal:unpaid")}"' in _html(digest)

    finance = Actor.for_user(make_staff_user("Finance"))
    bank_transfer_record(order_id=first.pk, reference="BANK-1", actor=finance)
    with time_machine.travel(morning + timedelta(days=1)):
        assert _digests(django_capture_on_commit_callbacks) == 1
    assert mail.outbox[-1].subject == "Daily reminder: 1 order is waiting for your payment ($25.00 due)"
    assert first.external_id not in mail.outbox[-1].body

    bank_transfer_record(order_id=second.pk, reference="BANK-2", actor=finance)
    with time_machine.travel(morning + timedelta(days=2)):
        assert _digests(django_capture_on_commit_callbacks) == 0  # nothing waits any more
    assert len(mail.outbox) == 2


def test_the_digest_leaves_out_orders_auto_checkout_is_still_charging(shop, django_capture_on_commit_callbacks):
    order = awaiting_order(shop)
    Seller.objects.filter(pk=order.seller_id).update(auto_checkout=True)
    AutoCheckout.objects.create(
        order=order, seller_id=order.seller_id, next_attempt_at=order.hold_until + timedelta(hours=6)
    )

    assert _digests(django_capture_on_commit_callbacks) == 0
    AutoCheckout.objects.filter(order=order).update(next_attempt_at=None, gave_up_at=order.hold_until)  # it gave up
    assert _digests(django_capture_on_commit_callbacks) == 1
    assert order.external_id in mail.outbox[0].body


def test_ops_can_send_the_digest_by_hand_without_doubling_it(shop):
    awaiting_order(shop)
    out = io.StringIO()

    call_command("send_checkout_digests", stdout=out)
    call_command("send_checkout_digests", stdout=out)

    assert "Digests written: 1\nsent: 1" in out.getvalue()
    assert "No digest to send" in out.getvalue()
    assert len(mail.outbox) == 1


def test_migrate_keeps_one_daily_digest_schedule_at_the_configured_time(settings):
    settings.CHECKOUT_DIGEST_TIME = datetime.strptime("07:30", "%H:%M").time()
    setup.ensure_schedules()
    setup.ensure_schedules()

    schedule = Schedule.objects.get(name=setup.CHECKOUT_DIGEST_SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "payments.tasks.checkout_digests_send",
        Schedule.DAILY,
        -1,
    )
    local = schedule.next_run.astimezone(ZoneInfo(settings.TIME_ZONE))
    assert (local.hour, local.minute) == (7, 30)
    assert timedelta(0) < schedule.next_run - datetime.now(ZoneInfo("UTC")) <= timedelta(days=1)


# --- Auto Checkout failure -------------------------------------------------------------------------


def test_auto_checkout_giving_up_sends_a_text_and_html_email_with_portal_links(
    shop, django_capture_on_commit_callbacks
):
    _, seller, _ = shop
    # Auto Checkout on without a card (the card was removed behind its back): the charge gives up at once.
    Seller.objects.filter(pk=seller.pk).update(auto_checkout=True)
    with django_capture_on_commit_callbacks(execute=True):
        order = awaiting_order(shop, quantity=2)

    [email] = mail.outbox
    assert email.subject == "Auto Checkout could not pay 1 order: action needed"
    assert email.to == ["payer@example.com"]
    assert f"- {order.external_id} (#{order.pk}): $25.00" in email.body
    assert "Why: " in email.body and "card" in email.body
    assert _link("portal:unpaid") in email.body
    assert _link("portal:payment") in email.body
    html = _html(email)
    assert f'href="{_link("portal:unpaid")}"' in html and f'href="{_link("portal:payment")}"' in html
    assert "<strong>Why:</strong>" in html and "$25.00" in html
    assert not CheckoutReminder.objects.exists()  # an Auto Checkout seller is told by this email, not a reminder


def test_the_failure_email_escapes_what_it_quotes_and_skips_orders_no_longer_waiting(shop):
    first, second = awaiting_order(shop, quantity=1), awaiting_order(shop, quantity=1)
    order_cancel(order_id=second.pk, by="seller", reason="damaged", actor=SYSTEM)

    notify_auto_checkout_failed(order_ids=[first.pk, second.pk], reason="Declined <script>alert(1)</script>")

    [email] = mail.outbox
    assert email.subject == "Auto Checkout could not pay 1 order: action needed"
    assert "Why: Declined <script>alert(1)</script>" in email.body  # plain text is not HTML
    assert "&lt;script&gt;" in _html(email) and "<script>" not in _html(email)
    assert second.external_id not in email.body

    notify_auto_checkout_failed(order_ids=[second.pk], reason="Declined")
    assert len(mail.outbox) == 1  # nothing waits: nothing to tell


def test_portal_links_fall_back_to_the_order_list():
    assert portal_url("portal:no_such_page") == f"{settings.SITE_URL}{reverse('portal:orders')}"
    assert portal_url("portal:no_such_page", fallback=None) is None
    assert portal_url("portal:orders") == f"{settings.SITE_URL}/portal/"


# --- configuration -------------------------------------------------------------------------------


def test_one_email_url_configures_smtp_and_a_bad_digest_time_is_refused():
    from backoffice.tests.test_settings import run_manage

    shown = run_manage(
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.EMAIL_HOST_USER, "
        "s.CHECKOUT_DIGEST_TIME)",
        DEBUG="true",
        EMAIL_URL="smtp+tls://mailer:secret@smtp.example.com:587",
        CHECKOUT_DIGEST_TIME="07:45",
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1].split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "587",
        "True",
        "mailer",
        "07:45:00",
    ]

    refused = run_manage("check", DEBUG="true", CHECKOUT_DIGEST_TIME="25:00")
    assert refused.returncode != 0
    assert "CHECKOUT_DIGEST_TIME is a local time of day written HH:MM" in refused.stderr
