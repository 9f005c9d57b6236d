"""``auth.jwks_fetch``: the JWKS GET under SPEC §3's limits, on its own.

Through ``responses`` for statuses, encodings and sizes; through the kit's
loopback ``JWKSServer`` where only a real socket shows the behaviour (a body
that trickles in, a stream with no length, a malformed ``Content-Length``).
"""

from __future__ import annotations

import json
import math
import time

import pytest
import requests
import responses

from auth.errors import JwksUnavailableError
from auth.jwks import JWKSCache
from auth.jwks_fetch import MAX_JWKS_BYTES, USER_AGENT, JWKSFetcher, JwksFetchError
from auth.testing import Answer, JWKSServer
from tests.auth.jwks_responses import KID, encoded, fetches


def test_jwks_sends_user_agent_and_no_compression(kit, jwks):
    JWKSFetcher().fetch(kit.jwks_url)
    request = jwks.calls[0].request
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Accept-Encoding"] == "identity"


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
def test_jwks_compressed_despite_identity_is_decoded(kit, encoding, padding):
    # A CDN may compress although the fetch asked for identity: the keys must still load.
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, **encoded(kit, encoding, padding))
        assert json.loads(JWKSFetcher().fetch(kit.jwks_url)) == kit.jwks()


def test_jwks_gzip_bomb_is_refused_as_oversized(kit):
    bomb = encoded(kit, "gzip", padding=10 * 1024 * 1024)
    assert len(bomb["body"]) < 64 * 1024  # small on the wire: only the decoded size is large
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, **bomb)
        with pytest.raises(JwksFetchError, match="larger than"):
            JWKSFetcher().fetch(kit.jwks_url)


@pytest.mark.parametrize("encoding", ["br", "zstd", "x-custom", "gzip, gzip", "compress"])
def test_jwks_unsupported_encoding_is_a_failed_fetch(kit, encoding):
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, **encoded(kit, encoding))
        with pytest.raises(JwksFetchError, match=r"(?i)encoding"):
            JWKSFetcher().fetch(kit.jwks_url)


def test_jwks_redirect_is_not_followed(kit):
    target = "https://elsewhere.example.com/jwks.json"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(kit.jwks_url, status=302, headers={"Location": target})
        rsps.get(target, json=kit.jwks())
        with pytest.raises(JwksFetchError, match="302"):
            JWKSFetcher().fetch(kit.jwks_url)
        assert fetches(rsps, target) == 0


def test_jwks_default_limits_match_spec():
    fetcher = JWKSFetcher()
    assert fetcher.deadline_s == 10
    assert fetcher.connect_timeout_s <= 5 and fetcher.read_timeout_s <= 5
    assert fetcher.max_bytes == MAX_JWKS_BYTES == 1024 * 1024
    cache = JWKSCache("https://tenant.example.com/.well-known/jwks.json")
    assert (cache.ttl_s, cache.min_refresh_s, cache.max_stale_s) == (600, 30, 86400)
    assert cache.fetcher.deadline_s == 10


@pytest.mark.parametrize(
    "limits",
    [
        {"read_timeout_s": 60},  # was silently capped at 5 s: now refused
        {"connect_timeout_s": 5.01},
        {"deadline_s": 10.5},
        {"max_bytes": MAX_JWKS_BYTES + 1},
        {"read_timeout_s": 0},
        {"deadline_s": -1},
        {"connect_timeout_s": math.nan},
        {"deadline_s": math.inf},
        {"max_bytes": True},
    ],
)
def test_jwks_fetch_limits_past_the_spec_are_refused(limits):
    (name,) = limits
    with pytest.raises(ValueError, match=name):
        JWKSFetcher(**limits)


def test_jwks_fetch_limits_may_be_tightened():
    fetcher = JWKSFetcher(connect_timeout_s=1, read_timeout_s=2, deadline_s=3, max_bytes=4096)
    assert (fetcher.connect_timeout_s, fetcher.read_timeout_s, fetcher.deadline_s) == (1, 2, 3)
    assert fetcher.max_bytes == 4096


@pytest.fixture
def served(kit):
    """A loopback ``JWKSServer`` of the kit's key set; yields it, closed afterwards."""
    with JWKSServer(kit.jwks) as server:
        yield server


def body_of(kit) -> bytes:
    return json.dumps(kit.jwks()).encode()


def test_jwks_trickling_issuer_is_abandoned_at_the_deadline(kit, served):
    # One byte per 0.5 s, for at most 5 s: the client must give up long before.
    served.answer(
        Answer(body=body_of(kit)[:10], send_length=False, chunk_size=1, chunk_delay_s=0.5)
    )
    with pytest.raises(JwksFetchError, match="deadline"):
        JWKSFetcher(deadline_s=1.0, read_timeout_s=2.0).fetch(served.url)
    assert [r.headers["User-Agent"] for r in served.requests] == [USER_AGENT]


def test_jwks_issuer_trickling_its_response_head_is_abandoned_at_the_deadline(kit, served):
    # the status line and headers a byte per 0.5 s, each within the read timeout: the
    # deadline covered only the body, and the fetch lasted as long as the head did
    served.answer(Answer(body=body_of(kit), trickle_head=True, chunk_size=1, chunk_delay_s=0.5))
    started = time.monotonic()
    with pytest.raises(JwksFetchError, match="deadline"):
        JWKSFetcher(deadline_s=1.0, read_timeout_s=2.0).fetch(served.url)
    assert time.monotonic() - started < 2.0


def test_jwks_head_in_pieces_within_the_deadline_is_read(kit, served):
    served.answer(Answer(body=body_of(kit), trickle_head=True, chunk_size=40, chunk_delay_s=0.05))
    assert json.loads(JWKSFetcher(deadline_s=5.0).fetch(served.url)) == kit.jwks()


def pieces(kit) -> Answer:
    """The key set in 4 pieces 0.4 s apart, no ``Content-Length``: about 1.2 s in all."""
    body = body_of(kit)
    return Answer(send_length=False, chunk_size=-(-len(body) // 4), chunk_delay_s=0.4)


def test_jwks_pieces_past_the_deadline_are_abandoned(kit, served):
    served.answer(pieces(kit))
    with pytest.raises(JwksFetchError, match="deadline"):
        JWKSFetcher(deadline_s=0.5, read_timeout_s=2.0).fetch(served.url)


def test_jwks_slow_but_within_deadline_is_accepted(kit, served):
    served.answer(pieces(kit))
    assert json.loads(JWKSFetcher(deadline_s=8.0, read_timeout_s=2.0).fetch(served.url)) == (
        kit.jwks()
    )


def test_jwks_oversized_stream_without_length_is_refused(kit, served):
    # Valid JSON (whitespace padding), no Content-Length: only the cap can refuse it.
    body = body_of(kit)
    served.answer(Answer(body=body[:-1] + b" " * (1024 * 1024) + body[-1:], send_length=False))
    with pytest.raises(JwksFetchError, match="larger than"):
        JWKSFetcher().fetch(served.url)


@pytest.mark.parametrize(
    "content_length",
    [
        "9" * 5000,  # past the interpreter's int() digit limit: was a ValueError, a 500
        "1" + "0" * 30,
        str(MAX_JWKS_BYTES + 1),
    ],
)
def test_jwks_content_length_over_the_cap_is_a_failed_fetch(kit, served, content_length):
    served.answer(Answer(headers={"Content-Length": content_length}))
    with pytest.raises(JwksFetchError, match="larger than"):
        JWKSFetcher().fetch(served.url)


@pytest.mark.parametrize("content_length", ["\u00b2", "1e3", "-5", "0x10", " "])
def test_jwks_malformed_content_length_is_never_an_exception(kit, served, content_length):
    # "²".isdigit() is true and int("²") raises: was a ValueError out of the fetch, a 500.
    served.answer(Answer(headers={"Content-Length": content_length}))
    try:
        document = JWKSFetcher().fetch(served.url)
    except JwksFetchError:
        return  # the HTTP client refused the response: a failed fetch is the right outcome
    assert json.loads(document) == kit.jwks()


def test_jwks_huge_content_length_through_the_cache_is_unavailable(kit, served):
    served.answer(Answer(headers={"Content-Length": "9" * 5000}))
    with pytest.raises(JwksUnavailableError):
        JWKSCache(served.url).lookup(KID)


def test_jwks_real_http_fetch_over_loopback(kit, served):
    assert JWKSCache(served.url).lookup(KID)[0].kid == KID


@pytest.mark.parametrize(
    ("encoding", "padding", "accepted"), [("gzip", 0, True), ("gzip", 10**7, False)]
)
def test_jwks_real_http_gzip_over_loopback(kit, served, encoding, padding, accepted):
    served.answer(
        Answer(body=encoded(kit, encoding, padding)["body"], headers={"Content-Encoding": encoding})
    )
    fetcher = JWKSFetcher()
    if accepted:
        assert json.loads(fetcher.fetch(served.url)) == kit.jwks()
    else:
        with pytest.raises(JwksFetchError, match="larger than"):
            fetcher.fetch(served.url)


def test_jwks_connection_refused_is_a_failed_fetch(kit):
    with JWKSServer(kit.jwks) as server:
        url = server.url
    with pytest.raises(JwksFetchError, match="ConnectionError"):
        JWKSFetcher(session=requests.Session()).fetch(url)
