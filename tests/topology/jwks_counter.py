"""A loopback issuer that serves one key set at any ``.../.well-known/jwks.json`` path
and counts the fetches of each path.

Every instance generation fetches from a path of its own (see ``instances``),
so ``fetches(path)`` is what one process tree asked for: the bound of SPEC
section 3 (one fetch at a time per worker, attempts at least
``JWKS_MIN_REFRESH_INTERVAL`` apart) can be checked per instance.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from auth.testing import AuthKit

JWKS_SUFFIX = "/.well-known/jwks.json"


class CountingIssuer:
    """``AuthKit`` whose issuer is ``http://127.0.0.1:<port>/``; fetches counted per path."""

    def __init__(self) -> None:
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                counter._record(path)
                if not path.endswith(JWKS_SUFFIX):
                    self.send_error(404)
                    return
                body = json.dumps(counter.kit.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the counts are the record."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.issuer = f"http://127.0.0.1:{self.port}/"
        self.kit = AuthKit(issuer=self.issuer)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> CountingIssuer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fetches(self, path: str) -> int:
        """GETs of ``path`` so far."""
        with self._lock:
            return self._counts[path]

    def _record(self, path: str) -> None:
        with self._lock:
            self._counts[path] += 1

    def __enter__(self) -> CountingIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
