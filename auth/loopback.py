"""Which hosts are loopback: the one answer for the whole project (SPEC §2).

Plain ``http`` issuer, JWKS and base URLs are allowed only for loopback hosts,
and the development issuer and the kit's JWKS server bind only to them. The
SPEC names three: ``localhost``, ``127.0.0.1`` and ``::1``. Other addresses of
127.0.0.0/8 are loopback to the kernel but not here: a rule that follows the
SPEC literally is one every checker (settings, servers, development issuer)
agrees on.
"""

from __future__ import annotations

import ipaddress
import re

_NAMES = frozenset({"localhost", "127.0.0.1"})
_IPV6_LOOPBACK = ipaddress.IPv6Address("::1")
# RFC 1123 labels, for the names under localhost. that names_loopback accepts
_DNS_NAME = re.compile(r"(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+localhost")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a URL's host or a bind address) is ``localhost``, ``127.0.0.1`` or ``::1``.

    ``localhost`` in any letter case; ``::1`` in any spelling (``0:0:0:0:0:0:0:1``),
    bracketed or not (``[::1]``, as in a URL). Never raises.
    """
    if host.lower() in _NAMES:
        return True
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(literal) == _IPV6_LOOPBACK
    except ValueError:
        return False


def names_loopback(host_field: str) -> bool:
    """Whether a ``Host`` field value (``host[:port]``, RFC 9110 §7.2) names a loopback
    host, whatever the port: ``is_loopback``, or a name under ``localhost.`` (RFC 6761
    §6.3: never sent to DNS, so no page can rebind it).

    A server bound to loopback checks it to refuse DNS rebinding: a web page whose own
    name was made to resolve to 127.0.0.1 reaches the server as its same origin, with
    that name in ``Host``. Never raises.
    """
    value = host_field.strip()
    if value.startswith("["):  # an IPv6 literal, then ":port" or nothing
        literal, bracket, rest = value.partition("]")
        host, port = literal + bracket, rest.removeprefix(":")
        if rest and not rest.startswith(":"):
            return False
    else:
        host, _, port = value.partition(":")
    port_ok = not port or (port.isascii() and port.isdigit() and 0 < int(port) < 65536)
    name = host.lower()
    under_localhost = name.endswith(".localhost") and _DNS_NAME.fullmatch(name) is not None
    return port_ok and (is_loopback(host) or under_localhost)
