"""The ``Authorization`` header -> (scheme, token): RFC 6750 §2.1 and RFC 9449 §7.1.

Only the request header carries a token: query strings and bodies are never
read (RFC 6750 §2.2/§2.3 are not offered). Both schemes share one grammar,
``scheme 1*SP b64token`` with ``b64token = 1*( ALPHA / DIGIT / "-" / "." /
"_" / "~" / "+" / "/" ) *"="`` (RFC 9449 §7.1 reuses RFC 6750's), and one
8 KiB limit; the scheme is case-insensitive (RFC 9110 §11.1). Which schemes
are accepted depends on the DPoP mode (SPEC §3a): a scheme not accepted is
"no credentials" (a 401 without an error attribute, RFC 6750 §3.1), anything
else that starts with an accepted scheme and breaks the grammar is a 400
``invalid_request``.

Two ``Authorization`` fields are a 400 even when the server has already joined them
into one value (RFC 9110 §5.3: granian, gunicorn and werkzeug join repeated fields
with ``","``). One field holds one credentials, ``auth-scheme [ 1*SP ( token68 /
#auth-param ) ]`` (RFC 9110 §11.4), whose only commas separate ``name=value``
parameters; so a later comma-separated element (quoted strings respected) made of an
auth-scheme, spaces and anything but ``=`` starts other credentials: two headers, of
whatever schemes (as does ``Bearer`` or ``DPoP`` alone); so does a value that starts
with a comma: an empty field joined before another (one joined after it cannot be
told from an auth-param list's empty last element, and stays that field's answer).
Other schemes' own parameters (``Digest username="a", realm="b"``) stay a 401, and
so does a refused scheme's malformed token (``Bearer a,b`` in ``required`` mode:
SPEC §3a step 2, "whatever the token").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from werkzeug.http import parse_list_header

from auth.errors import AuthError, AuthorizationHeaderMissingError, InvalidHeaderError

MAX_TOKEN_LENGTH = 8192  # 8 KiB (SPEC §3 step 1, §3a step 1)
BEARER = "Bearer"
DPOP = "DPoP"
SCHEMES = (BEARER, DPOP)
_CREDENTIALS = re.compile(r" +([A-Za-z0-9\-._~+/]+=*)")
_OWS = " \t"
_TCHAR_AFTER = r"(?![!#$%&'*+.^_`|~0-9a-z-])"


class Credentials(NamedTuple):
    """The scheme as this module spells it (``"Bearer"`` or ``"DPoP"``) and its token."""

    scheme: str
    token: str


def _scheme_pattern(schemes: Sequence[str]) -> re.Pattern[str]:
    names = "|".join(re.escape(s) for s in schemes)
    return re.compile(rf"({names}){_TCHAR_AFTER}", re.IGNORECASE | re.ASCII)


def _joined_patterns(schemes: Sequence[str]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(element, value) patterns of a later list element that starts other credentials:
    an accepted scheme, alone or with its token, or any auth-scheme then 1*SP then
    anything but "=" (an auth-param is ``token BWS "=" BWS ( token / quoted-string )``,
    so ``bearer="..."`` is not one). Any other bare token is no scheme: ``Bearer a,b``
    stays one malformed field. The value pattern, the same after a comma, is one C-level
    search that rules most values out before their elements are split."""
    names = "|".join(re.escape(s) for s in schemes)
    element = rf"(?:{names})(?:[ \t,]|$)|[!#$%&'*+.^_`|~0-9A-Za-z-]+ +[^= \t]"
    flags = re.IGNORECASE | re.ASCII
    return re.compile(element, flags), re.compile(rf",[ \t]*(?:{element})", flags)


_PATTERNS = {
    schemes: (_scheme_pattern(schemes), *_joined_patterns(schemes))
    for schemes in ((BEARER,), (DPOP,), (BEARER, DPOP))
}
_CANONICAL = {s.lower(): s for s in SCHEMES}


def parse_authorization(
    header_values: Sequence[str], schemes: tuple[str, ...] = SCHEMES
) -> Credentials:
    """The scheme and token of the one ``Authorization`` header (SPEC §3 step 1, §3a step 1).

    ``header_values``: every ``Authorization`` field of the request; ``schemes``: the
    accepted ones, a non-empty subset of ``("Bearer", "DPoP")`` in that order. Raises
    ``AuthorizationHeaderMissingError`` (401) for none or a scheme not accepted, and
    ``InvalidHeaderError`` (400) for two headers, an empty one, a grammar violation or a
    token over 8 KiB; the error's ``scheme`` is the accepted scheme the value started with, if any.
    """
    if not header_values:
        raise AuthorizationHeaderMissingError("no Authorization header")
    if len(header_values) > 1:
        raise InvalidHeaderError("several Authorization headers")
    # RFC 9110 §5.5: a field value excludes leading and trailing whitespace.
    value = header_values[0].strip(_OWS)
    if not value:
        # RFC 9110 §11.6.2: credentials start with an auth-scheme, so an empty field is a
        # grammar violation, not an absent header. It is also all some servers hand over
        # for a value they could not decode (granian gives "" for non-ASCII bytes), which
        # SPEC §3 step 1 makes a 400 too.
        raise InvalidHeaderError("empty Authorization header")
    scheme_re, joined_re, joined_value_re = _PATTERNS[schemes]
    match = scheme_re.match(value)
    if match is None:
        # credentials start with an auth-scheme (RFC 9110 §11.6.2): a comma first is an
        # empty field joined before another, as granian, gunicorn and werkzeug join them.
        # A comma last stays one field's: an auth-param list may end with an empty
        # element (§5.6.1.2), and "Bearer a," in required mode is that scheme's 401
        if value[0] == ",":
            raise InvalidHeaderError("an empty Authorization header, joined")
        if joined_value_re.search(value) and any(map(joined_re.match, _elements(value)[1:])):
            raise InvalidHeaderError("several Authorization headers, joined")
        raise AuthorizationHeaderMissingError("not an accepted scheme")
    scheme = _CANONICAL[match.group(1).lower()]
    credentials = _CREDENTIALS.fullmatch(value, match.end())
    if credentials is None:
        raise _with_scheme(InvalidHeaderError(f"not `{scheme} 1*SP b64token`"), scheme)
    token = credentials.group(1)
    if len(token) > MAX_TOKEN_LENGTH:
        raise _with_scheme(InvalidHeaderError("token too long"), scheme)
    return Credentials(scheme, token)


def _elements(value: str) -> list[str]:
    """The comma-separated elements of ``value`` (RFC 9110 §5.6.1), empty ones dropped;
    a comma inside a quoted string separates nothing (werkzeug's parser, when there is one)."""
    if '"' in value:
        return parse_list_header(value)
    return [part for part in (p.strip(_OWS) for p in value.split(",")) if part]


def names_scheme(header_values: Sequence[str], scheme: str) -> bool:
    """Whether the one ``Authorization`` value starts with ``scheme`` (``"Bearer"`` or
    ``"DPoP"``, matched case-insensitively, RFC 9110 §11.1), whatever follows it.

    For answers that depend only on which scheme a client chose, where no credentials
    are checked (the ``DPoP-Nonce`` of SPEC §3a step 6 on every answer to a DPoP
    request). ``header_values``: every ``Authorization`` field; none or several: False.
    """
    if len(header_values) != 1:
        return False
    return _PATTERNS[(scheme,)][0].match(header_values[0].lstrip(_OWS)) is not None


def parse_bearer(header_values: Sequence[str]) -> str:
    """The token of the one ``Authorization: Bearer`` header (RFC 6750 §2.1).

    ``parse_authorization`` with Bearer as the only accepted scheme; same errors.
    """
    return parse_authorization(header_values, (BEARER,)).token


def _with_scheme(err: AuthError, scheme: str) -> AuthError:
    err.scheme = scheme
    return err
