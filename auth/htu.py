"""The DPoP ``htu`` comparison (RFC 9449 §4.3 check 9, SPEC §3a step 3).

The request's URI is ``API_BASE_URL`` joined with the request path as the client sent
it, never rebuilt from ``Host`` or ``X-Forwarded-*`` (a forged ``Host`` would let a
proof made for another server pass). Both it and the proof's ``htu`` lose their query
and fragment and are normalised per RFC 3986 §6.2.2 (case of scheme and host,
percent-encoding hex in upper case, percent-encoded unreserved characters decoded, dot
segments removed) and §6.2.3 (default port dropped, empty path as ``/``), then compared
as strings.

Why our own code: ``urllib.parse`` splits URIs (used here) but normalises nothing, and
its ``remove_dot_segments`` exists only inside ``urljoin``, where a path starting with
``//`` would be read as an authority; werkzeug's ``iri_to_uri`` quotes but does not
normalise case, unreserved escapes or dot segments; ``rfc3986`` is not a dependency.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
NORMALIZED_MEMO_SIZE = 512
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# RFC 3986 §2: the characters a URI may hold (reserved, unreserved and "%").
_URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_PERCENT = re.compile(r"%(..)?", re.DOTALL)
_HEX = frozenset("0123456789abcdefABCDEF")
# What a path may hold unescaped when it must be rebuilt from a decoded PATH_INFO
# (RFC 3986 §3.3: pchar and "/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def normalize_uri(uri: object) -> str | None:
    """``uri`` without query and fragment, normalised per RFC 3986 §6.2.2-§6.2.3.

    Return None when ``uri`` is not an absolute ``scheme://authority`` URI made of URI
    characters with well-formed percent-escapes and a numeric port: such an ``htu``
    matches nothing. A client sends the same few ``htu`` again and again, and the
    request's own URI repeats per route: results are remembered (bounded LRU; the
    answer depends on the string alone).
    """
    return _normalize(uri) if isinstance(uri, str) else None


@functools.lru_cache(maxsize=NORMALIZED_MEMO_SIZE)
def _normalize(uri: str) -> str | None:
    if not _URI_CHARACTERS.fullmatch(uri):
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:  # an unclosed IPv6 bracket
        return None
    scheme = parts.scheme.lower()
    userinfo, at, host_port = parts.netloc.rpartition("@")
    host, port = _host_and_port(host_port)
    if not scheme or host is None or port is None:
        return None
    # §6.2.2.1: scheme and host are case-insensitive, userinfo and path are not
    userinfo, host, path = _escapes(userinfo + at), _escapes(host, lower=True), _escapes(parts.path)
    if userinfo is None or host is None or path is None:
        return None
    if port and int(port) != DEFAULT_PORTS.get(scheme):
        host += f":{int(port)}"
    return f"{scheme}://{userinfo}{host}{remove_dot_segments(path) or '/'}"


def _host_and_port(host_port: str) -> tuple[str | None, str | None]:
    """``(host, port digits or "")`` of an authority without userinfo; None when malformed."""
    if host_port.startswith("["):  # IP literal (§3.2.2)
        literal, bracket, rest = host_port.partition("]")
        host = literal + bracket
        if not bracket or len(host) < 3 or (rest and not rest.startswith(":")):
            return None, None
        port = rest[1:]
    else:
        host, _, port = host_port.partition(":")
        if not host or ":" in port:
            return None, None
    # §6.2.3: an empty port means the default one; otherwise digits within 16 bits
    if port and not (port.isdigit() and int(port) <= 65535):
        return None, None
    return host, port


def _escapes(text: str, *, lower: bool = False) -> str | None:
    """§6.2.2.1-§6.2.2.2: hex of escapes upper-cased, escaped unreserved octets decoded;
    with ``lower`` (a host) everything else is lower-cased."""
    out = []
    position = 0
    for match in _PERCENT.finditer(text):
        digits = match.group(1)
        if digits is None or not set(digits) <= _HEX:
            return None
        literal = text[position : match.start()]
        octet = int(digits, 16)
        decoded = chr(octet) if octet in _UNRESERVED else ""
        out.append((literal + decoded).lower() if lower else literal + decoded)
        if not decoded:
            out.append("%" + digits.upper())
        position = match.end()
    rest = text[position:]
    out.append(rest.lower() if lower else rest)
    return "".join(out)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for the path of a URI with an authority (empty or starting "/")."""
    if not path:
        return ""
    output: list[str] = []
    segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
    for segment in segments:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    # a path ending in "/." or "/.." ends with "/" once resolved
    if segments[-1] in (".", ".."):
        output.append("")
    return "/" + "/".join(output)


def request_htu(api_base_url: str, path: str) -> str:
    """The request's URI: ``api_base_url`` (no query or fragment) joined with ``path``.

    ``path`` is the request target's path as the client sent it, percent-encoding intact
    and without query (see ``raw_request_path``); a trailing ``/`` of the base is not
    doubled. The result is compared after ``normalize_uri``.
    """
    return api_base_url.rstrip("/") + (path if path.startswith("/") else "/" + path)


def raw_request_path(environ: Mapping[str, Any]) -> str:
    """The path of the WSGI request's target as sent, without the query (RFC 9112 §3.2).

    gunicorn and werkzeug's server pass the request target untouched in ``RAW_URI``
    (also ``REQUEST_URI``); only its path is used, so an absolute-form target's host
    (RFC 9112 §3.2.2) is ignored like ``Host``. A server without either (granian) hands
    over only the decoded ``SCRIPT_NAME`` + ``PATH_INFO``: it is percent-encoded again,
    which matches the client's ``htu`` after normalisation unless the client escaped a
    reserved character (``%2F`` arrives as ``/``).
    """
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(target, str) and target:
        path = target.partition("?")[0].partition("#")[0]
        if not path.startswith("/"):
            # absolute-form: keep only the path; "*" (OPTIONS) or garbage gives "/"
            path = urlsplit(path).path if "://" in path else ""
        return path or "/"
    decoded = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    # PEP 3333: WSGI strings carry the request's bytes as latin-1
    return quote(decoded.encode("latin-1", "replace"), safe=_PATH_SAFE) or "/"
