"""Where and how wide a production server runs: ``BIND``, ``WEB_CONCURRENCY``, ``WEB_THREADS``.

Both production entries read these the same way (SPEC §2, §6):
``python -m cashman.serve`` (granian) and ``gunicorn server:app`` (through
``gunicorn.conf.py``, which also honours its older ``GUNICORN_*`` names as
aliases). ``BIND`` is ``host:port`` (an IPv6 host in brackets); without it
the server listens on ``0.0.0.0:$PORT``, port 5000 when ``PORT`` is unset (SPEC §2:
``PORT`` defaults to 5000, ``BIND`` to ``0.0.0.0:$PORT``).
A malformed value is a ``ConfigError`` naming the variable, so the entry
prints one line and exits with status 2.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from auth import ConfigError
from auth.variables import get_value

DEFAULT_PORT = 5000
DEFAULT_THREADS = 4
MAX_WORKERS = 64
MAX_THREADS = 64
# host:port, the host bracketed when it is an IPv6 literal (RFC 3986 §3.2.2 style)
_HOST_PORT = re.compile(
    r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})"
)


@dataclass(frozen=True)
class Bind:
    """A TCP address to listen on: ``host`` is an IP literal, ``port`` 1-65535."""

    host: str
    port: int

    def __str__(self) -> str:
        """``host:port``, the host in brackets when it is IPv6 (as gunicorn's ``bind`` takes it)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def listen_problem(bind: Bind) -> str | None:
    """Why this host cannot listen on ``bind`` now (address in use, not an address of this
    host), or None: a trial ``bind()`` on a socket closed at once. Checked before a server
    starts so that a bad address is one line naming its setting (SPEC §2, §6), not the
    server's stack trace; another process may still take the port in between."""
    family = socket.AF_INET6 if ":" in bind.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((bind.host, bind.port))
        except OSError as exc:
            return exc.strerror or type(exc).__name__
    return None


def parse_bind(name: str, value: str) -> Bind:
    """``host:port`` named ``name`` (a variable or an option) as a :class:`Bind`.

    A host name is resolved once, here, to its first address: the servers
    bind IP literals. Raises ``ConfigError(name, ...)`` for anything else
    (no port, a port out of range, a path, a list, a name that does not resolve).
    """
    match = _HOST_PORT.fullmatch(value.strip())
    port = int(match["port"]) if match else 0
    if not match or not 0 < port < 65536:
        problem = f"must be host:port (IPv6 in brackets, port 1-65535); got {value!r}"
        raise ConfigError(name, problem)
    if match["ipv6"] is not None:
        try:
            return Bind(str(ipaddress.IPv6Address(match["ipv6"])), port)
        except ValueError:
            raise ConfigError(name, f"not an IPv6 address: {match['ipv6']!r}") from None
    return Bind(_resolve(name, match["host"]), port)


def _resolve(name: str, host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ConfigError(name, f"cannot resolve the host {host!r}") from None
    return str(found[0][4][0])


def cores() -> int:
    """CPU cores this process may run on (its affinity, as a container limits it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ServerSettings:
    """Address and size of a production server (SPEC §2 ``BIND``, ``WEB_CONCURRENCY``,
    ``WEB_THREADS``): ``workers`` processes of ``threads`` threads each."""

    bind: Bind
    workers: int
    threads: int

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        default_workers: Callable[[], int] = cores,
        aliases: Mapping[str, str] | None = None,
    ) -> ServerSettings:
        """Read ``env``; ``aliases`` maps a SPEC name to an older name that wins when set.

        ``gunicorn.conf.py`` passes ``{"BIND": "GUNICORN_BIND", ...}``: under
        gunicorn its own names keep the meaning they always had. Raises
        ``ConfigError`` naming the variable at fault.
        """
        aliases = aliases or {}

        def names(spec_name: str) -> tuple[str, ...]:
            alias = aliases.get(spec_name)
            return (alias, spec_name) if alias else (spec_name,)

        bind_name, bind_value = first_set(env, names("BIND"))
        if bind_value is None:
            port = int_setting(env, ("PORT",), DEFAULT_PORT, 1, 65535)
            bind = Bind("0.0.0.0", port)  # the documented default  # noqa: S104  # nosec B104
        else:
            bind = parse_bind(bind_name, bind_value)
        # 0: unset, so the server's own default (its cores-based count) applies
        workers = int_setting(env, names("WEB_CONCURRENCY"), 0, 1, MAX_WORKERS)
        threads = int_setting(env, names("WEB_THREADS"), DEFAULT_THREADS, 1, MAX_THREADS)
        return cls(bind=bind, workers=workers or default_workers(), threads=threads)


def first_set(env: Mapping[str, str], names: Sequence[str]) -> tuple[str, str | None]:
    """The first of ``names`` with a non-blank value in ``env``, and that value (else None).
    Raises ``ConfigError`` for a value that is not UTF-8 (``auth.variables.get_value``)."""
    for name in names:
        value = get_value(env, name)
        if value:
            return name, value
    return names[-1], None


def int_setting(
    env: Mapping[str, str], names: Sequence[str], default: int, low: int, high: int
) -> int:
    """The first of ``names`` that is set, as an integer in [low, high]; else ``default``.
    Raises ``ConfigError`` naming that variable for any other value (SPEC §2, §6)."""
    name, value = first_set(env, names)
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise ConfigError(name, f"must be an integer between {low} and {high}")
    return int(value)
