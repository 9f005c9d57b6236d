"""Hypothesis strategies: mutated access tokens, Authorization headers, JSON bodies.

A mutated token starts from a valid one and changes it the ways an attacker
can: any character of any part, header members added, removed or swapped,
claims changed, and then either keeps the old signature or is re-signed with
the right key, another RSA key, HS256 keyed with the public key, or nothing.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from hypothesis import strategies as st

from auth.testing import AuthKit, b64url, shared_rsa_key, sign

B64TOKEN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
ODD_CHARS = "= \t\"'\\,;:!@#%&*()[]{}<>?|^`é€\u00a0\x00\x7f"

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _times() -> st.SearchStrategy[Any]:
    """NumericDates well clear of ``now`` +- leeway, plus every malformed kind the SPEC names."""
    now = int(time.time())
    return st.sampled_from(
        [now - 7200, now - 3600, now + 3600, now + 7200, float(now + 3600) + 0.5]
    ) | st.sampled_from(
        [None, True, False, "1999999999", [now + 3600], {"t": 1}, 10**20, -1, 1e308, -(10**30)]
    )


def claim_values(kit: AuthKit) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "iss": st.sampled_from([kit.issuer, kit.issuer.rstrip("/"), "https://evil.example/", ""])
        | json_values,
        "aud": st.sampled_from(
            [kit.audience, [kit.audience], ["x", kit.audience], ["x"], [kit.audience, 1], ""]
        )
        | json_values,
        "exp": _times(),
        "nbf": _times(),
        "iat": _times(),
        "sub": st.sampled_from(["user-2", "", "a" * 255, "a" * 256, "a\x00b", "a\nb", "é", "\x85"])
        | json_values,
        "cnf": st.just({"jkt": "abc"}) | json_values,
        "scope": st.sampled_from(["read:transactions write:transactions", ""]) | json_values,
        "permissions": json_values,
    }


HEADER_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "alg": st.sampled_from(
        [
            "RS256",
            "rs256",
            "RS384",
            "RS512",
            "PS256",
            "ES256",
            "HS256",
            "none",
            "None",
            "",
            "RS256 ",
        ]
    )
    | json_values,
    "kid": st.sampled_from(["test-key-1", "test-key-2", "", "../../etc/passwd"]) | json_values,
    "typ": st.sampled_from(
        ["JWT", "jwt", "at+jwt", "application/at+JWT", "application/jwt", "JWS", "JOSE", ""]
    )
    | json_values,
    "crit": st.sampled_from([["exp"], [], ["b64"]]) | json_values,
    "jku": st.just("https://evil.example/jwks.json"),
    "x5u": st.just("https://evil.example/cert.pem"),
    "jwk": st.just({"kty": "oct", "k": "c2VjcmV0"}),
    "x5c": st.just(["MIIB"]),
    "b64": st.booleans(),
    "cty": st.text(max_size=10),
}

SIGNERS = ("keep", "right", "other", "hs256-public-key", "empty", "garbage")


def _decode(segment: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _edit(draw: st.DrawFn, obj: dict[str, Any], values: dict[str, st.SearchStrategy[Any]]) -> None:
    """One to three edits: set a member, remove one, or swap two members' values."""
    names = sorted(values)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["set", "remove", "swap", "add-unknown"]))
        if op == "set":
            name = draw(st.sampled_from(names))
            obj[name] = draw(values[name])
        elif op == "remove" and obj:
            obj.pop(draw(st.sampled_from(sorted(obj))))
        elif op == "swap" and len(obj) >= 2:
            a, b = draw(st.lists(st.sampled_from(sorted(obj)), min_size=2, max_size=2, unique=True))
            obj[a], obj[b] = obj[b], obj[a]
        elif op == "add-unknown":
            obj[draw(st.text(max_size=8))] = draw(json_values)


@st.composite
def mutated_tokens(draw: st.DrawFn, kit: AuthKit, valid: str) -> tuple[str, str]:
    """(token, what was done): one mutation of ``valid``, minted by ``kit``."""
    kind = draw(st.sampled_from(["chars", "header", "claims", "both", "resign"]))
    header_b64, payload_b64, signature_b64 = valid.split(".")
    if kind == "chars":
        parts = [header_b64, payload_b64, signature_b64]
        index = draw(st.integers(0, 2))
        part = parts[index]
        pos = draw(st.integers(0, len(part)))
        char = draw(st.sampled_from(B64TOKEN + ODD_CHARS))
        op = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "duplicate-dot"]))
        if op == "replace":
            part = part[:pos] + char + part[pos + 1 :]
        elif op == "insert":
            part = part[:pos] + char + part[pos:]
        elif op == "delete":
            part = part[:pos] + part[pos + 1 :]
        elif op == "truncate":
            part = part[:pos]
        else:
            part = part[:pos] + "." + part[pos:]
        parts[index] = part
        return ".".join(parts), f"chars {op} {char!r} at {index}:{pos}"
    header, claims = _decode(header_b64), _decode(payload_b64)
    if kind in ("header", "both"):
        _edit(draw, header, HEADER_VALUES)
    if kind in ("claims", "both"):
        _edit(draw, claims, claim_values(kit))
    signer = draw(st.sampled_from(SIGNERS))
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature = {
        "keep": lambda: base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4)),
        "right": lambda: sign(signing_input.encode(), "RS256", kit.key),
        "other": lambda: sign(signing_input.encode(), "RS256", shared_rsa_key(9)),
        "hs256-public-key": lambda: sign(signing_input.encode(), "HS256", kit.public_pem()),
        "empty": lambda: b"",
        "garbage": lambda: b"\x00" * 256,
    }[signer]()
    token = f"{signing_input}.{b64url(signature)}"
    return token, f"{kind}, signed {signer}: header={header!r} claims={claims!r}"


def _segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


authorization_headers = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60
) | st.builds(
    lambda scheme, spaces, token, tail: f"{scheme}{spaces}{token}{tail}",
    st.sampled_from(["Bearer", "bearer", "BEARER", "Bearer\t", "Basic", "Bearerx", ""]),
    st.sampled_from(["", " ", "  ", "\t", " \t"]),
    st.text(alphabet=B64TOKEN + "=", max_size=40)
    | st.text(alphabet=B64TOKEN + ODD_CHARS.replace("\x00", ""), max_size=40),
    st.sampled_from(["", " ", "=", "==", " x", ","]),
)
