"""The OpenAPI schema and its docs page are served, and describe every partner operation."""

import yaml
from django.core.management import call_command


def test_schema_and_docs_answer_200_without_a_key(client, db):
    schema = client.get("/api/v1/schema/")
    docs = client.get("/api/v1/docs/")

    assert schema.status_code == 200
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_schema_documents_every_operation_with_the_error_shape(client, db):
    schema = yaml.safe_load(client.get("/api/v1/schema/").content)

    operations = {op["operationId"]: op for path in schema["paths"].values() for op in path.values()}
    assert set(operations) == {
        "ping",
        "orders_list",
        "orders_create",
        "orders_retrieve",
        "orders_buyer_payment",
        "orders_cancel",
        "orders_shipment_event",
        "stock_list",
        "carriers_list",
        "cancellation_requests_list",
        "cancellation_requests_create",
        "cancellation_requests_retrieve",
        "cancellation_requests_withdraw",
        "returns_create",
        "returns_list",
        "returns_retrieve",
        "returns_event",
    }
    for name, operation in operations.items():
        assert "401" in operation["responses"], name
        assert operation["security"][0] == {"ApiKeyAuth": []}, name
    for name in (
        "orders_create",
        "orders_buyer_payment",
        "orders_cancel",
        "orders_shipment_event",
        "cancellation_requests_create",
        "cancellation_requests_withdraw",
        "returns_create",
        "returns_event",
    ):
        headers = [p["name"] for p in operations[name]["parameters"] if p["in"] == "header"]
        assert headers == ["Idempotency-Key"], name
    assert set(schema["components"]["schemas"]["OrderCreateRequest"]["required"]) >= {"external_id", "seller", "lines"}
    # After the hold a buyer's cancel answers 202 with the cancellation request.
    cancel = operations["orders_cancel"]["responses"]
    assert cancel["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/CancellationRequestOutput")


def test_schema_generates_without_warnings(db, tmp_path):
    """The same check as ``manage.py spectacular --validate --fail-on-warn``."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))

    assert (tmp_path / "schema.yml").stat().st_size > 0
