"""A granian worker ends when its server's parent process is gone (SPEC §6, §8).

granian's workers are processes its parent forks; if the parent is killed outright
(SIGKILL, the out-of-memory killer), nothing tells them, and they go on serving from the
shared port: an instance an orchestrator or load balancer counts as dead keeps
answering, and the same instance started again cannot bind its port. gunicorn's workers
notice a new parent in their own loop; a granian worker runs ``watch_parent``: a thread
that looks every ``POLL_S`` seconds whether the process has been handed to another
parent, and if so stops the worker as SIGTERM does (requests in flight finish), then
ends it outright if it has not exited ``grace_s`` later.
"""

from __future__ import annotations

import os
import signal
import threading
import time

POLL_S = 1.0


def watch_parent(grace_s: float, poll_s: float = POLL_S) -> threading.Thread:
    """Start the watch for this process (a worker) and return its daemon thread.

    ``grace_s``: seconds between the SIGTERM and a SIGKILL, for a worker whose requests
    in flight do not finish (the server's own graceful timeout). ``poll_s``: seconds
    between looks at the parent process id.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        os.kill(os.getpid(), signal.SIGKILL)

    thread = threading.Thread(target=watch, name="cashman-parent-watch", daemon=True)
    thread.start()
    return thread
