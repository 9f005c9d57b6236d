"""Hypothesis strategies: mutated access tokens, Authorization headers, JSON bodies.

A mutated token starts from a valid one and changes it the ways an attacker
can: any character of any part, header members added, removed or swapped,
claims changed, and then either keeps the old signature or is re-signed with
the right key, another RSA key, HS256 keyed with the public key, or nothing.

Header members and claims also take numbers no Python value can be written as
(``json.dumps`` refuses an int of more than 4300 digits, and writes no
``1e400``): ``RawNumber`` texts at and past the interpreter's integer digit
limit, huge and tiny exponents, negative zero, the NumericDate range's ends.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from auth.testing import AuthKit, b64url, shared_rsa_key, sign

B64TOKEN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
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

# A token a module mints when pytest imports it (a strategy or an @example needs it then)
# is used until that module's last test, which may run well into a long suite: such a
# token lives longer than any run (CI's limit is 30 minutes), never the kit's 5 minutes.
COLLECTED_TOKEN_LIFETIME_S = 6 * 3600


class RawNumber:
    """A JSON number written exactly as ``text`` (see the module docstring)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        digits = self.text.lstrip("-")
        short = self.text if len(self.text) <= 24 else f"{self.text[:12]}...({len(digits)} chars)"
        return f"RawNumber({short!r})"


EXTREME_NUMBERS = [
    "1" + "0" * 4299,  # 4300 digits: the longest int CPython converts by default
    "1" * 4301,  # one digit more: int() raises ValueError
    "-" + "9" * 4301,
    "1" * 5500,  # about the longest that fits in an 8 KiB token
    "1" * 10_000,  # too long for a token: refused for its length
    "1e400",  # past a double: inf
    "-1e400",
    "1E+999999",
    "1e-400",  # below a double: 0.0
    "-0",
    "-0.0",
    "0",
    "1.7976931348623157e308",
    "253402300799",  # the last second of year 9999: the largest NumericDate
    "253402300800",
]
extreme_numbers = st.sampled_from(EXTREME_NUMBERS).map(RawNumber)

token_json_values = st.recursive(
    json_scalars | extreme_numbers,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def dumps(value: Any) -> str:
    """Compact JSON of ``value``, its ``RawNumber``s written as their text."""
    raw: dict[str, str] = {}
    marker = uuid.uuid4().hex

    def default(obj: object) -> str:
        if not isinstance(obj, RawNumber):
            raise TypeError(f"not JSON: {obj!r}")
        placeholder = f"{marker}-{len(raw)}"
        raw[json.dumps(placeholder)] = obj.text
        return placeholder

    text = json.dumps(value, separators=(",", ":"), default=default)
    for quoted, number in raw.items():
        text = text.replace(quoted, number, 1)
    return text


def _times() -> st.SearchStrategy[Any]:
    """NumericDates well clear of ``now`` +- leeway, every malformed kind the SPEC names, and
    numbers past the interpreter's limits."""
    now = int(time.time())
    return (
        st.sampled_from([now - 7200, now - 3600, now + 3600, now + 7200, float(now + 3600) + 0.5])
        | st.sampled_from(
            [None, True, False, "1999999999", [now + 3600], {"t": 1}, 10**20, -1, 1e308, -(10**30)]
        )
        | extreme_numbers
    )


def claim_values(kit: AuthKit) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "iss": st.sampled_from([kit.issuer, kit.issuer.rstrip("/"), "https://evil.example/", ""])
        | token_json_values,
        "aud": st.sampled_from(
            [kit.audience, [kit.audience], ["x", kit.audience], ["x"], [kit.audience, 1], ""]
        )
        | token_json_values,
        "exp": _times(),
        "nbf": _times(),
        "iat": _times(),
        "sub": st.sampled_from(["user-2", "", "a" * 255, "a" * 256, "a\x00b", "a\nb", "é", "\x85"])
        | token_json_values,
        "cnf": st.just({"jkt": "abc"}) | token_json_values,
        "scope": st.sampled_from(["read:transactions write:transactions", ""]) | token_json_values,
        "permissions": token_json_values,
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
    | token_json_values,
    "kid": st.sampled_from(["test-key-1", "test-key-2", "", "../../etc/passwd"])
    | token_json_values,
    "typ": st.sampled_from(
        ["JWT", "jwt", "at+jwt", "application/at+JWT", "application/jwt", "JWS", "JOSE", ""]
    )
    | token_json_values,
    "crit": st.sampled_from([["exp"], [], ["b64"]]) | token_json_values,
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
            obj[draw(st.text(max_size=8))] = draw(token_json_values)


@st.composite
def mutated_tokens(
    draw: st.DrawFn,
    kit: AuthKit,
    valid: str,
    kinds: Sequence[str] = ("chars", "header", "claims", "both", "resign"),
    signers: Sequence[str] = SIGNERS,
) -> tuple[str, str]:
    """(token, what was done): one mutation of ``valid``, minted by ``kit``.

    ``kinds`` and ``signers`` narrow the mutations drawn (e.g. claims only, re-signed
    with the right key: every refusal is then about the claims).
    """
    kind = draw(st.sampled_from(kinds))
    header_b64, payload_b64, signature_b64 = valid.split(".")
    if kind == "chars":
        parts = [header_b64, payload_b64, signature_b64]
        index = draw(st.integers(0, 2))
        part = parts[index]
        pos = draw(st.integers(0, len(part)))
        char = draw(st.sampled_from(B64TOKEN + ODD_CHARS))
        op = draw(
            st.sampled_from(["replace", "insert", "delete", "truncate", "duplicate-dot", "stray"])
        )
        spare = {2: 15, 3: 3}.get(len(part) % 4, 0)  # unused low bits of the last character
        if op == "stray" and spare and part[-1] in BASE64URL:
            # the same bytes to a lenient decoder: another spelling of the part
            bits = draw(st.integers(1, spare))
            part = part[:-1] + BASE64URL[BASE64URL.index(part[-1]) | bits]
        elif op == "replace":
            part = part[:pos] + char + part[pos + 1 :]
        elif op == "insert":
            part = part[:pos] + char + part[pos:]
        elif op == "delete":
            part = part[:pos] + part[pos + 1 :]
        elif op == "truncate":
            part = part[:pos]
        elif op == "duplicate-dot":
            part = part[:pos] + "." + part[pos:]
        parts[index] = part
        return ".".join(parts), f"chars {op} {char!r} at {index}:{pos}"
    header, claims = _decode(header_b64), _decode(payload_b64)
    if kind in ("header", "both"):
        _edit(draw, header, HEADER_VALUES)
    if kind in ("claims", "both"):
        _edit(draw, claims, claim_values(kit))
    signer = draw(st.sampled_from(signers))
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
    return b64url(dumps(obj).encode())


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
