"""On SQLite (development): two transactions that read then write wait for each other instead of failing.

The web server and the task workers share the database file. A transaction that
read first and then writes cannot upgrade its lock while another connection
wrote meanwhile, and SQLite refuses it at once with "database is locked", busy
timeout or not. Transactions therefore take the write lock when they begin.
"""

import threading

import pytest
from django.conf import settings
from django.db import connection, transaction

from fulfillment.models import Stock
from fulfillment.tests.factories import make_sku

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3", reason="SQLite only")
def test_two_read_then_write_transactions_both_succeed(seller):
    stock = make_sku(seller=seller, code="MUG", on_hand=10).stock
    first_read, second_began = threading.Event(), threading.Event()
    errors = []

    def first():
        try:
            with transaction.atomic():
                Stock.objects.get(pk=stock.pk)
                first_read.set()
                # The other transaction now starts and reads (or waits for us, which this times out on).
                second_began.wait(timeout=2)
                Stock.objects.filter(pk=stock.pk).update(on_hand=11)
        except Exception as exc:  # reported to the test
            errors.append(exc)
        finally:
            connection.close()

    def second():
        try:
            first_read.wait(timeout=10)
            with transaction.atomic():
                Stock.objects.get(pk=stock.pk)
                second_began.set()
                Stock.objects.filter(pk=stock.pk).update(on_hand=12)
        except Exception as exc:  # reported to the test
            errors.append(exc)
        finally:
            second_began.set()
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    stock.refresh_from_db()
    assert stock.on_hand == 12
