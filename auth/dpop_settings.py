"""DPoP settings (SPEC §2 and §3a), validated once at start-up: one line per bad variable.

``AUTH_DPOP`` (``allowed``, ``required``, ``off``), ``AUTH_DPOP_ALGORITHMS``
(asymmetric only), ``AUTH_DPOP_MAX_AGE`` (seconds), ``AUTH_DPOP_NONCE_SECRET`` (at least
32 bytes) and ``API_BASE_URL`` (the public base URL the ``htu`` of every proof is
compared with). Without ``API_BASE_URL`` only the development server may fall back to
the request's own URL; a production entry then runs as if ``AUTH_DPOP=off`` (one
warning) and refuses ``AUTH_DPOP=required``, since it has no trustworthy URL to compare.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from auth.htu import normalize_uri
from auth.loopback import is_loopback
from auth.nonce import MIN_SECRET_BYTES
from auth.settings import ASYMMETRIC_ALGORITHMS, ConfigError

logger = logging.getLogger(__name__)

MODES = ("allowed", "required", "off")
# A proof is made for one request: the age allows for client clocks and slow networks,
# and every accepted jti is held this long, so hours would only grow the replay store.
MIN_MAX_AGE_S = 1
MAX_MAX_AGE_S = 600


@dataclass(frozen=True)
class DPoPSettings:
    """What DPoP verification needs; attribute names are the SPEC variables in lower case.

    ``auth_dpop`` is the mode in effect (``off`` when a production entry has no
    ``API_BASE_URL``). ``auth_dpop_nonce_secret`` is None when nonces are off; it is
    kept out of ``repr``.
    """

    auth_dpop: str = "allowed"
    auth_dpop_algorithms: tuple[str, ...] = ("ES256",)
    auth_dpop_max_age: float = 300
    auth_dpop_nonce_secret: bytes | None = field(default=None, repr=False)
    api_base_url: str | None = None

    @property
    def is_enabled(self) -> bool:
        """True unless the mode is ``off``."""
        return self.auth_dpop != "off"

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, is_development: bool = False) -> DPoPSettings:
        """Validate the DPoP variables in ``env``; ``ConfigError`` names the first bad one.

        ``is_development`` is True only for the development server, which may compare
        ``htu`` with the request's own URL when ``API_BASE_URL`` is unset (SPEC §3a).
        """
        mode = (_value(env, "AUTH_DPOP") or "allowed").lower()
        if mode not in MODES:
            raise ConfigError("AUTH_DPOP", "must be one of allowed, required, off")
        algorithms = _algorithms(env)
        max_age = _max_age(env)
        secret = _value(env, "AUTH_DPOP_NONCE_SECRET")
        if secret is not None and len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ConfigError("AUTH_DPOP_NONCE_SECRET", "must be at least 32 bytes when set")
        base_url = _value(env, "API_BASE_URL")
        if base_url is not None:
            _check_base_url(base_url)
        elif not is_development and mode != "off":
            if mode == "required":
                raise ConfigError(
                    "API_BASE_URL",
                    "is required with AUTH_DPOP=required (DPoP htu is checked against it)",
                )
            logger.warning(
                "API_BASE_URL is not set: DPoP is off (AUTH_DPOP=%s ignored); set it to the "
                "public URL clients call to accept DPoP-bound tokens",
                mode,
            )
            mode = "off"
        return cls(
            auth_dpop=mode,
            auth_dpop_algorithms=algorithms,
            auth_dpop_max_age=max_age,
            auth_dpop_nonce_secret=secret.encode("utf-8") if secret is not None else None,
            api_base_url=base_url,
        )


def _value(env: Mapping[str, str], name: str) -> str | None:
    """The stripped value, or None when unset or blank (as for every other variable)."""
    value = env.get(name)
    return value.strip() if value is not None and value.strip() else None


def _algorithms(env: Mapping[str, str]) -> tuple[str, ...]:
    value = _value(env, "AUTH_DPOP_ALGORITHMS")
    if value is None:
        return ("ES256",)
    names = [name.strip().upper() for name in value.split(",") if name.strip()]
    if not names:
        raise ConfigError("AUTH_DPOP_ALGORITHMS", "lists no algorithm")
    for name in names:
        if name == "NONE":
            raise ConfigError("AUTH_DPOP_ALGORITHMS", "'none' (unsigned proofs) is never accepted")
        if name.startswith("HS"):
            raise ConfigError(
                "AUTH_DPOP_ALGORITHMS", f"{name!r} is symmetric; only asymmetric allowed"
            )
        if name not in ASYMMETRIC_ALGORITHMS:
            allowed = ", ".join(ASYMMETRIC_ALGORITHMS)
            raise ConfigError(
                "AUTH_DPOP_ALGORITHMS", f"unknown algorithm {name!r} (allowed: {allowed})"
            )
    return tuple(dict.fromkeys(names))


def _max_age(env: Mapping[str, str]) -> float:
    value = _value(env, "AUTH_DPOP_MAX_AGE")
    if value is None:
        return 300
    problem = f"must be a number of seconds between {MIN_MAX_AGE_S} and {MAX_MAX_AGE_S}"
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError("AUTH_DPOP_MAX_AGE", problem) from None
    # NaN fails both comparisons
    if not MIN_MAX_AGE_S <= seconds <= MAX_MAX_AGE_S:
        raise ConfigError("AUTH_DPOP_MAX_AGE", problem)
    return seconds


def _check_base_url(url: str) -> None:
    """An absolute https URL (http only on loopback), no credentials, query or fragment."""
    problem = (
        "must be an absolute https URL without query or fragment, e.g. https://api.example.com"
    )
    if not url.isascii() or any(c.isspace() for c in url) or "#" in url or "?" in url:
        raise ConfigError("API_BASE_URL", problem)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ConfigError("API_BASE_URL", problem) from None
    host = parts.hostname or ""
    if not host or "@" in parts.netloc or normalize_uri(url) is None:
        raise ConfigError("API_BASE_URL", problem)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host)):
        return
    raise ConfigError(
        "API_BASE_URL", "must use https (plain http only for localhost/127.0.0.1/::1)"
    )
