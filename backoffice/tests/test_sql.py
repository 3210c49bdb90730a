"""The hand-written statements of ``backoffice.sql`` store and load rows exactly as the ORM does."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.forms.models import model_to_dict

from backoffice import sql
from backoffice.models import Seller
from backoffice.tests.factories import PartnerFactory, SellerFactory, make_order, make_sku
from fulfillment.locks import lock_stock_for_sku_codes
from fulfillment.models import SKU, Stock
from orders.models import Order, OrderEvent
from orders.selectors import partner_seller_get

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 5, 4, 12, 30, tzinfo=UTC)


def _row(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_rows_insert_stores_what_save_would_and_gives_each_row_its_key(partner, seller):
    order = make_order(partner=partner, seller=seller, lines=[("NOPE", 1)])
    events = [
        OrderEvent(order=order, action=f"note-{i}", from_status="a", to_status="b", actor="system:test", reason="r")
        for i in range(3)
    ]

    with time_machine.travel(NOW, tick=False):
        sql.rows_insert(events)

    assert all(e.pk is not None and not e._state.adding for e in events)
    stored = {e.pk: e for e in OrderEvent.objects.filter(pk__in=[e.pk for e in events])}
    assert [stored[e.pk].action for e in events] == ["note-0", "note-1", "note-2"]  # keys match their rows
    assert all(_row(stored[e.pk]) == _row(e) for e in events)


def test_rows_insert_fills_auto_now_fields_as_save_does(partner, seller):
    order = Order(partner=partner, seller=seller, external_id="RAW-1", placed_at=NOW - timedelta(hours=1))

    with time_machine.travel(NOW, tick=False):
        sql.rows_insert([order])

    stored = Order.objects.get(pk=order.pk)
    assert stored.created_at == stored.updated_at == NOW
    assert _row(stored) == _row(order)
    assert stored.status == "pending_payment"  # the field's Python default reached the database


def test_rows_insert_is_held_to_the_database_constraints(partner, seller):
    Order.objects.create(partner=partner, seller=seller, external_id="DUP", placed_at=NOW)

    with pytest.raises(IntegrityError), transaction.atomic():
        sql.rows_insert([Order(partner=partner, seller=seller, external_id="DUP", placed_at=NOW)])

    assert Order.objects.filter(external_id="DUP").count() == 1


def test_loaded_rows_equal_what_the_orm_loads(seller):
    with time_machine.travel(NOW, tick=False):
        make_sku(seller=seller, code="ROW", on_hand=7)

    with transaction.atomic():
        locked = lock_stock_for_sku_codes(seller_id=seller.pk, codes=["ROW", "ROW", "MISSING"])

    assert list(locked) == ["ROW"]
    stock = locked["ROW"]
    assert model_to_dict(stock) == model_to_dict(Stock.objects.get(sku__code="ROW"))
    assert _row(stock) == _row(Stock.objects.get(pk=stock.pk))
    assert _row(stock.sku) == _row(SKU.objects.get(pk=stock.sku_id))
    assert stock.updated_at == NOW and stock.updated_at.tzinfo is not None


def test_a_partner_finds_only_its_own_sellers_by_code():
    mine = SellerFactory(code="MINE")
    SellerFactory(code="OTHER")  # exists, but is not linked
    partner = PartnerFactory(sellers=[mine])

    found = partner_seller_get(partner=partner, code="MINE")

    assert isinstance(found, Seller) and _row(found) == _row(Seller.objects.get(code="MINE"))
    assert partner_seller_get(partner=partner, code="OTHER") is None
    assert partner_seller_get(partner=partner, code="NOBODY") is None


def test_rows_insert_refuses_a_mixed_batch_before_writing_anything(partner, seller):
    first = Order(partner=partner, seller=seller, external_id="MIX-1", placed_at=NOW)
    second = Order(pk=10_000, partner=partner, seller=seller, external_id="MIX-2", placed_at=NOW)

    with pytest.raises(ValueError, match="one model"):
        sql.rows_insert([first, second])

    assert not Order.objects.filter(external_id__startswith="MIX").exists()


def test_without_insert_returning_rows_are_saved_one_by_one_and_still_get_their_keys(partner, seller, monkeypatch):
    from django.db import connection

    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    order = make_order(partner=partner, seller=seller, lines=[("NOPE", 1)])
    events = [OrderEvent(order=order, action=f"old-{i}", from_status="", to_status="x", actor="system:test") for i in range(2)]

    sql.rows_insert(events)

    assert [OrderEvent.objects.get(pk=e.pk).action for e in events] == ["old-0", "old-1"]


def _note(order, action: str) -> OrderEvent:
    return OrderEvent(order=order, action=action, from_status="", to_status="x", actor="system:test")


def test_run_sends_independent_statements_in_one_round_trip_on_postgresql_and_reads_each_result(partner, seller):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sku = make_sku(seller=seller, code="ROW", on_hand=4)
    order = make_order(partner=partner, seller=seller, lines=[("NOPE", 1)])
    events = [_note(order, "first"), _note(order, "second")]
    inserted = sql.insert(events)
    lock = sql.Statement(
        f"SELECT {sql.quote('on_hand')} FROM {sql.quote(Stock._meta.db_table)} WHERE {sql.quote('sku_id')} = %s",
        [sku.pk],
        read=lambda cursor: cursor.fetchall(),
    )
    touched = sql.Statement(
        f"UPDATE {sql.quote(Order._meta.db_table)} SET {sql.quote('timer_error')} = %s WHERE {sql.quote('id')} = %s",
        ["noted", order.pk],
    )

    with CaptureQueriesContext(connection) as sent:
        sql.run(inserted, None, lock, touched)

    assert len(sent) == (1 if connection.vendor == "postgresql" else 3)
    assert [OrderEvent.objects.get(pk=e.pk).action for e in events] == ["first", "second"]
    assert lock.result == [(4,)]
    assert touched.result == 1  # a statement without a reader answers its row count
    assert Order.objects.get(pk=order.pk).timer_error == "noted"


@pytest.mark.parametrize("prepared", [False, True], ids=["first run", "prepared statement"])
def test_run_stops_at_the_first_failing_statement_and_raises_its_error(partner, seller, prepared):
    from django.db import connection

    Order.objects.create(partner=partner, seller=seller, external_id="DUP", placed_at=NOW)
    order = make_order(partner=partner, seller=seller, lines=[("NOPE", 1)])
    # Run the INSERT's shape often enough first that, on PostgreSQL, the failing one is prepared.
    warm = (connection.settings_dict.get("OPTIONS", {}).get("prepare_threshold") or 1) + 1 if prepared else 0
    for index in range(warm):
        sql.run(sql.insert([Order(partner=partner, seller=seller, external_id=f"WARM-{index}", placed_at=NOW)]))
    duplicate = sql.insert([Order(partner=partner, seller=seller, external_id="DUP", placed_at=NOW)])
    later = sql.insert([_note(order, "after the failure")])

    with pytest.raises(IntegrityError), transaction.atomic():
        sql.run(duplicate, later)

    assert Order.objects.filter(external_id="DUP").count() == 1
    assert not OrderEvent.objects.filter(action="after the failure").exists()
    assert Order.objects.filter(external_id__startswith="WARM-").count() == warm  # the connection still works


def test_run_raises_a_later_statements_error_and_the_transaction_takes_back_the_earlier_ones(partner, seller):
    Order.objects.create(partner=partner, seller=seller, external_id="DUP", placed_at=NOW)
    order = make_order(partner=partner, seller=seller, lines=[("NOPE", 1)])
    earlier = sql.insert([_note(order, "before the failure")])
    duplicate = sql.insert([Order(partner=partner, seller=seller, external_id="DUP", placed_at=NOW)])

    with pytest.raises(IntegrityError), transaction.atomic():
        sql.run(earlier, duplicate)

    assert not OrderEvent.objects.filter(action="before the failure").exists()


def _prepared_statements() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _on_hand_of(sku_code: str) -> sql.Statement:
    return sql.Statement(
        f"SELECT st.{sql.quote('on_hand')} FROM {sql.quote(Stock._meta.db_table)} st"
        f" JOIN {sql.quote(SKU._meta.db_table)} k ON k.{sql.quote('id')} = st.{sql.quote('sku_id')}"
        f" WHERE k.{sql.quote('code')} = %s",
        [sku_code],
        read=lambda cursor: cursor.fetchone()[0],
    )


def test_on_postgresql_run_prepares_a_statement_once_the_connection_has_run_it_often_enough(partner, seller):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are a PostgreSQL matter")
    threshold = connection.settings_dict["OPTIONS"]["prepare_threshold"]
    order = make_order(partner=partner, seller=seller, lines=[("NOPE", 1)])
    stock = {f"P-{i}": 10 + i for i in range(3)}
    for code, on_hand in stock.items():
        make_sku(seller=seller, code=code, on_hand=on_hand)
    for index, code in enumerate(list(stock) * threshold):
        lookup, note = _on_hand_of(code), sql.insert([_note(order, f"note {index}")])
        with CaptureQueriesContext(connection) as sent:
            sql.run(lookup, note)
        assert len(sent) == 1  # one round trip, prepared or not
        assert lookup.result == stock[code]  # the answer to this run's parameters

    prepared = _prepared_statements()
    assert any(p.startswith("SELECT st.") and "$1" in p for p in prepared), prepared
    assert any(p.startswith(f'INSERT INTO "{OrderEvent._meta.db_table}"') for p in prepared), prepared
    for _ in range(threshold + 1):
        assert OrderEvent.objects.filter(order=order, action__startswith="note ").count() == 3 * threshold
    assert not any(p.startswith("SELECT COUNT(*)") for p in _prepared_statements())  # the ORM binds on the client


def test_with_prepared_statements_off_run_sends_query_text_and_prepares_nothing(partner, seller, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are a PostgreSQL matter")
    connection.ensure_connection()
    monkeypatch.setattr(connection.connection, "prepare_threshold", None)  # DATABASE_PREPARED_STATEMENTS=false
    make_sku(seller=seller, code="TEXT", on_hand=7)
    order = make_order(partner=partner, seller=seller, lines=[("NOPE", 1)])
    before = set(_prepared_statements())

    for index in range(10):
        lookup, note = _on_hand_of("TEXT"), sql.insert([_note(order, f"text {index}")])
        with CaptureQueriesContext(connection) as sent:
            sql.run(lookup, note)
        assert len(sent) == 1
        assert lookup.result == 7

    assert set(_prepared_statements()) == before
    assert OrderEvent.objects.filter(order=order, action__startswith="text ").count() == 10


def test_run_keeps_the_order_of_work_that_cannot_be_a_statement(partner, seller, monkeypatch):
    from django.db import connection

    order = make_order(partner=partner, seller=seller, lines=[("NOPE", 1)])
    before = sql.insert([_note(order, "before")])
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    saved_singly = sql.insert([_note(order, "saved singly")])
    assert saved_singly.sql is None
    monkeypatch.undo()
    after = sql.insert([_note(order, "after")])

    sql.run(before, saved_singly, after)

    ordered = OrderEvent.objects.filter(action__in=["before", "saved singly", "after"]).order_by("pk")
    assert [e.action for e in ordered] == ["before", "saved singly", "after"]


def _linked_seller_source(partner, code):
    from orders.selectors import partner_seller_source

    return partner_seller_source(partner_id=partner.pk, code=code)


@pytest.mark.parametrize("returning", [True, False], ids=["insert-returning", "without-returning"])
def test_insert_from_takes_its_computed_fields_from_the_source_row(partner, seller, monkeypatch, returning):
    from django.db import connection

    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", returning)
    order = Order(partner=partner, external_id="FROM-1", placed_at=NOW - timedelta(hours=1), buyer_name="Ann")
    source, params, seller_id = _linked_seller_source(partner, seller.code)

    with time_machine.travel(NOW, tick=False), transaction.atomic():
        statement = sql.insert_from(order, computed={"seller_id": seller_id}, source=source, params=params)
        sql.run(statement)

    assert statement.result is True
    assert order.pk is not None and order.seller_id == seller.pk and not order._state.adding
    assert _row(Order.objects.get(pk=order.pk)) == _row(order)


@pytest.mark.parametrize("returning", [True, False], ids=["insert-returning", "without-returning"])
def test_insert_from_writes_nothing_when_the_source_finds_no_row(partner, monkeypatch, returning):
    from django.db import connection

    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", returning)
    SellerFactory(code="NOT-LINKED")
    order = Order(partner=partner, external_id="FROM-2", placed_at=NOW)
    source, params, seller_id = _linked_seller_source(partner, "NOT-LINKED")

    with transaction.atomic():
        statement = sql.insert_from(order, computed={"seller_id": seller_id}, source=source, params=params)
        sql.run(statement)

    assert statement.result is False
    assert order.pk is None and order._state.adding
    assert not Order.objects.exists()


def test_insert_from_refuses_a_field_the_model_cannot_insert(partner):
    with pytest.raises(ValueError, match="no insertable field"):
        sql.insert_from(Order(partner=partner), computed={"nope": "1"}, source="", params=[])


def test_next_pks_draws_keys_that_rows_can_be_inserted_with(partner, seller):
    from django.db import connection

    from orders.models import OrderLine

    statement = sql.next_pks(OrderLine, 3)
    if connection.vendor != "postgresql":
        assert statement is None  # no sequences: callers insert without keys and read them back
        return
    order = make_order(partner=partner, seller=seller, lines=[("NOPE", 1)])
    with transaction.atomic():
        sql.run(statement)
        keys = statement.result
        lines = [OrderLine(pk=key, order=order, sku_code=f"K-{key}", quantity=1, unit_price=100) for key in keys]
        sql.rows_insert(lines)

    assert len(set(keys)) == 3 and keys == sorted(keys)
    assert sorted(OrderLine.objects.filter(sku_code__startswith="K-").values_list("pk", flat=True)) == keys
    # The sequence moved past them: the next line the database numbers itself does not collide.
    assert make_order(partner=partner, seller=seller, lines=[("NOPE", 1)]).lines.get().pk > keys[-1]
