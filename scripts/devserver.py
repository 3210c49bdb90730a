#!/usr/bin/env python3
"""Run the development web server, the django-q2 clusters and the local Stripe and TikTok Shop emulators together.

``make run`` calls this after migrating and loading the demo data. The
children: the web server, the task cluster (timers, payments, emails), the
partner-webhook delivery workers (a second django-q2 cluster serving only the
delivery queue, as in production) and the Stripe emulator. Why a supervisor
and not four ``&`` jobs in the Makefile:

* every child runs in its own process group (its own session), so stopping it
  also stops what it spawned: runserver's autoreload child, qcluster's worker
  processes;
* the terminal's Ctrl-C (or a SIGTERM) reaches only this script, which then
  stops the children: SIGINT to each process group first, SIGKILL for whatever
  is left after a grace period. The kill is the safety net for ``qcluster``,
  which can hang while stopping (django-q2 issue 346);
* if any child dies (a port already in use, a crash at import), the others are
  stopped too, instead of leaving a half-working stack behind;
* every output line is prefixed with the child's name, so the logs can be
  told apart in one terminal;
* once the web server and the emulators answer, it registers our Stripe webhook
  URL with the Stripe emulator, which forgets it on every restart, connects the
  demo seller to a shop on the TikTok emulator (``manage.py tiktok_demo``), and
  prints the URLs and demo logins.

Only the standard library is used; it needs nothing from Django.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
COLOURS = {"web": "32", "tasks": "35", "hooks": "31", "stripe": "36", "tiktok": "34", "dev": "33"}
# The app credentials the TikTok emulator and our settings share in development.
TIKTOK_DEV_APP_KEY = "dev-app-key"
TIKTOK_DEV_APP_SECRET = "dev-app-secret"


@dataclass
class Child:
    name: str
    argv: list[str]
    stop_signal: int = signal.SIGINT
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    reader: threading.Thread | None = field(default=None, repr=False)


class Output:
    """Writes prefixed lines from several threads without interleaving them."""

    def __init__(self, stream=sys.stdout):
        self.stream = stream
        self.colour = stream.isatty() and os.environ.get("NO_COLOR") is None
        self.width = max(len(name) for name in COLOURS)
        self.lock = threading.Lock()

    def line(self, name: str, text: str) -> None:
        prefix = f"{name:>{self.width}} |"
        if self.colour:
            prefix = f"\033[{COLOURS.get(name, '0')}m{prefix}\033[0m"
        with self.lock:
            self.stream.write(f"{prefix} {text}\n")
            self.stream.flush()

    def block(self, name: str, text: str) -> None:
        for part in text.splitlines():
            self.line(name, part)


def python_bin() -> str:
    """The virtualenv's interpreter when there is one, else the one running this script."""
    candidate = ROOT / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def localstripe_bin() -> str:
    candidate = Path(python_bin()).with_name("localstripe")
    return str(candidate) if candidate.exists() else "localstripe"


def build_children(args) -> list[Child]:
    py = python_bin()
    # Each child's group gets SIGINT, exactly what Ctrl-C would send it in a
    # terminal of its own. For qcluster this matters: SIGINT to the group stops
    # it in about a second, while SIGTERM can leave it hanging (issue 346).
    return [
        Child("web", [py, "manage.py", "runserver", f"{args.host}:{args.port}"]),
        Child("tasks", [py, "manage.py", "qcluster"]),
        # django-q2 picks the queue a cluster serves from Q_CLUSTER_NAME (see README, operations).
        Child("hooks", [py, "manage.py", "qcluster"], env={"Q_CLUSTER_NAME": "webhooks"}),
        Child("stripe", [localstripe_bin(), "--port", str(args.stripe_port)]),
        Child(
            "tiktok",
            [
                py,
                "-m",
                "devtools.tiktok_emulator",
                "--host",
                args.host,
                "--port",
                str(args.tiktok_port),
                "--app-key",
                os.environ.get("TIKTOK_APP_KEY", TIKTOK_DEV_APP_KEY),
                "--app-secret",
                os.environ.get("TIKTOK_APP_SECRET", TIKTOK_DEV_APP_SECRET),
                "--webhook-url",
                f"http://{args.host}:{args.port}/tiktok/webhook/",
                "--redirect-url",
                f"http://{args.host}:{args.port}/portal/tiktok/callback/",
            ],
        ),
    ]


def pump(child: Child, out: Output) -> None:
    """Copy the child's combined stdout/stderr to ours, line by line, with its prefix."""
    assert child.proc is not None and child.proc.stdout is not None
    for raw in iter(child.proc.stdout.readline, b""):
        out.line(child.name, raw.decode("utf-8", errors="replace").rstrip("\r\n"))


def start(child: Child, out: Output, env: dict[str, str]) -> None:
    child.proc = subprocess.Popen(
        child.argv,
        cwd=ROOT,
        env={**env, **child.env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # A new session is a new process group, outside the terminal's foreground
        # group: Ctrl-C reaches only us, and killpg() reaches everything the child spawned.
        start_new_session=True,
    )
    child.reader = threading.Thread(target=pump, args=(child, out), daemon=True, name=f"pump-{child.name}")
    child.reader.start()
    out.line("dev", f"started {child.name} (pid {child.proc.pid}): {' '.join(child.argv)}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process we cannot signal still holds the group id
        return True
    return True


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all(children: list[Child], out: Output, grace: float) -> None:
    """Politely signal every child's group, wait up to ``grace`` seconds, then SIGKILL what is left."""
    started = [c for c in children if c.proc is not None]
    for child in started:
        if child.proc.poll() is None:
            out.line("dev", f"stopping {child.name} ({signal.Signals(child.stop_signal).name})")
            signal_group(child.proc.pid, child.stop_signal)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        # poll() reaps our direct children; the group test then sees only live members.
        for child in started:
            child.proc.poll()
        if not any(group_alive(c.proc.pid) for c in started):
            break
        time.sleep(0.1)
    for child in started:
        child.proc.poll()
        if group_alive(child.proc.pid):
            out.line("dev", f"{child.name} did not stop within {grace:.0f}s; killing its process group")
            signal_group(child.proc.pid, signal.SIGKILL)
    for child in started:
        try:
            child.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            out.line("dev", f"{child.name} (pid {child.proc.pid}) is still running after SIGKILL")
        if child.reader is not None:
            child.reader.join(timeout=2)


def parent_make_interrupted() -> bool:
    """True when our parent is GNU make and it is inside its handler for SIGINT, SIGTERM or SIGHUP.

    On Ctrl-C the terminal signals make and us together. But when only make is
    signalled (``kill -INT <pid of make>`` from another shell or a process
    manager), make assumes we got the signal too and waits for us forever. While
    its handler runs, the signal is blocked in make's signal mask, which Linux
    shows in /proc; elsewhere this returns False and only direct signals count.
    """
    ppid = os.getppid()
    try:
        if Path(f"/proc/{ppid}/comm").read_text().strip() not in ("make", "gmake"):
            return False
        status = Path(f"/proc/{ppid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigBlk:"):
            blocked = int(line.split()[1], 16)
            return any(blocked & (1 << (sig - 1)) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    return False


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def banner(args) -> str:
    base = f"http://{args.host}:{args.port}"
    lines = [
        "",
        "The back-office is running:",
        f"  Seller portal    {base}/portal/",
        f"  Admin console    {base}/admin/",
        f"  API docs         {base}/api/v1/docs/   (schema: {base}/api/v1/schema/)",
        f"  Stripe emulator  http://{args.host}:{args.stripe_port}/v1/   (localstripe; any sk_test_... key)",
        f"  TikTok emulator  http://{args.host}:{args.tiktok_port}/_emulator/   (TikTok Shop; the demo shop of ACME)",
        "",
        "  A new TikTok order for the demo shop (it appears in ACME's portal within seconds):",
        f"    curl -X POST http://{args.host}:{args.tiktok_port}/_emulator/orders/demo",
        "",
    ]
    logins = VAR / "demo_logins.txt"
    if logins.exists():
        lines += logins.read_text().rstrip().splitlines()
    else:
        lines.append("No demo logins recorded; run `python manage.py load_demo` for demo data and logins.")
    key_file = VAR / "demo_api_key.txt"
    if key_file.exists():
        lines += [
            "",
            f"  Demo partner API key: {key_file.read_text().strip()}",
            f'  e.g. curl -H "Authorization: Api-Key $(cat var/demo_api_key.txt)" {base}/api/v1/orders/',
        ]
    lines += ["", "Press Ctrl-C to stop everything.", ""]
    return "\n".join(lines)


def connect_emulator(args, out: Output, env: dict[str, str]) -> None:
    """Have the emulator send its Stripe events (payment succeeded, card attached...) to our webhook URL.

    localstripe keeps webhook registrations in memory only, so this runs on
    every start, once both servers answer. A failure is reported but stops
    nothing: the portal and API work without card webhooks.
    """
    argv = [
        python_bin(),
        "manage.py",
        "stripe_setup",
        "--emulator-webhooks",
        "--site-url",
        f"http://{args.host}:{args.port}",
    ]
    result = subprocess.run(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    out.block("dev", result.stdout)
    if result.returncode != 0:
        out.block("dev", result.stderr)
        out.line("dev", "could not register the webhook with the Stripe emulator; card events will not arrive")


def connect_tiktok(args, out: Output, env: dict[str, str]) -> None:
    """Make the demo seller's shop on the TikTok emulator (in memory only, so on every start) and connect it."""
    argv = [python_bin(), "manage.py", "tiktok_demo", "--emulator", f"http://{args.host}:{args.tiktok_port}"]
    result = subprocess.run(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    out.block("dev", result.stdout)
    if result.returncode != 0:
        out.block("dev", result.stderr)
        out.line("dev", "could not connect the demo shop to the TikTok emulator; TikTok orders will not arrive")


def when_ready(args, out: Output, env: dict[str, str], stopping: threading.Event) -> None:
    """Once the web server and the emulators accept connections: connect them, then print URLs and logins."""
    deadline = time.monotonic() + 120
    while not stopping.is_set() and time.monotonic() < deadline:
        ports = (args.port, args.stripe_port, args.tiktok_port)
        if all(port_open(args.host, port) for port in ports):
            connect_emulator(args, out, env)
            connect_tiktok(args, out, env)
            out.block("dev", banner(args))
            return
        stopping.wait(0.3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stripe-port", type=int, default=8420)
    parser.add_argument("--tiktok-port", type=int, default=8430)
    parser.add_argument("--grace", type=float, default=5.0, help="seconds to wait before SIGKILL (default 5)")
    args = parser.parse_args(argv)

    out = Output()
    stopping = threading.Event()
    reason: list[str] = []

    def on_signal(signum, _frame):
        if not stopping.is_set():
            reason.append(f"received {signal.Signals(signum).name}")
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # The Django processes must talk to the emulator started here, and build links
    # (emails, webhook URLs) to the web server started here, whatever the ports.
    env.setdefault("STRIPE_API_HOST", f"http://{args.host}:{args.stripe_port}")
    env.setdefault("SITE_URL", f"http://{args.host}:{args.port}")
    # TikTok: our settings and the emulator started here share the app's credentials and hosts.
    env.setdefault("TIKTOK_APP_KEY", TIKTOK_DEV_APP_KEY)
    env.setdefault("TIKTOK_APP_SECRET", TIKTOK_DEV_APP_SECRET)
    env.setdefault("TIKTOK_API_BASE", f"http://{args.host}:{args.tiktok_port}")
    env.setdefault("TIKTOK_AUTH_BASE", f"http://{args.host}:{args.tiktok_port}")
    # Polls often, so a webhook the emulator could not deliver (the web server still starting) is not missed long.
    env.setdefault("TIKTOK_POLL_INTERVAL", "1m")
    # A partner's test receiver on this machine is a normal thing in development (never in production).
    env.setdefault("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    # django-q2 reads it to pick a queue; the main cluster must not inherit one from the shell.
    env.pop("Q_CLUSTER_NAME", None)
    children = build_children(args)
    exit_code = 0
    try:
        for child in children:
            if stopping.is_set():
                break
            start(child, out, env)
        threading.Thread(target=when_ready, args=(args, out, env, stopping), daemon=True).start()
        make_interrupted_ticks = 0
        while not stopping.wait(0.2):
            dead = next((c for c in children if c.proc is not None and c.proc.poll() is not None), None)
            if dead is not None:
                out.line("dev", f"{dead.name} exited with status {dead.proc.returncode}; stopping the others")
                exit_code = 1
                break
            # Seen twice in a row, so a mask make sets for an instant is not mistaken for a stop.
            make_interrupted_ticks = make_interrupted_ticks + 1 if parent_make_interrupted() else 0
            if make_interrupted_ticks >= 2:
                reason.append("make was interrupted")
                break
    finally:
        stopping.set()
        if reason:
            out.line("dev", f"{reason[0]}; shutting down")
        stop_all(children, out, args.grace)
        out.line("dev", "all stopped")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
