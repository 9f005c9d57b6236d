"""Application settings, read once from the environment at start-up (SPEC §2).

A bad variable stops start-up with one line naming it (``ConfigError``),
never a stack trace. Auth settings are delegated to ``auth.AuthSettings``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from auth import AuthSettings, ConfigError
from auth.htu import DEFAULT_PORTS
from auth.variables import get_value
from cashman.server_config import Bind, parse_bind

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'instance' / 'cashman.db'}"
# the one PostgreSQL driver installed; plain postgres:// URLs are read as meaning it
_PG_ALIASES = ("postgres://", "postgresql://")
_PG_DRIVER = "postgresql+psycopg://"
# backend -> the one driver of it installed (SQLAlchemy's name for it)
_DRIVERS = {"sqlite": "pysqlite", "postgresql": "psycopg"}


def database_url_from_env(env: Mapping[str, str] | None = None) -> str:
    """``DATABASE_URL`` checked and normalized (SQLite file under ``instance/`` by default).
    Raises ``ConfigError`` when invalid (SPEC §2, §5)."""
    env = os.environ if env is None else env
    url = get_value(env, "DATABASE_URL") or DEFAULT_DATABASE_URL
    for alias in _PG_ALIASES:
        if url.startswith(alias):
            url = _PG_DRIVER + url[len(alias) :]
    try:
        parsed = make_url(url)  # ValueError: a port that is not a number
    except (ArgumentError, ValueError):
        raise ConfigError("DATABASE_URL", "is not a valid database URL") from None
    driver = _DRIVERS.get(parsed.get_backend_name())
    if driver is None:
        raise ConfigError("DATABASE_URL", "must be a sqlite:/// or postgresql+psycopg:// URL")
    if parsed.get_driver_name() != driver:
        # e.g. postgresql+psycopg2://: only the drivers above are installed
        raise ConfigError(
            "DATABASE_URL",
            f"names the driver {parsed.get_driver_name()!r}, which is not installed: "
            "use sqlite:/// or postgresql+psycopg://",
        )
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ConfigError("DATABASE_URL", "port must be between 1 and 65535")
    return url


# scheme://host[:port], as a browser sends it in Origin
# WHATWG URL: a last label that is a number (decimal, or hex) makes the host IPv4
_NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_ORIGIN = re.compile(r"https?://(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?\Z")


def cors_origins_from_env(env: Mapping[str, str]) -> tuple[str, ...]:
    """``CORS_ORIGINS``: exact origins, lower-cased, a trailing slash forgiven.
    Raises ``ConfigError`` for a value that is not an origin (SPEC §2, §4 CORS)."""
    origins = []
    for item in (get_value(env, "CORS_ORIGINS") or "").split(","):
        origin = item.strip().rstrip("/").lower()
        if not origin:
            continue
        if origin == "*":
            # a personal-finance API names the browser apps it serves; "*" would let any
            # page read a user's transactions with a token it obtained
            raise ConfigError("CORS_ORIGINS", "'*' is refused: list the allowed origins")
        serialized = _serialized_origin(origin) if _ORIGIN.match(origin) else None
        if serialized is None:
            raise ConfigError("CORS_ORIGINS", f"not an origin (scheme://host[:port]): {origin!r}")
        origins.append(serialized)
    return tuple(origins)


def _ipv6_serialized(address: ipaddress.IPv6Address) -> str:
    """WHATWG URL's IPv6 serialisation: compressed, every group in hex, IPv4-mapped ones
    too (Python 3.13 writes their last 32 bits dotted)."""
    if address.ipv4_mapped is None:
        return address.compressed
    packed = address.packed
    high, low = int.from_bytes(packed[12:14], "big"), int.from_bytes(packed[14:], "big")
    return f"::ffff:{high:x}:{low:x}"


def _serialized_origin(origin: str) -> str | None:
    """``origin`` as a browser sends it in ``Origin`` (RFC 6454 §6.2, WHATWG URL): without
    the scheme's default port, an IPv6 address in its compressed form; None when the port
    or the address is out of range. An entry spelt otherwise would silently never match."""
    try:
        parts = urlsplit(origin)  # ValueError: a bracketed host that is no address
        port = parts.port
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{_ipv6_serialized(ipaddress.IPv6Address(host))}]"
        elif _NUMBER.fullmatch(host.removesuffix(".").rsplit(".", 1)[-1]):
            # a browser reads a name ending in a number as IPv4 and writes it in four
            # decimal parts: "127.1" or "127.0.0.1." would be sent as "127.0.0.1"; only
            # that spelling is taken
            ipaddress.IPv4Address(host)
    except ValueError:
        return None
    if port == 0:
        return None
    if port is None or port == DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


@dataclass(frozen=True)
class Settings:
    """Everything the app is built from.

    ``auth``: the token settings (``auth.AuthSettings``); ``database_url``: a SQLAlchemy
    URL (``DATABASE_URL``); ``cors_origins``: exact browser origins, lower case
    (``CORS_ORIGINS``); ``port``: the development server's TCP port (``PORT``);
    ``metrics_bind``: the Prometheus listener's address (``METRICS_BIND``), None for no
    metrics; ``extra``: free-form values by variable name, which the app itself does not read.
    ``from_env`` builds it checked.
    """

    auth: AuthSettings
    database_url: str = DEFAULT_DATABASE_URL
    cors_origins: tuple[str, ...] = ()
    port: int = 5000
    metrics_bind: Bind | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, is_development: bool = False
    ) -> Settings:
        """Build settings from ``env`` (default: the process environment); raises
        ``auth.ConfigError`` naming the first bad variable. ``is_development``: only for
        ``python server.py``, which may stand the request's own URL in for an unset
        ``API_BASE_URL`` (SPEC §3a); the production entries never pass it."""
        env = os.environ if env is None else env
        origins = cors_origins_from_env(env)
        port_text = get_value(env, "PORT") or "5000"
        # ASCII digits only: isdigit() also takes "²" (int() then raises) and "٣" (port 3)
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise ConfigError("PORT", "must be a TCP port number (1-65535)")
        metrics_text = get_value(env, "METRICS_BIND") or ""
        return cls(
            auth=AuthSettings.from_env(env, is_development=is_development),
            database_url=database_url_from_env(env),
            cors_origins=origins,
            port=int(port_text),
            metrics_bind=parse_bind("METRICS_BIND", metrics_text) if metrics_text else None,
        )
