"""``JWKSCache``: one fetch at a time, refresh throttle, stale keys, and hostile responses.

Time is an injected clock moved by the tests; nothing sleeps except the
deliberately slow fetches (a ``responses`` callback, a loopback trickle server).
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import json
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests
import responses

from auth import AuthSettings
from auth.errors import InvalidTokenError, JwksUnavailableError
from auth.jwks import USER_AGENT, JWKSCache
from auth.testing import AuthKit, generate_rsa_key, public_jwk
from auth.verify import TokenVerifier

KID = "test-key-1"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(kit, clock):
    """``cache(**options)`` -> a JWKSCache of the kit's JWKS on the test clock."""

    def make(**options):
        options = {"ttl": 600, "min_refresh": 30, "max_stale": 86400, "clock": clock, **options}
        return JWKSCache(kit.jwks_url, **options)

    return make


def fetches(rsps: responses.RequestsMock, url: str) -> int:
    return sum(1 for call in rsps.calls if call.request.url == url)


def test_jwks_many_lookups_one_fetch(kit, jwks, cache):
    c = cache()
    for _ in range(50):
        assert c.lookup(KID)[0].kid == KID
    assert fetches(jwks, kit.jwks_url) == 1


def test_jwks_key_objects_built_once(kit, jwks, cache):
    c = cache()
    first = c.lookup(KID)[0]
    assert all(c.lookup(KID)[0] is first for _ in range(10))


def test_jwks_cold_cache_twenty_threads_one_fetch(kit, cache):
    calls = []

    def slow_jwks(request):
        calls.append(request)
        time.sleep(0.2)
        return 200, {}, json.dumps(kit.jwks())

    c = cache()
    results: list[object] = []
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, kit.jwks_url, callback=slow_jwks)
        threads = [
            threading.Thread(target=lambda: results.append(c.lookup(KID))) for _ in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert len(calls) == 1
    assert len(results) == 20
    assert all(len(found) == 1 for found in results)


class ArrivalClock(Clock):
    """A clock that tells when each named thread has entered ``lookup`` (its first reading)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.arrived = {name: threading.Event() for name in names}

    def __call__(self) -> float:
        event = self.arrived.get(threading.current_thread().name)
        if event is not None:
            event.set()
        return self.now


@pytest.mark.parametrize(
    ("response", "waiter_kid"),
    [
        ({"status": 503}, KID),  # the issuer fails: every waiter shares the failure
        ({"body": requests.Timeout("hanging issuer")}, KID),
        (None, "random-kid"),  # a good set without the waiters' kid: no refetch each
    ],
)
def test_jwks_waiters_share_the_attempt_in_flight(kit, response, waiter_kid):
    names = [f"waiter-{i}" for i in range(5)]
    clock = ArrivalClock(names)
    c = JWKSCache(kit.jwks_url, min_refresh=0, clock=clock)
    outcomes: list[object] = []

    def wait_for_keys() -> None:
        try:
            outcomes.append(c.lookup(waiter_kid))
        except JwksUnavailableError as exc:
            outcomes.append(exc)

    waiters = [threading.Thread(target=wait_for_keys, name=name) for name in names]

    def first_attempt(request):
        # The lock is held: start the waiters and let each reach lookup before answering.
        for waiter in waiters:
            waiter.start()
        # A waiter's first clock reading comes after it noted the attempts so far.
        assert all(clock.arrived[name].wait(timeout=10) for name in names)
        if response is None:
            return 200, {}, json.dumps(kit.jwks())
        if "body" in response:
            raise response["body"]
        return response["status"], {}, "{}"

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, kit.jwks_url, callback=first_attempt)
        with contextlib.suppress(JwksUnavailableError):
            c.lookup(KID)
        for waiter in waiters:
            waiter.join(timeout=10)
        assert fetches(rsps, kit.jwks_url) == 1
    if response is None:
        assert outcomes == [()] * len(names)
    else:
        assert len(outcomes) == len(names)
        assert all(isinstance(o, JwksUnavailableError) for o in outcomes)


def test_jwks_refresh_after_ttl(kit, jwks, cache, clock):
    c = cache(ttl=600)
    c.lookup(KID)
    clock.advance(599)
    c.lookup(KID)
    assert fetches(jwks, kit.jwks_url) == 1
    clock.advance(2)
    c.lookup(KID)
    assert fetches(jwks, kit.jwks_url) == 2


def test_jwks_unknown_kid_refetches_once_per_interval(kit, jwks, cache, clock):
    c = cache(min_refresh=30)
    c.lookup(KID)
    clock.advance(31)
    for _ in range(100):
        assert c.lookup(uuid.uuid4().hex) == ()
    assert fetches(jwks, kit.jwks_url) == 2
    clock.advance(10)
    for _ in range(100):
        c.lookup(uuid.uuid4().hex)
    assert fetches(jwks, kit.jwks_url) == 2
    clock.advance(21)
    c.lookup(uuid.uuid4().hex)
    assert fetches(jwks, kit.jwks_url) == 3


def test_jwks_random_kid_flood_through_verifier_is_bounded(kit, jwks, clock):
    verifier = TokenVerifier(kit.settings(), monotonic=clock)
    verifier.verify(kit.mint())
    for i in range(100):
        clock.advance(1)
        with pytest.raises(InvalidTokenError):
            verifier.verify(kit.mint(kid=f"random-{i}"))
    # 100 s of flood with a 30 s interval: at most one fetch per interval.
    assert fetches(jwks, kit.jwks_url) <= 1 + 100 // 30


def test_jwks_rotated_key_accepted_without_restart(kit, jwks, clock):
    verifier = TokenVerifier(kit.settings(), monotonic=clock)
    assert verifier.verify(kit.mint())["sub"] == "user-1"
    clock.advance(31)
    kit.rotate("rotated-key", keep_old=False)
    assert verifier.verify(kit.mint())["sub"] == "user-1"
    assert fetches(jwks, kit.jwks_url) == 2


def test_jwks_rotation_within_interval_waits_for_it(kit, jwks, clock):
    verifier = TokenVerifier(kit.settings(), monotonic=clock)
    verifier.verify(kit.mint())
    kit.rotate("rotated-key")
    with pytest.raises(InvalidTokenError):
        verifier.verify(kit.mint())
    clock.advance(30)
    assert verifier.verify(kit.mint())["sub"] == "user-1"


def test_jwks_outage_keeps_keys_until_max_stale(kit, clock):
    settings = kit.settings(token_cache_size=0, jwks_max_stale=3600)
    verifier = TokenVerifier(settings, monotonic=clock)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        verifier.verify(kit.mint())
        rsps.replace(responses.GET, kit.jwks_url, status=503)
        clock.advance(601)
        assert verifier.verify(kit.mint())["sub"] == "user-1"
        clock.advance(2998)
        assert verifier.verify(kit.mint())["sub"] == "user-1"
        clock.advance(2)
        with pytest.raises(JwksUnavailableError) as caught:
            verifier.verify(kit.mint())
    assert caught.value.retry_after >= 1


def test_jwks_stale_keys_recover_when_issuer_returns(kit, cache, clock):
    c = cache(max_stale=100)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(kit.jwks_url, status=500)
        with pytest.raises(JwksUnavailableError):
            c.lookup(KID)
        clock.advance(30)
        rsps.replace(responses.GET, kit.jwks_url, json=kit.jwks())
        assert c.lookup(KID)[0].kid == KID


def test_jwks_cold_start_issuer_down_is_503_with_retry_after(kit, cache, clock):
    c = cache(min_refresh=30)
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, body=requests.ConnectionError("refused"))
        with pytest.raises(JwksUnavailableError) as first:
            c.lookup(KID)
        clock.advance(20)
        with pytest.raises(JwksUnavailableError) as second:
            c.lookup(KID)
        assert fetches(rsps, kit.jwks_url) == 1
    assert first.value.retry_after == 30
    assert second.value.retry_after == 10


def test_jwks_cold_start_issuer_down_through_app(kit):
    from tests.auth.minimal_app import build_app

    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, body=requests.Timeout("slow"))
        client = build_app(kit.settings()).test_client()
        resp = client.get("/secured", headers={"Authorization": f"Bearer {kit.mint()}"})
    assert (resp.status_code, resp.json["code"]) == (503, "jwks_unavailable")
    assert 1 <= int(resp.headers["Retry-After"]) <= 30


def test_jwks_failed_attempts_also_respect_interval(kit, cache, clock):
    c = cache(min_refresh=30)
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, status=500)
        for _ in range(10):
            with pytest.raises(JwksUnavailableError):
                c.lookup(KID)
            clock.advance(5)
        assert fetches(rsps, kit.jwks_url) == 2


def test_jwks_sends_user_agent_and_no_compression(kit, jwks, cache):
    cache().lookup(KID)
    request = jwks.calls[0].request
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Accept-Encoding"] == "identity"


def oversized(kit: AuthKit) -> str:
    """A valid key set made larger than 1 MiB: only the size cap can refuse it."""
    return json.dumps({**kit.jwks(), "padding": "x" * (1024 * 1024)})


def compress(data: bytes, encoding: str) -> bytes:
    """``data`` as a server would send it with ``Content-Encoding: encoding``."""
    if encoding in {"gzip", "x-gzip"}:
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)  # RFC 9110 §8.4.1.2: deflate is the zlib format
    return data  # br, zstd, unknown: any bytes, the encoding alone must refuse them


def encoded(kit: AuthKit, encoding: str, padding: int = 0) -> dict[str, object]:
    """The kit's key set, whitespace-padded by ``padding`` bytes, compressed as ``encoding``.

    The padding keeps the document valid JSON: only the decompressed-size cap can refuse it.
    """
    text = json.dumps(kit.jwks()).encode()
    body = text[:-1] + b" " * padding + text[-1:]
    return {
        "body": compress(body, encoding.split(",")[0].lower()),
        "headers": {"Content-Encoding": encoding},
        "content_type": "application/json",
    }


# Each builder gets the kit; where the body would be a valid key set, only the rule under
# test (status, size, encoding) makes it unusable.
BAD_RESPONSES = {
    "garbage": lambda kit: {"body": "not json at all"},
    "html": lambda kit: {"body": "<html><body>nginx</body></html>", "content_type": "text/html"},
    "empty body": lambda kit: {"body": ""},
    "empty keys": lambda kit: {"json": {"keys": []}},
    "keys not array": lambda kit: {"json": {"keys": "none"}},
    "array document": lambda kit: {"json": kit.jwks()["keys"]},
    "only symmetric": lambda kit: {"json": {"keys": [{"kty": "oct", "k": "c2Vj", "kid": KID}]}},
    "bad material": lambda kit: {
        "json": {"keys": [{"kty": "RSA", "kid": KID, "n": "!!", "e": "AQAB"}]}
    },
    "nan": lambda kit: {"body": '{"keys": [NaN]}'},
    "utf-16": lambda kit: {"body": json.dumps(kit.jwks()).encode("utf-16")},
    "404": lambda kit: {"status": 404, "json": kit.jwks()},
    "500": lambda kit: {"status": 500, "json": kit.jwks()},
    "201": lambda kit: {"status": 201, "json": kit.jwks()},
    "204": lambda kit: {"status": 204},
    "oversized": lambda kit: {"body": oversized(kit)},
    "oversized no length": lambda kit: {
        "body": oversized(kit),
        "auto_calculate_content_length": False,
    },
    "gzip header, plain body": lambda kit: {
        "json": kit.jwks(),
        "headers": {"Content-Encoding": "gzip"},
    },
    "gzip bomb": lambda kit: encoded(kit, "gzip", padding=10 * 1024 * 1024),
    "deflate bomb": lambda kit: encoded(kit, "deflate", padding=10 * 1024 * 1024),
    "gzip just past the cap": lambda kit: encoded(kit, "gzip", padding=1024 * 1024),
    "gzip truncated": lambda kit: {
        **encoded(kit, "gzip"),
        "body": gzip.compress(json.dumps(kit.jwks()).encode())[:-12],
    },
    "gzip trailing garbage": lambda kit: {
        **encoded(kit, "gzip"),
        "body": gzip.compress(json.dumps(kit.jwks()).encode()) + b"junk",
    },
    "gzip twice": lambda kit: encoded(kit, "gzip, gzip"),
    "br": lambda kit: encoded(kit, "br"),
    "zstd": lambda kit: encoded(kit, "zstd"),
    "unknown encoding": lambda kit: encoded(kit, "x-custom"),
    "connection reset": lambda kit: {"body": requests.ConnectionError("reset")},
    "timeout": lambda kit: {"body": requests.Timeout("slow")},
}


@pytest.mark.parametrize("case", BAD_RESPONSES)
def test_jwks_bad_response_never_replaces_good_keys(kit, cache, clock, case):
    c = cache()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        good = c.lookup(KID)
        kit.rotate("would-replace", keep_old=False)
        rsps.replace(responses.GET, kit.jwks_url, **BAD_RESPONSES[case](kit))
        clock.advance(601)
        assert c.lookup(KID) == good
        assert fetches(rsps, kit.jwks_url) == 2


@pytest.mark.parametrize("case", BAD_RESPONSES)
def test_jwks_bad_response_on_cold_start_is_unavailable(kit, cache, case):
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, **BAD_RESPONSES[case](kit))
        with pytest.raises(JwksUnavailableError):
            cache().lookup(KID)


@pytest.mark.parametrize(
    ("encoding", "padding"),
    [
        ("gzip", 0),
        ("GZIP", 0),
        ("x-gzip", 0),
        ("deflate", 0),
        # Far past the cap once expanded only for a bomb: 900 KiB of spaces is still a JWKS.
        ("gzip", 900 * 1024),
        ("deflate", 900 * 1024),
    ],
)
def test_jwks_compressed_despite_identity_is_decoded(kit, cache, encoding, padding):
    # A CDN may compress although the fetch asked for identity: the keys must still load.
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, **encoded(kit, encoding, padding))
        assert cache().lookup(KID)[0].kid == KID


def test_jwks_compressed_refresh_replaces_keys(kit, cache, clock):
    c = cache()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        c.lookup(KID)
        kit.rotate("rotated-key", keep_old=False)
        rsps.replace(responses.GET, kit.jwks_url, **encoded(kit, "gzip"))
        clock.advance(601)
        assert c.lookup("rotated-key")[0].kid == "rotated-key"


def test_jwks_gzip_bomb_is_refused_as_oversized(kit, cache, caplog):
    bomb = encoded(kit, "gzip", padding=10 * 1024 * 1024)
    assert len(bomb["body"]) < 64 * 1024  # small on the wire: only the decoded size is large
    with caplog.at_level("WARNING", logger="auth.jwks"), responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, **bomb)
        with pytest.raises(JwksUnavailableError):
            cache().lookup(KID)
    assert any("larger than" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("encoding", ["br", "zstd", "x-custom", "gzip, gzip", "compress"])
def test_jwks_unsupported_encoding_is_a_failed_fetch(kit, cache, caplog, encoding):
    with caplog.at_level("WARNING", logger="auth.jwks"), responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, **encoded(kit, encoding))
        with pytest.raises(JwksUnavailableError):
            cache().lookup(KID)
    assert any("encoding" in record.getMessage().lower() for record in caplog.records)


def test_jwks_redirect_is_not_followed(kit, cache):
    target = "https://elsewhere.example.com/jwks.json"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(kit.jwks_url, status=302, headers={"Location": target})
        rsps.get(target, json=kit.jwks())
        with pytest.raises(JwksUnavailableError):
            cache().lookup(KID)
        assert fetches(rsps, target) == 0


def test_jwks_unusable_keys_are_skipped(kit, cache):
    small = generate_rsa_key(1024)
    keys = [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "symmetric"},
        {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty": "RSA", "kid": "broken", "n": 5, "e": "AQAB"},
        {"kty": "RSA", "kid": "no-e", "n": "AQAB"},
        {"kty": "EC", "kid": "bad-curve", "crv": "P-192", "x": "AA", "y": "AA"},
        public_jwk(small, "too-small"),
        {"kid": "no-kty"},
        "not an object",
        42,
        kit.jwks()["keys"][0],
    ]
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, json={"keys": keys})
        c = cache()
        assert c.lookup(KID)[0].kid == KID
        for kid in ("symmetric", "broken", "no-e", "bad-curve", "too-small"):
            assert c.lookup(kid) == ()


def test_jwks_private_members_are_ignored(kit, jwks, cache):
    # A key set that leaks private parameters still yields a public-only verifier.
    numbers = kit.key.private_numbers()
    jwk = {**kit.jwks()["keys"][0], "d": "AQAB", "p": "AQAB"}
    assert numbers.d > 0
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, json={"keys": [jwk]})
        assert cache().lookup(KID)[0].kid == KID


def test_jwks_default_limits_match_spec():
    c = JWKSCache("https://tenant.example.com/.well-known/jwks.json")
    assert c.deadline == 10
    assert c.connect_timeout <= 5 and c.read_timeout <= 5
    assert JWKSCache("https://t.example.com/jwks", timeout=60).read_timeout == 5
    assert c.max_bytes == 1024 * 1024
    assert (c.ttl, c.min_refresh, c.max_stale) == (600, 30, 86400)


class _SlowJwksHandler(http.server.BaseHTTPRequestHandler):
    """Serves a valid JWKS slowly (in ``pieces``, ``delay`` apart) or padded past 1 MiB."""

    body = b""
    mode = "pieces"
    pieces = 4
    delay = 0.4
    requests_seen: list[str]

    def do_GET(self) -> None:
        self.requests_seen.append(self.headers.get("User-Agent", ""))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if self.mode == "bytes":
            # One byte per 0.5 s, for at most 5 s: the client must give up long before.
            for byte in self.body[:10]:
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.5)
            return
        if self.mode == "big":
            # Valid JSON (whitespace padding), no Content-Length: only the cap can refuse it.
            self.wfile.write(self.body[:-1] + b" " * (1024 * 1024) + self.body[-1:])
            return
        size = -(-len(self.body) // self.pieces)
        for start in range(0, len(self.body), size):
            try:
                self.wfile.write(self.body[start : start + size])
                self.wfile.flush()
            except OSError:
                return
            time.sleep(self.delay)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def slow_server(kit) -> Iterator[tuple[str, type[_SlowJwksHandler]]]:
    """A loopback HTTP server serving the kit's JWKS slowly; yields (url, handler class)."""
    attributes = {"requests_seen": [], "body": json.dumps(kit.jwks()).encode()}
    handler = type("Handler", (_SlowJwksHandler,), attributes)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", handler
    finally:
        server.shutdown()
        server.server_close()


def test_jwks_trickling_issuer_is_abandoned_at_the_deadline(slow_server, caplog):
    url, handler = slow_server
    handler.mode = "bytes"
    cache = JWKSCache(url, deadline=1.0, read_timeout=2.0)
    with caplog.at_level("WARNING", logger="auth.jwks"), pytest.raises(JwksUnavailableError):
        cache.lookup(KID)
    assert handler.requests_seen == [USER_AGENT]
    assert any("deadline" in record.getMessage() for record in caplog.records)


def test_jwks_pieces_past_the_deadline_are_abandoned(slow_server):
    url, _ = slow_server
    with pytest.raises(JwksUnavailableError):
        JWKSCache(url, deadline=0.5, read_timeout=2.0).lookup(KID)


def test_jwks_slow_but_within_deadline_is_accepted(slow_server):
    url, _ = slow_server
    assert JWKSCache(url, deadline=8.0, read_timeout=2.0).lookup(KID)[0].kid == KID


def test_jwks_oversized_stream_without_length_is_refused(slow_server, caplog):
    url, handler = slow_server
    handler.mode = "big"
    with caplog.at_level("WARNING", logger="auth.jwks"), pytest.raises(JwksUnavailableError):
        JWKSCache(url).lookup(KID)
    assert any("larger than" in record.getMessage() for record in caplog.records)


@contextlib.contextmanager
def serve_body(body: bytes, headers: dict[str, str]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering every GET with ``body``; yields its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def test_jwks_real_http_fetch_over_loopback(kit):
    with serve_body(json.dumps(kit.jwks()).encode(), {}) as url:
        assert JWKSCache(url).lookup(KID)[0].kid == KID


@pytest.mark.parametrize(
    ("encoding", "padding", "accepted"), [("gzip", 0, True), ("gzip", 10**7, False)]
)
def test_jwks_real_http_gzip_over_loopback(kit, encoding, padding, accepted):
    body = encoded(kit, encoding, padding)["body"]
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    with serve_body(body, headers) as url:
        cache = JWKSCache(url)
        if accepted:
            assert cache.lookup(KID)[0].kid == KID
        else:
            with pytest.raises(JwksUnavailableError):
                cache.lookup(KID)


def test_jwks_fetch_outcomes_are_logged(kit, cache, caplog):
    with caplog.at_level("INFO", logger="auth.jwks"), responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, status=500)
        with pytest.raises(JwksUnavailableError):
            cache().lookup(KID)
    assert any("500" in r.getMessage() and kit.jwks_url in r.getMessage() for r in caplog.records)


def test_jwks_kit_other_issuer_isolated():
    assert (
        AuthKit("https://x.example.com/").jwks_url == "https://x.example.com/.well-known/jwks.json"
    )


def test_jwks_max_stale_shorter_than_ttl_still_bounds_key_age(kit, cache, clock):
    c = cache(ttl=600, max_stale=100)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        c.lookup(KID)
        rsps.replace(responses.GET, kit.jwks_url, status=500)
        clock.advance(101)
        with pytest.raises(JwksUnavailableError):
            c.lookup(KID)


@pytest.mark.parametrize("change", [None, "other-key-added", "reordered"])
def test_jwks_refresh_with_unchanged_jwk_keeps_the_key_object(kit, jwks, cache, clock, change):
    c = cache()
    first = c.lookup(KID)[0]
    if change == "other-key-added":
        kit.add_key("added")
    elif change == "reordered":
        kit.add_key("added")
        kit.keys.reverse()
    clock.advance(601)
    c.lookup(KID)  # past the TTL: this lookup refreshes
    assert fetches(jwks, kit.jwks_url) == 2
    assert c.lookup(KID)[0] is first


@pytest.mark.parametrize(
    "jwk_change",
    [
        {"alg": "RS384"},
        {"use": "enc"},
        {"key_ops": ["verify"]},
        {"e": "Aw"},
        {"n": "other"},
    ],
)
def test_jwks_refresh_with_changed_jwk_builds_a_new_key_object(kit, jwks, cache, clock, jwk_change):
    c = cache(algorithms=("RS256", "RS384"))
    first = c.lookup(KID)[0]
    if jwk_change.get("n") == "other":
        kit.keys[0] = replace(kit.keys[0], private_key=kit.other_key())
    else:
        kit.keys[0] = replace(kit.keys[0], jwk_extra={**kit.keys[0].jwk_extra, **jwk_change})
    clock.advance(601)
    c.lookup(KID)
    assert fetches(jwks, kit.jwks_url) == 2
    assert c.lookup(KID)[0] is not first


def test_jwks_stale_refresh_in_background_never_holds_a_request(kit, clock):
    c = JWKSCache(kit.jwks_url, ttl=600, min_refresh=30, clock=clock, refresh_in_background=True)
    entered, release = threading.Event(), threading.Event()
    fetched_by: list[str] = []

    def held_jwks(request):
        fetched_by.append(threading.current_thread().name)
        if len(fetched_by) > 1:  # the refresh: hold it until the test has looked
            entered.set()
            assert release.wait(timeout=10)
        return 200, {}, json.dumps(kit.jwks())

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, kit.jwks_url, callback=held_jwks)
        good = c.lookup(KID)
        kit.rotate("rotated-key")
        clock.advance(601)
        # The refresh is held mid-fetch, yet every request gets the usable stale keys now.
        assert c.lookup(KID) == good
        assert entered.wait(timeout=10)
        assert c.lookup(KID) == good
        assert fetched_by[1] != threading.current_thread().name
        release.set()
        # An unknown kid waits for the refresh in flight and shares it: no fetch of its own.
        assert c.lookup("rotated-key")[0].kid == "rotated-key"
        assert fetches(rsps, kit.jwks_url) == 2


def test_jwks_background_refresh_failure_keeps_keys_and_throttles(kit, clock):
    c = JWKSCache(kit.jwks_url, ttl=600, min_refresh=30, clock=clock, refresh_in_background=True)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        good = c.lookup(KID)
        rsps.replace(responses.GET, kit.jwks_url, status=503)
        clock.advance(601)
        for _ in range(20):
            assert c.lookup(KID) == good
        assert c.lookup("unknown-kid") == ()  # waits for the refresh in flight, shares it
        assert fetches(rsps, kit.jwks_url) == 2


def test_jwks_background_refresh_is_the_default_but_not_the_kits():
    # The kit keeps fetches synchronous so a test's fetch counts are exact.
    env = {"AUTH0_DOMAIN": "t.auth0.com", "API_AUDIENCE": "a"}
    verifier = TokenVerifier(AuthSettings.from_env(env))
    assert all(cache.refresh_in_background for cache in verifier.jwks.values())
    kit_verifier = TokenVerifier(AuthKit().settings())
    assert not any(cache.refresh_in_background for cache in kit_verifier.jwks.values())
