"""Auth settings read once at start-up (SPEC §2), validated before any request.

A bad variable raises ``ConfigError(variable, problem)`` whose text is one line
naming the variable, so the process stops with that line rather than a stack
trace. Only asymmetric algorithms are accepted: RS256/384/512 and ES256/384/512
are verified by python-jose's ``cryptography`` backend; PS256/384/512, which
python-jose does not implement, are verified by ``cryptography`` directly
(RSASSA-PSS, MGF1 with the same hash, salt length = digest length, RFC 7518
§3.5). ``none``, ``HS*`` and unknown names stop start-up.

``AUTH0_DOMAIN`` entries are host names, and host names are case-insensitive
(RFC 4343) while ``iss`` is compared exactly: Auth0 writes it in lower case, so
each domain is lower-cased before the issuer and JWKS URL are derived. The
common slip of pasting the tenant URL, ``https://tenant.auth0.com/``, is
accepted as that host: the issuer is https by construction anyway, so
dropping an ``https://`` prefix and one trailing ``/`` changes no meaning.
Anything else that is not a bare host (``http://``, a path, a query, a
fragment, credentials) is still refused with one line, since guessing what
it meant could point the API at the wrong issuer. ``AUTH0_ISSUER`` is taken
verbatim: a full URL is matched exactly, as the SPEC asks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from auth.dpop_settings import DPOP_OFF, DPoPSettings
from auth.htu import DEFAULT_PORTS
from auth.variables import (  # noqa: F401 - ConfigError and ASYMMETRIC_ALGORITHMS re-exported
    ASYMMETRIC_ALGORITHMS,
    ConfigError,
    algorithms,
    boolean,
    check_url,
    get_value,
    number,
    split_list,
)

# RFC 1123 §2.1: a label is 1-63 letters, digits and hyphens, not starting or ending with one
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOST_AND_PORT = re.compile(rf"(?P<host>{_LABEL}(?:\.{_LABEL})*)(?::(?P<port>[0-9]{{1,5}}))?")

# (least, most) seconds of each duration variable (SPEC §2: AUTH_LEEWAY 0-300).
BOUNDS_S = {
    "AUTH_LEEWAY": (0, 300),
    "JWKS_CACHE_TTL": (1, 7 * 86400),
    "JWKS_MIN_REFRESH_INTERVAL": (0, 86400),
    "JWKS_MAX_STALE": (0, 30 * 86400),
}
JWKS_PATH = ".well-known/jwks.json"


@dataclass(frozen=True)
class AuthSettings:
    """Everything ``auth`` needs, attribute names = SPEC variables in lower case.

    Nothing here logs: ``startup_warnings`` holds what the app should log once at start-up.
    """

    api_audience: str
    issuers: tuple[str, ...]
    jwks_urls: Mapping[str, str]
    owner_includes_issuer: bool = True
    auth_algorithms: tuple[str, ...] = ("RS256",)
    auth_leeway: float = 30
    auth_strict_rfc9068: bool = False
    jwks_cache_ttl: float = 600
    jwks_min_refresh_interval: float = 30
    jwks_max_stale: float = 86400
    token_cache_size: int = 4096
    realm: str = "cashman"
    # Not a variable: a TTL refresh with usable keys runs in a background thread so no request
    # waits for it; the test kit turns it off so fetches happen where a test can count them.
    jwks_background_refresh: bool = True
    # DPoP (SPEC §3a): off unless configured, so settings built by hand never accept a
    # proof whose htu nobody configured
    dpop: DPoPSettings = field(default=DPOP_OFF)

    @property
    def startup_warnings(self) -> tuple[str, ...]:
        """One line for each setting that is valid but likely a mistake, for the app to
        log once at start-up: an issuer whose tokens will not match (``issuer_warning``),
        ``JWKS_MIN_REFRESH_INTERVAL`` below 1 s, DPoP off for lack of ``API_BASE_URL``
        (``DPoPSettings.startup_warning``). Empty when there is none."""
        warnings = [w for w in map(issuer_warning, self.issuers) if w is not None]
        if self.jwks_min_refresh_interval < 1:
            # Allowed so a test suite sees a rotated key at once; in production it lets every
            # request with a random kid reach the issuer.
            warnings.append(
                f"JWKS_MIN_REFRESH_INTERVAL is {self.jwks_min_refresh_interval:g} s (below 1 s):"
                " random kids can then reach the issuer on every request; use only in tests"
            )
        if self.dpop.startup_warning is not None:
            warnings.append(self.dpop.startup_warning)
        return tuple(warnings)

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, is_development: bool = False) -> AuthSettings:
        """Validate the SPEC §2 variables in ``env``; raise ``ConfigError`` on the first bad one.

        ``is_development`` is True only for the development server (``python server.py``),
        which may compare DPoP ``htu`` with the request's own URL (``DPoPSettings``).
        """
        check_jose_backend()
        audience = get_value(env, "API_AUDIENCE")
        if audience is None:
            raise ConfigError("API_AUDIENCE", "is required (the API identifier expected in `aud`)")
        issuers, owner_includes_issuer = _issuers(env)
        min_refresh = _seconds(env, "JWKS_MIN_REFRESH_INTERVAL", 30)
        return cls(
            api_audience=audience,
            issuers=issuers,
            jwks_urls=MappingProxyType(_jwks_urls(env, issuers)),
            owner_includes_issuer=owner_includes_issuer,
            auth_algorithms=algorithms(env, "AUTH_ALGORITHMS", ("RS256",)),
            auth_leeway=_seconds(env, "AUTH_LEEWAY", 30),
            auth_strict_rfc9068=boolean(env, "AUTH_STRICT_RFC9068"),
            jwks_cache_ttl=_seconds(env, "JWKS_CACHE_TTL", 600),
            jwks_min_refresh_interval=min_refresh,
            jwks_max_stale=_seconds(env, "JWKS_MAX_STALE", 86400),
            token_cache_size=int(
                number(env, "AUTH_TOKEN_CACHE_SIZE", 4096, low=0, high=10**7, integer=True)
            ),
            dpop=DPoPSettings.from_env(env, is_development=is_development),
        )


def check_jose_backend() -> None:
    """Refuse to run on python-jose's slow pure-Python fallback (SPEC §2).

    A missing ``cryptography`` (or python-jose without its backend) is the same one-line
    ``ConfigError``, never an ImportError traceback.
    """
    from auth.keyset import BACKEND_IMPORT_ERROR

    missing = ConfigError(
        "python-jose",
        "its `cryptography` backend cannot be imported; install python-jose[cryptography]",
    )
    if BACKEND_IMPORT_ERROR is not None:
        raise missing
    try:
        from jose import backends
        from jose.backends.cryptography_backend import CryptographyECKey, CryptographyRSAKey
    except ImportError:
        raise missing from None
    if backends.RSAKey is not CryptographyRSAKey or backends.ECKey is not CryptographyECKey:
        raise ConfigError(
            "python-jose",
            "its `cryptography` backend is not in use; install python-jose[cryptography]",
        )


def _issuers(env: Mapping[str, str]) -> tuple[tuple[str, ...], bool]:
    explicit = get_value(env, "AUTH0_ISSUER")
    if explicit is not None:
        issuers = split_list(explicit)
        if not issuers:
            raise ConfigError("AUTH0_ISSUER", "lists no issuer URL")
        for issuer in issuers:
            check_url("AUTH0_ISSUER", issuer)
        return tuple(dict.fromkeys(issuers)), True
    domains = get_value(env, "AUTH0_DOMAIN")
    if domains is None:
        raise ConfigError("AUTH0_DOMAIN", "is required (or set AUTH0_ISSUER)")
    issuers = [f"https://{_domain_host(domain)}/" for domain in split_list(domains)]
    if not issuers:
        raise ConfigError("AUTH0_DOMAIN", "lists no domain")
    return tuple(dict.fromkeys(issuers)), False


def _domain_host(domain: str) -> str:
    """The lower-case host of one ``AUTH0_DOMAIN`` entry (see the module docstring)."""
    host = domain[len("https://") :] if domain[:8].lower() == "https://" else domain
    host = host.removesuffix("/")
    if "/" in host or not _is_host(host):
        raise ConfigError(
            "AUTH0_DOMAIN",
            "must be host names like example.us.auth0.com (no http://, path or query)",
        )
    return host.lower()


def _jwks_urls(env: Mapping[str, str], issuers: tuple[str, ...]) -> dict[str, str]:
    override = get_value(env, "AUTH0_JWKS_URL")
    if override is None:
        return {issuer: issuer.rstrip("/") + "/" + JWKS_PATH for issuer in issuers}
    if len(issuers) > 1:
        raise ConfigError("AUTH0_JWKS_URL", "cannot be used with several issuers")
    check_url("AUTH0_JWKS_URL", override)
    return {issuers[0]: override}


def _is_host(text: str) -> bool:
    """A DNS name (RFC 1123 §2.1 labels, at most 253 characters), optionally ``:port``
    (1-65535): nothing else, so ``user:password@host`` never passes as a host."""
    match = _HOST_AND_PORT.fullmatch(text)
    if match is None or len(match["host"]) > 253:
        return False
    return match["port"] is None or 0 < int(match["port"]) <= 65535


def issuer_warning(issuer: str) -> str | None:
    """Every reason why tokens of ``issuer`` (a configured issuer URL, already checked by
    ``check_url``) would likely never match its ``iss``, compared exactly (SPEC §3 step
    5), in one line; None when nothing looks wrong. The reasons are how Auth0 writes
    ``iss``: another issuer may write it otherwise, so this warns and never refuses."""
    reasons = []
    parts = urlsplit(issuer)
    # Auth0 writes `iss` as "https://tenant/": "https://tenant" would never match.
    if not issuer.endswith("/") and (parts.path == "" or ".auth0.com" in issuer.lower()):
        reasons.append("has no trailing '/' (Auth0 writes `iss` with one)")
    # scheme and host are case-insensitive as URLs (RFC 3986 §6.2.2.1), but not as `iss`
    scheme, _, rest = issuer.partition("://")
    authority = rest.partition("/")[0]
    if scheme != scheme.lower() or authority != authority.lower():
        reasons.append("has upper-case letters in its scheme or host (Auth0 writes none)")
    if parts.port is not None and parts.port == DEFAULT_PORTS.get(parts.scheme):
        reasons.append(f"names the default port {parts.port} (Auth0 writes none)")
    if not reasons:
        return None
    # the issuer may come from AUTH0_ISSUER or AUTH0_DOMAIN: the line names both
    return (
        f"issuer {issuer} (AUTH0_ISSUER or AUTH0_DOMAIN) {'; '.join(reasons)}: `iss` is "
        "compared exactly, so tokens whose `iss` is written as Auth0 writes it will not match"
    )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    low, high = BOUNDS_S[name]
    return number(env, name, default, low=low, high=high)
