#!/usr/bin/env python3
"""Start the production topology on one machine from the ``Procfile``: web, task clusters, delivery clusters.

    python scripts/topology.py [--web N] [--tasks M] [--hooks K] [--procfile Procfile] [--dry-run]

The counts default to the environment: ``WEB_CONCURRENCY`` (gunicorn worker
processes behind one listener, default 2), ``TASK_CLUSTERS`` (main django-q2
clusters, default 1) and ``DELIVERY_CLUSTERS`` (partner-webhook delivery
clusters, default 1). Every other setting comes from the environment as usual
(``DATABASE_URL``, ``REDIS_URL``, ``Q_WORKERS``, ``WEBHOOK_WORKERS``...): the
clusters share their work through Redis and PostgreSQL, so they are meant to
run with both (see the README's Operations section).

The ``Procfile`` holds one line per process type, ``name: shell command``, as
honcho and foreman read it (``honcho start -m web=1,tasks=2,hooks=1`` does the
same as ``--tasks 2``). This script needs only the standard library:

* each process type is started as many times as its count (``tasks.1``,
  ``tasks.2``, ...), each through ``/bin/sh -c`` so the ``${VAR:-default}``
  in the Procfile expands, with the virtualenv's ``bin`` first on ``PATH``
  (``python`` and ``gunicorn`` are the project's), in a process group of its own;
* every output line is prefixed with the process's label;
* Ctrl-C (or SIGTERM) stops them all: SIGINT to each process group (a
  qcluster finishes its running tasks, gunicorn its requests), SIGKILL for
  whatever is left after ``--grace`` seconds; if one process exits, the others
  are stopped too, so a half-running topology is never left behind.

``bench/scaleout.py`` starts the topology with the same code.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


def read_procfile(path: Path) -> dict[str, str]:
    """``{name: command}`` from a Procfile; comments and blank lines are skipped, a bad line is an error."""
    commands: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"{path.name} line {number}: expected 'name: command', got {raw!r}")
        if match.group(1) in commands:
            raise ValueError(f"{path.name} line {number}: process type {match.group(1)!r} is defined twice")
        commands[match.group(1)] = match.group(2)
    return commands


@dataclass
class Process:
    label: str
    command: str
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    reader: threading.Thread | None = field(default=None, repr=False)


def formation(commands: dict[str, str], counts: dict[str, int]) -> list[tuple[str, str]]:
    """``[(label, command)]``: each process type as many times as ``counts`` says (1 when not counted)."""
    unknown = set(counts) - set(commands)
    if unknown:
        raise ValueError(f"no process type {sorted(unknown)} in the Procfile (it has {sorted(commands)})")
    started = []
    for name, command in commands.items():
        count = counts.get(name, 1)
        if count < 0:
            raise ValueError(f"the count of {name} must be 0 or more, not {count}")
        started += [(f"{name}.{n}", command) for n in range(1, count + 1)]
    return started


class Topology:
    """The processes of a formation: start them, watch them, stop them all."""

    def __init__(self, processes: list[tuple[str, str]], env: dict[str, str], output=None, grace: float = 20):
        bin_dir = os.path.dirname(sys.executable)
        env = {**env, "PATH": bin_dir + os.pathsep + env.get("PATH", os.defpath), "PYTHONUNBUFFERED": "1"}
        self.processes = [Process(label, command, env) for label, command in processes]
        self.output = output if output is not None else sys.stdout
        self.grace = grace
        self.lock = threading.Lock()
        self.width = max((len(p.label) for p in self.processes), default=0)

    def _line(self, label: str, text: str) -> None:
        with self.lock:
            self.output.write(f"{label:>{self.width}} | {text}\n")
            self.output.flush()

    def _pump(self, process: Process) -> None:
        for raw in process.proc.stdout:
            self._line(process.label, raw.decode(errors="replace").rstrip())

    def start(self) -> Topology:
        for process in self.processes:
            process.proc = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {process.command}"],
                cwd=ROOT,
                env=process.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            process.reader = threading.Thread(target=self._pump, args=(process,), daemon=True)
            process.reader.start()
            self._line(process.label, f"started (pid {process.proc.pid}): {process.command}")
        return self

    def exited(self) -> Process | None:
        """The first process that has exited, if any."""
        return next((p for p in self.processes if p.proc is not None and p.proc.poll() is not None), None)

    def stop(self) -> None:
        """SIGINT to every process group, then SIGKILL to what is left after the grace period."""
        running = [p for p in self.processes if p.proc is not None and p.proc.poll() is None]
        for process in running:
            _signal_group(process.proc, signal.SIGINT)
        deadline = time.monotonic() + self.grace
        for process in running:
            try:
                process.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._line(process.label, f"still running after {self.grace:.0f} s: killed")
                _signal_group(process.proc, signal.SIGKILL)
                process.proc.wait()
        # Whatever a process left behind in its group (a qcluster's worker processes) goes too.
        for process in self.processes:
            if process.proc is not None:
                _signal_group(process.proc, signal.SIGKILL)
        for process in self.processes:
            if process.reader is not None:
                process.reader.join(timeout=2)

    def run_until_stopped(self) -> int:
        """Block until Ctrl-C, SIGTERM or a process exiting; stop everything; return an exit status."""
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        status = 0
        while not stop.wait(0.5):
            gone = self.exited()
            if gone is not None:
                self._line(gone.label, f"exited with status {gone.proc.returncode}: stopping the others")
                status = gone.proc.returncode or 1
                break
        self.stop()
        return status


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _count(value: str | None, default: int, name: str) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from None


def main() -> int:
    parser = argparse.ArgumentParser(description="Start web, task clusters and delivery clusters from the Procfile.")
    parser.add_argument("--web", type=int, help="gunicorn worker processes (WEB_CONCURRENCY, default 2)")
    parser.add_argument("--tasks", type=int, help="main task clusters (TASK_CLUSTERS, default 1)")
    parser.add_argument("--hooks", type=int, help="partner-webhook delivery clusters (DELIVERY_CLUSTERS, default 1)")
    parser.add_argument("--procfile", type=Path, default=ROOT / "Procfile")
    parser.add_argument("--grace", type=float, default=20, help="seconds to stop cleanly before SIGKILL (default 20)")
    parser.add_argument("--dry-run", action="store_true", help="print what would start, start nothing")
    args = parser.parse_args()

    web = args.web if args.web is not None else _count(os.environ.get("WEB_CONCURRENCY"), 2, "WEB_CONCURRENCY")
    counts = {
        "tasks": args.tasks if args.tasks is not None else _count(os.environ.get("TASK_CLUSTERS"), 1, "TASK_CLUSTERS"),
        "hooks": args.hooks
        if args.hooks is not None
        else _count(os.environ.get("DELIVERY_CLUSTERS"), 1, "DELIVERY_CLUSTERS"),
    }
    if web < 1:
        raise SystemExit("--web (WEB_CONCURRENCY) must be at least 1")
    try:
        processes = formation(read_procfile(args.procfile), counts)
    except (OSError, ValueError) as exc:
        raise SystemExit(str(exc)) from None
    env = {**os.environ, "WEB_CONCURRENCY": str(web)}
    if args.dry_run:
        for label, command in processes:
            print(f"{label}: {command}")
        return 0
    if counts["tasks"] > 1 or counts["hooks"] > 1:
        if not env.get("REDIS_URL") or not env.get("DATABASE_URL", "").startswith("postgres"):
            print("note: several clusters are meant to share PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)")
    return Topology(processes, env, grace=args.grace).start().run_until_stopped()


if __name__ == "__main__":
    sys.exit(main())
