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

_NAMES = frozenset({"localhost", "127.0.0.1"})
_IPV6_LOOPBACK = ipaddress.IPv6Address("::1")


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
