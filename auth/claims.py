"""The claims of an access token (SPEC §3 step 5): one check per claim, in the SPEC's order.

RFC 7519 §4.1 for the registered claims (``iss``, ``aud``, ``exp``, ``nbf``,
``iat``, ``sub``), and with ``AUTH_STRICT_RFC9068`` the claims RFC 9068 §2.2
requires of an access token. ``check_claims`` composes them so that the most
telling code wins when a token breaks several rules: the form of every claim
first, the time window last (a malformed token is ``invalid_claims`` even when it
has also expired). The confirmation claim ``cnf`` (RFC 7800) depends on the
scheme the token came with (SPEC §3a step 2): ``check_binding``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from auth.errors import InvalidClaimsError, InvalidTokenError, TokenExpiredError
from auth.settings import AuthSettings

MAX_SUB_LENGTH = 255
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z: beyond it a "date" is garbage
_NUMBER_TYPES = (int, float)
# Unicode Cc (C0, DEL, C1) and lone UTF-16 surrogates: a JSON "\ud800" escape decodes to a
# str that cannot be encoded as UTF-8, so it would fail in the database, not here. (`iss`
# needs no such check: it must equal a configured issuer, and those are ASCII URLs.)
_FORBIDDEN_IN_SUB = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def check_claims(claims: dict[str, Any], settings: AuthSettings, now: float) -> float:
    """SPEC §3 step 5 for an access token's ``claims`` at ``now`` (seconds since the epoch),
    ``cnf`` aside (``check_binding``).

    Returns the time after which the token is expired (``exp`` + ``AUTH_LEEWAY``).
    Raises ``TokenExpiredError`` past ``exp``, and ``InvalidClaimsError`` for any other
    claim.
    """
    check_iss(claims, settings.issuers)
    check_aud(claims, settings.api_audience)
    exp = numeric_date(claims, "exp")
    if exp is None:
        raise InvalidClaimsError("no exp")
    nbf = numeric_date(claims, "nbf")
    iat = numeric_date(claims, "iat")
    check_sub(claims)
    if settings.auth_strict_rfc9068:
        check_rfc9068(claims)
    leeway = settings.auth_leeway
    if nbf is not None:
        check_not_before(nbf, now, leeway)
    if iat is not None:
        check_issued_at(iat, now, leeway)
    return check_expiry(exp, now, leeway)


def check_iss(claims: dict[str, Any], issuers: tuple[str, ...]) -> str:
    """``iss`` equals one of the configured ``issuers`` exactly; returns it.

    Before the signature is checked this only selects which issuer's JWKS to use: an
    issuer that is not configured is refused here and costs no fetch.
    Raises ``InvalidClaimsError`` otherwise.
    """
    iss = claims.get("iss")
    if not isinstance(iss, str) or iss not in issuers:
        raise InvalidClaimsError("issuer not configured")
    return iss


def check_aud(claims: dict[str, Any], audience: str) -> None:
    """``aud``, a string or an array of strings (RFC 7519 §4.1.3), contains ``audience``.
    Raises ``InvalidClaimsError`` otherwise."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        has_audience = aud == audience
    else:
        has_audience = (
            isinstance(aud, list) and audience in aud and all(isinstance(a, str) for a in aud)
        )
    if not has_audience:
        raise InvalidClaimsError("wrong aud")


def numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """The NumericDate ``name`` as float seconds, or None when absent (RFC 7519 §2).

    A JSON number (not a bool), finite, from 0 to the end of year 9999; anything else,
    ``null`` included, raises ``InvalidClaimsError``. A number too long for the
    interpreter arrives as infinity (``auth.jose_json``) and is refused by its range.
    """
    value = claims.get(name)
    if value is None:
        if name in claims:
            raise InvalidClaimsError(f"null {name}")
        return None
    # type() rather than isinstance: bool is an int subclass. NaN and inf fail the range.
    if type(value) not in _NUMBER_TYPES or not 0 <= value <= MAX_NUMERIC_DATE:
        raise InvalidClaimsError(f"malformed {name}")
    return float(value)


def check_expiry(exp: float, now: float, leeway: float) -> float:
    """``now`` is before ``exp`` + ``leeway`` (RFC 7519 §4.1.4); returns that instant.
    Raises ``TokenExpiredError`` otherwise."""
    expires_at = exp + leeway
    if now >= expires_at:
        raise TokenExpiredError("expired")
    return expires_at


def check_not_before(nbf: float, now: float, leeway: float) -> None:
    """``nbf`` is not after ``now`` + ``leeway`` (RFC 7519 §4.1.5).
    Raises ``InvalidClaimsError`` otherwise."""
    if nbf > now + leeway:
        raise InvalidClaimsError("nbf in the future")


def check_issued_at(iat: float, now: float, leeway: float) -> None:
    """``iat`` is not after ``now`` + ``leeway`` (SPEC §3: not in the future).
    Raises ``InvalidClaimsError`` otherwise."""
    if iat > now + leeway:
        raise InvalidClaimsError("iat in the future")


def check_sub(claims: dict[str, Any]) -> None:
    """``sub``: a string of 1 to 255 characters, no control character or lone surrogate.
    Raises ``InvalidClaimsError`` otherwise."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUB_LENGTH:
        raise InvalidClaimsError("bad sub")
    # isprintable() is a quick pass: a printable string holds no Cc character or surrogate.
    if not sub.isprintable() and _FORBIDDEN_IN_SUB.search(sub):
        raise InvalidClaimsError("control character or lone surrogate in sub")


def check_binding(claims: Mapping[str, Any], *, bound: bool) -> None:
    """``cnf`` as the scheme needs it: none under Bearer (``bound`` False), exactly a
    ``jkt`` under DPoP (``bound`` True). ``InvalidTokenError`` otherwise (SPEC §3a step 2)."""
    if bound:
        check_cnf_jkt(claims)
    else:
        check_no_cnf(claims)


def check_no_cnf(claims: Mapping[str, Any]) -> None:
    """No ``cnf``: a token bound to a key (RFC 7800; DPoP, mTLS) is refused as a Bearer
    token, since a Bearer request carries no proof of that key (SPEC §3a step 2).
    Raises ``InvalidTokenError``."""
    if "cnf" in claims:
        raise InvalidTokenError("cnf present")


def check_cnf_jkt(claims: Mapping[str, Any]) -> str:
    """The token's ``cnf.jkt`` (RFC 9449 §6.1); ``InvalidTokenError`` for any other ``cnf``.

    A ``cnf`` with another confirmation method beside ``jkt`` (RFC 8705 ``x5t#S256``...)
    is refused too: accepting it would ignore a binding that cannot be checked here.
    """
    cnf = claims.get("cnf")
    if not isinstance(cnf, dict) or set(cnf) != {"jkt"}:
        raise InvalidTokenError("cnf is not exactly a jkt")
    jkt = cnf["jkt"]
    if not isinstance(jkt, str) or not jkt:
        raise InvalidTokenError("cnf.jkt is not a string")
    return jkt


def check_rfc9068(claims: dict[str, Any]) -> None:
    """RFC 9068 §2.2: ``iat`` (its form checked as a NumericDate), ``jti`` and ``client_id``.
    Raises ``InvalidClaimsError`` otherwise."""
    if "iat" not in claims:
        raise InvalidClaimsError("no iat")
    for name in ("jti", "client_id"):
        value = claims.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidClaimsError(f"no {name}")
