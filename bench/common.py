"""What both benchmarks share: a throw-away PostgreSQL database and production-like Django settings.

Each benchmark creates its own database, migrates it, and drops it at the end
(also after an error or Ctrl-C), so it never touches development or test data.
The server is found through ``BENCH_PG_ADMIN_URL`` (default: user postgres on
127.0.0.1:5432, database ``postgres``), which must be allowed to create
databases.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def _url_for(database: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


@contextmanager
def fresh_database(label: str, name: str | None = None) -> Iterator[str]:
    """Create an empty database, yield its URL, and drop it afterwards whatever happened.

    ``name`` is the database's name; without it, ``BENCH_DATABASE`` (where only some database names may be
    used), else ``bench_<label>_<pid>``. A database of that name is replaced.
    """
    name = name or os.environ.get("BENCH_DATABASE") or f"bench_{label}_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _url_for(name)
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not have been set up
            pass
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def production_env(database_url: str) -> dict[str, str]:
    """Environment for settings as in production: DEBUG off, persistent connections, quiet logs.

    DEBUG off matters: with it on Django records every SQL query in memory.
    ``CONN_MAX_AGE`` reuses a database connection across requests as any
    production deployment does (directly or through a pooler); without it every
    request would pay for a new PostgreSQL connection, which would hide the cost
    of the work being measured. HTTPS redirects are off because the benchmark
    talks plain HTTP on loopback.
    """
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "backoffice.settings",
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "CONN_MAX_AGE": "60",
            # Production settings insist on Stripe keys. Nothing measured here talks to
            # Stripe; should anything try, it reaches the local emulator's port, not Stripe.
            "STRIPE_SECRET_KEY": f"sk_test_{secrets.token_hex(16)}",
            "STRIPE_PUBLISHABLE_KEY": f"pk_test_{secrets.token_hex(16)}",
            "STRIPE_API_HOST": "http://127.0.0.1:8420",
            "LOG_LEVEL": "WARNING",
            # A benchmark is one client sending as fast as it can: throttling it would measure the throttle.
            "API_THROTTLE_RATE_KEY": "100000000/minute",
            "API_THROTTLE_RATE_ADDRESS": "100000000/minute",
            # Static files are not collected for a benchmark; WhiteNoise's warning about it is noise.
            "PYTHONWARNINGS": "ignore:No directory at:UserWarning",
        }
    )
    return env


def setup_django(database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Configure this process for ``database_url`` (plus a benchmark's ``extra`` settings), migrate it, and
    return the environment used, for the processes the benchmark starts."""
    env = production_env(database_url)
    env.update(extra or {})
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    return env


def free_port() -> int:
    """A loopback port nobody listens on now, for a server the benchmark starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, what: str, **kwargs) -> None:
    """Wait until ``url`` answers (below 500), or stop the benchmark if ``proc`` exits or 60 s pass."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with status {proc.returncode}")
        try:
            if requests.get(url, timeout=2, **kwargs).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not answer within 60 s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT) -> None:
    """``sig`` (by default SIGINT, what Ctrl-C sends) to the process group, SIGKILL if it lingers."""
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


class TikTokEmulator:
    """The TikTok emulator's control endpoints (``/_emulator/...``), which drive it and read what it saw."""

    def __init__(self, url: str):
        self.url = url

    def control(self, path: str, body: dict | None = None, method: str = "POST") -> dict:
        answer = requests.request(method, f"{self.url}/_emulator/{path}", json=body or {}, timeout=300).json()
        if answer["code"] != 0:
            raise SystemExit(f"emulator refused {path}: {answer}")
        return answer["data"]

    def calls(self, prefix: str) -> list[dict]:
        """The signed API calls it received whose path starts with ``prefix``."""
        return self.control(f"calls?path={prefix}", method="GET")["calls"]


# The TikTok app the benchmarks connect to the emulator as.
TIKTOK_APP_KEY, TIKTOK_APP_SECRET = "bench-app-key", "bench-app-secret"


def tiktok_setup_django(database_url: str, emulator_url: str) -> dict[str, str]:
    """``setup_django`` for a benchmark that talks to the TikTok emulator at ``emulator_url``."""
    return setup_django(
        database_url,
        {
            "Q_SYNC": "false",
            "TIKTOK_APP_KEY": TIKTOK_APP_KEY,
            "TIKTOK_APP_SECRET": TIKTOK_APP_SECRET,
            "TIKTOK_API_BASE": emulator_url,
            "TIKTOK_AUTH_BASE": emulator_url,
        },
    )


def api_order_body(*, external_id: str, seller: str, placed_at: str, rng, sku_count: int) -> dict:
    """A ``POST /api/v1/orders/`` body with two lines of the seller's ``SKU-000``.. SKUs, drawn with ``rng``."""
    return {
        "external_id": external_id,
        "seller": seller,
        "placed_at": placed_at,
        "buyer_payment": "pending",
        "buyer": {"name": "Jane Doe", "phone": "+1 555 010 1234", "email": "jane@example.com"},
        "shipping_address": {
            "line1": "1 Main St",
            "line2": "",
            "city": "Austin",
            "region": "TX",
            "postal_code": "73301",
            "country": "US",
        },
        "lines": [
            {"sku": f"SKU-{i:03d}", "quantity": rng.randint(1, 3), "unit_price": "19.99"}
            for i in rng.sample(range(sku_count), 2)
        ],
    }
