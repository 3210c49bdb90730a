#!/usr/bin/env python3
"""The API fuzzing gate: schemathesis against a running server, from our own OpenAPI schema.

What it does, start to end:

1. builds a throw-away SQLite database in a temporary folder (``migrate``), and fills it with the demo data
   (``load_demo``), whose partner key it reads back;
2. starts gunicorn on a free loopback port with production-like settings (DEBUG off);
3. runs ``schemathesis run`` against ``/api/v1/schema/`` with that key, a fixed seed and a bounded number of
   examples per operation. Which checks run, and the few that are left out and why, are in
   ``schemathesis.toml`` at the root of the repository;
4. stops the server (its whole process group) and deletes the folder, whatever happened.

It exits with schemathesis's status: non-zero on any server error, any answer the schema does not describe,
any request the schema forbids that was accepted, or any request it allows that was refused.

    .venv/bin/python scripts/fuzz_api.py [--examples 25] [--seed 20260316] [--keep]

``.ci/run`` runs it; the README's operations section describes the gate.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
CONFIG = ROOT / "schemathesis.toml"


def python_bin() -> str:
    candidate = BIN / "python"
    return str(candidate) if candidate.exists() else sys.executable


def tool(name: str) -> str:
    candidate = BIN / name
    return str(candidate) if candidate.exists() else name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode} before it answered")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer on port {port} within {timeout:.0f}s")


def server_env(workdir: Path) -> dict[str, str]:
    """Production-like settings on a private database; nothing is read from the developer's own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "Q_SYNC", "Q_CLUSTER_NAME")
    }
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "STRIPE_SECRET_KEY": f"sk_test_{secrets.token_hex(16)}",
            "STRIPE_PUBLISHABLE_KEY": f"pk_test_{secrets.token_hex(16)}",
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            "LOG_LEVEL": "WARNING",
            # The fuzzer sends thousands of requests from one address with one key: throttling it would only
            # test the throttle. The throttle has tests of its own.
            "API_THROTTLE_RATE_KEY": "1000000/minute",
            "API_THROTTLE_RATE_ADDRESS": "1000000/minute",
        }
    )
    return env


def run(argv: list[str], env: dict[str, str]) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, cwd=ROOT, env=env, check=True, stdin=subprocess.DEVNULL)


def stop(proc: subprocess.Popen | None, grace: float = 10) -> None:
    """SIGTERM to the server's process group (gunicorn and its workers), SIGKILL after ``grace`` seconds."""
    if proc is None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=25, help="examples per operation and phase (default 25)")
    parser.add_argument("--seed", type=int, default=20260316, help="schemathesis seed (default 20260316)")
    # One worker: hypothesis parses lambda sources with ast, which on Python 3.11 can fail when two threads
    # do it at once ("AST constructor recursion depth mismatch").
    parser.add_argument("--workers", default="1", help="schemathesis workers (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, server log)")
    args, extra = parser.parse_known_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="fuzz-api-"))
    env = server_env(workdir)
    server: subprocess.Popen | None = None

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        py = python_bin()
        run([py, "manage.py", "migrate", "--noinput", "-v", "0"], env)
        run([py, "manage.py", "load_demo", "--var-dir", str(workdir)], env)
        api_key = (workdir / "demo_api_key.txt").read_text().strip()
        port = free_port()
        log = (workdir / "server.log").open("wb")
        server = subprocess.Popen(
            [tool("gunicorn"), "backoffice.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches the workers too
        )
        wait_for_port(port, server)
        command = [
            tool("schemathesis"),
            "--config-file",
            str(CONFIG),
            "run",
            f"http://127.0.0.1:{port}/api/v1/schema/",
            "--header",
            f"Authorization: Api-Key {api_key}",
            "--seed",
            str(args.seed),
            "--max-examples",
            str(args.examples),
            "--workers",
            args.workers,
            "--no-color",
            *extra,
        ]
        print(f"+ schemathesis run ... (seed {args.seed}, {args.examples} examples per operation)", flush=True)
        result = subprocess.run(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            print(f"fuzzing gate failed (schemathesis exit status {result.returncode}); server log follows")
            sys.stdout.write((workdir / "server.log").read_text(errors="replace")[-20000:])
        return result.returncode
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc}); cleaning up", file=sys.stderr)
        return 130
    finally:
        stop(server)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
