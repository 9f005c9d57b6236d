"""No token input produces a 500, and no token ever reaches a log record."""

from __future__ import annotations

import base64
import json
import logging
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auth.testing import OMIT, AuthKit, b64url


def seg(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return b64url(raw)


def malformed_tokens(kit: AuthKit) -> list[str]:
    """Broken tokens of every shape: grammar, base64, JSON, header, claims, size."""
    good = kit.mint()
    header, payload, signature = good.split(".")
    rng = random.Random(1234)
    claims = kit.claims()
    tokens = [
        good[:-1],
        good[: len(good) // 2],
        good + "." + signature,
        good.replace(".", ""),
        "." * 50,
        "a." * 2000 + "a",
        f"{header}.{payload}",
        f"{header}..{signature}",
        f"{payload}.{header}.{signature}",
        b64url(rng.randbytes(300)),
        ".".join(b64url(rng.randbytes(n)) for n in (20, 200, 256)),
        "+/+/.//++.====",
        "~~~.~~~.~~~",
        f"{seg([1, 2])}.{payload}.{signature}",
        f"{seg('str')}.{payload}.{signature}",
        f"{seg(123)}.{payload}.{signature}",
        f"{seg(None)}.{payload}.{signature}",
        f"{header}.{seg([claims])}.{signature}",
        header + "." + seg(b'{"exp": NaN, "sub": "a"}') + "." + signature,
        header + "." + seg(b'{"exp": -Infinity}') + "." + signature,
        header + "." + seg(b'{"a": ' + b"[" * 3000 + b"]" * 3000 + b"}") + "." + signature,
        header + "." + seg(b'{"exp": 1' + b"0" * 4400 + b"}") + "." + signature,
        header + "." + seg("\u00e9".encode("latin-1")) + "." + signature,
        header + "." + seg(b"\xef\xbb\xbf{}") + "." + signature,
        f"{seg({'alg': 'RS256', 'kid': {'nested': ['x']}})}.{payload}.{signature}",
        f"{seg({'alg': 'RS256', 'kid': 'test-key-1', 'crit': 'x'})}.{payload}.{signature}",
        f"{seg({'alg': None, 'kid': None, 'typ': None})}.{payload}.{signature}",
        f"{seg({'alg': 'RS256', 'kid': 'test-key-1', 'typ': ['JWT']})}.{payload}.{signature}",
        kit.mint(claims={"exp": 10**30}),
        kit.mint(claims={"exp": 1e308}),
        kit.mint(claims={"exp": "never"}),
        kit.mint(claims={"exp": {"$date": 1}}),
        kit.mint(claims={"nbf": [], "iat": {}}),
        kit.mint(claims={"iss": {"url": kit.issuer}}),
        kit.mint(claims={"iss": None}),
        kit.mint(claims={"aud": {"a": 1}}),
        kit.mint(claims={"aud": [[kit.audience]]}),
        kit.mint(claims={"sub": {"id": 1}}),
        kit.mint(claims={"sub": "\u0000" * 10}),
        kit.mint(claims={"scope": {"read": True}, "permissions": "read"}),
        kit.mint(claims={"sub": OMIT, "exp": OMIT, "iss": OMIT, "aud": OMIT}),
        kit.mint(headers={"kid": "x" * 4000}),
        kit.mint_raw(b"\x00\x01", b"\x02"),
        kit.mint_raw({"alg": "ES256", "kid": "test-key-1"}, claims, signature=b"\x00" * 64),
        kit.mint_raw({"alg": "RS256", "kid": "test-key-1"}, claims, signature=b""),
        kit.mint_raw({"alg": "RS256", "kid": "test-key-1"}, claims, signature=b"\xff" * 1024),
    ]
    return tokens


MALFORMED_HEADERS = [
    "Bearer " + "é" * 10,
    "Bearer \u202eabc",
    "Bearer " + "a" * 100_000,
    "Bearer abc\x0b",
    "Bearer  \t  abc",
    "bearer,abc",
    "Bearer ===",
    "Bearer a=b=c",
    "Bearer .",
    "Bearer -",
    "Bearer ~",
    "Bearer /",
    "Bearer " + "=" * 10,
    "Basic",
    "Negotiate YIIJ",
    ",",
    "Bearer a, Bearer b",
    "\x00",
]


def test_malformed_tokens_never_500(api, kit):
    for token in malformed_tokens(kit):
        resp = api.get("/things", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code in (400, 401, 403), token[:80]
        assert resp.is_json and resp.json["code"] in {
            "insufficient_scope",
            "invalid_header",
            "invalid_token",
            "invalid_claims",
            "token_expired",
        }


@pytest.mark.parametrize("header", MALFORMED_HEADERS)
def test_malformed_headers_never_500(api, header):
    resp = api.get("/things", headers={"Authorization": header})
    assert resp.status_code in (400, 401)
    assert resp.is_json and "code" in resp.json


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF), max_size=300))
def test_random_header_values_never_500(api, value):
    resp = api.get("/things", headers={"Authorization": f"Bearer {value}"})
    assert resp.status_code in (400, 401)
    assert resp.is_json


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(st.binary(max_size=200), min_size=3, max_size=3))
def test_random_compact_parts_never_500(api, parts):
    token = ".".join(base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in parts)
    resp = api.get("/things", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code in (400, 401)
    assert resp.is_json


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    claims=st.dictionaries(
        st.sampled_from(["iss", "aud", "exp", "nbf", "iat", "sub", "scope", "permissions", "cnf"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=3)
                | st.dictionaries(st.text(max_size=5), children, max_size=3)
            ),
            max_leaves=8,
        ),
    )
)
def test_random_claims_never_500(api, kit, claims):
    resp = api.get("/things", headers={"Authorization": f"Bearer {kit.mint(claims=claims)}"})
    assert resp.status_code in (200, 401, 403)
    assert resp.is_json


def test_tokens_never_logged(api, kit, caplog):
    valid = kit.mint(scopes=["read:transactions"])
    expired = kit.mint(expires_in=-3600)
    forged = kit.mint(key=kit.other_key())
    unknown = kit.mint(kid="unknown-kid")
    garbage = "abc.def.ghi"
    tokens = [valid, expired, forged, unknown, garbage]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger().setLevel(logging.DEBUG)
        for token in tokens:
            for path in ("/things", "/secured", f"/things?access_token={token}"):
                api.get(path, headers={"Authorization": f"Bearer {token}"})
            api.post("/things", json={"token": token}, headers={"Authorization": f"Bearer {token}"})
    text = "\n".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for record in caplog.records
    )
    assert caplog.records, "expected auth log records to inspect"
    for token in tokens:
        assert token not in text
        for part in token.split("."):
            if len(part) > 8:
                assert part not in text
