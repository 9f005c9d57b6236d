"""Golden responses: the exact bytes of every SPEC §3 error-table row and of a 200.

Status line, the headers a client reads (``WWW-Authenticate``, ``Cache-Control``,
``Retry-After``, ``Content-Type``, ``Content-Length``, in order) and the body
bytes, through the minimal app built only from ``auth``. These pin the wire
format: a refactoring of ``auth/`` must leave every byte as it is.
"""

from __future__ import annotations

import pytest
import responses

from auth.testing import OMIT, AuthKit
from tests.auth.minimal_app import READ, WRITE, build_app

JSON = ("Content-Type", "application/json")
NO_STORE = ("Cache-Control", "no-store")

MISSING = (
    401,
    [
        JSON,
        ("Content-Length", "112"),
        NO_STORE,
        ("WWW-Authenticate", 'Bearer realm="cashman"'),
    ],
    b'{"code":"authorization_header_missing","description":'
    b'"An access token is required in the Authorization header"}\n',
)
INVALID_REQUEST = (
    400,
    [
        JSON,
        ("Content-Length", "80"),
        NO_STORE,
        (
            "WWW-Authenticate",
            'Bearer realm="cashman", error="invalid_request", '
            'error_description="The Authorization header is malformed"',
        ),
    ],
    b'{"code":"invalid_header","description":"The Authorization header is malformed"}\n',
)
INVALID_TOKEN = (
    401,
    [
        JSON,
        ("Content-Length", "69"),
        NO_STORE,
        (
            "WWW-Authenticate",
            'Bearer realm="cashman", error="invalid_token", '
            'error_description="The access token is invalid"',
        ),
    ],
    b'{"code":"invalid_token","description":"The access token is invalid"}\n',
)
EXPIRED = (
    401,
    [
        JSON,
        ("Content-Length", "66"),
        NO_STORE,
        (
            "WWW-Authenticate",
            'Bearer realm="cashman", error="invalid_token", '
            'error_description="The access token expired"',
        ),
    ],
    b'{"code":"token_expired","description":"The access token expired"}\n',
)
INVALID_CLAIMS = (
    401,
    [
        JSON,
        ("Content-Length", "78"),
        NO_STORE,
        (
            "WWW-Authenticate",
            'Bearer realm="cashman", error="invalid_token", '
            'error_description="The access token claims are invalid"',
        ),
    ],
    b'{"code":"invalid_claims","description":"The access token claims are invalid"}\n',
)
INSUFFICIENT_SCOPE = (
    403,
    [
        JSON,
        ("Content-Length", "107"),
        NO_STORE,
        (
            "WWW-Authenticate",
            'Bearer realm="cashman", error="insufficient_scope", scope="read:transactions"',
        ),
    ],
    b'{"code":"insufficient_scope","description":'
    b'"The access token does not grant the scope this request needs"}\n',
)
JWKS_UNAVAILABLE = (
    503,
    [
        JSON,
        ("Content-Length", "108"),
        NO_STORE,
        ("Retry-After", "30"),
    ],
    b'{"code":"jwks_unavailable","description":'
    b'"The token signing keys are temporarily unavailable; retry later"}\n',
)
PING_OK = (
    200,
    [JSON, ("Content-Length", "75")],
    b'{"message":"All good. You only get this message if you\'re authenticated."}\n',
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# (name, path, headers built from the kit, expected): every Bearer row of SPEC §3's table.
CASES = [
    ("no header", "/secured/ping", lambda kit: {}, MISSING),
    ("basic scheme", "/secured/ping", lambda kit: {"Authorization": "Basic dTpw"}, MISSING),
    ("bearer, no token", "/secured/ping", lambda kit: {"Authorization": "Bearer"}, INVALID_REQUEST),
    ("two tokens", "/secured/ping", lambda kit: {"Authorization": "Bearer a b"}, INVALID_REQUEST),
    (
        "bad character",
        "/secured/ping",
        lambda kit: {"Authorization": "Bearer a$b"},
        INVALID_REQUEST,
    ),
    ("over 8 KiB", "/secured/ping", lambda kit: bearer("a" * 8193), INVALID_REQUEST),
    ("not a JWS", "/secured/ping", lambda kit: bearer("not-a-jws"), INVALID_TOKEN),
    (
        "bad signature",
        "/secured/ping",
        lambda kit: bearer(kit.mint(key=kit.other_key())),
        INVALID_TOKEN,
    ),
    ("unknown kid", "/secured/ping", lambda kit: bearer(kit.mint(kid="unknown")), INVALID_TOKEN),
    ("alg not allowed", "/secured/ping", lambda kit: bearer(kit.mint(alg="RS384")), INVALID_TOKEN),
    (
        "typ not allowed",
        "/secured/ping",
        lambda kit: bearer(kit.mint(headers={"typ": "dpop+jwt"})),
        INVALID_TOKEN,
    ),
    (
        "crit",
        "/secured/ping",
        lambda kit: bearer(kit.mint(headers={"crit": ["exp"]})),
        INVALID_TOKEN,
    ),
    (
        "cnf",
        "/secured/ping",
        lambda kit: bearer(kit.mint(claims={"cnf": {"jkt": "abc"}})),
        INVALID_TOKEN,
    ),
    ("expired", "/secured/ping", lambda kit: bearer(kit.mint(expires_in=-3600)), EXPIRED),
    (
        "wrong iss",
        "/secured/ping",
        lambda kit: bearer(kit.mint(claims={"iss": "https://evil.example.com/"})),
        INVALID_CLAIMS,
    ),
    (
        "wrong aud",
        "/secured/ping",
        lambda kit: bearer(kit.mint(claims={"aud": "https://other.api"})),
        INVALID_CLAIMS,
    ),
    (
        "nbf in the future",
        "/secured/ping",
        lambda kit: bearer(kit.mint(claims={"nbf": 4_000_000_000})),
        INVALID_CLAIMS,
    ),
    (
        "iat in the future",
        "/secured/ping",
        lambda kit: bearer(kit.mint(claims={"iat": 4_000_000_000})),
        INVALID_CLAIMS,
    ),
    (
        "missing sub",
        "/secured/ping",
        lambda kit: bearer(kit.mint(claims={"sub": OMIT})),
        INVALID_CLAIMS,
    ),
    (
        "missing exp",
        "/secured/ping",
        lambda kit: bearer(kit.mint(claims={"exp": OMIT})),
        INVALID_CLAIMS,
    ),
    (
        "malformed time claim",
        "/secured/ping",
        lambda kit: bearer(kit.mint(claims={"exp": "tomorrow"})),
        INVALID_CLAIMS,
    ),
    ("missing scope", "/things", lambda kit: bearer(kit.mint(scopes=[WRITE])), INSUFFICIENT_SCOPE),
    ("valid token", "/secured/ping", lambda kit: bearer(kit.mint()), PING_OK),
]


@pytest.mark.parametrize(
    ("path", "make_headers", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_golden_response_bytes(api, kit, path, make_headers, expected):
    resp = api.get(path, headers=make_headers(kit))
    assert (resp.status_code, list(resp.headers.items()), resp.get_data()) == expected


def test_golden_strict_mode_missing_rfc9068_claim(make_client, kit):
    token = kit.mint(headers={"typ": "at+jwt"}, claims={"client_id": OMIT})
    resp = make_client(auth_strict_rfc9068=True).get("/secured/ping", headers=bearer(token))
    assert (resp.status_code, list(resp.headers.items()), resp.get_data()) == INVALID_CLAIMS


def test_golden_jwks_unavailable():
    kit = AuthKit()
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, status=500)
        api = build_app(kit.settings()).test_client()
        resp = api.get("/secured/ping", headers=bearer(kit.mint()))
    assert (resp.status_code, list(resp.headers.items()), resp.get_data()) == JWKS_UNAVAILABLE


def test_golden_read_scope_granted(api, kit):
    resp = api.get("/things", headers=bearer(kit.mint(scopes=[READ])))
    assert (resp.status_code, resp.get_data()) == (
        200,
        b'{"owner":"https://cashman-test.example.com/ user-1"}\n',
    )
