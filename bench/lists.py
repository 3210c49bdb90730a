#!/usr/bin/env python3
"""List benchmark: does each list page cost the same with 1M orders as with 10k?

    python bench/lists.py [--small 10000] [--large 1000000] [--rounds 5] [--rebuild] [--database bench_lists]

It keeps two PostgreSQL databases, ``<database>_small`` and ``<database>_large``
(``BENCH_PG_ADMIN_URL`` finds the server, see bench/common.py), filled with raw
SQL (``INSERT ... SELECT generate_series``): ten sellers, one partner for all
of them, 20 SKUs per seller, and ``--small`` / ``--large`` orders over two years.
The newest 2,000 orders are the live shop, the same in both databases: pending
payment, on hold, awaiting checkout, to pick, picking, packed, labelled, in
transit and delivered (2% of the unshipped ones with a stock exception). Every
older order is history: completed (84%), cancelled (15%) or lost (1%). Each
order has one or two lines with their reservations, and a parcel once picking
started. So the 1M database differs from the 10k one by history only, which is
what a year of flash sales adds: a page that slows down with it scans history
it does not show.

Building the 1M database takes a few minutes on two cores; it is kept and
reused while it holds the right number of orders (``--rebuild`` starts over).
Each run migrates both databases first, so new indexes get built on the
existing rows.

Then it times every page through Django's test client against the real URLs,
as the user who opens it: the admin order list (unfiltered, and filtered to
completed orders) as Support, the warehouse console's three tabs as Warehouse,
the admin index with its tiles as a user in every staff group, the seller
portal's orders (all, and the completed tab) with the tab counts as the biggest
seller's user, and the partner API's order list with a partner key. Settings
are production's (DEBUG off, persistent connection). Rounds alternate between
the two databases so both see the same machine load; each page is warmed up once
per round. It prints per page the median milliseconds at each size, the ratio
(goal: at most 1.5) and the SQL query count at each size (goal: equal).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time

import psycopg
from common import ADMIN_URL, _url_for, production_env

SELLERS = 10
SKUS_PER_SELLER = 20
ACTIVE = 2_000
GOAL = 1.5

# The live shop (the newest ACTIVE orders): share per 100 by status.
ACTIVE_MIX = [
    ("pending_payment", 10),
    ("on_hold", 10),
    ("awaiting_checkout", 10),
    ("ready_to_fulfill", 20),
    ("in_fulfillment", 15),
    ("shipped", 10),
    ("in_transit", 10),
    ("delivered", 15),
]
HISTORY_MIX = [("completed", 84), ("cancelled", 15), ("lost", 1)]
assert sum(share for _, share in ACTIVE_MIX) == 100 and sum(share for _, share in HISTORY_MIX) == 100

NOT_SHIPPED = ("pending_payment", "on_hold", "awaiting_checkout", "ready_to_fulfill", "in_fulfillment")
SELLER_PAID = ("ready_to_fulfill", "in_fulfillment", "shipped", "in_transit", "delivered", "completed", "lost")


def _case(mix, position: str) -> str:
    branches, upper = [], 0
    for status, share in mix:
        upper += share
        branches.append(f"WHEN {position} % 100 < {upper} THEN '{status}'")
    return f"CASE {' '.join(branches)} END"


def _in(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


# --- the databases -----------------------------------------------------------------------


def database_orders(name: str) -> int | None:
    """How many orders database ``name`` holds, or None when it does not exist or was never filled."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return None
    try:
        with psycopg.connect(_url_for(name), autocommit=True) as conn:
            row = conn.execute("SELECT total FROM bench_lists_built").fetchone()
    except psycopg.Error:
        return None
    return row[0] if row else None


def recreate(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def use_database(name: str) -> None:
    """Point Django's default connection at ``name`` (the next query reconnects)."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name
    ContentType.objects.clear_cache()


def provision() -> dict:
    """Sellers, partner, SKUs and staff users through the services and the ORM."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts.services import partner_create, seller_create, seller_user_create
    from core.actors import Actor
    from fulfillment.services import stock_import_csv

    actor = Actor.system("bench")
    codes = [f"S{i:02d}" for i in range(SELLERS)]
    for code in codes:
        seller_create(code=code, name=f"Seller {code}", email=f"{code.lower()}@example.com", actor=actor)
    partner_create(name="Bench partner", seller_codes=codes, actor=actor)
    rows = ["seller,sku,name,wholesale_cost,on_hand"]
    rows += [f"{c},{c}-SKU-{j:02d},Product {j},7.50,100000000" for c in codes for j in range(SKUS_PER_SELLER)]
    stock_import_csv(text="\n".join(rows) + "\n", actor=actor)
    from accounts.models import Seller

    seller_user_create(
        seller=Seller.objects.get(code=codes[0]), username="bench-seller", email="", password=None, actor=actor
    )
    User = get_user_model()
    for username, groups in (
        ("bench-support", ["Support"]),
        ("bench-warehouse", ["Warehouse"]),
        ("bench-manager", ["Warehouse", "Support", "Finance"]),
    ):
        user = User.objects.create_user(username=username, is_staff=True)
        user.groups.set(Group.objects.filter(name__in=groups))


def populate(total: int) -> None:
    """Fill the order tables with ``total`` orders (see the module docstring). Values are this script's
    integers and constants, formatted into the SQL; no user input."""
    from django.db import connection

    from accounts.models import Partner, Seller
    from fulfillment.models import SKU, Carrier, Reservation, Shipment, Stock
    from orders.models import Order, OrderLine

    if total <= ACTIVE:
        raise SystemExit(f"need more than {ACTIVE} orders")
    history = total - ACTIVE
    seller_ids = list(Seller.objects.order_by("code").values_list("pk", flat=True))
    # Runs of 100 consecutive orders per seller: each run holds every status of the mixes
    # (which cycle by g % 100), so every seller has the same spread of states.
    sellers = f"(ARRAY[{', '.join(map(str, seller_ids))}])[1 + (g / 100) % {SELLERS}]"
    partner_id = Partner.objects.get().pk
    carrier_id = Carrier.objects.order_by("pk").values_list("pk", flat=True).first()
    order_t, line_t, res_t = Order._meta.db_table, OrderLine._meta.db_table, Reservation._meta.db_table
    ship_t, stock_t, sku_t = Shipment._meta.db_table, Stock._meta.db_table, SKU._meta.db_table
    seller_t = Seller._meta.db_table
    with connection.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # FK triggers off for the load (superuser)
        cur.execute(
            f"""
            INSERT INTO {order_t} (
                id, partner_id, seller_id, external_id, status, placed_at, buyer_paid_at, payment_due_at,
                hold_until, seller_paid_at, seller_payment_reference, stock_exception, buyer_name, buyer_phone,
                buyer_email, ship_line1, ship_line2, ship_city, ship_region, ship_postal_code, ship_country,
                cancelled_at, cancelled_by, cancel_reason, ship_by, tracking_due, collect_by, deliver_by,
                shipped_at, delivered_at, return_window_ends_at, completed_at, lost_at, timer_error,
                created_at, updated_at
            )
            SELECT g, {partner_id}, {sellers}, 'M' || g, status, placed_at,
                   CASE WHEN status NOT IN ('pending_payment', 'cancelled') THEN placed_at + interval '10 minutes' END,
                   placed_at + interval '24 hours',
                   CASE WHEN status NOT IN ('pending_payment', 'cancelled') THEN placed_at + interval '70 minutes' END,
                   CASE WHEN status IN ({_in(SELLER_PAID)}) THEN placed_at + interval '2 hours' END,
                   CASE WHEN status IN ({_in(SELLER_PAID)}) THEN 'TR' || g ELSE '' END,
                   status IN ({_in(NOT_SHIPPED)}) AND g % 50 = 0,
                   'Jane Doe', '+1 555 010 1234', 'jane@example.com', g || ' Main St', '', 'Austin', 'TX',
                   '73301', 'US',
                   CASE WHEN status = 'cancelled' THEN placed_at + interval '30 minutes' END,
                   CASE WHEN status = 'cancelled' THEN 'buyer' ELSE '' END,
                   CASE WHEN status = 'cancelled' THEN 'changed mind' ELSE '' END,
                   placed_at + interval '2 days', placed_at + interval '3 days', NULL, placed_at + interval '7 days',
                   CASE WHEN status IN ('shipped', 'in_transit', 'delivered', 'completed', 'lost')
                        THEN LEAST(placed_at + interval '20 hours', now()) END,
                   CASE WHEN status IN ('delivered', 'completed')
                        THEN LEAST(placed_at + interval '3 days', now()) END,
                   CASE WHEN status IN ('delivered', 'completed')
                        THEN LEAST(placed_at + interval '3 days', now()) + interval '30 days' END,
                   CASE WHEN status = 'completed' THEN placed_at + interval '33 days' END,
                   CASE WHEN status = 'lost' THEN placed_at + interval '20 days' END,
                   '', placed_at,
                   CASE WHEN status = 'completed' THEN placed_at + interval '33 days'
                        WHEN status = 'lost' THEN placed_at + interval '20 days'
                        WHEN status = 'cancelled' THEN placed_at + interval '30 minutes'
                        ELSE LEAST(placed_at + interval '1 hour', now()) END
            FROM (
                SELECT g,
                       CASE WHEN g > {history} THEN {_case(ACTIVE_MIX, f"(g - {history})")}
                            ELSE {_case(HISTORY_MIX, "g")} END AS status,
                       CASE WHEN g > {history}
                            THEN now() - interval '3 days' + (g - {history}) * (interval '71 hours' / {ACTIVE})
                            ELSE now() - interval '730 days' + g * (interval '727 days' / {history}) END AS placed_at
                FROM generate_series(1, {total}) AS g
            ) AS t
            """
        )
        # One line per order, a second on every fourth, each on one of the seller's SKUs.
        cur.execute(
            f"""
            INSERT INTO {line_t} (order_id, sku_id, sku_code, quantity, unit_price)
            SELECT o.id, sku.id, sku.code, 1 + o.id % 3, 1999 + (o.id % 7) * 100
            FROM {order_t} o
            CROSS JOIN generate_series(0, 1) AS n
            JOIN {seller_t} s ON s.id = o.seller_id
            JOIN {sku_t} sku ON sku.code = s.code || '-SKU-' || lpad(((o.id + n) % {SKUS_PER_SELLER})::text, 2, '0')
            WHERE n = 0 OR o.id % 4 = 0
            """
        )
        # Reservations follow the state (none for a stock exception, so its "Needs stock" row has a shortfall).
        cur.execute(
            f"""
            INSERT INTO {res_t} (line_id, sku_id, quantity, created_at, released_at, consumed_at)
            SELECT l.id, l.sku_id, l.quantity, o.placed_at,
                   CASE WHEN o.status = 'cancelled' THEN o.cancelled_at END,
                   CASE WHEN o.status NOT IN ({_in(NOT_SHIPPED)}, 'cancelled') THEN o.shipped_at END
            FROM {line_t} l JOIN {order_t} o ON o.id = l.order_id
            WHERE NOT o.stock_exception
            """
        )
        cur.execute(
            f"""
            INSERT INTO {ship_t} (
                order_id, status, carrier_id, tracking_number, handover_method, picking_started_at, packed_at,
                labelled_at, collect_by, picked_up_at, delivered_at, failed_attempts, lost_deadline, lost_at,
                last_event_at, created_at, updated_at
            )
            SELECT o.id, s.status,
                   CASE WHEN s.status NOT IN ('picking', 'packed') THEN {carrier_id} END,
                   CASE WHEN s.status NOT IN ('picking', 'packed') THEN '1Z' || o.id ELSE '' END,
                   CASE WHEN s.status NOT IN ('picking', 'packed') THEN 'pickup' ELSE '' END,
                   o.placed_at + interval '3 hours',
                   CASE WHEN s.status <> 'picking' THEN o.placed_at + interval '4 hours' END,
                   CASE WHEN s.status NOT IN ('picking', 'packed')
                        THEN LEAST(o.placed_at + interval '5 hours', now()) END,
                   CASE WHEN s.status NOT IN ('picking', 'packed') THEN o.placed_at + interval '29 hours' END,
                   CASE WHEN s.status NOT IN ('picking', 'packed', 'labelled') THEN o.shipped_at END,
                   o.delivered_at, 0,
                   CASE WHEN s.status IN ('labelled', 'in_transit') THEN o.placed_at + interval '30 days' END,
                   o.lost_at, o.updated_at, o.placed_at + interval '3 hours', o.updated_at
            FROM {order_t} o
            CROSS JOIN LATERAL (SELECT CASE o.status
                WHEN 'in_fulfillment' THEN CASE WHEN o.id % 2 = 0 THEN 'picking' ELSE 'packed' END
                WHEN 'shipped' THEN 'labelled'
                WHEN 'in_transit' THEN 'in_transit'
                WHEN 'delivered' THEN 'delivered'
                WHEN 'completed' THEN 'delivered'
                WHEN 'lost' THEN 'lost'
            END AS status) AS s
            WHERE s.status IS NOT NULL
            """
        )
        cur.execute(
            f"""
            UPDATE {stock_t} st SET reserved = r.total
            FROM (SELECT sku_id, sum(quantity) AS total FROM {res_t}
                  WHERE released_at IS NULL AND consumed_at IS NULL GROUP BY sku_id) AS r
            WHERE st.sku_id = r.sku_id
            """
        )
        cur.execute("SET session_replication_role = DEFAULT")
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{order_t}', 'id'), {total})")
        cur.execute("CREATE TABLE bench_lists_built (total bigint NOT NULL, built_at timestamptz NOT NULL)")
        cur.execute("INSERT INTO bench_lists_built VALUES (%s, now())", [total])
    vacuum()


def vacuum() -> None:
    """Fresh statistics and visibility maps, as autovacuum keeps them on a live database."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")


def prepare(name: str, total: int, *, rebuild: bool) -> None:
    """Make sure database ``name`` holds ``total`` orders and the current schema."""
    from django.core.management import call_command

    built = None if rebuild else database_orders(name)
    if built != total:
        started = time.perf_counter()
        recreate(name)
        use_database(name)
        call_command("migrate", verbosity=0, interactive=False)
        provision()
        populate(total)
        print(f"  built {name}: {total:,} orders in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    else:
        use_database(name)
        started = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        took = time.perf_counter() - started
        if took > 2:  # new migrations ran (an index built on the existing rows): refresh the statistics
            vacuum()
        print(f"  reused {name}: {total:,} orders (migrate {took:.1f} s)", file=sys.stderr)


# --- the pages ---------------------------------------------------------------------------


def pages() -> list[tuple[str, str, str]]:
    """(label, who, url) per page timed."""
    from django.urls import reverse

    changelist = reverse("admin:orders_order_changelist")
    console = reverse("admin:fulfillment_console")
    portal = reverse("portal:orders")
    return [
        ("admin order list", "bench-support", changelist),
        ("admin order list, completed", "bench-support", f"{changelist}?status__exact=completed"),
        ("warehouse console, to ship", "bench-warehouse", console),
        ("warehouse console, collection", "bench-warehouse", f"{console}?stage=collection"),
        ("warehouse console, needs stock", "bench-warehouse", f"{console}?stage=needs_stock"),
        ("admin index (tiles)", "bench-manager", reverse("admin:index")),
        ("portal orders, all", "bench-seller", portal),
        ("portal orders, completed tab", "bench-seller", f"{portal}?status=completed"),
        ("API orders list", "partner", "/api/v1/orders/"),
    ]


def clients() -> dict:
    """A logged-in test client per user (sessions live in the current database), and the partner's."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.models import Partner
    from accounts.services import partner_api_key_issue
    from core.actors import Actor

    result = {}
    for user in get_user_model().objects.filter(username__startswith="bench-"):
        client = Client()
        client.force_login(user)
        result[user.username] = client
    _, raw = partner_api_key_issue(partner_id=Partner.objects.get().pk, label="bench", actor=Actor.system("bench"))
    result["partner"] = Client(headers={"Authorization": f"Api-Key {raw}"})
    return result


def fetch(client, url: str) -> tuple[float, int]:
    """One request: (milliseconds, SQL queries). Fails loudly on anything but a 200."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(url)
        if hasattr(response, "render") and not response.is_rendered:
            response.render()
        elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    return elapsed, len(queries)


def main() -> int:
    parser = argparse.ArgumentParser(description="List pages at 1M orders against 10k, same run.")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5, help="rounds alternating the two databases")
    parser.add_argument("--repeat", type=int, default=3, help="timed requests per page per round")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the databases even if they look right")
    parser.add_argument("--database", default="bench_lists", help="name prefix of the two databases")
    args = parser.parse_args()

    import os

    from common import ROOT

    os.environ.update(production_env(_url_for(f"{args.database}_small")))
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(64)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import warnings

    import django

    warnings.filterwarnings("ignore", "No directory at", UserWarning)  # static files are not collected
    django.setup()
    from django.conf import settings
    from django.test.utils import override_settings, setup_test_environment

    setup_test_environment()  # ALLOWED_HOSTS gains the test client's "testserver"
    # Static files are not collected for a benchmark: plain static URLs instead of the manifest's.
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    override_settings(STORAGES=storages).enable()

    sizes = {"10k" if args.small == 10_000 else str(args.small): args.small}
    sizes["1M" if args.large == 1_000_000 else str(args.large)] = args.large
    names = {label: f"{args.database}_{'small' if total == args.small else 'large'}" for label, total in sizes.items()}
    for label, total in sizes.items():
        prepare(names[label], total, rebuild=args.rebuild)

    page_list = pages()
    sessions, times, counts = {}, {}, {}
    for label in sizes:
        use_database(names[label])
        sessions[label] = clients()
    for _ in range(args.rounds):
        for label in sizes:
            use_database(names[label])
            for page, who, url in page_list:
                fetch(sessions[label][who], url)  # warm-up: connection, plans, caches
                for _ in range(args.repeat):
                    ms, queries = fetch(sessions[label][who], url)
                    times.setdefault((page, label), []).append(ms)
                    counts.setdefault((page, label), set()).add(queries)

    small, large = sizes
    width = max(len(p) for p, _, _ in page_list)
    print(f"{'page':<{width}}  {small + ' ms':>9}  {large + ' ms':>9}  {'ratio':>6}  queries {small}/{large}")
    worst = 0.0
    for page, _, _ in page_list:
        a, b = statistics.median(times[(page, small)]), statistics.median(times[(page, large)])
        qa, qb = counts[(page, small)], counts[(page, large)]
        ratio = b / a
        worst = max(worst, ratio)
        flag = "" if ratio <= GOAL and qa == qb else "  <-- misses the goal"
        print(
            f"{page:<{width}}  {a:>9.1f}  {b:>9.1f}  {ratio:>6.2f}  "
            f"{'/'.join(map(str, sorted(qa)))}/{'/'.join(map(str, sorted(qb)))}{flag}"
        )
    print(f"lists worst ratio: {worst:.2f} (goal <= {GOAL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
