"""``manage.py load_demo``: sellers, staff, a partner, stock and ~200 orders in every state.

Everything is created through the same services the API, the admin and the
timers use, with backdated ``placed_at``/``paid_at`` so that the timer pass
moves orders the way real time would: unpaid ones are cancelled, finished holds
end. Nothing sets a status directly, so the demo data is data the system could
really have produced (events, reservations and stock counts agree).

It is idempotent: when the demo seller exists it says so and changes nothing,
which lets ``make run`` call it on every start. Runs are reproducible: the
same random seed gives the same orders (relative to the current time).
"""

from __future__ import annotations

import io
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from accounts.models import Seller
from accounts.services import partner_api_key_issue, partner_create, seller_create, seller_user_create
from backoffice.setup import ensure_groups
from backoffice.timers import process_due_timers
from core.actors import Actor
from core.csv import csv_writer
from fulfillment.services import (
    STOCK_CSV_COLUMNS,
    shipment_hand_over,
    shipment_label,
    shipment_pack,
    shipment_record_carrier_event,
    shipment_start_picking,
    stock_import_csv,
)
from orders.models import Order, OrderAction, OrderEvent
from orders.services import (
    IntakeData,
    IntakeLine,
    order_cancel,
    order_intake,
    order_record_buyer_payment,
)
from payments.services import bank_transfer_record
from returns.services.cancellations import cancellation_request_create
from returns.services.returns import ReturnLineInput, return_approve, return_create

ADMIN = ("admin", "admin")
# username → admin group; the password is "<username>-pass".
STAFF = {"warehouse": "Warehouse", "support": "Support", "finance": "Finance"}
# seller code, name, portal username (password "<username>-pass").
SELLERS = [
    ("ACME", "Acme Goods", "acme"),
    ("GLOBEX", "Globex Outlet", "globex"),
    ("INITECH", "Initech Supplies", "initech"),
]
DEMO_SELLER_CODE = SELLERS[0][0]
PARTNER_NAME = "Demo Connector"
ORDER_COUNT = 200

PRODUCTS = [
    ("TSHIRT-S", "T-shirt, small", "6.50"),
    ("TSHIRT-M", "T-shirt, medium", "6.50"),
    ("HOODIE-L", "Hoodie, large", "18.00"),
    ("MUG-WHITE", "Ceramic mug, white", "3.20"),
    ("CASE-IP15", "Phone case", "2.10"),
    ("LAMP-LED", "LED desk lamp", "11.75"),
]
# Few units, so some orders can only be partly reserved: a visible stock exception (R1).
LOW_STOCK = ("LAST-UNITS", "Limited edition tote", "9.90", 4)
FIRST_NAMES = ["Jane", "Omar", "Mei", "Lucas", "Amara", "Diego", "Sofia", "Kenji", "Priya", "Noah", "Zoe", "Ivan"]
LAST_NAMES = ["Doe", "Haddad", "Chen", "Silva", "Okafor", "Garcia", "Rossi", "Tanaka", "Patel", "Smith", "Novak"]
CITIES = [
    ("Austin", "TX", "73301"),
    ("Portland", "OR", "97201"),
    ("Denver", "CO", "80202"),
    ("Miami", "FL", "33101"),
    ("Chicago", "IL", "60601"),
    ("Seattle", "WA", "98101"),
]

# What happens to each demo order after intake, and how many of each.
PLAN = [
    ("pending", 35),  # buyer has not paid yet, still inside the payment window
    ("unpaid", 20),  # placed more than the payment window ago: the timer cancels it
    ("hold", 20),  # buyer paid within the hold period
    ("hold_prepaid", 5),  # on hold, the seller already paid by bank transfer
    ("awaiting", 36),  # hold over, waiting for the seller's wholesale payment
    ("cancel_request", 4),  # hold over, and the buyer asks to cancel: waits for the seller (R5)
    ("ready", 14),  # hold over and the seller paid: in the warehouse queue
    ("picking", 4),  # the warehouse is picking it
    ("packed", 4),  # packed, not labelled yet
    ("shipped", 5),  # labelled, waiting for the carrier (TikTok AWAITING_COLLECTION)
    ("in_transit", 5),  # the carrier has it
    ("delivered", 5),  # delivered; the return window is running
    ("lost", 3),  # two failed delivery attempts: the timer declares it lost (R9)
    ("cancel_buyer", 10),  # buyer cancels before the hold ends
    ("cancel_platform", 8),  # platform cancels during the hold (fraud)
    ("cancel_seller", 12),  # seller cancels after the hold (out of stock)
    ("cancel_staff", 10),  # support cancels for the seller
]
assert sum(n for _, n in PLAN) == ORDER_COUNT


def password_for(username: str) -> str:
    return f"{username}-pass"


def login_lines() -> list[str]:
    """The demo logins, as printed after loading and shown by ``make run``."""
    lines = ["Logins (user / password):", f"  Admin (superuser)   {ADMIN[0]} / {ADMIN[1]}   at /admin/"]
    for username, group in STAFF.items():
        lines.append(f"  {group + ' staff':<19} {username} / {password_for(username)}   at /admin/")
    for code, _, username in SELLERS:
        lines.append(f"  {'Seller ' + code:<19} {username} / {password_for(username)}   at /portal/")
    return lines


@dataclass
class Accounts:
    partner_actor: Actor
    finance: Actor
    warehouse: Actor
    support: Actor
    seller_actors: dict[str, Actor]
    sellers: list[Seller]


class Command(BaseCommand):
    help = "Load demo sellers, staff, a partner, stock and ~200 orders in every state (once)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--var-dir",
            default=str(Path(settings.BASE_DIR) / "var"),
            help="where to write the demo logins and API key for `make run` (git-ignored; default: var/)",
        )
        parser.add_argument("--seed", type=int, default=2024, help="random seed for the generated orders")

    def handle(self, *args, var_dir, seed, **options):
        var = Path(var_dir)
        if Seller.objects.filter(code=DEMO_SELLER_CODE).exists():
            self.stdout.write("demo data already loaded")
            self._write_logins(var)
            return
        now = timezone.now()
        with transaction.atomic():
            accounts, raw_key = self._create_accounts()
            self._create_stock(accounts)
            self._create_orders(accounts, rng=random.Random(seed), now=now)
        self._write_logins(var)
        key_file = var / "demo_api_key.txt"
        key_file.touch(mode=0o600)
        key_file.chmod(0o600)  # a live credential, even if only a local one: owner-only before writing
        key_file.write_text(raw_key + "\n")
        self._report(raw_key, key_file)

    # --- accounts ----------------------------------------------------------------------

    def _create_accounts(self) -> tuple[Accounts, str]:
        User = get_user_model()
        actor = Actor.system("load_demo")
        ensure_groups()  # normally done after migrate; cheap and makes the command self-sufficient
        if not User.objects.filter(username=ADMIN[0]).exists():
            User.objects.create_superuser(username=ADMIN[0], email="admin@example.com", password=ADMIN[1])
        staff = {}
        for username, group_name in STAFF.items():
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(
                    username=username, email=f"{username}@example.com", password=password_for(username), is_staff=True
                )
            user.groups.add(Group.objects.get(name=group_name))
            staff[username] = Actor.for_user(User.objects.get(pk=user.pk))  # fresh: no stale permission cache
        sellers, seller_actors = [], {}
        for code, name, username in SELLERS:
            seller = seller_create(code=code, name=name, email=f"orders@{username}.example.com", actor=actor)
            user = seller_user_create(
                seller=seller,
                username=username,
                email=f"{username}@example.com",
                password=password_for(username),
                actor=actor,
            )
            sellers.append(seller)
            seller_actors[code] = Actor.for_user(user)
        partner = partner_create(name=PARTNER_NAME, seller_codes=[code for code, _, _ in SELLERS], actor=actor)
        _, raw_key = partner_api_key_issue(partner_id=partner.pk, label="demo", actor=actor)
        accounts = Accounts(
            partner_actor=Actor.for_partner(partner),
            finance=staff["finance"],
            warehouse=staff["warehouse"],
            support=staff["support"],
            seller_actors=seller_actors,
            sellers=sellers,
        )
        return accounts, raw_key

    def _create_stock(self, accounts: Accounts) -> None:
        out = io.StringIO()
        writer = csv_writer(out)
        writer.writerow(STOCK_CSV_COLUMNS)
        for seller in accounts.sellers:
            writer.writerows([seller.code, code, name, cost, 300] for code, name, cost in PRODUCTS)
            writer.writerow([seller.code, *LOW_STOCK])
        # The same path as `manage.py import_stock` and the admin's CSV upload.
        stock_import_csv(text=out.getvalue(), actor=Actor.system("load_demo"))

    # --- orders ------------------------------------------------------------------------

    def _create_orders(self, accounts: Accounts, *, rng: random.Random, now: datetime) -> None:
        scenarios = [name for name, count in PLAN for _ in range(count)]
        rng.shuffle(scenarios)
        planned: list[tuple[str, int]] = []
        for number, scenario in enumerate(scenarios, start=1):
            order = self._intake(accounts, scenario=scenario, number=number, rng=rng, now=now)
            planned.append((scenario, order.pk))
        # Move what the clock has made due, exactly as the every-minute schedule does.
        process_due_timers(now=now)
        for scenario, order_id in planned:
            self._after_timers(accounts, scenario=scenario, order_id=order_id, rng=rng)
        # Failed delivery attempts made some parcels due as lost; one more pass declares them.
        process_due_timers(now=timezone.now())
        _backdate_history([order_id for _, order_id in planned])

    def _intake(self, accounts: Accounts, *, scenario: str, number: int, rng: random.Random, now: datetime) -> Order:
        payment_window, hold = settings.PAYMENT_WINDOW, settings.HOLD_PERIOD
        paid_at = None
        pay_later = False
        if scenario in ("pending", "cancel_buyer") and (scenario == "pending" or rng.random() < 0.5):
            placed_at = now - _between(rng, timedelta(minutes=5), payment_window - timedelta(hours=1))
        elif scenario == "unpaid":
            placed_at = now - _between(rng, payment_window + timedelta(minutes=10), payment_window * 3)
        elif scenario in ("hold", "hold_prepaid", "cancel_buyer", "cancel_platform"):
            # Paid within the last hold period, so the hold is still running.
            paid_at = now - _between(rng, timedelta(minutes=1), hold - timedelta(minutes=5))
            placed_at = paid_at - _between(rng, timedelta(minutes=1), timedelta(hours=6))
            pay_later = rng.random() < 0.5
        else:  # awaiting, ready, cancel_seller, cancel_staff: the hold is over
            placed_at = now - _between(rng, hold + timedelta(hours=1), timedelta(hours=70))
            latest_payment = min(placed_at + payment_window, now - hold - timedelta(minutes=5))
            paid_at = placed_at + _between(rng, timedelta(minutes=1), latest_payment - placed_at)
            pay_later = rng.random() < 0.3

        seller = rng.choice(accounts.sellers)
        data = IntakeData(
            external_id=f"57{number:08d}",
            seller_code=seller.code,
            placed_at=placed_at,
            buyer_paid_at=None if pay_later else paid_at,
            # Orders the warehouse works on are fully reserved: a stock exception blocks labelling.
            lines=self._lines(rng, exceptions=scenario not in FULFILMENT_STEPS),
            buyer=_buyer(rng),
            shipping_address=_address(rng),
        )
        partner = accounts.partner_actor.partner
        order, _ = order_intake(partner=partner, data=data, actor=accounts.partner_actor)
        if pay_later and paid_at is not None:
            # The buyer's payment arriving as a separate event, as partners send it.
            order_record_buyer_payment(order_id=order.pk, paid=True, paid_at=paid_at, actor=accounts.partner_actor)
        return order

    def _lines(self, rng: random.Random, *, exceptions: bool = True) -> list[IntakeLine]:
        chosen = rng.sample(PRODUCTS, k=rng.choice([1, 1, 1, 2, 2, 3]))
        lines = [IntakeLine(sku=code, quantity=rng.randint(1, 3), unit_price=_retail(cost)) for code, _, cost in chosen]
        roll = rng.random() if exceptions else 1.0
        if roll < 0.06:
            # A SKU the seller never stocked with us: accepted, flagged (R1).
            lines.append(IntakeLine(sku=f"UNLISTED-{rng.randint(100, 999)}", quantity=1, unit_price=1500))
        elif roll < 0.14:
            code, _, cost, _ = LOW_STOCK
            lines.append(IntakeLine(sku=code, quantity=2, unit_price=_retail(cost)))
        return lines

    def _after_timers(self, accounts: Accounts, *, scenario: str, order_id: int, rng: random.Random) -> None:
        reference = f"BANK-{order_id:06d}"
        if scenario in ("ready", "hold_prepaid"):
            bank_transfer_record(order_id=order_id, reference=reference, actor=accounts.finance)
        elif scenario in FULFILMENT_STEPS:
            bank_transfer_record(order_id=order_id, reference=reference, actor=accounts.finance)
            self._fulfil(accounts, scenario=scenario, order_id=order_id, rng=rng)
        elif scenario == "cancel_buyer":
            order_cancel(order_id=order_id, by="buyer", reason="Buyer changed their mind", actor=accounts.partner_actor)
        elif scenario == "cancel_request":
            reason = rng.choice(["Ordered the wrong size", "Found it cheaper elsewhere", "Delivery takes too long"])
            cancellation_request_create(order_id=order_id, actor=accounts.partner_actor, reason=reason)
        elif scenario == "cancel_platform":
            order_cancel(order_id=order_id, by="platform", reason="Suspected fraud", actor=accounts.partner_actor)
        elif scenario == "cancel_seller":
            if rng.random() < 0.5:
                # Some were already paid for: cancelling from ready_to_fulfill (R6).
                bank_transfer_record(order_id=order_id, reference=reference, actor=accounts.finance)
            order = Order.objects.select_related("seller").get(pk=order_id)
            reason = rng.choice(["Out of stock", "Damaged in the warehouse"])
            order_cancel(order_id=order_id, by="seller", reason=reason, actor=accounts.seller_actors[order.seller.code])
        elif scenario == "cancel_staff":
            reason = rng.choice(["Duplicate order", "Seller asked support to cancel"])
            order_cancel(order_id=order_id, by="staff", reason=reason, actor=accounts.support)

    def _fulfil(self, accounts: Accounts, *, scenario: str, order_id: int, rng: random.Random) -> None:
        """Take a paid order as far as ``scenario`` through the warehouse's and the carrier's steps."""
        steps = FULFILMENT_STEPS.index(scenario)
        warehouse, carrier_feed = accounts.warehouse, accounts.partner_actor
        shipment_start_picking(order_id=order_id, actor=warehouse)
        if steps < 1:
            return
        shipment_pack(order_id=order_id, actor=warehouse)
        if steps < 2:
            return
        carrier = rng.choice(["ups", "usps", "fedex"])
        shipment_label(
            order_id=order_id,
            carrier=carrier,
            tracking_number=_tracking_number(carrier, order_id),
            handover_method=rng.choice(["pickup", "dropoff"]),
            actor=warehouse,
        )
        if steps < 3:
            return
        shipment_hand_over(order_id=order_id, actor=warehouse)
        if steps < 4:
            return
        # Carrier events cannot be in the future nor before the label, so they are stamped "now", in order.
        if scenario == "delivered":
            shipment_record_carrier_event(order_id=order_id, type="delivered", at=timezone.now(), actor=carrier_feed)
            self._maybe_return(accounts, order_id=order_id, rng=rng)
        else:  # lost: the attempts limit makes the lost timer due at once (R9)
            for _ in range(settings.LOST_AFTER_FAILED_ATTEMPTS):
                shipment_record_carrier_event(
                    order_id=order_id, type="delivery_failed", at=timezone.now(), note="Nobody home", actor=carrier_feed
                )

    def _maybe_return(self, accounts: Accounts, *, order_id: int, rng: random.Random) -> None:
        """Most delivered demo orders get a return: some wait for the seller, some are approved (R11)."""
        roll = rng.random()
        if roll < 0.2:
            return
        order = Order.objects.get(pk=order_id)
        line = order.lines.order_by("pk").first()
        kind = rng.choice(["return_and_refund", "refund_only", "replacement"])
        ret, _ = return_create(
            order_id=order_id,
            type=kind,
            reason=rng.choice(["damaged", "wrong_item", "not_as_described"]),
            lines=[ReturnLineInput(line_id=line.pk, quantity=1)],
            actor=accounts.partner_actor,
            buyer_note="The item arrived scratched.",
        )
        if roll > 0.6:
            return_approve(return_id=ret.pk, actor=accounts.support, note="Sorry about that; please send it back.")

    # --- output ------------------------------------------------------------------------

    def _write_logins(self, var: Path) -> None:
        var.mkdir(parents=True, exist_ok=True)
        (var / "demo_logins.txt").write_text("\n".join(login_lines()) + "\n")

    def _report(self, raw_key: str, key_file: Path) -> None:
        counts = Counter(Order.objects.values_list("status", flat=True))
        cancelled_by = Counter(Order.objects.filter(status="cancelled").values_list("cancelled_by", flat=True))
        exceptions = Order.objects.filter(stock_exception=True).count()
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded: {sum(counts.values())} orders."))
        for status, count in sorted(counts.items()):
            self.stdout.write(f"  {status:<18} {count}")
        self.stdout.write(f"  cancelled by: {', '.join(f'{k} {v}' for k, v in sorted(cancelled_by.items()))}")
        self.stdout.write(f"  with a stock exception: {exceptions}")
        for line in login_lines():
            self.stdout.write(line)
        self.stdout.write(f"Partner {PARTNER_NAME!r} API key: {raw_key}")
        self.stdout.write(f"Only its digest is stored; a copy for local use is in {key_file}.")


# What happened at a backdated time, and the order field that holds that time.
BACKDATED_ACTIONS = {
    OrderAction.INTAKE: "placed_at",
    OrderAction.MARK_BUYER_PAID: "buyer_paid_at",
    OrderAction.END_HOLD: "hold_until",
    OrderAction.CANCEL_UNPAID: "payment_due_at",
}


def _backdate_history(order_ids: list[int]) -> None:
    """Give the history rows of the backdated steps the order's own times: the services wrote them when the
    demo ran, but the order says it was placed, paid and released from its hold hours or days earlier."""
    for action, field in BACKDATED_ACTIONS.items():
        when = Subquery(Order.objects.filter(pk=OuterRef("order_id")).values(field)[:1])
        OrderEvent.objects.filter(order_id__in=order_ids, action=action).update(created_at=when)


# Each step goes one further than the one before it; "lost" goes as far as in
# transit, then has failed delivery attempts instead of a delivery.
FULFILMENT_STEPS = ["picking", "packed", "shipped", "in_transit", "delivered", "lost"]


def _tracking_number(carrier: str, order_id: int) -> str:
    """A made-up number in the carrier's real format, so the label passes the carrier's pattern (R10)."""
    if carrier == "ups":
        return f"1ZDEMO{order_id:012d}"
    if carrier == "usps":
        return f"9400{order_id:018d}"
    return f"{order_id:012d}"  # FedEx: 12 digits


def _between(rng: random.Random, low: timedelta, high: timedelta) -> timedelta:
    return low + (high - low) * rng.random()


def _retail(cost: str) -> int:
    """A buyer price in minor units: roughly twice the wholesale cost."""
    return int(round(float(cost) * 100 * 2.2, -1)) - 1


def _buyer(rng: random.Random) -> dict:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return {
        "name": f"{first} {last}",
        "phone": f"+1 555 01{rng.randint(0, 99):02d} {rng.randint(0, 9999):04d}",
        "email": f"{first.lower()}.{last.lower()}@example.com",
    }


def _address(rng: random.Random) -> dict:
    city, region, postal_code = rng.choice(CITIES)
    return {
        "line1": f"{rng.randint(1, 999)} {rng.choice(['Main St', 'Oak Ave', 'Pine Rd', 'Elm St'])}",
        "line2": rng.choice(["", "", f"Apt {rng.randint(1, 40)}"]),
        "city": city,
        "region": region,
        "postal_code": postal_code,
        "country": "US",
    }
