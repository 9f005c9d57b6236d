"""DPoP settings (SPEC §2 and §3a), validated once at start-up: one line per bad variable.

``AUTH_DPOP`` (``allowed``, ``required``, ``off``), ``AUTH_DPOP_ALGORITHMS``
(asymmetric only), ``AUTH_DPOP_MAX_AGE`` (seconds), ``AUTH_DPOP_NONCE_SECRET`` (at least
32 bytes) and ``API_BASE_URL`` (the public base URL the ``htu`` of every proof is
compared with, and the resource identifier of RFC 9728). Without ``API_BASE_URL`` only
the development server may fall back to the request's own URL; a production entry then
runs as if ``AUTH_DPOP=off`` (one warning) and refuses ``AUTH_DPOP=required``, since it
has no trustworthy URL to compare. They are part of ``AuthSettings`` (its ``dpop``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from auth.bearer import BEARER, DPOP
from auth.htu import normalize_uri
from auth.nonce import MIN_SECRET_BYTES
from auth.variables import (
    DPOP_ALGORITHMS,
    ConfigError,
    algorithms,
    check_url,
    get_value,
    number,
)

MODES = ("allowed", "required", "off")
SCHEMES_BY_MODE = {"allowed": (BEARER, DPOP), "required": (DPOP,), "off": (BEARER,)}
DEFAULT_ALGORITHMS = ("ES256",)
# A proof is made for one request: the age allows for client clocks and slow networks,
# and every accepted jti is held this long, so hours would only grow the replay store.
MIN_MAX_AGE_S = 1
MAX_MAX_AGE_S = 600
BASE_URL_PROBLEM = (
    "must be an absolute https URL without query or fragment, e.g. https://api.example.com"
)


@dataclass(frozen=True)
class DPoPSettings:
    """What DPoP verification needs; attribute names are the SPEC variables in lower case.

    ``auth_dpop`` is the mode in effect (``off`` when a production entry has no
    ``API_BASE_URL``). ``auth_dpop_nonce_secret`` is None when nonces are off; it is
    kept out of ``repr``. ``use_request_url`` is True only for the development server
    without ``API_BASE_URL``: the request's own URL stands in for it (the ``htu`` a proof
    is compared with, the resource metadata of RFC 9728).
    Raises ``ValueError`` for a mode other than ``off`` with neither a base URL nor
    ``use_request_url`` (a proof's ``htu`` would have nothing trustworthy to match).
    """

    auth_dpop: str = "allowed"
    auth_dpop_algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    auth_dpop_max_age: float = 300
    auth_dpop_nonce_secret: bytes | None = field(default=None, repr=False)
    api_base_url: str | None = None
    use_request_url: bool = False
    #: the configured mode that was turned ``off`` for lack of ``API_BASE_URL`` (a
    #: production entry), else None: the entry says so in one start-up warning
    turned_off_from: str | None = None

    def __post_init__(self) -> None:
        if self.auth_dpop not in MODES:
            raise ValueError(f"auth_dpop must be one of {', '.join(MODES)}")
        if self.is_enabled and self.api_base_url is None and not self.use_request_url:
            raise ValueError("DPoP needs api_base_url (or use_request_url in development)")

    @property
    def is_enabled(self) -> bool:
        """True unless the mode is ``off``."""
        return self.auth_dpop != "off"

    @property
    def startup_warning(self) -> str | None:
        """The one start-up warning these settings call for (SPEC §3a), or None."""
        if self.turned_off_from is None:
            return None
        return (
            f"API_BASE_URL is not set: DPoP is off (AUTH_DPOP={self.turned_off_from} "
            "ignored); set it to the public URL clients call to accept DPoP-bound tokens"
        )

    @property
    def schemes(self) -> tuple[str, ...]:
        """The ``Authorization`` schemes the mode accepts, in challenge order (SPEC §3a):
        ``("Bearer", "DPoP")``, ``("DPoP",)`` in ``required`` mode, ``("Bearer",)`` off."""
        return SCHEMES_BY_MODE[self.auth_dpop]

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, is_development: bool = False) -> DPoPSettings:
        """Validate the DPoP variables in ``env``; ``ConfigError`` names the first bad one.

        ``is_development`` is True only for the development server, which may compare
        ``htu`` with the request's own URL when ``API_BASE_URL`` is unset (SPEC §3a).
        Without it, an entry runs DPoP ``off`` and reports ``startup_warning`` once, when
        every other setting has passed too (a bad setting stays one line).
        """
        mode = (get_value(env, "AUTH_DPOP") or "allowed").lower()
        if mode not in MODES:
            raise ConfigError("AUTH_DPOP", "must be one of allowed, required, off")
        algs = algorithms(env, "AUTH_DPOP_ALGORITHMS", DEFAULT_ALGORITHMS, DPOP_ALGORITHMS)
        max_age = number(env, "AUTH_DPOP_MAX_AGE", 300, low=MIN_MAX_AGE_S, high=MAX_MAX_AGE_S)
        secret = get_value(env, "AUTH_DPOP_NONCE_SECRET")
        if secret is not None and len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ConfigError("AUTH_DPOP_NONCE_SECRET", "must be at least 32 bytes when set")
        base_url = get_value(env, "API_BASE_URL")
        turned_off_from = None
        if base_url is not None:
            base_url = check_base_url(base_url)
        elif not is_development and mode != "off":
            if mode == "required":
                raise ConfigError(
                    "API_BASE_URL",
                    "is required with AUTH_DPOP=required (DPoP htu is checked against it)",
                )
            turned_off_from, mode = mode, "off"
        return cls(
            auth_dpop=mode,
            auth_dpop_algorithms=algs,
            auth_dpop_max_age=max_age,
            auth_dpop_nonce_secret=secret.encode("utf-8") if secret is not None else None,
            api_base_url=base_url,
            use_request_url=base_url is None and is_development,
            turned_off_from=turned_off_from,
        )


DPOP_OFF = DPoPSettings(auth_dpop="off")
"""DPoP off: only Bearer tokens (the default of ``AuthSettings`` built by hand)."""


def check_base_url(url: str) -> str:
    """``API_BASE_URL``: an absolute https URL (http only on loopback), no credentials, query
    or fragment, with well-formed percent-escapes (RFC 3986). ``ConfigError`` otherwise.

    Returns it in normal form, the one string the resource identifier, the metadata URL
    and every ``htu`` are built from: RFC 3986 §6.2.2-§6.2.3 (scheme and host in lower
    case, default port dropped, escapes normalised, dot segments removed) and no
    trailing ``/`` (``HTTPS://API.Example.COM:443/api/`` -> ``https://api.example.com/api``;
    a root path is written as none: ``https://api.example.com``).
    """
    try:
        check_url("API_BASE_URL", url)
    except ConfigError as exc:
        if exc.problem.startswith("must use https"):
            raise
        raise ConfigError("API_BASE_URL", BASE_URL_PROBLEM) from None
    normal = normalize_uri(url)
    if normal is None:
        raise ConfigError("API_BASE_URL", BASE_URL_PROBLEM)
    return normal.rstrip("/")
