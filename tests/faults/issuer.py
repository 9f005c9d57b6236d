"""A real HTTP issuer on loopback that serves a JWKS, or fails in a chosen way.

The fault tests need a JWKS endpoint that misbehaves like real networks do
(closed port, reset connection, 5xx, a body that trickles in, a 10 MB body,
a redirect), so the JWKS cache's timeouts and limits are tested through its
real ``requests`` session rather than a mock. Each mode is an ``Answer`` of
the test kit's ``JWKSServer``, whose waits all end when it closes, so
``stop()`` never waits for a sleeping thread.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from auth.testing import Answer, JWKSServer

JWKS_PATH = "/.well-known/jwks.json"
REDIRECT_TARGET = "/moved/jwks.json"
HUGE_BYTES = 10 * 1024 * 1024

MODES = (
    "ok",  # 200, the JWKS
    "down",  # the port is unbound: connections are refused by the kernel
    "refusing",  # the connection is accepted, then reset without a response
    "5xx",  # 503 with a JSON body
    "slow",  # nothing for longer than any read timeout, then the JWKS
    "trickle",  # 200, the JWKS one byte a second
    "trickle-head",  # the status line and headers one byte a second (about 100 s)
    "garbage",  # 200 application/json, bytes that are not JSON
    "html",  # 200 text/html, a login page
    "huge",  # 200 application/json, a 10 MB body
    "redirect",  # 302 to a path that serves the valid JWKS (must not be followed)
    "empty",  # 200, {"keys": []}
)


class FaultyIssuer:
    """A ``JWKSServer`` on 127.0.0.1 whose JWKS answer is set by ``mode``."""

    def __init__(self, jwks: dict[str, Any], slow_s: float = 30.0, trickle_s: float = 30.0):
        self.jwks = jwks
        self.mode = "ok"
        self.slow_s = slow_s
        self.trickle_s = trickle_s
        self.port = 0
        self._server: JWKSServer | None = None
        self._earlier_hits: Counter[str] = Counter()  # of servers stopped by `down`

    @property
    def issuer(self) -> str:
        """The issuer URL, with Auth0's trailing slash."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def hits(self) -> Counter[str]:
        """Requests per path since the first start, whatever the mode answered."""
        current = Counter(r.path for r in self._server.requests) if self._server else Counter()
        return self._earlier_hits + current

    @property
    def fetches(self) -> int:
        """Requests that reached the JWKS path or the redirect's target."""
        hits = self.hits
        return hits[JWKS_PATH] + hits[REDIRECT_TARGET]

    def start(self) -> FaultyIssuer:
        """Bind (the same port again after ``down``) and serve in a daemon thread."""
        self._server = JWKSServer(self.jwks, port=self.port)
        self.port = self._server.server_address[1]
        self._server.answer(Answer(), path=REDIRECT_TARGET)
        self._server.answer(self._answer(self.mode))
        return self

    def stop(self) -> None:
        """Stop serving and release the port; waiting handlers give up at once."""
        if self._server is not None:
            self._server.close()
            self._earlier_hits += Counter(r.path for r in self._server.requests)
            self._server = None

    def set_mode(self, mode: str) -> None:
        """Switch fault; ``down`` unbinds the port and any other mode binds it again."""
        if mode not in MODES:
            raise ValueError(mode)
        self.mode = mode
        if mode == "down":
            self.stop()
        elif self._server is None:
            self.start()
        else:
            self._server.answer(self._answer(mode))

    def _answer(self, mode: str) -> Answer:
        body = json.dumps(self.jwks).encode()
        answers = {
            "ok": Answer(),
            "down": Answer(),  # not served: the port is closed
            "refusing": Answer(reset=True),
            "5xx": Answer(status=503, body=b'{"error": "temporarily unavailable"}'),
            "slow": Answer(delay_s=self.slow_s),
            "trickle": Answer(
                body=body[: int(self.trickle_s)],
                headers={"Content-Length": str(len(body))},
                chunk_size=1,
                chunk_delay_s=1.0,
            ),
            "trickle-head": Answer(trickle_head=True, chunk_size=1, chunk_delay_s=1.0),
            "garbage": Answer(body=b"\x00\xff{keys: [}\x81garbage" * 16),
            "html": Answer(
                content_type="text/html",
                body=b"<!doctype html><html><body>Sign in</body></html>",
            ),
            "huge": Answer(body=b'{"keys": [' + b" " * (HUGE_BYTES - 10), chunk_size=64 * 1024),
            "redirect": Answer(
                status=302,
                body=b"",
                headers={"Location": self.issuer.rstrip("/") + REDIRECT_TARGET},
            ),
            "empty": Answer(body=b'{"keys": []}'),
        }
        return answers[mode]

    def __enter__(self) -> FaultyIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
