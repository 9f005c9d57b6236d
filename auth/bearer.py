"""``Authorization: Bearer <token>`` parsing (RFC 6750 §2.1), nothing else.

Only the request header carries a token: query strings and bodies are never
read (RFC 6750 §2.2/§2.3 are not offered). The grammar is
``"Bearer" 1*SP b64token`` with ``b64token = 1*( ALPHA / DIGIT / "-" / "." /
"_" / "~" / "+" / "/" ) *"="``; the scheme is case-insensitive (RFC 9110
§11.1). Anything else that starts with ``Bearer`` is a 400 ``invalid_request``;
a missing header or another scheme is a 401 without an error attribute.

Two ``Authorization`` fields are a 400 even when the server has already joined
them into one value (RFC 9110 §5.3: gunicorn and werkzeug join repeated
fields with ``","``): a value of another scheme with a later comma-separated
part that starts with ``Bearer`` is two headers, not a missing token. Other
schemes' own commas (``Digest username="a", realm="b"``) stay a 401.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from auth.errors import AuthorizationHeaderMissingError, InvalidHeaderError

MAX_TOKEN_LENGTH = 8192  # 8 KiB (SPEC §3 step 1)
_BEARER = re.compile(r"bearer(?![!#$%&'*+.^_`|~0-9a-z-])", re.IGNORECASE | re.ASCII)
# A later part of a joined value that is a Bearer credential (not a `bearer="..."` parameter).
_JOINED_BEARER = re.compile(r"bearer(?:[ \t]|$)", re.IGNORECASE | re.ASCII)
_CREDENTIALS = re.compile(r" +([A-Za-z0-9\-._~+/]+=*)")
_OWS = " \t"


def parse_bearer(header_values: Sequence[str]) -> str:
    """The token of the one ``Authorization: Bearer`` header (RFC 6750 §2.1, SPEC §3 step 1).

    ``header_values``: every ``Authorization`` field of the request. Raises
    ``AuthorizationHeaderMissingError`` (401) for none or another scheme, and
    ``InvalidHeaderError`` (400) for two headers, a grammar violation or a token over
    8 KiB.
    """
    if not header_values:
        raise AuthorizationHeaderMissingError("no Authorization header")
    if len(header_values) > 1:
        raise InvalidHeaderError("several Authorization headers")
    # RFC 9110 §5.5: a field value excludes leading and trailing whitespace.
    value = header_values[0].strip(_OWS)
    if not value:
        raise AuthorizationHeaderMissingError("empty Authorization header")
    if not _BEARER.match(value):
        if "," in value and any(
            _JOINED_BEARER.match(part.strip(_OWS)) for part in value.split(",")[1:]
        ):
            raise InvalidHeaderError("several Authorization headers, joined")
        raise AuthorizationHeaderMissingError("not the Bearer scheme")
    rest = value[len("bearer") :]
    match = _CREDENTIALS.fullmatch(rest)
    if match is None:
        raise InvalidHeaderError("not `Bearer 1*SP b64token`")
    token = match.group(1)
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidHeaderError("token too long")
    return token
