"""Idempotency-Key on partner POSTs: replay, in-progress and reuse conflicts, failures, expiry."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.idempotency import idempotency_records_prune, request_digest
from accounts.models import IdempotencyRecord
from accounts.tests.factories import PartnerFactory, make_api_key
from api.orders import views as order_views
from orders.models import Order, OrderEvent
from orders.tests.factories import make_order, order_request_body

URL = "/api/v1/orders/"


def post(client, body, key, url=URL):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(url, body, format="json", **headers)


def test_a_repeat_replays_the_first_answer_without_running_again(api, sku):
    body = order_request_body()
    first = post(api, body, "key-1")
    events = OrderEvent.objects.count()

    again = post(api, body, "key-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Order.objects.count() == 1
    assert OrderEvent.objects.count() == events
    record = IdempotencyRecord.objects.get()
    assert (record.key, record.response_status, record.path) == ("key-1", 201, URL)


def test_a_repeat_of_a_validation_error_replays_it(api, sku):
    body = order_request_body(lines=[])
    first = post(api, body, "key-bad")

    again = post(api, body, "key-bad")

    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"


def test_the_same_key_with_another_body_is_a_conflict(api, sku):
    post(api, order_request_body(external_id="A"), "key-2")

    response = post(api, order_request_body(external_id="B"), "key-2")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert list(Order.objects.values_list("external_id", flat=True)) == ["A"]


def test_the_same_key_on_another_path_is_a_conflict(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    body = {"status": "failed"}
    post(api, body, "key-3", url=f"/api/v1/orders/{order.pk}/buyer-payment/")

    response = post(api, body, "key-3", url=f"/api/v1/orders/{order.pk}/cancel/")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    order.refresh_from_db()
    assert order.status == "pending_payment"


def test_a_repeat_while_the_first_is_running_is_409(api, partner, sku):
    body = order_request_body()
    raw = json.dumps(body).encode()
    # What the first request leaves behind while it runs: a claim without an answer.
    IdempotencyRecord.objects.create(
        partner=partner, key="key-4", method="POST", path=URL, request_digest=request_digest(raw)
    )

    response = api.generic("POST", URL, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-4")

    assert response.status_code == 409
    assert response.json()["code"] == "request_in_progress"
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_claim_is_committed_before_the_view_runs(api, sku, monkeypatch):
    """Inside the running request the claim is already committed, so a concurrent duplicate gets 409."""
    body = order_request_body()
    seen = {}
    real_intake = order_views.order_intake

    def intake_that_gets_interrupted(**kwargs):
        record = IdempotencyRecord.objects.get(key="key-5")
        # Outside any transaction, so the row read back here is committed for every connection.
        seen["in_transaction"] = connection.in_atomic_block
        seen["status"] = record.response_status
        seen["duplicate"] = post(api, body, "key-5")
        return real_intake(**kwargs)

    monkeypatch.setattr(order_views, "order_intake", intake_that_gets_interrupted)
    first = post(api, body, "key-5")

    assert first.status_code == 201
    assert seen["in_transaction"] is False
    assert seen["status"] is None
    assert seen["duplicate"].status_code == 409
    assert seen["duplicate"].json()["code"] == "request_in_progress"
    assert IdempotencyRecord.objects.get(key="key-5").response_status == 201
    assert Order.objects.count() == 1


def test_a_server_error_frees_the_key_for_a_retry(api, sku, monkeypatch):
    def broken_intake(**kwargs):
        raise RuntimeError("database went away")

    body = order_request_body()
    monkeypatch.setattr(order_views, "order_intake", broken_intake)
    failed = post(api, body, "key-6")
    monkeypatch.undo()

    assert failed.status_code == 500
    assert failed.json()["code"] == "server_error"
    assert not IdempotencyRecord.objects.exists()

    retried = post(api, body, "key-6")

    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert Order.objects.count() == 1


def test_a_conflict_is_not_stored_so_a_later_retry_runs_again(api, partner, seller, sku):
    order = make_order(partner=partner, seller=seller, lines=[("TSHIRT-M", 1)])
    url = f"/api/v1/orders/{order.pk}/buyer-payment/"
    api.post(f"/api/v1/orders/{order.pk}/cancel/", {"by": "buyer"}, format="json")

    refused = post(api, {"status": "failed"}, "key-7", url=url)

    assert refused.status_code == 409
    assert not IdempotencyRecord.objects.filter(key="key-7").exists()


def test_an_expired_key_can_be_used_again(api, sku, settings):
    settings.IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
    post(api, order_request_body(external_id="A"), "key-8")

    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        response = post(api, order_request_body(external_id="B"), "key-8")

    assert response.status_code == 201
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["A", "B"]
    assert IdempotencyRecord.objects.get(key="key-8").response_status == 201


def test_an_abandoned_claim_expires_too(api, partner, sku):
    """A claim whose request died mid-way (no answer stored) blocks its key only until the TTL."""
    with time_machine.travel(timezone.now() - timedelta(days=2)):
        IdempotencyRecord.objects.create(partner=partner, key="key-9", method="POST", path=URL, request_digest="x")

    assert post(api, order_request_body(), "key-9").status_code == 201


def test_a_claim_left_by_a_killed_worker_frees_its_key_after_the_lease(api, partner, sku, settings):
    """The worker died (SIGKILL) after committing its claim: retries wait out a short lease, not the 24 h TTL."""
    settings.IDEMPOTENCY_LEASE = timedelta(minutes=2)
    body = order_request_body()
    raw = json.dumps(body).encode()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        IdempotencyRecord.objects.create(
            partner=partner, key="key-k", method="POST", path=URL, request_digest=request_digest(raw)
        )
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        early = api.generic("POST", URL, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-k")
    with time_machine.travel(start + timedelta(minutes=2, seconds=1), tick=False):
        retried = api.generic("POST", URL, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-k")
        replayed = api.generic("POST", URL, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-k")

    assert early.status_code == 409
    assert early.json()["code"] == "request_in_progress"
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert replayed.status_code == 201
    assert replayed["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


def test_a_finished_answer_is_replayed_after_the_lease(api, sku, settings):
    """The lease is for claims without an answer: a stored answer is kept for the whole TTL."""
    settings.IDEMPOTENCY_LEASE = timedelta(minutes=2)
    body = order_request_body()
    first = post(api, body, "key-l")

    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        again = post(api, body, "key-l")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


def test_keys_belong_to_one_partner(api, seller, sku):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(PartnerFactory(sellers=[seller]))}")

    mine = post(api, order_request_body(external_id="MINE"), "shared-key")
    theirs = post(other, order_request_body(external_id="THEIRS"), "shared-key")

    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert IdempotencyRecord.objects.filter(key="shared-key").count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there", "ключ"])
def test_an_unusable_key_is_400(api, sku, key):
    response = api.post(URL, order_request_body(), format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert not Order.objects.exists()


def test_without_a_key_nothing_is_recorded(api, sku):
    assert post(api, order_request_body(), None).status_code == 201
    assert not IdempotencyRecord.objects.exists()


def test_an_unauthenticated_request_claims_nothing(db):
    response = APIClient().post(URL, order_request_body(), format="json", HTTP_IDEMPOTENCY_KEY="key-10")

    assert response.status_code == 401
    assert not IdempotencyRecord.objects.exists()


def test_reads_ignore_the_key(api):
    assert api.get(URL, HTTP_IDEMPOTENCY_KEY="key-11").status_code == 200
    assert not IdempotencyRecord.objects.exists()


def test_prune_deletes_only_expired_records(partner, settings):
    settings.IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
    with time_machine.travel(timezone.now() - timedelta(hours=25)):
        IdempotencyRecord.objects.create(partner=partner, key="old", method="POST", path=URL, request_digest="x")
    IdempotencyRecord.objects.create(partner=partner, key="new", method="POST", path=URL, request_digest="x")

    assert idempotency_records_prune() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_repeats_run_the_request_once(partner, api_key, sku):
    """Ten copies of one request at the same instant: one runs, the rest wait it out or replay it."""
    import threading

    raw = json.dumps(order_request_body()).encode()
    barrier = threading.Barrier(10)
    responses, errors = [], []

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
        try:
            barrier.wait()
            responses.append(
                client.generic("POST", URL, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="race")
            )
        except Exception as exc:  # reported to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    ran = [r for r in responses if r.status_code == 201 and not r.has_header("Idempotent-Replayed")]
    others = [r for r in responses if r not in ran]
    assert len(ran) == 1
    assert all(
        (r.status_code == 409 and r.json()["code"] == "request_in_progress")
        or (r.status_code == 201 and r.json() == ran[0].json())
        for r in others
    )
    assert Order.objects.count() == 1
    assert IdempotencyRecord.objects.get(key="race").response_status == 201
