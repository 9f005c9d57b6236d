"""The watchdog (gunicorn's body deadline) and the worker watch (granian's worker exits)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from cashman.watchdog import Watchdog
from cashman.worker_registry import WorkerRegistry
from cashman.worker_watch import WorkerWatch, child_pids


def test_watchdog_runs_a_callback_at_its_deadline():
    fired = threading.Event()
    Watchdog().call_at(time.monotonic() + 0.1, fired.set)
    assert fired.wait(5)


def test_watchdog_runs_earlier_deadlines_first():
    order: list[str] = []
    done = threading.Event()
    watchdog = Watchdog()
    now = time.monotonic()
    watchdog.call_at(now + 0.3, lambda: (order.append("late"), done.set()))
    watchdog.call_at(now + 0.1, lambda: order.append("early"))
    assert done.wait(5)
    assert order == ["early", "late"]


def test_a_cancelled_deadline_never_fires():
    fired = threading.Event()
    armed = Watchdog().call_at(time.monotonic() + 0.2, fired.set)
    assert armed.cancel() is True
    assert not fired.wait(0.5)


def test_cancel_after_firing_says_so():
    fired = threading.Event()
    armed = Watchdog().call_at(time.monotonic(), fired.set)
    assert fired.wait(5)
    assert armed.cancel() is False


def test_a_failing_callback_does_not_stop_the_watchdog():
    watchdog = Watchdog()
    fired = threading.Event()
    watchdog.call_at(time.monotonic(), lambda: 1 / 0)
    watchdog.call_at(time.monotonic() + 0.1, fired.set)
    assert fired.wait(5)


def test_worker_watch_reports_each_child_that_ends_once():
    ended: list[int] = []
    watch = WorkerWatch(ended.append, interval_s=0.05)
    watch.start()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    try:
        deadline = time.monotonic() + 10
        while child.pid not in child_pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # seen by a sweep while alive
        child.wait(10)
        while child.pid not in ended and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watch.stop()
    assert ended.count(child.pid) == 1


def test_worker_watch_reports_a_registered_child_that_ended_between_two_looks(tmp_path):
    # granian forks, reaps and replaces a killed worker faster than any polling interval
    ended: list[int] = []
    registry = WorkerRegistry(tmp_path, os.getpid())
    watch = WorkerWatch(ended.append, interval_s=3600, registry=registry)
    watch.start()
    register = "import os, pathlib, sys; pathlib.Path(sys.argv[1], str(os.getpid())).touch()"
    child = subprocess.Popen([sys.executable, "-c", register, str(registry.workers_dir)])
    child.wait(10)
    watch.stop()
    assert ended == [child.pid]
    assert registry.registered() == set()
