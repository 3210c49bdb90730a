"""The Procfile and scripts/topology.py: the production topology's process types, counts, and stopping them all."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from topology import Topology, formation, read_procfile  # noqa: E402


def test_the_procfile_has_web_task_and_delivery_processes():
    commands = read_procfile(ROOT / "Procfile")
    assert set(commands) == {"web", "tasks", "hooks"}
    assert commands["web"].startswith("gunicorn backoffice.wsgi:application")
    assert "${WEB_CONCURRENCY:-2}" in commands["web"]
    assert commands["tasks"] == "python manage.py qcluster"
    assert commands["hooks"] == "env Q_CLUSTER_NAME=webhooks python manage.py qcluster"


def test_counts_multiply_the_clusters():
    commands = read_procfile(ROOT / "Procfile")
    labels = [label for label, _ in formation(commands, {"tasks": 3, "hooks": 2})]
    assert labels == ["web.1", "tasks.1", "tasks.2", "tasks.3", "hooks.1", "hooks.2"]
    assert [label for label, _ in formation(commands, {"hooks": 0})] == ["web.1", "tasks.1"]
    with pytest.raises(ValueError, match="no process type"):
        formation(commands, {"workers": 2})


def test_a_bad_procfile_line_is_refused(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("# comment\nweb: gunicorn x\nthis is not a process\n")
    with pytest.raises(ValueError, match="line 3"):
        read_procfile(procfile)


def test_every_process_is_started_with_its_label_and_stopped_with_its_children(tmp_path):
    procfile = tmp_path / "Procfile"
    # Each process leaves a child behind in its group, as qcluster does with its workers.
    procfile.write_text("a: sh -c 'sleep 60 & echo up-$$; wait'\nb: sh -c 'echo up; sleep 60'\n")
    output = io.StringIO()
    topology = Topology(formation(read_procfile(procfile), {"a": 2}), {"PATH": "/usr/bin:/bin"}, output=output, grace=5)
    topology.start()
    deadline = time.monotonic() + 10
    while output.getvalue().count("| up") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert topology.exited() is None
    topology.stop()
    assert all(p.proc.poll() is not None for p in topology.processes)
    text = output.getvalue()
    assert {line.split("|")[0].strip() for line in text.splitlines()} == {"a.1", "a.2", "b.1"}
