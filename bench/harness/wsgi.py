"""The app in process, as a production worker has it, called straight through WSGI.

For the in-process benches (``bench_inprocess.py``, ``bench_threads.py``): no server, no
socket, so the CPU measured is the app's own.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

# the app slots of a production worker (``python -m cashman.serve``: its threads)
APP_SLOTS = 2


def worker_app(env: Mapping[str, str]) -> Any:
    """Cashman built from ``env`` (variables as in production) and wrapped as a production
    worker wraps it (``lifecycle.worker_app``: ``BodyBuffer`` with ``APP_SLOTS``); the
    schema is migrated by the app itself."""
    from cashman import create_app
    from cashman.body_buffer import BodyBuffer
    from cashman.config import Settings

    app = create_app(Settings.from_env(dict(env)))
    app.wsgi_app = BodyBuffer(app.wsgi_app, APP_SLOTS)
    return app


def respond(app: Any, environ: Mapping[str, Any], body: bytes = b"") -> str:
    """One request: a copy of ``environ`` with ``body`` as its input, the answer read to
    its end and closed, as a WSGI server does; the status line (``"200 OK"``)."""
    status: list[str] = []
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(body)
    chunks = app(env, lambda line, _headers, _exc=None: status.append(line))
    try:
        b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return status[0]
