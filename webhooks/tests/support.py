"""Shared by the webhook tests: a real receiver on loopback, the documented signature check, events to send."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fulfillment.notify import order_at_risk as webhook_order_at_risk
from webhooks.models import WebhookEvent, WebhookEventType
from webhooks.services import webhook_event_create

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# --- a real receiver on loopback, and the documented signature check --------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on a free loopback port that records every POST and answers from ``answers``.

    ``answers`` is consumed one status per request (200 once it is empty).
    ``on_request`` runs in the server thread before it answers.
    """

    answers: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    on_request: object = None

    def start(self) -> Receiver:
        receiver = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with lock:
                    receiver.requests.append(received)
                    status = receiver.answers.pop(0) if receiver.answers else 200
                if receiver.on_request is not None:
                    receiver.on_request(received)
                payload = b"thanks" if status < 300 else b"something broke"
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "https://elsewhere.example/steal")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/backoffice"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify_signature(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """The check the README tells partners to make: HMAC-SHA256 over "<t>.<raw body>", any v1 may match."""
    items = [part.split("=", 1) for part in header.split(",")]
    timestamp = int(next(value for key, value in items if key == "t"))
    signatures = [value for key, value in items if key == "v1"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(now - timestamp) <= tolerance
    return fresh and any(hmac.compare_digest(expected, signature) for signature in signatures)


def at_risk_event(order) -> WebhookEvent:
    return webhook_order_at_risk(order=order, clock="ship_by", due_at=START + timedelta(hours=72))


def orderless_event(partner) -> WebhookEvent:
    """An event with no order behind it, for tests that move the clock past the order timers."""
    return webhook_event_create(partner=partner, type=WebhookEventType.ORDER_AT_RISK, data={"clock": "ship_by"})
