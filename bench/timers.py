#!/usr/bin/env python3
"""Timer benchmark: does a timer pass cost what is due, or what is stored?

    python bench/timers.py [--small 10000] [--large 1000000] [--due 1000]

On a fresh PostgreSQL database it fills the order tables with raw SQL
(``INSERT ... SELECT generate_series``, seconds even for a million rows),
twice: ``--small`` orders, then ``--large`` orders. Each time exactly
``--due`` of them are due, spread evenly through the table:

* half are ``pending_payment`` past ``payment_due_at`` (the pass cancels them
  as unpaid and releases their reserved stock),
* half are ``on_hold`` past ``hold_until`` (the pass ends the hold).

The rest look like a live shop: most orders in later states (awaiting
checkout, in fulfilment, shipped, delivered, completed, cancelled) whose
deadlines are long past but no longer apply, and some pending or on hold
whose deadlines are still ahead. Every order has a line and a reservation
(active, released or consumed to match its state), and stock counts agree
with the reservations, so cancelling really gives stock back.

After ``VACUUM ANALYZE`` it times one ``process_due_timers()`` call, the same
function the every-minute schedule runs, and checks it moved exactly the due
orders. It prints one line, ``timers ratio: R (1M: a s / 10k: b s)``. R near 1
means the pass scales with the work due, not with the table; the goal is
R <= 1.5. A small untimed pass first warms up imports and connections. Needs
PostgreSQL on 127.0.0.1 (see bench/common.py); the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import sys
import time

from common import fresh_database, setup_django

SKU_COUNT = 100
# Share (per 100) of the orders that are not due, by status. Deadlines of
# pending and on-hold ones lie ahead; the others' deadlines passed long ago
# but no longer apply to their state.
NOT_DUE_MIX = [
    ("pending_payment", 5),
    ("on_hold", 2),
    ("awaiting_checkout", 8),
    ("ready_to_fulfill", 10),
    ("in_fulfillment", 5),
    ("shipped", 5),
    ("in_transit", 10),
    ("delivered", 15),
    ("completed", 30),
    ("cancelled", 10),
]
assert sum(share for _, share in NOT_DUE_MIX) == 100
ACTIVE = ("pending_payment", "on_hold", "awaiting_checkout", "ready_to_fulfill", "in_fulfillment")


def provision() -> tuple[int, int]:
    """Create the seller, partner and SKUs through the services; return (partner id, seller id)."""
    from accounts.services import partner_create, seller_create
    from core.actors import Actor
    from fulfillment.services import stock_import_csv

    actor = Actor.system("bench")
    seller = seller_create(code="BENCH", name="Benchmark seller", email="bench@example.com", actor=actor)
    partner = partner_create(name="Benchmark partner", seller_codes=["BENCH"], actor=actor)
    rows = ["seller,sku,name,wholesale_cost,on_hand"]
    rows += [f"BENCH,SKU-{i:03d},Product {i},7.50,2000000" for i in range(SKU_COUNT)]
    stock_import_csv(text="\n".join(rows) + "\n", actor=actor)
    return partner.pk, seller.pk


def status_case(step: int) -> str:
    """SQL for the status of row ``g``: every ``step``-th row is due, the rest follow the not-due mix."""
    branches, upper = [], 0
    for status, share in NOT_DUE_MIX:
        upper += share
        branches.append(f"WHEN g % 100 < {upper} THEN '{status}'")
    return (
        f"CASE WHEN g % {step} = 0 AND (g / {step}) % 2 = 0 THEN 'pending_payment' "
        f"WHEN g % {step} = 0 THEN 'on_hold' {' '.join(branches)} END"
    )


def populate(*, total: int, due: int, partner_id: int, seller_id: int) -> None:
    """Replace every order with ``total`` new ones of which exactly ``due`` are due now.

    All values are integers from this script, formatted into the SQL (no
    user input), so no query parameters are needed.
    """
    from django.db import connection

    from fulfillment.models import SKU, Reservation, Stock
    from orders.models import Order, OrderEvent, OrderLine

    if total % due or total // due < 2:
        raise SystemExit("--due must divide the order count, and be at most half of it")
    step = total // due
    order_t, line_t, res_t = Order._meta.db_table, OrderLine._meta.db_table, Reservation._meta.db_table
    event_t, stock_t, sku_t = OrderEvent._meta.db_table, Stock._meta.db_table, SKU._meta.db_table
    active = ", ".join(f"'{status}'" for status in ACTIVE)
    with connection.cursor() as cur:
        # CASCADE also empties whatever other apps keep per order (payments, shipments, webhooks).
        cur.execute(f"TRUNCATE {res_t}, {line_t}, {event_t}, {order_t} CASCADE")
        cur.execute(f"UPDATE {stock_t} SET reserved = 0")
        fast_load = _skip_foreign_key_triggers(cur, True)
        # Innermost: the status of row g; then when it was placed; then when
        # (and whether) the buyer paid. The deadlines follow from those two,
        # exactly as intake and the buyer-payment service compute them.
        cur.execute(
            f"""
            INSERT INTO {order_t} (
                id, partner_id, seller_id, external_id, status, placed_at, buyer_paid_at,
                payment_due_at, hold_until, seller_paid_at, seller_payment_reference, stock_exception,
                buyer_name, buyer_phone, buyer_email, ship_line1, ship_line2, ship_city, ship_region,
                ship_postal_code, ship_country, cancelled_at, cancelled_by, cancel_reason, timer_error,
                created_at, updated_at
            )
            SELECT g, {partner_id}, {seller_id}, 'B' || g, status, placed_at, paid_at,
                   placed_at + interval '24 hours',
                   paid_at + interval '60 minutes',
                   CASE WHEN status NOT IN ('pending_payment', 'on_hold', 'awaiting_checkout', 'cancelled')
                        THEN paid_at + interval '2 hours' END,
                   '', false,
                   'Jane Doe', '+1 555 010 1234', 'jane@example.com', g || ' Main St', '', 'Austin', 'TX',
                   '73301', 'US',
                   CASE WHEN status = 'cancelled' THEN placed_at + interval '30 minutes' END,
                   CASE WHEN status = 'cancelled' THEN 'buyer' ELSE '' END,
                   CASE WHEN status = 'cancelled' THEN 'changed mind' ELSE '' END,
                   '', placed_at, placed_at
            FROM (
                SELECT g, status, placed_at,
                       CASE
                           WHEN status IN ('pending_payment', 'cancelled') THEN NULL
                           -- due: paid 61-91 minutes ago, so the 60-minute hold is over
                           WHEN g % {step} = 0 THEN now() - interval '61 minutes' - (g % 1800) * interval '1 second'
                           -- not due: paid within the last 50 minutes, the hold still runs
                           WHEN status = 'on_hold' THEN now() - (g % 3000) * interval '1 second'
                           ELSE placed_at + interval '10 minutes'
                       END AS paid_at
                FROM (
                    SELECT g, status,
                           CASE
                               -- due: placed 25-35 hours ago, the 24-hour payment window is over
                               WHEN g % {step} = 0 AND status = 'pending_payment'
                                   THEN now() - interval '25 hours' - (g % 36000) * interval '1 second'
                               WHEN g % {step} = 0 THEN now() - interval '3 hours'
                               -- not due: placed within the last 20 hours
                               WHEN status IN ('pending_payment', 'on_hold')
                                   THEN now() - interval '2 hours' - (g % 64800) * interval '1 second'
                               -- later states: placed 3 to 63 days ago
                               ELSE now() - interval '3 days' - (g % 5184000) * interval '1 second'
                           END AS placed_at
                    FROM (SELECT g, {status_case(step)} AS status FROM generate_series(1, {total}) AS g) AS s
                ) AS p
            ) AS t
            """
        )
        cur.execute(
            f"""
            INSERT INTO {line_t} (id, order_id, sku_id, sku_code, quantity, unit_price)
            SELECT o.id, o.id, sku.id, sku.code, 1 + o.id % 3, 1999
            FROM {order_t} o JOIN {sku_t} sku ON sku.code = 'SKU-' || lpad((o.id % {SKU_COUNT})::text, 3, '0')
            """
        )
        # Reservations match the state: active until shipped, consumed after, released if cancelled.
        cur.execute(
            f"""
            INSERT INTO {res_t} (id, line_id, sku_id, quantity, created_at, released_at, consumed_at)
            SELECT l.id, l.id, l.sku_id, l.quantity, o.placed_at,
                   CASE WHEN o.status = 'cancelled' THEN o.cancelled_at END,
                   CASE WHEN o.status NOT IN ({active}, 'cancelled') THEN o.placed_at + interval '1 day' END
            FROM {line_t} l JOIN {order_t} o ON o.id = l.order_id
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
        if fast_load:
            _skip_foreign_key_triggers(cur, False)
        for table in (order_t, line_t, res_t):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {total})")
        for table in (order_t, line_t, res_t, stock_t):
            cur.execute(f"VACUUM ANALYZE {table}")


def _skip_foreign_key_triggers(cur, skip: bool) -> bool:
    """Turn foreign-key checks off (or back on) for this session's bulk load; return whether it worked.

    The generated rows reference each other correctly by construction, and
    PostgreSQL's per-row foreign-key triggers would double the load time of a
    million orders. This needs a superuser; without one the load is just slower.
    The timed pass always runs with the checks back on.
    """
    from django.db import DatabaseError

    try:
        cur.execute(f"SET session_replication_role = {'replica' if skip else 'DEFAULT'}")
    except DatabaseError:
        return False
    return True


def timed_pass(expected: int) -> float:
    """Time one timer pass, then check (untimed) that it did exactly the due work and nothing else."""
    from django.db.models import Q, Sum

    from backoffice.timers import process_due_timers
    from fulfillment.models import Reservation, Stock
    from orders.models import OrderEvent

    started = time.perf_counter()
    counts = process_due_timers()
    elapsed = time.perf_counter() - started

    # Other timers (e.g. purging old idempotency keys) have nothing to do here.
    wanted = dict.fromkeys(counts, 0) | {"unpaid_cancelled": expected // 2, "holds_ended": expected - expected // 2}
    if counts != wanted:
        raise SystemExit(f"expected the pass to move {wanted}, it moved {counts}")
    if OrderEvent.objects.count() != expected:
        raise SystemExit(f"expected one event per moved order, found {OrderEvent.objects.count()}")
    released = Reservation.objects.filter(line__order__cancelled_by="system", released_at__isnull=False).count()
    if released != expected // 2:
        raise SystemExit(f"expected the unpaid orders' {expected // 2} reservations released, found {released}")
    active = Reservation.objects.filter(released_at=None, consumed_at=None).aggregate(n=Sum("quantity"))["n"]
    if Stock.objects.aggregate(n=Sum("reserved"))["n"] != active or Stock.objects.filter(~Q(reserved__gte=0)).exists():
        raise SystemExit("stock reserved no longer matches the active reservations")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description="Timer pass time for 1,000 due among 1M orders / among 10k.")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1_000)
    args = parser.parse_args()

    with fresh_database("timers") as database_url:
        setup_django(database_url)
        ids = provision()
        populate(total=2_000, due=100, **dict(zip(("partner_id", "seller_id"), ids, strict=True)))
        timed_pass(100)  # warm-up: imports, connection, statement paths
        timings = {}
        for total in (args.small, args.large):
            started = time.perf_counter()
            populate(total=total, due=args.due, **dict(zip(("partner_id", "seller_id"), ids, strict=True)))
            print(f"  {total:>9,} orders inserted in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            timings[total] = timed_pass(args.due)
    small, large = timings[args.small], timings[args.large]
    print(
        f"timers ratio: {large / small:.2f} ({_label(args.large)}: {large:.2f} s / {_label(args.small)}: {small:.2f} s)"
    )
    return 0


def _label(count: int) -> str:
    return (
        f"{count // 1_000_000}M"
        if count % 1_000_000 == 0
        else f"{count // 1_000}k"
        if count % 1_000 == 0
        else str(count)
    )


if __name__ == "__main__":
    sys.exit(main())
