"""Idempotent set-up run after every ``migrate``: staff groups, the timer and digest schedules and the Stripe rows."""

import datetime
import logging

from django.apps import apps as global_apps
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from django_q.models import Schedule

from fulfillment.carriers import carriers_seed_defaults
from fulfillment.models import Carrier
from payments.stripe_setup import ensure_stripe
from tiktok.marketplace import tiktok_logistics_carrier_ensure

logger = logging.getLogger(__name__)

TIMER_SCHEDULE_NAME = "process_due_timers"
CHECKOUT_DIGEST_SCHEDULE_NAME = "checkout_digests"
PRUNE_SCHEDULE_NAME = "prune_old_rows"

# Group → permission codenames ("app_label.codename"). Only additive: a
# permission staff granted by hand is never taken away here.
GROUP_PERMISSIONS = {
    "Warehouse": [
        "orders.view_order",
        "orders.view_orderline",
        "orders.view_orderevent",
        "orders.view_buyer_details",  # they print the labels (R12)
        "fulfillment.view_sku",
        "fulfillment.view_stock",
        "fulfillment.change_stock",
        "fulfillment.view_reservation",
        # Pick, pack, label, hand over, correct tracking, enter carrier events; keep the carrier list.
        "fulfillment.view_shipment",
        "fulfillment.work_shipment",
        "fulfillment.record_carrier_event",
        "fulfillment.view_shipmentevent",
        "fulfillment.view_carrier",
        "fulfillment.add_carrier",
        "fulfillment.change_carrier",
        # Returned parcels (R11): receive and inspect them line by line; resellable units go back into stock.
        "returns.view_returnrequest",
        "returns.view_returnline",
        "returns.view_returnevent",
        "returns.receive_returnrequest",
    ],
    "Support": [
        "orders.view_order",
        "orders.view_orderline",
        "orders.view_orderevent",
        "orders.cancel_order",
        "accounts.view_seller",
        "accounts.view_partner",
        "webhooks.view_webhookevent",  # partner webhooks: attempts, parked events, redelivery
        "webhooks.view_webhookdelivery",
        "webhooks.redeliver_webhookevent",
        "fulfillment.view_sku",
        "fulfillment.view_stock",
        # Lost parcels and late deliveries land with support: they see shipments and may enter a carrier event.
        "fulfillment.view_shipment",
        "fulfillment.view_shipmentevent",
        "fulfillment.view_carrier",
        "fulfillment.record_carrier_event",
        "payments.view_selleremail",  # "did the seller get the reminder?"
        # Buyers' cancellation requests after the hold (R5): record them, and answer for a seller.
        "returns.view_cancellationrequest",
        "returns.view_cancellationrequestevent",
        "returns.add_cancellationrequest",
        "returns.decide_cancellationrequest",
        # Returns (R11): answer for a seller, create the replacement order, reject after inspection, close.
        "returns.view_returnrequest",
        "returns.view_returnline",
        "returns.view_returnevent",
        "returns.decide_returnrequest",
        # Connected TikTok shops and the events they sent: see why something did not arrive, process it again.
        "tiktok.view_shop",
        "tiktok.view_shopevent",
        "tiktok.view_tiktokevent",
        "tiktok.view_tiktokorder",
        "tiktok.reprocess_tiktokevent",
    ],
    "Finance": [
        "orders.view_order",
        "orders.view_orderline",
        "orders.view_orderevent",
        "orders.record_seller_payment",
        "accounts.view_seller",
        "fulfillment.view_sku",
        "fulfillment.change_sku",
        # Seller payments (Stripe): charge history, refunds, Auto Checkout state.
        "payments.view_payment",
        "payments.view_paymentorder",
        "payments.view_refund",
        "payments.refund_payment",
        "payments.view_autocheckout",
        "payments.view_paymentevent",
        "payments.view_selleremail",  # reminders and digests: sent, retrying or failed
        # Returns (R11): decide the seller's refund once the parcel is inspected (or a refund-only return approved).
        "returns.view_returnrequest",
        "returns.view_returnline",
        "returns.view_returnevent",
        "returns.refund_returnrequest",
    ],
}


def ensure_groups() -> None:
    for name, perms in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".")
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is None:
                logger.warning("permission %s does not exist yet", dotted)
                continue
            wanted.append(perm)
        group.permissions.add(*wanted)


def ensure_schedules() -> None:
    """One schedule runs every timer; never one schedule per order."""
    Schedule.objects.update_or_create(
        name=TIMER_SCHEDULE_NAME,
        defaults={
            "func": "backoffice.tasks.process_due_timers",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
    # The daily digest of orders waiting for the seller's payment; a second run the same day sends nothing.
    Schedule.objects.update_or_create(
        name=CHECKOUT_DIGEST_SCHEDULE_NAME,
        defaults={
            "func": "payments.tasks.checkout_digests_send",
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
            "next_run": _next_local_time(settings.CHECKOUT_DIGEST_TIME),
        },
    )

    # Deletes what outlived its retention (backoffice.pruning), in small batches; a second run deletes nothing more.
    Schedule.objects.update_or_create(
        name=PRUNE_SCHEDULE_NAME,
        defaults={
            "func": "backoffice.tasks.prune_old_rows",
            "schedule_type": Schedule.MINUTES,
            "minutes": max(1, int(settings.PRUNE_INTERVAL.total_seconds() // 60)),
            "repeats": -1,
        },
    )


def _next_local_time(at: datetime.time) -> datetime.datetime:
    """The next time the local clock (``TIME_ZONE``) shows ``at``."""
    now = timezone.localtime()
    candidate = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return candidate if candidate > now else candidate + datetime.timedelta(days=1)


def after_migrate(sender, apps=None, using="default", **kwargs) -> None:
    if using != "default":
        return
    # Our post_migrate runs before later apps have had their permissions created.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    ensure_groups()
    ensure_schedules()
    # A database with no carriers at all (new, or flushed by a test) starts with the common ones.
    carriers_seed_defaults(Carrier)
    tiktok_logistics_carrier_ensure()
    # The Stripe key/account and webhook endpoint rows dj-stripe needs (no network call).
    ensure_stripe()
