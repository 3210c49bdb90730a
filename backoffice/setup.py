"""Idempotent set-up run after every ``migrate``: staff groups and the timer schedule."""

import logging

from django.contrib.auth.models import Group, Permission

logger = logging.getLogger(__name__)

TIMER_SCHEDULE_NAME = "process_due_timers"

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
    ],
    "Support": [
        "orders.view_order",
        "orders.view_orderline",
        "orders.view_orderevent",
        "orders.cancel_order",
        "backoffice.view_seller",
        "backoffice.view_partner",
        "fulfillment.view_sku",
        "fulfillment.view_stock",
    ],
    "Finance": [
        "orders.view_order",
        "orders.view_orderline",
        "orders.view_orderevent",
        "orders.record_seller_payment",
        "backoffice.view_seller",
        "fulfillment.view_sku",
        "fulfillment.change_sku",
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
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=TIMER_SCHEDULE_NAME,
        defaults={
            "func": "backoffice.tasks.process_due_timers",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )


def after_migrate(sender, apps=None, using="default", **kwargs) -> None:
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    if using != "default":
        return
    # Our post_migrate runs before later apps have had their permissions created.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    ensure_groups()
    ensure_schedules()
