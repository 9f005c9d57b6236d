"""Development issuer: a local RSA key, its JWKS on loopback, and a token minter.

It exists so that the API runs with no Auth0 tenant at all, while every token
still goes through the production verification path: the key reaches the
verifier as a JWKS fetched over HTTP (RFC 7517), not as a shortcut. It is
reachable only from ``python server.py`` (and this module's command line);
the WSGI ``app`` that gunicorn and the Docker image load never starts it.
Those entries do import this module (to refuse its switch), so the crypto
libraries are imported only when a key is made or used: a broken python-jose
install stays the one-line start-up refusal of ``auth.settings``.

The key is kept in ``instance/`` (git-ignored, mode 0600) so that the running
server and ``python -m auth.dev_issuer`` agree. The issuer string does not
carry the JWKS port, so tokens and data survive a restart on another port.

Minting tokens for any ``sub`` and scopes, Bearer or bound to a DPoP key (RFC 9449
``cnf.jkt``; proofs for it: ``python -m auth.dpop_proof``)::

    python -m auth.dev_issuer --sub alice --scope read:transactions --expires-in 3600
    python -m auth.dev_issuer --dpop-key instance/dev-dpop-key.pem
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auth.env_file import load_env_file
from auth.jwks_server import JWKSServer
from auth.loopback import is_loopback
from auth.variables import ConfigError, get_value

#: The issuer of development tokens; http is accepted because the host is loopback.
DEV_ISSUER = "http://127.0.0.1/cashman-dev-issuer/"
#: The audience used when ``API_AUDIENCE`` is not set.
DEV_AUDIENCE = "https://cashman.localhost/api"
DEV_CLIENT_ID = "cashman-dev-issuer"
DEFAULT_SUB = "dev-user"
DEFAULT_SCOPES = ("read:transactions", "write:transactions")
#: Where the key lives unless ``DEV_ISSUER_KEY_FILE`` says otherwise.
DEFAULT_KEY_FILE = Path(__file__).resolve().parent.parent / "instance" / "dev-issuer-key.pem"
#: The development client's DPoP key, beside the issuer's key.
DPOP_KEY_NAME = "dev-dpop-key.pem"
#: The switch the production entry refuses: the dev issuer is never configured by environment.
SWITCH = "CASHMAN_DEV_ISSUER"
#: Variables whose presence means a real tenant is configured.
TENANT_VARIABLES = ("AUTH0_DOMAIN", "AUTH0_ISSUER")

WARNING = (
    "WARNING: DEVELOPMENT ISSUER. Tokens are signed by a local key that anyone "
    "on this machine can read. Never use it in production."
)


class DevIssuerError(Exception):
    """A misuse of the development issuer (non-loopback host, production entry)."""


def require_loopback(host: str) -> None:
    """Refuse to serve development tokens beyond this machine (SPEC §2 loopback hosts).

    Raises ``DevIssuerError`` unless ``host`` is ``localhost``, ``127.0.0.1`` or ``::1``.
    """
    if not is_loopback(host):
        raise DevIssuerError(
            f"the development issuer binds to loopback only (127.0.0.1, ::1); refusing {host!r}"
        )


def production_refusal(env: dict[str, str] | os._Environ[str]) -> str | None:
    """The one line both production entries print when the dev-issuer switch is set, else
    None (SPEC §6 development). ``env``: the environment to read ``CASHMAN_DEV_ISSUER`` from."""
    if env.get(SWITCH, "").strip() not in ("", "0"):
        return (
            f"{SWITCH}: the development issuer is only available through `python server.py`; "
            "the production entries (`python -m cashman.serve`, the Docker image's default, "
            "and `gunicorn -c gunicorn.conf.py server:app`) never enable it. "
            "Unset it and configure AUTH0_DOMAIN or AUTH0_ISSUER."
        )
    return None


def has_tenant(env: dict[str, str] | os._Environ[str]) -> bool:
    """Whether a real issuer is configured (then the dev issuer stays off)."""
    return any(env.get(name, "").strip() for name in TENANT_VARIABLES)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def issuer_key_file() -> Path:
    """The issuer's key file: ``DEV_ISSUER_KEY_FILE``, else ``instance/dev-issuer-key.pem``."""
    return Path(os.environ.get("DEV_ISSUER_KEY_FILE") or DEFAULT_KEY_FILE)


def dpop_key_file() -> Path:
    """The development client's DPoP key file, in the directory of the issuer's key."""
    return issuer_key_file().with_name(DPOP_KEY_NAME)


def private_key_from_pem(pem: bytes, path: Path) -> Any:
    """The private key in ``pem``, the bytes of file ``path`` (a ``cryptography`` key of any
    type). ``ValueError`` naming ``path`` when they hold no usable key: not PEM,
    encrypted, or of an algorithm this OpenSSL lacks."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (TypeError, UnsupportedAlgorithm):  # a passphrase, an algorithm not built in
        raise ValueError(f"{path} holds an encrypted or unsupported key") from None


def write_new_key(path: Path, key: Any) -> None:
    """Write private ``key`` to ``path`` (PEM, mode 0600) unless the file exists; if another
    process won the race, theirs is kept."""
    from cryptography.hazmat.primitives import serialization

    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        # link() is atomic and fails if the file exists: the first writer wins
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class DevIssuer:
    """The persisted development key with its JWKS and a token minter."""

    private_pem: bytes
    kid: str
    jwk: dict[str, str]
    issuer: str = DEV_ISSUER

    @classmethod
    def load(cls, key_file: Path | None = None) -> DevIssuer:
        """Load the key from ``key_file`` (default: ``instance/``), creating it on first use.

        ``DEV_ISSUER_KEY_FILE`` overrides the default path. Raises ``DevIssuerError`` if the
        file holds another kind of key, ``OSError``/``ValueError`` if it cannot be read (or
        is encrypted).
        """
        from cryptography.hazmat.primitives.asymmetric import rsa

        path = key_file or issuer_key_file()
        if not path.exists():
            write_new_key(path, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        pem = path.read_bytes()
        key = private_key_from_pem(pem, path)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise DevIssuerError(f"{path} does not hold an RSA private key")
        numbers = key.public_key().public_numbers()
        n, e = _b64url_uint(numbers.n), _b64url_uint(numbers.e)
        # RFC 7638 thumbprint: a stable kid derived from the key itself
        canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode("ascii")).digest()
        kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e}
        return cls(private_pem=pem, kid=kid, jwk=jwk)

    def jwks(self) -> dict[str, Any]:
        """The public key set, as the verifier fetches it."""
        return {"keys": [dict(self.jwk)]}

    def mint(
        self,
        sub: str = DEFAULT_SUB,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        expires_in: int = 3600,
        audience: str = DEV_AUDIENCE,
        jkt: str | None = None,
    ) -> str:
        """An RS256 access token (RFC 9068 shape) for ``sub`` with ``scopes``.

        ``expires_in``: lifetime in seconds from now; ``audience``: the ``aud`` claim;
        ``jkt``: the RFC 7638 thumbprint of a DPoP key to bind the token to (``cnf.jkt``,
        RFC 9449 §6), None for a Bearer token.
        """
        from jose import jwt

        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": audience,
            "iat": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
            "client_id": DEV_CLIENT_ID,
        }
        if scopes:
            claims["scope"] = " ".join(scopes)
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        headers = {"kid": self.kid, "typ": "at+jwt"}
        return jwt.encode(claims, self.private_pem.decode("ascii"), "RS256", headers=headers)


def serve_jwks(issuer: DevIssuer, host: str = "127.0.0.1", port: int = 0) -> JWKSServer:
    """Serve ``issuer``'s JWKS on loopback from a daemon thread; returns the running server.

    Raises ``DevIssuerError`` for a host that is not loopback, ``OSError`` if the port
    cannot be bound.
    """
    require_loopback(host)
    return JWKSServer(issuer.jwks(), host=host, port=port)


def jwks_url(server: JWKSServer) -> str:
    """The URL the verifier fetches the JWKS from."""
    return server.url


def environment(server: JWKSServer, env: dict[str, str]) -> dict[str, str]:
    """``env`` completed with the settings that make the API trust the dev issuer:
    ``AUTH0_ISSUER``, ``AUTH0_JWKS_URL`` (``server``'s URL), ``API_AUDIENCE`` if unset."""
    return {
        **env,
        "AUTH0_ISSUER": DEV_ISSUER,
        "AUTH0_JWKS_URL": jwks_url(server),
        "API_AUDIENCE": env.get("API_AUDIENCE") or DEV_AUDIENCE,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print one development access token."""
    parser = argparse.ArgumentParser(
        prog="python -m auth.dev_issuer",
        description="Mint an access token from the development issuer (never for production).",
    )
    parser.add_argument("--sub", default=DEFAULT_SUB, help=f"subject (default: {DEFAULT_SUB})")
    parser.add_argument(
        "--scope",
        action="append",
        help="a scope, or several separated by spaces; repeatable "
        f"(default: {' '.join(DEFAULT_SCOPES)}; --scope '' for none)",
    )
    parser.add_argument(
        "--expires-in", type=int, default=3600, help="lifetime in seconds (default: 3600)"
    )
    parser.add_argument(
        "--audience",
        default=None,
        help=f"aud claim (default: API_AUDIENCE, else {DEV_AUDIENCE})",
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help="the issuer's key file, which must exist: the running server's "
        "(default: DEV_ISSUER_KEY_FILE, else instance/dev-issuer-key.pem, created if missing)",
    )
    parser.add_argument(
        "--dpop-key",
        type=Path,
        default=None,
        help="bind the token to this EC P-256 key file (created if missing): a DPoP token; "
        "make its proofs with python -m auth.dpop_proof --key FILE",
    )
    args = parser.parse_args(argv)
    from auth.claims import check_sub
    from auth.errors import InvalidClaimsError

    try:
        check_sub({"sub": args.sub})  # the API's own rule: never mint a token it refuses
    except InvalidClaimsError:
        parser.error("--sub: must be 1-255 characters without control characters")
    scopes = DEFAULT_SCOPES if args.scope is None else tuple(" ".join(args.scope).split())
    try:
        # .env first, whatever the options: it may name a tenant or the key file
        load_env_file(Path(__file__).resolve().parent.parent / ".env")
        audience = args.audience or get_value(os.environ, "API_AUDIENCE") or DEV_AUDIENCE
        jkt = None
        if args.dpop_key is not None:
            from auth.dpop_proof import load_key

            jkt = load_key(args.dpop_key).jkt
        if args.key_file is not None and not args.key_file.is_file():
            # a new key here would sign tokens the running server refuses
            raise DevIssuerError(f"--key-file: no key file at {args.key_file}")
        issuer = DevIssuer.load(args.key_file)
    except (ConfigError, DevIssuerError, OSError, ValueError) as exc:
        # one line, as the servers refuse a bad setting: a key file or .env it cannot use
        print(f"auth.dev_issuer: {exc}", file=sys.stderr)
        return 2
    print(WARNING, file=sys.stderr)
    if has_tenant(os.environ):  # after .env: python server.py then starts no dev issuer
        print(
            "note: AUTH0_DOMAIN or AUTH0_ISSUER is set: an API started with this "
            "configuration trusts that tenant and refuses this token",
            file=sys.stderr,
        )
    print(issuer.mint(args.sub, scopes, args.expires_in, audience, jkt=jkt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
