"""GET a JWK Set under SPEC §3's limits, and nothing else (no parsing, no caching).

The rules of "JWKS handling": fetched with ``requests``, no redirects followed,
connect and read timeouts of at most 5 s, a total deadline of 10 s (a server
trickling a byte at a time cannot hold a worker: on the response head it is
``auth.http_deadline``'s, and it is checked between reads of the body), at most
1 MiB, status 200 only, an explicit ``User-Agent``.

The fetch asks for ``Accept-Encoding: identity``, but a CDN in front of the
issuer may compress anyway, and refusing that would take the API down: a
``gzip`` or ``deflate`` body is decoded incrementally, with the 1 MiB cap on
both the bytes received and the bytes decoded (a decompression bomb is refused
as oversized after at most 1 MiB of output); any other ``Content-Encoding`` is
a failed fetch. The decoding is ours rather than urllib3's because urllib3
decodes without a cap on the output.
"""

from __future__ import annotations

import math
import time
import zlib
from http.client import HTTPException

import requests
import urllib3

from auth.http_deadline import DeadlineAdapter, deadline

USER_AGENT = "cashman-jwks/0.1"
MAX_JWKS_BYTES = 1024 * 1024
MAX_TIMEOUT_S = 5.0
MAX_DEADLINE_S = 10.0
# zlib window bits per Content-Encoding: 31 = gzip only; 15|32 = zlib or gzip header (servers
# that label a gzip body "deflate" exist). RFC 9110 §8.4.1.3: x-gzip is gzip.
DECODABLE_ENCODINGS = {"identity": None, "gzip": 31, "x-gzip": 31, "deflate": 15 | 32}
_REQUEST_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "application/json",
    "Accept-Encoding": "identity",
}


class JwksFetchError(Exception):
    """A fetch attempt failed; the message is for the log (status, limit; never a token)."""


class JWKSFetcher:
    """Fetches key-set documents with one ``requests`` session, under the SPEC's limits."""

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        connect_timeout_s: float = 3.05,
        read_timeout_s: float = MAX_TIMEOUT_S,
        deadline_s: float = MAX_DEADLINE_S,
        max_bytes: int = MAX_JWKS_BYTES,
    ) -> None:
        """``session``: reused for every fetch (a new one if None), with
        ``auth.http_deadline.DeadlineAdapter`` mounted on it for ``http://`` and
        ``https://``.

        ``connect_timeout_s`` and ``read_timeout_s`` (seconds, each at most 5),
        ``deadline_s`` (seconds for the whole fetch, body included, at most 10) and
        ``max_bytes`` (on the wire and decoded, at most 1 MiB) may only tighten SPEC
        §3's limits: a value outside them, or not positive, raises ``ValueError``.
        """
        _check_limit("connect_timeout_s", connect_timeout_s, MAX_TIMEOUT_S)
        _check_limit("read_timeout_s", read_timeout_s, MAX_TIMEOUT_S)
        _check_limit("deadline_s", deadline_s, MAX_DEADLINE_S)
        _check_limit("max_bytes", max_bytes, MAX_JWKS_BYTES)
        self.session = session or requests.Session()
        adapter = DeadlineAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.deadline_s = deadline_s
        self.max_bytes = int(max_bytes)

    def fetch(self, url: str) -> bytes:
        """The body of ``GET url``, decoded; raises ``JwksFetchError`` on any failure."""
        started = time.monotonic()
        try:
            with deadline(started + self.deadline_s):
                response = self.session.get(
                    url,
                    timeout=(self.connect_timeout_s, self.read_timeout_s),
                    allow_redirects=False,
                    stream=True,
                    headers=_REQUEST_HEADERS,
                )
        except requests.RequestException as exc:
            if time.monotonic() - started >= self.deadline_s:
                raise JwksFetchError("total deadline exceeded") from None
            raise JwksFetchError(type(exc).__name__) from None
        try:
            if response.status_code != 200:
                raise JwksFetchError(f"HTTP status {response.status_code}")
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in DECODABLE_ENCODINGS:
                raise JwksFetchError(f"unsupported Content-Encoding {encoding[:40]!r}")
            if _declares_more_than(response.headers.get("Content-Length", ""), self.max_bytes):
                raise JwksFetchError("response larger than the cap")
            wbits = DECODABLE_ENCODINGS[encoding]
            decoder = None if wbits is None else zlib.decompressobj(wbits=wbits)
            return self._read_body(response, started, decoder)
        finally:
            response.close()

    def _read_body(
        self, response: requests.Response, started: float, decoder: zlib._Decompress | None
    ) -> bytes:
        """The body, decoded if ``decoder``; both the wire and decoded sizes are capped."""
        body = bytearray()
        received = 0
        raw = response.raw
        while True:
            remaining = self.deadline_s - (time.monotonic() - started)
            if remaining <= 0:
                raise JwksFetchError("total deadline exceeded")
            _set_socket_timeout(raw, min(self.read_timeout_s, remaining))
            try:
                # read1: return whatever arrived, so the deadline is checked between bytes.
                chunk = raw.read1(65536, decode_content=False)
            except (urllib3.exceptions.HTTPError, HTTPException, OSError, ValueError) as exc:
                raise JwksFetchError(type(exc).__name__) from None
            if not chunk:
                if decoder is not None and (not decoder.eof or decoder.unused_data):
                    raise JwksFetchError("truncated or trailing compressed data")
                return bytes(body)
            received += len(chunk)
            if received > self.max_bytes:
                raise JwksFetchError("response larger than the cap")
            if decoder is None:
                body += chunk
            else:
                self._decode(decoder, chunk, body)

    def _decode(self, decoder: zlib._Decompress, chunk: bytes, body: bytearray) -> None:
        """Append ``chunk`` decoded to ``body``, never producing more than one byte past the cap."""
        pending = chunk
        while pending:
            try:
                # max_length bounds each step's output: a bomb stops at cap + 1 bytes.
                body += decoder.decompress(pending, self.max_bytes + 1 - len(body))
            except zlib.error:
                raise JwksFetchError("corrupt compressed data") from None
            if len(body) > self.max_bytes:
                raise JwksFetchError("response larger than the cap (decompressed)")
            pending = decoder.unconsumed_tail


def _check_limit(name: str, value: float, most: float) -> None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (is_number and math.isfinite(value) and 0 < value <= most):
        raise ValueError(f"{name} must be above 0 and at most {most:g} (SPEC §3), not {value!r}")


def _declares_more_than(content_length: str, cap: int) -> bool:
    """Whether a ``Content-Length`` value announces more than ``cap`` bytes.

    Judged on its ASCII digits (``"²".isdigit()`` is true), by their count before any
    conversion: a header of thousands of digits is simply too large, not an ``int()``
    past the interpreter's digit limit.
    """
    digits = content_length.strip()
    if not (digits.isascii() and digits.isdigit()):
        return False  # absent or malformed: the streamed byte count still enforces the cap
    digits = digits.lstrip("0") or "0"
    return len(digits) > len(str(cap)) or int(digits) > cap


def _set_socket_timeout(raw: object, timeout_s: float) -> None:
    """Bound the next read by the time left (best effort: real sockets only)."""
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(timeout_s, 0.001))
