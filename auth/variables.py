"""Reading configuration variables (SPEC §2): one clear line per bad value.

The helpers every settings module of ``auth`` uses (``auth.settings``,
``auth.dpop_settings``), so that blank values, comma lists, numbers in bounds,
booleans, algorithm lists and URLs are read one way everywhere. A bad value
raises ``ConfigError(variable, problem)``, whose text is one line naming the
variable: the process stops with that line rather than a stack trace.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from auth.loopback import is_loopback

ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
)
# RFC 8037 §3.1 EdDSA, and RFC 9864's fully-specified Ed25519 and Ed448: for DPoP proofs
# only, which Cashman verifies itself (python-jose, which verifies access tokens, has none)
EDDSA_ALGORITHMS = ("EdDSA", "Ed25519", "Ed448")
DPOP_ALGORITHMS = ASYMMETRIC_ALGORITHMS + EDDSA_ALGORITHMS
HTTPS_ONLY = "must use https (plain http only for localhost/127.0.0.1/::1)"
# PEP 383: Python hands over environment bytes that are not UTF-8 as lone surrogates,
# which no setting can use (nor encode again: a secret's bytes, a database path)
_UNDECODABLE = re.compile("[\ud800-\udfff]")


class ConfigError(Exception):
    """A configuration variable is missing or invalid; ``str()`` is one line."""

    def __init__(self, variable: str, problem: str) -> None:
        """``variable``: the SPEC §2 name (or package) at fault; ``problem``: what is wrong."""
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


def get_value(env: Mapping[str, str], name: str) -> str | None:
    """The stripped value, or None when unset or blank (``.env`` files often leave ``X=``).

    Raises ``ConfigError`` naming ``name`` when the value holds bytes that are not UTF-8
    (the value itself is not quoted: it may be a secret).
    """
    value = env.get(name)
    if value is None or not value.strip():
        return None
    if _UNDECODABLE.search(value):
        raise ConfigError(name, "is not UTF-8 text (it holds a byte that UTF-8 cannot decode)")
    return value.strip()


def split_list(value: str) -> list[str]:
    """The items of a comma list, stripped, empty items dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


def algorithms(
    env: Mapping[str, str],
    name: str,
    default: tuple[str, ...],
    known: tuple[str, ...] = ASYMMETRIC_ALGORITHMS,
) -> tuple[str, ...]:
    """A comma list of asymmetric JWS algorithms among ``known`` (RFC 7518 §3.1, RFC 8037
    §3.1 names, any case, given back as the RFCs spell them), deduplicated.

    ``none``, ``HS*`` and unknown names raise ``ConfigError`` naming ``name``.
    """
    spelled = {alg.upper(): alg for alg in known}
    value = get_value(env, name)
    if value is None:
        return default
    names = split_list(value)
    if not names:
        raise ConfigError(name, "lists no algorithm")
    accepted = []
    for given in names:
        canonical = given.upper()
        if canonical == "NONE":
            raise ConfigError(name, "'none' (unsigned tokens) is never accepted")
        if canonical.startswith("HS"):
            raise ConfigError(name, f"{given!r} is symmetric; only asymmetric allowed")
        if canonical not in spelled and canonical in {a.upper() for a in EDDSA_ALGORITHMS}:
            raise ConfigError(name, f"{given!r} is for DPoP proofs only (AUTH_DPOP_ALGORITHMS)")
        if canonical not in spelled:
            allowed = ", ".join(known)
            raise ConfigError(name, f"unknown algorithm {given!r} (allowed: {allowed})")
        accepted.append(spelled[canonical])
    return tuple(dict.fromkeys(accepted))


_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def number(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    low: float,
    high: float,
    integer: bool = False,
) -> float:
    """``name`` in ``env``: a finite number from ``low`` to ``high`` (seconds unless
    ``integer``); ``default`` when unset. Raises ``ConfigError`` for any other value."""
    value = get_value(env, name)
    if value is None:
        return default
    kind = "an integer" if integer else "a number of seconds"
    # ASCII decimal only: int() and float() also take other scripts' digits ("٣"),
    # underscores ("1_0"), "inf" and "nan", which no one means in a setting
    written = _INTEGER if integer else _DECIMAL
    if not written.fullmatch(value):
        raise ConfigError(name, f"must be {kind} between {_number(low)} and {_number(high)}")
    result = int(value) if integer else float(value)
    if not math.isfinite(result) or not low <= result <= high:
        raise ConfigError(name, f"must be {kind} between {_number(low)} and {_number(high)}")
    return result


def _number(value: float) -> str:
    """A bound as a person writes it: ``2592000``, ``0.5`` (``:g`` wrote ``2.592e+06``)."""
    return str(int(value)) if float(value).is_integer() else f"{value}"


def boolean(env: Mapping[str, str], name: str) -> bool:
    """true/false, 1/0, yes/no, on/off (any case); unset is False.
    Raises ``ConfigError`` for anything else."""
    value = get_value(env, name)
    if value is None:
        return False
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(name, "must be a boolean (true/false, 1/0, yes/no, on/off)")


def check_url(variable: str, url: str) -> None:
    """An ASCII ``https`` URL with a host, no credentials, query or fragment; plain
    ``http`` only for loopback hosts (SPEC §2). ``ConfigError`` naming ``variable``."""
    if any(c.isspace() for c in url) or not url.isascii():
        raise ConfigError(variable, "must be an ASCII URL without spaces")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(variable, "is not a valid URL") from exc
    if not host or "@" in parts.netloc or "?" in url or "#" in url:
        raise ConfigError(variable, "must be a plain https URL (host, no credentials, no query)")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback(host):
        return
    raise ConfigError(variable, HTTPS_ONLY)
